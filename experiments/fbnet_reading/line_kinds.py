"""Can an FBNet base learn which layer kinds its text holds, and does a linear head over what
it decodes rank the four per-layer-sum columns? A probe on pool validation only.

Why: pixel3, raspi4, eyeriss and fpga latencies are an exact sum over layers of a cost per
layer kind, and every kind is one distinct top-level node line of the text (``additive.py``:
a ridge on kind counts ranks them at τ 1.000; the one-hot MLP 0.98 held out, the RLM 0.89-0.92).
The base's computed labels (FLOPs, params, op counts) are aggregates that several kinds share,
so a count head over them reaches only 0.82-0.90. Here every varying top-level node line (node
ids left out, ``Constant`` lines left out) becomes a computed label of its own: how many times
the text holds it. Like FLOPs it is a function of the graph alone, so it reads no table label.

    python experiments/fbnet_reading/line_kinds.py pretrain OUT N STEPS KINDS_PER_ARCH
    python experiments/fbnet_reading/line_kinds.py score BASE COLUMN [...] [--pool-seed S]

``pretrain``: a base from nothing on N sampled archs (``pretraining_archs``), reading relative
node ids (as the shipped FBNet base), on the computed labels and one label per kind, with the
FBNet base's settings; the kinds are those that vary over the N archs, saved in OUT/kinds.json.
They are trained as rehearsals (``TrainConfig.rehearsals``): each arch brings all its computed
labels and KINDS_PER_ARCH kinds drawn per step, the kinds' loss a mean of its own and out of the
ranking term. (Drawn among all labels instead, 8 or 24 per arch, the first try collapsed: at
step 250 every label, MFLOPs too, read at validation τ 0.00-0.02, against 0.59 for the shipped
base's MFLOPs.) Rerun to resume.

``score``: the base's exact medians of every label on the pool (N = 781) and its 500
validation archs; per column a ridge (alpha by cross-validation) of the latency on the decoded
labels (the head), fitted on the pool and scored on the validation archs; beside it the same
ridge on the exact labels (what a perfect reader would give) and the share of validation archs
whose decoded kinds are all exact. The token itself is scored by ``lut_labels.py score``.

Session 55 (``line_kinds_pool_val.jsonl``; N = 5,000, 800 steps, 183 kinds, 8 per arch): the
kinds were not learned (mean validation τ 0.003 at the last step; every decoded kind the
mode), the head over decoded labels ranks pixel3 at 0.754 (over the exact labels 0.988), and
the token falls below the relative-id control (pixel3 0.811 against 0.827, gold_6226 0.823
against 0.848). Not adopted.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from lut_labels import N_POOL, SEED, SPACE, TRAIN, _option
from scipy.stats import kendalltau, spearmanr
from sklearn.linear_model import RidgeCV

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.recipes import (
    DEFAULT_RECIPE,
    PRETRAIN_OBJECTIVES,
    _base_settings,
    computed_labels,
    load_base,
    pretraining_archs,
)
from nas_rlm.surrogates.rlm import RLM

TOP_NODE = re.compile(r"^%\d+ = (?!Constant\[)(.+)$")


def line_counts(texts: list[str]) -> list[Counter]:
    """How often each top-level node line (ids left out, constants left out) occurs."""
    return [Counter(re.sub(r"%\d+", "%", m.group(1)) for m in map(TOP_NODE.match,
                                                                   t.splitlines()) if m)
            for t in texts]


def kind_matrix(counts: list[Counter], kinds: list[str]) -> np.ndarray:
    return np.array([[c[k] for k in kinds] for c in counts], dtype=float)


def pretrain(out: Path, n: int, steps: int, kinds_per_arch: int) -> None:
    space = get_space(SPACE)
    archs = pretraining_archs(space, n, SEED)
    model = replace(DEFAULT_RECIPE.model, node_ids="relative")
    probe = RLM(list(PRETRAIN_OBJECTIVES), space, model)
    texts = probe.texts_for(archs)  # canonical: the kinds do not depend on the ids read
    counts = line_counts(texts)
    kinds = sorted(set().union(*counts))
    K = kind_matrix(counts, kinds)
    keep = K.std(0) > 0
    kinds, K = [k for k, v in zip(kinds, keep, strict=True) if v], K[:, keep]
    out.mkdir(parents=True, exist_ok=True)
    (out / "kinds.json").write_text(json.dumps(kinds, indent=0))
    objs = [*PRETRAIN_OBJECTIVES, *(f"kind_{j}" for j in range(len(kinds)))]
    # the kinds as rehearsals: every arch keeps all its computed labels and draws a fresh
    # few kinds per step, whose loss is kept apart (and out of the ranking term), so the
    # many kind labels neither crowd out the computed ones nor drown their loss
    train = replace(TRAIN, labels_per_arch=0, rehearsals=tuple(objs[len(PRETRAIN_OBJECTIVES):]),
                    rehearsals_per_arch=kinds_per_arch)
    recipe = replace(DEFAULT_RECIPE, pretrain_archs=n, pretrain_steps=steps, train=train,
                     model=model)
    rlm = RLM(objs, space, model, objective_vocab=objs)
    Y = np.hstack([computed_labels(space, archs, progress=True), K])
    t0 = time.time()
    rlm.build(texts, seed=SEED)
    rlm.fit(archs, Y, **asdict(replace(train, steps=steps, seed=SEED, threads=1,
                                       progress=True, checkpoint_dir=str(out / "ckpt"))))
    rlm.training_info["base"] = _base_settings(space, [], recipe, SEED, None, 0)
    rlm.save_pretrained(out / "model")
    print(json.dumps({"out": str(out), "kinds": len(kinds), "n": n, "steps": steps,
                      "kinds_per_arch": kinds_per_arch,
                      "seconds": round(time.time() - t0, 1),
                      "best_val_tau": rlm.training_info.get("best_val_tau")}), flush=True)


def score(base_dir: str, columns: list[str], seed: int = SEED) -> None:
    kinds = json.loads((Path(base_dir).parent / "kinds.json").read_text())
    archs, Y = load_targets(SPACE, columns)
    tr, val = train_indices(SPACE, N_POOL, seed), pool_validation_indices(SPACE, N_POOL, seed)
    sub = [archs[i] for i in [*tr, *val]]
    base = load_base(base_dir, SPACE)
    t0 = time.time()
    decoded = base.predict_median(sub, progress=True)
    seconds = time.time() - t0
    space = get_space(SPACE)
    exact = np.hstack([computed_labels(space, sub),
                       kind_matrix(line_counts(base.texts_for(sub)), kinds)])
    n = len(tr)
    nk = len(kinds)
    right = np.all(np.rint(decoded[n:, -nk:]) == exact[n:, -nk:], axis=1)

    def ridge(X: np.ndarray, y: np.ndarray) -> list[float]:
        mu, sd = X[:n].mean(0), X[:n].std(0) + 1e-8
        fit = RidgeCV(alphas=np.logspace(-6, 3, 19)).fit((X[:n] - mu) / sd, y[:n])
        p = fit.predict((X[n:] - mu) / sd)
        return [round(float(f(p, y[n:]).statistic), 4) for f in (kendalltau, spearmanr)]

    for j, col in enumerate(columns):
        y = Y[[*tr, *val], j]
        print(json.dumps({
            "base": base_dir, "column": col, "n": N_POOL, "pool_seed": seed, "kinds": nk,
            "head_decoded": ridge(decoded, y),
            "head_decoded_kinds_only": ridge(decoded[:, -nk:], y),
            "head_exact": ridge(exact, y),
            "val_archs_all_kinds_exact": round(float(right.mean()), 4),
            "decode_seconds": round(seconds, 1)}), flush=True)


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    argv, seed = _option(argv, "--pool-seed", SEED)
    if len(argv) == 5 and argv[0] == "pretrain":
        pretrain(Path(argv[1]), int(argv[2]), int(argv[3]), int(argv[4]))
    elif len(argv) >= 3 and argv[0] == "score":
        score(argv[1], argv[2:], seed)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

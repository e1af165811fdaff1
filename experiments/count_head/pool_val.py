"""A count head for a device of many labels: a ridge over the base's own decoded counts of the
graph the device ran, blended with the fine-tuned token. Pool validation only (never the
held-out set).

Why: over all NB201 cells, titan_rtx_256 latency is linear in how many edges carry each op
(R² 0.9997, docs/rlm_v2.md, "What the executed text hides"), and the shipped base decodes the
executed graph's op counts almost exactly (conv_k1 / conv_k3 / pool 99.8 / 100 / 99.8 % exact
on pool archs it never pretrained on). Yet the fine-tuned titan token ranks at τ 0.980, below
the one-hot MLP (0.982): it does not write a linear function of counts it can read. A head
must read the *base's* counts: a fine-tune changes the decoder, and the fine-tuned model's
counts agree with the base's on 1-8 % of archs.

For each device COLUMN and fine-tuning seed: the blend weight w of the head (0: the token
alone, 1: the head alone) is chosen among WEIGHTS as ``select_epochs`` chooses passes (and,
as a variant, only where it wins GUARD of the paired resamples of that fifth): a
fine-tune on a random four fifths of the N = 781 pool (pool seed 0; 12 passes, or 24 where
TWO_X names the column), scored on the other fifth. Then the token fine-tuned on the whole
pool (pool_val.py's predictions, ``<COLUMN>_<TAG>_s<seed>.npy`` in OUT) is blended with the
head fitted on the whole pool, and scored on the 500 pool-validation archs.

    python experiments/count_head/pool_val.py COLUMN TAG SEEDS OUT [BASE]
    python experiments/count_head/pool_val.py titan_rtx_256 st2x 0,1 runs/s42/pv

BASE defaults to the shipped base. Its decoded objectives on the pool and its validation
archs are cached in OUT (``base_tr.npy``, ``base_val.npy``, ``base_objs.json``): one OUT per
base.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.data.tables import CONVERTER_COLUMNS
from nas_rlm.surrogates.mix_head import MixHead
from nas_rlm.surrogates.recipes import (
    CONVERTED,
    EXECUTED,
    SELECT_VAL_FRACTION,
    finetune_budget,
    finetune_rlm,
    head_win_share,
    load_base,
)

N = 781
WEIGHTS = (0.0, 0.5, 1.0)
TWO_X = {"titan_rtx_256"}
#: The guarded variant (not the shipped rule): a head weight only where it beats the token
#: in at least GUARD of the paired bootstrap resamples of the fifth (``head_win_share``).
GUARD = 0.9


def base_readings(base_dir: str, out: Path, archs, tr, val
                  ) -> tuple[list[str], np.ndarray, np.ndarray]:
    files = [out / "base_objs.json", out / "base_tr.npy", out / "base_val.npy"]
    if not all(f.exists() for f in files):
        base = load_base(base_dir, "nb201")
        files[1].parent.mkdir(parents=True, exist_ok=True)
        files[0].write_text(json.dumps(base.objectives))
        np.save(files[1], base.predict_median([archs[i] for i in tr]))
        np.save(files[2], base.predict_median([archs[i] for i in val]))
    return json.loads(files[0].read_text()), np.load(files[1]), np.load(files[2])


def head(Xfit: np.ndarray, yfit: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The linear :class:`MixHead` over the counts, fitted on ``Xfit``: its latency for
    ``X`` (the blend with the token is :func:`blend`'s)."""
    h = MixHead.fit([str(j) for j in range(Xfit.shape[1])], Xfit, yfit, linear=True)
    return np.exp(h.log_predict(X))


def blend(h: np.ndarray, tok: np.ndarray, w: float) -> np.ndarray:
    return np.exp(w * np.log(h) + (1 - w) * np.log(np.clip(tok, 1e-9, None)))


def score(p: np.ndarray, y: np.ndarray) -> list[float]:
    return [round(float(kendalltau(p, y).statistic), 4), round(float(spearmanr(p, y).statistic), 4)]


def main(argv: list[str]) -> None:
    if len(argv) not in (4, 5):
        raise SystemExit(__doc__)
    base_dir = argv[4] if len(argv) == 5 else "nas_rlm/pretrained/nb201-base"
    torch.set_num_threads(1)
    col, tag, seeds, out = argv[0], argv[1], [int(s) for s in argv[2].split(",")], Path(argv[3])
    archs, Y = load_targets("nb201", [col])
    tr, val = train_indices("nb201", N, 0), pool_validation_indices("nb201", N, 0)
    objs, Btr, Bva = base_readings(base_dir, out, archs, tr, val)
    prefix = CONVERTED if col in CONVERTER_COLUMNS else EXECUTED
    src = [j for j, o in enumerate(objs) if o.startswith(prefix)]
    y, yv = Y[tr, 0], Y[val, 0]
    passes = 24 if col in TWO_X else 12
    res = {"base": base_dir, "column": col, "tag": tag, "sources": [objs[j] for j in src],
           "inner_passes": passes,
           "head_alone": score(head(Btr[:, src], y, Bva[:, src]), yv), "seeds": {}}
    for seed in seeds:
        n_val = round(SELECT_VAL_FRACTION * N)
        perm = np.random.default_rng([seed, 13]).permutation(N)
        iv, fit = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        t0 = time.time()
        rlm = finetune_rlm(load_base(base_dir, "nb201", [col]), [archs[tr[i]] for i in fit], y[fit],
                           [col], finetune_budget([col], len(fit), epochs=passes),
                           seed=seed, progress=False)
        inner_tok = rlm.predict_point([archs[tr[i]] for i in iv])[:, 0]
        h_in = head(Btr[fit][:, src], y[fit], Btr[iv][:, src])
        inner = {f"{w:g}": score(blend(h_in, inner_tok, w), y[iv])[0] for w in WEIGHTS}
        w = max(WEIGHTS, key=lambda v: inner[f"{v:g}"])
        wins = {f"{v:g}": head_win_share(blend(h_in, inner_tok, v), inner_tok, y[iv], seed)
                for v in WEIGHTS if v}
        sure = [v for v in WEIGHTS if v and wins[f"{v:g}"] >= GUARD]
        guarded = max(sure, key=lambda v: inner[f"{v:g}"]) if sure else 0.0
        tok = np.load(out / f"{col}_{tag}_s{seed}.npy")
        h = head(Btr[:, src], y, Bva[:, src])
        res["seeds"][seed] = {"inner_tau": inner, "chosen": w, "token": score(tok, yv),
                              "chosen_blend": score(blend(h, tok, w), yv),
                              "inner_win_share": wins, "guarded": guarded,
                              "guarded_blend": score(blend(h, tok, guarded), yv),
                              **{f"blend_{v:g}": score(blend(h, tok, v), yv) for v in WEIGHTS},
                              "inner_seconds": round(time.time() - t0, 1)}
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

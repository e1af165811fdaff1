"""Does an FBNet base read its text better with random additive "device" labels, or with its
node ids rewritten? A probe on pool validation only (never the held-out set).

Why: the latency of FBNet's pixel3, raspi4, eyeriss and fpga columns is an exact sum over the
network's layers of a cost per (layer shape, op), so a linear fit on how many layers of each
(shape, op) the text holds ranks them at τ 1.000 (``additive.py``). The RLM's token ranks them
at 0.89-0.92 held out and the one-hot MLP at 0.98: the base does not hold which layer kind is
where. Its computed labels (FLOPs, params, op counts) do not ask it to, since several kinds
share each count. A random additive label does: each distinct node line of the text
(node ids left out) gets a random cost, the same for every arch, and the label is their sum.
It is a function of the graph, like FLOPs, so it reads no table label.

Per run: a base pretrained from nothing on N sampled archs (``pretraining_archs``) for STEPS
optimizer steps with the FBNet base's training settings, on the computed labels and K random
additive labels (K = 0: the control). Saved in OUT/model; rerun to resume.

    python experiments/fbnet_reading/lut_labels.py pretrain OUT K N STEPS [REWRITE]
        [--model FIELD=INT,...]
    python experiments/fbnet_reading/lut_labels.py score BASE [COLUMN ...] [REWRITE] [--pool-seed S]
        [--space ofa_mbv3] [--passes P]

REWRITE is ``--strip-ids``, ``--relative-ids`` or ``--inline-constants`` (none: the canonical
text).
``bag_of_tokens.py`` finds that a bag of the canonical text's tokens ranks pixel3 at 0.849
and one of the text with its node ids replaced by ``%`` at 0.985. With ``--strip-ids`` the
model reads its texts so (for a cell space that loses the wiring; a probe
of the tokens, not a text format). With ``--relative-ids`` a node line drops its own id and
names each input by how many ids back it is (``%16 = Op(%15,...)`` becomes ``= Op(%-1,...)``),
which keeps the graph. ``--inline-constants`` also drops each top-level ``Constant`` node and
writes its value where it is read: FBNet's grouped blocks share their reshape constants, so
with relative ids alone the distance back to them still differs at each depth (session 54).
A base pretrained with a rewrite must be scored with it. The relative
rewrite is now the library's (``onnx_text.relative_node_ids``; ``RLMConfig.node_ids``), which
also keeps the text's last newline: the session-52 lines below were made by this script's own
copy, which dropped it.

``score`` fine-tunes BASE on the (N = 781, pool seed 0; ``--pool-seed S``: pool and fine-tune
seed S) pool of each column with 12 passes (``--passes P``: P),
as ``evaluate`` fine-tunes a device, no count head, and prints the exact median's τ / ρ on
the pool's 500 validation archs, beside a ridge on the frozen encoder's mean-pooled states
(the representation alone). The lines of session 52 (K = 0 and 8 on the canonical text, K = 0
with each rewrite; N = 5,000, 800 steps; the shipped base scored beside them) are in
``lut_labels_pool_val.jsonl``, with those of session 53 (full-length bases) and 54 (K = 0 with
``--inline-constants``, N = 5,000, 800 steps, and the session-52 relative-id base rescored on
six columns: it ranks above the inlined one on five, 1080ti_1 by 0.14; and, with ``--space
ofa_mbv3``, the shipped OFA-MBv3 base against one reading relative ids), and 55 (the shipped
base with ``--passes 48``; 800-step relative-id bases with ``--model encoder_layers=4`` or
``--model d_model=256,d_ff=1024,d_kv=64``, on pools 0 and 1; the control with 1,000 steps).
Later lines name their session: 56 and 57 (FBNet bases of 8,000 and 12,000 steps), 59 (a
6,000-step OFA-MBv3 base reading relative ids, shipped), 60 (the shipped FBNet base with
``--passes`` 12 / 24 / 48 on four batched GPU columns, pools 0 and 1:
``experiments/fbnet_finetune_passes/session60_rules.md``), 61 (an FBNet base on 40,000 archs,
not kept: ``session61_rules.md``).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr
from sklearn.linear_model import RidgeCV

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.search_spaces import get_space
from nas_rlm.search_spaces.onnx_text import relative_node_ids
from nas_rlm.surrogates.recipes import (
    DEFAULT_RECIPE,
    PRETRAIN_OBJECTIVES,
    FinetunedRLM,
    _base_settings,
    computed_labels,
    finetune_rlm,
    load_base,
    pretraining_archs,
)
from nas_rlm.surrogates.rlm import RLM

SPACE, N_POOL, SEED = "fbnet", 781, 0
#: the shipped FBNet base's training settings (nas_rlm/pretrained/fbnet-base/rlm.json), with
#: the same 300 validation archs out of 5,000 instead of 20,000
TRAIN = replace(DEFAULT_RECIPE.train, eval_every=250, labels_per_arch=8, length_buckets=16,
                val_fraction=0.06)
NODE = re.compile(r"^%\d+ = (.+)$")
TEXT = {"text": "canonical"}  # set by --strip-ids / --relative-ids; in every line printed


def lut_labels(texts: list[str], k: int) -> np.ndarray:
    """``k`` random additive labels per text: the sum over its node lines (node ids left out)
    of a cost in [0.1, 1.1) drawn per (label, line) from a hash, so every arch agrees on it."""
    def cost(j: int, line: str) -> float:
        h = hashlib.sha256(f"{j}|{line}".encode()).digest()
        return 0.1 + int.from_bytes(h[:8], "little") / 2**64

    out = np.zeros((len(texts), k))
    for i, text in enumerate(texts):
        lines = [re.sub(r"%\d+", "%", m.group(1)) for m in map(NODE.match, text.splitlines())
                 if m]
        out[i] = [sum(cost(j, s) for s in lines) for j in range(k)]
    return out


def pretrain(out: Path, k: int, n: int, steps: int, model: str = "") -> None:
    if k and TEXT["text"] != "canonical":
        raise SystemExit("random additive labels read the canonical text's node lines; "
                         "use K = 0 with a rewrite")
    space = get_space(SPACE)
    objs = [*PRETRAIN_OBJECTIVES, *(f"lut_{j}" for j in range(k))]
    sizes = {f: int(v) for f, _, v in (a.partition("=") for a in model.split(",") if a)}
    recipe = replace(DEFAULT_RECIPE, pretrain_archs=n, pretrain_steps=steps, train=TRAIN,
                     model=replace(DEFAULT_RECIPE.model, **sizes))
    archs = pretraining_archs(space, n, SEED)
    rlm = RLM(objs, space, recipe.model, objective_vocab=objs)
    texts = rlm.texts_for(archs)
    Y = np.hstack([computed_labels(space, archs, progress=True), lut_labels(texts, k)])
    t0 = time.time()
    rlm.build(texts, seed=SEED)
    rlm.fit(archs, Y, **asdict(replace(recipe.train, steps=steps, seed=SEED, threads=1,
                                       progress=True, checkpoint_dir=str(out / "ckpt"))))
    rlm.training_info["base"] = _base_settings(space, [], recipe, SEED, None, 0)
    rlm.save_pretrained(out / "model")
    print(json.dumps({"out": str(out), "k": k, "n": n, "steps": steps,
                      "seconds": round(time.time() - t0, 1), **({"model": sizes} if sizes else {}),
                      "best_val_tau": rlm.training_info.get("best_val_tau"), **TEXT}),
          flush=True)


@torch.no_grad()
def pooled(rlm: RLM, texts: list[str], batch: int = 64) -> np.ndarray:
    out = []
    for s in range(0, len(texts), batch):
        h, mask = rlm.encoder_output(texts[s:s + batch])
        m = mask[..., None].float()
        out.append(((h * m).sum(1) / m.sum(1)).numpy())
    return np.concatenate(out)


def score(base_dir: str, columns: list[str], seed: int = SEED, space: str = SPACE,
          passes: float = 12.0) -> None:
    archs, Y = load_targets(space, columns)
    tr, val = train_indices(space, N_POOL, seed), pool_validation_indices(space, N_POOL, seed)
    a_tr, a_val = [archs[i] for i in tr], [archs[i] for i in val]
    base = load_base(base_dir, space)
    if base.config.node_ids == "relative":  # the base itself reads relative ids
        TEXT["text"] = "relative ids (RLMConfig.node_ids)"
    F = pooled(base, base.texts_for([*a_tr, *a_val]))
    mu, sd = F[:len(tr)].mean(0), F[:len(tr)].std(0) + 1e-8
    for j, col in enumerate(columns):
        ridge = RidgeCV(alphas=np.logspace(-4, 4, 17)).fit((F[:len(tr)] - mu) / sd,
                                                           np.log(Y[tr, j]))
        probe = ridge.predict((F[len(tr):] - mu) / sd)
        budget = FinetunedRLM(space, [col], base_dir=base_dir, seed=seed).budget(
            col, len(tr), passes)
        t0 = time.time()
        rlm = finetune_rlm(load_base(base_dir, space, [col]), a_tr, Y[tr, j:j + 1], [col],
                           budget, seed=seed, progress=False, threads=1)
        pred = rlm.predict_median(a_val)[:, 0]
        print(json.dumps({
            "base": base_dir, "space": space, "column": col, "n": N_POOL, "pool_seed": seed,
            **TEXT, **({"passes": passes} if passes != 12.0 else {}),
            "token": [round(float(kendalltau(pred, Y[val, j]).statistic), 4),
                      round(float(spearmanr(pred, Y[val, j]).statistic), 4)],
            "encoder_probe_tau": round(float(kendalltau(probe, Y[val, j]).statistic), 4),
            "finetune_seconds": round(time.time() - t0, 1)}), flush=True)


CONSTANT = re.compile(r"^(%\d+) = Constant\[v=([^\]]*)\]\(\)$")
TOP_ID = re.compile(r"^(?:in )?(%\d+(?:,%\d+)*)(?: = | )")


def constants_inlined(text: str) -> str:
    """``relative_node_ids`` after each top-level ``Constant`` node is dropped and its value
    written where it is read (``Reshape(%-1,[0,2,-1,64])``). Why: FBNet's shape constants are
    shared by every grouped block, so the distance back to them differs at each depth."""
    lines = text.split("\n")
    values = {m.group(1): f"[{m.group(2)}]" for m in map(CONSTANT.match, lines) if m}
    lines = [line for line in lines if not CONSTANT.match(line)]
    defined = [i for m in map(TOP_ID.match, lines) if m for i in m.group(1).split(",")]
    new_id = {old: f"%{k}" for k, old in enumerate(defined)}

    def top(line: str) -> str:  # functions keep their own ids
        if line.startswith((" ", "func ")):
            return line
        return re.sub(r"%\d+", lambda m: values.get(m.group(0)) or new_id[m.group(0)], line)

    return relative_node_ids("\n".join(map(top, lines)))


REWRITES = {"--strip-ids": ("ids stripped", lambda t: re.sub(r"%\d+", "%", t)),
            "--relative-ids": ("relative ids", relative_node_ids),
            "--inline-constants": ("constants inlined", constants_inlined)}


def rewrite_texts(flag: str) -> None:
    """Make every RLM read its texts rewritten by ``REWRITES[flag]`` (this process only)."""
    name, rewrite = REWRITES[flag]
    texts_for = RLM.texts_for

    def rewritten(self, archs, view="optimised"):
        return [rewrite(t) for t in texts_for(self, archs, view)]

    RLM.texts_for = rewritten
    TEXT["text"] = name


def _option(argv: list[str], flag: str, default):
    """``argv`` without ``flag VALUE``, and VALUE (as ``default``'s type; ``default`` where
    the flag is absent)."""
    if flag not in argv:
        return argv, default
    at = argv.index(flag)
    return argv[:at] + argv[at + 2:], type(default)(argv[at + 1])


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    argv, seed = _option(argv, "--pool-seed", SEED)
    argv, space = _option(argv, "--space", SPACE)  # score only: another space's base, columns
    argv, passes = _option(argv, "--passes", 12.0)  # score only: passes over the pool
    argv, model = _option(argv, "--model", "")  # pretrain only: FIELD=INT,... of RLMConfig
    for flag in REWRITES:
        if flag in argv:
            argv = [a for a in argv if a != flag]
            rewrite_texts(flag)
    if len(argv) == 5 and argv[0] == "pretrain":
        pretrain(Path(argv[1]), int(argv[2]), int(argv[3]), int(argv[4]), model)
    elif len(argv) >= 3 and argv[0] == "score":
        score(argv[1], argv[2:], seed, space, passes)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

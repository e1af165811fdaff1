"""Can the default model carry count heads? Pool validation only (never the held-out set).

Why: count heads lift the device columns of ``evaluate --surrogates rlm_base`` (docs/rlm_v2.md,
"Count heads in one checkpoint, held out"), but the shipped default model had none (this
probe chose the recipe it has carried since session 49, seed 0; train.sh): a head
needs the fine-tune to rehearse the counts of the graph each device reads, and rehearsing all
17 of them (eight of the executed graph, nine of the converted one) beside the five columns
would take about three times the fine-tune's 1,050 s. ``TrainConfig.rehearsals_per_arch``
draws a few of them per arch and step instead.

This fine-tunes the shipped base as ``train.sh`` does (the (N = 781, seed 0) pool, all five
columns, fine-tune seed SEED) with a count head on each device column and R rehearsals per
arch (default: the recipe's ``REHEARSALS_PER_ARCH``; 0: all of them), saves the model in
OUT/model (its heads at weight 1), and prints, on the 500 pool-validation archs: each
device's token τ / ρ, and τ / ρ of its head over the model's *own* counts blended at each
weight of ``WEIGHTS`` (0 is the token alone); how often its own counts equal the base's;
and the fine-tune's seconds. The fine-tune resumes from OUT.

    python experiments/nb201_default_surrogate/count_heads.py DATA_DIR OUT [R] [SEED]
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.surrogates.recipes import (
    REHEARSALS_PER_ARCH,
    decoded_medians,
    finetune_budget,
    finetune_rlm,
    fit_count_head,
    load_base,
)

BASE = "nas_rlm/pretrained/nb201-base"
COLUMNS = ["cifar10", "pixel3", "eyeriss", "gold_6226", "1080ti_1"]
DEVICES = COLUMNS[1:]
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
N, POOL_SEED = 781, 0


def score(p: np.ndarray, y: np.ndarray) -> list[float]:
    return [round(float(kendalltau(p, y).statistic), 4), round(float(spearmanr(p, y).statistic), 4)]


def main(argv: list[str]) -> None:
    if len(argv) not in (2, 3, 4):
        raise SystemExit(__doc__)
    data_dir, out = argv[0], Path(argv[1])
    per_arch = int(argv[2]) if len(argv) > 2 else REHEARSALS_PER_ARCH
    seed = int(argv[3]) if len(argv) > 3 else 1
    torch.set_num_threads(1)
    archs, Y = load_targets("nb201", COLUMNS, data_dir)
    tr, val = train_indices("nb201", N, POOL_SEED), pool_validation_indices("nb201", N, POOL_SEED)
    a_tr, a_val = [archs[i] for i in tr], [archs[i] for i in val]
    base = load_base(BASE, "nb201")
    budget = replace(finetune_budget(COLUMNS, N), rehearsals_per_arch=per_arch)
    t0 = time.time()
    rlm = finetune_rlm(base, a_tr, Y[tr], COLUMNS, budget, seed=seed, progress=False,
                       out_dir=out / "finetune_ckpt", count_heads=dict.fromkeys(DEVICES, 1.0))
    seconds = time.time() - t0
    rlm.save_pretrained(out / "model")
    heads, rlm.mix_heads = dict(rlm.mix_heads), {}
    token = rlm.predict_point(a_val)
    res = {"rehearsals_per_arch": per_arch, "seed": seed, "steps": budget.steps,
           "fit_seconds": round(seconds, 1),
           "rehearsed": rlm.training_info["finetune"]["rehearsed"],
           "cifar10": score(token[:, 0], Y[val, 0]), "devices": {}}
    ref = load_base(BASE, "nb201")
    counts = {}  # per list of sources (the executed graph's serve three devices), decoded once
    for c in DEVICES:
        j, srcs = COLUMNS.index(c), heads[c].sources
        if tuple(srcs) not in counts:
            X_val = decoded_medians(rlm, srcs, a_val)
            counts[tuple(srcs)] = (decoded_medians(rlm, srcs, a_tr), X_val, np.mean(
                X_val == decoded_medians(ref, srcs, a_val), axis=0))
        X_tr, X_val, same = counts[tuple(srcs)]
        res["devices"][c] = {
            "by_weight": {str(w): score(fit_count_head(srcs, X_tr, Y[tr, j], w).blend(
                X_val, token[:, j]) if w else token[:, j], Y[val, j]) for w in WEIGHTS},
            "own_counts_equal_base": {s: round(float(v), 3) for s, v in zip(srcs, same,
                                                                             strict=True)}}
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""How long to fine-tune, and does averaging fine-tunes help? Pool archs only (never the
held-out set).

Fine-tunes BASE on COLUMN of the N = 781 pool (or the N given last; pool seed 0) with the
evaluate budget (``finetune_budget``, times SCALE), once per fine-tuning seed in SEEDS, and
scores on the 500 pool-validation archs the exact median (``predict_point``) of each seed
alone, the mean of the first k seeds' exact medians, k = 2.. , the same averaged over every
k of the seeds, and of every pair of seeds (τ of the pair's mean, and the mean τ of the two
alone). Predictions are kept in OUT_DIR, so a rerun adds seeds without refitting. One JSON line::

    python experiments/rlm_finetune_budget/budget_pool_val.py BASE COLUMN SEEDS SCALE OUT_DIR [N]
    python experiments/rlm_finetune_budget/budget_pool_val.py \
        nas_rlm/pretrained/nb201-base titan_rtx_256 0,1 2 runs/budget
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.surrogates.recipes import FINETUNE_EPOCHS, finetune_budget, finetune_rlm, load_base

N = 781


def score(p: np.ndarray, y: np.ndarray) -> list[float]:
    return [round(float(kendalltau(p, y).statistic), 4), round(float(spearmanr(p, y).statistic), 4)]


def main(argv: list[str]) -> None:
    if len(argv) not in (5, 6):
        raise SystemExit(__doc__)
    n = int(argv[5]) if len(argv) == 6 else N
    torch.set_num_threads(1)
    base_dir, col, scale, out = argv[0], argv[1], float(argv[3]), Path(argv[4])
    seeds = [int(s) for s in argv[2].split(",")]
    out.mkdir(parents=True, exist_ok=True)
    archs, Y = load_targets("nb201", [col])
    tr, val = train_indices("nb201", n, 0), pool_validation_indices("nb201", n, 0)
    cfg = finetune_budget([col], n, epochs=FINETUNE_EPOCHS * scale)
    preds, secs = [], []
    for seed in seeds:
        f = out / f"{col}_x{scale:g}_s{seed}{'' if n == N else f'_n{n}'}.npy"
        if not f.exists():
            base = load_base(base_dir, "nb201", unseen=[col])
            t0 = time.time()
            rlm = finetune_rlm(base, [archs[i] for i in tr], Y[tr], [col], cfg, seed=seed,
                               progress=False)
            secs.append(round(time.time() - t0, 1))
            np.save(f, rlm.predict_point([archs[i] for i in val])[:, 0])
        preds.append(np.load(f))
    y = Y[val, 0]
    taus = [float(kendalltau(p, y).statistic) for p in preds]  # each seed alone, unrounded
    res = {"base": base_dir, "column": col, "n": n, "pool_seed": 0, "seeds": seeds,
           "epochs_scale": scale,
           "steps": cfg.steps, "digit_sigma": cfg.digit_sigma,
           "fit_seconds": secs, "single": [score(p, y) for p in preds],
           "mean_of_k": {k: score(np.mean(preds[:k], axis=0), y)
                         for k in range(2, len(preds) + 1)},
           # k members averaged, τ and ρ averaged over every k of the seeds (k = 1: alone)
           "mean_over_k_sets": {k: np.round(np.mean(
               [score(np.mean([preds[i] for i in c], axis=0), y)
                for c in itertools.combinations(range(len(preds)), k)], axis=0), 4).tolist()
               for k in range(1, len(preds) + 1)},
           # every pair of seeds: the mean of their exact medians against their mean τ
           "pairs": {f"{seeds[a]}+{seeds[b]}": [score((preds[a] + preds[b]) / 2, y)[0],
                                                round(float(np.mean([taus[a], taus[b]])), 4)]
                     for a, b in itertools.combinations(range(len(preds)), 2)}}
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

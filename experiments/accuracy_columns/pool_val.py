"""The accuracy fine-tune on CIFAR-100 and ImageNet16-120, on pool validation only (never the
held-out set): the recipe was chosen on CIFAR-10, and held out these columns rank level with
the one-hot MLP on Kendall τ and below it on Spearman ρ.

Fine-tunes BASE on COLUMN of the N = 781 pool (pool seed 0) with the evaluate budget
(``finetune_budget``), once per fine-tuning seed in SEEDS, with any ``TrainConfig`` overrides
(``rank_weight=3.0``), and scores the 500 pool-validation archs: each seed alone, the mean over
every subset of k seeds (k = 1..len(SEEDS): what averaging k fine-tunes buys, free of which
seeds came first); and where the mean of all seeds errs: the mean |predicted rank - true
rank| (ranks scaled to [0, 1]) in buckets of the true rank (0-10-25-50-75-90-100 %; ρ weighs
large rank errors), and the share of the true top 10 % in the predicted top 10 %
(``precision_at_top``, as ``evaluate``'s ``precision_top5`` at 5 %). Exact-median
predictions are kept as OUT/<column>_<TAG>_s<seed>.npy (the expected value as
``..._ev.npy``), so a rerun adds seeds without refitting. One JSON line::

    python experiments/accuracy_columns/pool_val.py BASE COLUMN SEEDS TAG OUT [KEY=VALUE ...]
    python experiments/accuracy_columns/pool_val.py nas_rlm/pretrained/nb201-base \
        imagenet16-120 0,1 rw3 runs/acc rank_weight=3.0

BASE ``mlp`` or ``gbdt`` scores the one-hot baseline instead, on the same split and buckets.

``top_power=P`` (not a ``TrainConfig`` field) stretches the top of the new column's quantile
map: a knot at quantile q goes to ``1 + 8 q**P`` instead of ``1 + 8 q``. With P = 2 the true
top 10 % span first digits 7-8 (1.5 units) instead of sharing the 8 (0.8 units), so the
first digit and the ranking term tell them apart; the bottom third shares the 1.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, rankdata, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.evaluation.metrics import precision_at_top
from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.baselines import OneHotGBDT, OneHotMLP
from nas_rlm.surrogates.normalization import HIGH, LOW, MonotoneMap
from nas_rlm.surrogates.recipes import finetune_budget, finetune_rlm, load_base

N = 781
BASELINES = {"mlp": OneHotMLP, "gbdt": OneHotGBDT}
BUCKETS = (0.1, 0.25, 0.5, 0.75, 0.9)


def score(p: np.ndarray, y: np.ndarray) -> list[float]:
    return [round(float(kendalltau(p, y).statistic), 4), round(float(spearmanr(p, y).statistic), 4)]


def rank_error_by_bucket(p: np.ndarray, y: np.ndarray) -> list[float]:
    """Mean |rank(p) - rank(y)| / n per bucket of the true rank, worst archs first."""
    ry, rp = rankdata(y) / len(y), rankdata(p) / len(p)
    bucket = np.digitize(ry, BUCKETS)
    err = np.abs(rp - ry)
    return [round(float(err[bucket == b].mean()), 4) for b in range(len(BUCKETS) + 1)]


def stretch_top(power: float) -> None:
    """Make every quantile map fitted from now on put knot q at ``LOW + (HIGH-LOW) q**power``
    (the fine-tune fits one for its new column only; the base's maps are loaded)."""
    fit = MonotoneMap.fit.__func__

    def stretched(cls, y, kind="quantile"):
        m = fit(cls, y, kind)
        if kind != "quantile" or m.constant:
            return m
        q = (np.asarray(m.z) - LOW) / (HIGH - LOW)
        return cls(kind, m.x, tuple(map(float, LOW + (HIGH - LOW) * q ** power)))

    MonotoneMap.fit = classmethod(stretched)


def main(argv: list[str]) -> None:
    if len(argv) < 5:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    base_dir, col, tag, out = argv[0], argv[1], argv[3], Path(argv[4])
    seeds = [int(s) for s in argv[2].split(",")]
    overrides = {k: json.loads(v) for k, _, v in (a.partition("=") for a in argv[5:])}
    if "top_power" in overrides:
        stretch_top(float(overrides["top_power"]))
    out.mkdir(parents=True, exist_ok=True)
    archs, Y = load_targets("nb201", [col])
    tr, val = train_indices("nb201", N, 0), pool_validation_indices("nb201", N, 0)
    cfg = replace(finetune_budget([col], N),
                  **{k: v for k, v in overrides.items() if k != "top_power"})
    tr_archs, val_archs = [archs[i] for i in tr], [archs[i] for i in val]
    secs = []
    for seed in seeds:
        f = out / f"{col}_{tag}_s{seed}.npy"
        if not f.exists() and base_dir in BASELINES:  # the bar, on the same split
            model = BASELINES[base_dir](get_space("nb201"), [col]).fit(tr_archs, Y[tr])
            np.save(f, model.predict_point(val_archs)[:, 0])
        elif not f.exists():
            base = load_base(base_dir, "nb201", unseen=[col])
            t0 = time.time()
            rlm = finetune_rlm(base, tr_archs, Y[tr], [col], cfg, seed=seed, progress=False)
            secs.append(round(time.time() - t0, 1))
            np.save(out / f"{col}_{tag}_s{seed}_ev.npy", rlm.predict_expected(val_archs)[:, 0])
            np.save(f, rlm.predict_point(val_archs)[:, 0])
    preds = [np.load(out / f"{col}_{tag}_s{seed}.npy") for seed in seeds]
    y = Y[val, 0]
    subsets = {k: np.mean([score(np.mean([preds[i] for i in c], axis=0), y)
                           for c in itertools.combinations(range(len(preds)), k)], axis=0)
               for k in range(1, len(preds) + 1)}
    res = {"base": base_dir, "column": col, "tag": tag, "overrides": overrides, "n": N,
           "pool_seed": 0, "seeds": seeds,
           "steps": None if base_dir in BASELINES else cfg.steps, "fit_seconds": secs,
           "single": [score(p, y) for p in preds],
           "mean_over_subsets_of_k": {k: [round(float(v), 4) for v in s]
                                      for k, s in subsets.items()},
           "rank_error_by_true_bucket": rank_error_by_bucket(np.mean(preds, axis=0), y),
           "top10_precision": precision_at_top(np.mean(preds, axis=0), y, True, 0.1)}
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Soft first-digit targets (``TrainConfig.digit_sigma``; HL-Gauss, Farebrother et al. 2024,
"Stop Regressing") against the one-hot ones, on pool archs only (never the held-out set).

The evaluate budget (``finetune_budget``) fine-tunes BASE on COLUMN of the pool of N archs
(pool seed 0; N = 781 unless given) with the first mantissa digit's target a Gaussian of
width SIGMA digits around the label's mantissa (0: one-hot); Kendall τ / Spearman ρ of the
expected value and of the exact median (``predict_point``) on the 500 pool-validation archs
and on up to 500 of the training archs.
Every further ``field=value`` overrides a field of that ``TrainConfig`` (JSON values).
One JSON line::

    python experiments/rlm_soft_digits/soft_pool_val.py BASE COLUMN SEED SIGMA [N] [field=value ...]
    python experiments/rlm_soft_digits/soft_pool_val.py nas_rlm/pretrained/nb201-base eyeriss 0 0.4
    python experiments/rlm_soft_digits/soft_pool_val.py BASE cifar10 0 0.4 781 batch_size=32
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.surrogates.recipes import finetune_budget, finetune_rlm, load_base


def main(argv: list[str]) -> None:
    fields = {k: json.loads(v) for k, _, v in (a.partition("=") for a in argv if "=" in a)}
    argv = [a for a in argv if "=" not in a]
    if len(argv) not in (4, 5):
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    base_dir, col, seed, sigma = argv[0], argv[1], int(argv[2]), float(argv[3])
    N = int(argv[4]) if len(argv) == 5 else 781
    archs, Y = load_targets("nb201", [col])
    tr, val = train_indices("nb201", N, 0), pool_validation_indices("nb201", N, 0)
    base = load_base(base_dir, "nb201", unseen=[col])
    cfg = replace(finetune_budget([col], N), digit_sigma=sigma, **fields)
    t0 = time.time()
    rlm = finetune_rlm(base, [archs[i] for i in tr], Y[tr], [col], cfg, seed=seed,
                       progress=False)
    out = {"column": col, "n": N, "pool_seed": 0, "seed": seed, "sigma": sigma,
           "steps": cfg.steps, "batch": cfg.batch_size,
           "freeze_encoder": cfg.freeze_encoder, **fields,
           "seconds": round(time.time() - t0, 1)}
    for split, idx in (("val", val), ("train", tr[:500])):  # N < 500: every training arch
        a = [archs[i] for i in idx]
        for name, p in (("ev", rlm.predict_expected(a)[:, 0]),
                        ("median", rlm.predict_point(a)[:, 0])):
            out[f"{split}_{name}"] = [round(float(kendalltau(p, Y[idx, 0]).statistic), 4),
                                      round(float(spearmanr(p, Y[idx, 0]).statistic), 4)]
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

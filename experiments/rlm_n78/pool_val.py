"""CIFAR-10 at N = 78 (the fixed fine-tuning budget) on pool archs only, over several pools.

At N = 78 one pool's validation archs say little: the held-out τ of the shipped base spans
0.684-0.717 over pool seeds 0-4 (docs/rlm_v2.md, "N = 78"). So each lever is scored on
every pool seed given, fine-tuning with the pool's seed, on that pool's SIZE
pool-validation archs (``pool_validation_indices``; never the held-out set). Every
``field=value`` overrides a field of the ``TrainConfig`` that ``finetune_budget`` gives.
One JSON line per pool, then one with the means::

    python experiments/rlm_n78/pool_val.py BASE SEEDS [SIZE] [field=value ...]
    python experiments/rlm_n78/pool_val.py nas_rlm/pretrained/nb201-base 0-4 1000 steps=200
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.cli import _int_list
from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.surrogates.recipes import finetune_budget, finetune_rlm, load_base

N, COLUMN = 78, "cifar10"


def main(argv: list[str]) -> None:
    fields = {k: json.loads(v) for k, _, v in (a.partition("=") for a in argv if "=" in a)}
    argv = [a for a in argv if "=" not in a]
    if len(argv) not in (2, 3):
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    base_dir, seeds = argv[0], _int_list(argv[1], "SEEDS")
    size = int(argv[2]) if len(argv) == 3 else 1000
    archs, Y = load_targets("nb201", [COLUMN])
    rows = []
    for seed in seeds:
        tr, val = train_indices("nb201", N, seed), pool_validation_indices("nb201", N, seed, size)
        base = load_base(base_dir, "nb201", unseen=[COLUMN])
        cfg = replace(finetune_budget([COLUMN], N), **fields)
        t0 = time.time()
        rlm = finetune_rlm(base, [archs[i] for i in tr], Y[tr], [COLUMN], cfg, seed=seed,
                           progress=False)
        row = {"base": base_dir, "n": N, "pool_seed": seed, "size": size, **fields,
               "seconds": round(time.time() - t0, 1)}
        a = [archs[i] for i in val]
        for name, p in (("ev", rlm.predict_expected(a)[:, 0]),
                        ("median", rlm.predict_point(a)[:, 0])):
            row[name] = [round(float(kendalltau(p, Y[val, 0]).statistic), 4),
                         round(float(spearmanr(p, Y[val, 0]).statistic), 4)]
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps({"base": base_dir, "n": N, "pool_seeds": seeds, "size": size, **fields,
                      "mean_median": np.round(np.mean([r["median"] for r in rows], 0),
                                              4).tolist(),
                      "mean_ev": np.round(np.mean([r["ev"] for r in rows], 0), 4).tolist()}),
          flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

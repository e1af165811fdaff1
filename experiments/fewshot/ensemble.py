"""Does averaging fine-tunes help? On a validation split of the training pool (never the
held-out set): fine-tune a base on the (N, pool seed) pool of one column once per fine-tune
seed, and print one JSON line with each member's Kendall τ / Spearman ρ on 500 other pool
archs and those of the members' mean expected value. Each member is saved under OUT, so a
rerun only scores.

    python experiments/fewshot/ensemble.py BASE COLUMN N POOL_SEED SEEDS OUT
    python experiments/fewshot/ensemble.py nas_rlm/pretrained/nb201-base cifar10 781 0 0,1,2 OUT
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
from nas_rlm.surrogates.recipes import finetune_budget, finetune_rlm, load_base
from nas_rlm.surrogates.rlm import RLM


def main(argv: list[str]) -> None:
    if len(argv) != 6:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    base_dir, column, n, pool_seed = argv[0], argv[1], int(argv[2]), int(argv[3])
    seeds, out = [int(s) for s in argv[4].split(",")], Path(argv[5])
    archs, Y = load_targets("nb201", [column])
    tr, val = train_indices("nb201", n, pool_seed), pool_validation_indices("nb201", n, pool_seed)
    a_tr, a_val, y_val = [archs[i] for i in tr], [archs[i] for i in val], Y[val, 0]
    result = {"column": column, "n": n, "pool_seed": pool_seed, "members": {}}
    preds = []
    for seed in seeds:
        model_dir = out / f"{column}_n{n}_p{pool_seed}_s{seed}"
        t0 = time.time()
        if (model_dir / "rlm.json").exists():
            rlm = RLM.from_pretrained(model_dir)
        else:
            rlm = finetune_rlm(load_base(base_dir, "nb201"), a_tr, Y[tr], [column],
                               finetune_budget([column], n), seed=seed, progress=False)
            rlm.save_pretrained(model_dir)
        p = rlm.predict_expected(a_val)[:, 0]
        preds.append(p)
        result["members"][seed] = {"tau": round(float(kendalltau(p, y_val).statistic), 4),
                                   "rho": round(float(spearmanr(p, y_val).statistic), 4),
                                   "seconds": round(time.time() - t0, 1)}
    mean = np.mean(preds, 0)
    result["mean_of_members"] = {"tau": round(float(kendalltau(mean, y_val).statistic), 4),
                                 "rho": round(float(spearmanr(mean, y_val).statistic), 4)}
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])

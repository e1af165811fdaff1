"""Fine-tune a base on a converter device (pixel3, raspi4) reading the converted view built
by RULE (``rules.RULES``), on the N = 781 pool of seed 0 with the evaluate budget; Kendall τ /
Spearman ρ of the exact median on the 500 pool-validation archs (never the held-out set).
The base was pretrained on the converted view of rule R0, so a new rule here changes only what
the fine-tune reads. One JSON line::

    python experiments/nb201_converted_rule/pool_val.py BASE COLUMN RULE
    python experiments/nb201_converted_rule/pool_val.py runs/nb201_base_nopx3/model pixel3 V2
"""

from __future__ import annotations

import json
import sys
import time

import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.surrogates.recipes import finetune_budget, finetune_rlm, load_base

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from rules import use_rule

N = 781


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    base_dir, col, rule = argv
    use_rule(rule)
    archs, Y = load_targets("nb201", [col])
    tr, val = train_indices("nb201", N, 0), pool_validation_indices("nb201", N, 0)
    base = load_base(base_dir, "nb201", unseen=[col])
    t0 = time.time()
    rlm = finetune_rlm(base, [archs[i] for i in tr], Y[tr], [col],
                       finetune_budget([col], N), seed=0, progress=False)
    p, y = rlm.predict_point([archs[i] for i in val])[:, 0], Y[val, 0]
    print(json.dumps({"base": base_dir, "column": col, "rule": rule, "n": N, "pool_seed": 0,
                      "view": rlm.view_of_objective(col),
                      "tau": round(float(kendalltau(p, y).statistic), 4),
                      "rho": round(float(spearmanr(p, y).statistic), 4),
                      "seconds": round(time.time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""The bar for the pool-validation probes: the one-hot MLP and GBDT fitted on the same N = 781
pool archs (seed 0) as ``experiments/fewshot/tune.py`` fine-tunes on, scored on the same 500
other pool archs (never the held-out set). One JSON line per column, Kendall τ and Spearman ρ::

    python experiments/nb201_heldout_base/pool_val_baselines.py gold_6226 pixel3 raspi4
"""

from __future__ import annotations

import json
import sys

import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.baselines import OneHotGBDT, OneHotMLP


def main(columns: list[str]) -> None:
    torch.set_num_threads(1)
    space = get_space("nb201")
    tr, val = train_indices("nb201", 781, 0), pool_validation_indices("nb201", 781, 0)
    for col in columns:
        archs, Y = load_targets("nb201", [col])
        a_tr, a_val, y = [archs[i] for i in tr], [archs[i] for i in val], Y[val, 0]
        out = {"column": col, "n": 781, "seed": 0}
        for name, cls in (("mlp", OneHotMLP), ("gbdt", OneHotGBDT)):
            p = cls(space, [col]).fit(a_tr, Y[tr]).predict_point(a_val)[:, 0]
            out[name] = {"tau": round(float(kendalltau(p, y).statistic), 4),
                         "rho": round(float(spearmanr(p, y).statistic), 4)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if not sys.argv[1:]:
        raise SystemExit(__doc__)
    main(sys.argv[1:])

"""Which graph should pixel3 be read from? An A/B on a validation split of the training pool
(never the held-out set): the default RLM recipe trained from scratch on the (N, pool seed)
pool, reading either the executed graph (every edge, as PyTorch runs it; the default) or the
graph a constant-folding converter leaves (``NB201.converted_view``), scored on 500 other
pool archs. One JSON line per run.

    python experiments/nb201_executed_text/converted_run.py VIEW COLUMNS N POOL_SEED [SEED]
    python experiments/nb201_executed_text/converted_run.py converted pixel3 781 0
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
from nas_rlm.search_spaces.nb201 import NB201
from nas_rlm.surrogates.recipes import DEFAULT_RECIPE, train_rlm


def main(argv: list[str]) -> None:
    if len(argv) not in (4, 5) or argv[0] not in ("executed", "converted"):
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    view, columns = argv[0], argv[1].split(",")
    n, pool_seed, seed = int(argv[2]), int(argv[3]), int(argv[4]) if len(argv) == 5 else 0
    archs, Y = load_targets("nb201", columns)
    tr, val = train_indices("nb201", n, pool_seed), pool_validation_indices("nb201", n, pool_seed)
    # the view's graph as the one text every objective reads (runs of 2026-12-01 before the
    # converted view existed read the executed graph as the default recipe's second view)
    space = NB201().executed() if view == "executed" else NB201().converted_view()
    recipe = replace(DEFAULT_RECIPE, executed_text=False)
    t0 = time.time()
    rlm = train_rlm(space, [archs[i] for i in tr], Y[tr], columns, recipe=recipe, seed=seed,
                    progress=False)
    fit_s = time.time() - t0
    pred = rlm.predict_point([archs[i] for i in val])
    out = {"view": view, "n": n, "pool_seed": pool_seed, "seed": seed,
           "seconds": round(fit_s, 1), "columns": {}}
    for j, col in enumerate(columns):
        out["columns"][col] = {
            "tau": round(float(kendalltau(pred[:, j], Y[val, j]).statistic), 4),
            "rho": round(float(spearmanr(pred[:, j], Y[val, j]).statistic), 4)}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

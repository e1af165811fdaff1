"""Does the executed text need every edge? An A/B on a validation split of the training pool
(never the held-out set): the default RLM recipe trained from scratch on the (N, pool seed)
pool of device columns, reading the executed graph as shared today (identical ReLUs and pools
of one tensor shared, ``none`` edges dropped) or edge by edge (``NB201(every_edge=True)``),
scored on 500 other pool archs. One JSON line per run.

    python experiments/nb201_executed_text/run.py EVERY_EDGE COLUMNS N POOL_SEED [SEED]
    python experiments/nb201_executed_text/run.py true eyeriss,fpga 781 0
"""

from __future__ import annotations

import json
import sys
import time

import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.search_spaces.nb201 import NB201
from nas_rlm.surrogates.recipes import train_rlm


def main(argv: list[str]) -> None:
    if len(argv) not in (4, 5):
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    every_edge, columns = json.loads(argv[0]), argv[1].split(",")
    n, pool_seed, seed = int(argv[2]), int(argv[3]), int(argv[4]) if len(argv) == 5 else 0
    archs, Y = load_targets("nb201", columns)
    tr, val = train_indices("nb201", n, pool_seed), pool_validation_indices("nb201", n, pool_seed)
    t0 = time.time()
    rlm = train_rlm(NB201(every_edge=every_edge), [archs[i] for i in tr], Y[tr], columns,
                    seed=seed, progress=False)
    fit_s = time.time() - t0
    pred = rlm.predict_expected([archs[i] for i in val])
    out = {"every_edge": every_edge, "n": n, "pool_seed": pool_seed, "seed": seed,
           "seconds": round(fit_s, 1), "columns": {}}
    for j, col in enumerate(columns):
        out["columns"][col] = {
            "tau": round(float(kendalltau(pred[:, j], Y[val, j]).statistic), 4),
            "rho": round(float(spearmanr(pred[:, j], Y[val, j]).statistic), 4)}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

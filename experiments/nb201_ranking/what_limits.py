"""Two bars for the RLM's remaining NB201 gaps, on pool archs (N = 781, pool seed 0; scored on
the 500 pool-validation archs, never the held-out set). One JSON line per command::

    python experiments/nb201_ranking/what_limits.py counts      # CIFAR-10
    python experiments/nb201_ranking/what_limits.py additive    # device latency

``counts``: how far CIFAR-10 is ranked by *what* a cell computes rather than *where*. The live
op counts of a cell (skip, 1×1 conv, 3×3 conv, pool on edges that reach the output) and three
path statistics (longest and shortest conv path, number of input-output paths); Kendall τ of
an oracle that predicts each arch by the mean label of all 15,625 archs with its key (it has
seen every label, so it bounds any model of that key), and of a GBDT on the same features
fitted on the 781 pool archs.

``additive``: how nearly additive a device's latency is over the cell's edges: Kendall τ /
Spearman ρ of a ridge over the 30 one-hot edge-op features, fitted on the 781 pool archs.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np
from scipy.stats import kendalltau, spearmanr
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.search_spaces import get_space
from nas_rlm.search_spaces.nb201 import EDGES, OPS, live_edges, parse_arch_string
from nas_rlm.surrogates.baselines import one_hot

DEVICES = ("titan_rtx_256", "fpga", "eyeriss", "gold_6226", "1080ti_1", "pixel3")


def cell_features(text: str) -> list[float]:
    """Live op counts (skip, 1×1, 3×3, pool), longest / shortest conv path, path count."""
    arch = parse_arch_string(text)
    live = [(EDGES[e][1], EDGES[e][0], OPS[arch[e]]) for e in live_edges(arch)]  # src, dst
    counts = [sum(op == k for *_, op in live) for k in OPS[1:]]
    longest, shortest, paths = {0: 0}, {0: 0}, {0: 1}
    for n in (1, 2, 3):
        into = [(s, "conv" in op) for s, d, op in live if d == n and s in longest]
        if into:
            longest[n] = max(longest[s] + c for s, c in into)
            shortest[n] = min(shortest[s] + c for s, c in into)
            paths[n] = sum(paths[s] for s, _ in into)
    if 3 not in longest:
        return [*counts, -1, -1, 0]
    return [*counts, longest[3], shortest[3], paths[3]]


def counts() -> dict:
    archs, Y = load_targets("nb201", ["cifar10"])
    tr, val = train_indices("nb201", 781, 0), pool_validation_indices("nb201", 781, 0)
    X = np.array([cell_features(a) for a in archs], dtype=float)
    y = Y[:, 0]
    out = {"column": "cifar10", "n": 781, "pool_seed": 0}
    for name, cols in (("live_op_counts", slice(0, 4)), ("counts_and_paths", slice(None))):
        groups = defaultdict(list)
        keys = [tuple(r) for r in X[:, cols]]
        for k, v in zip(keys, y, strict=True):
            groups[k].append(v)
        oracle = np.array([np.mean(groups[keys[i]]) for i in val])
        gbdt = HistGradientBoostingRegressor(random_state=0).fit(X[tr][:, cols], y[tr])
        out[name] = {"distinct": len(groups),
                     "oracle_tau": round(float(kendalltau(oracle, y[val]).statistic), 4),
                     "gbdt_tau": round(float(kendalltau(gbdt.predict(X[val][:, cols]),
                                                        y[val]).statistic), 4)}
    return out


def additive() -> dict:
    archs, Y = load_targets("nb201", list(DEVICES))
    tr, val = train_indices("nb201", 781, 0), pool_validation_indices("nb201", 781, 0)
    space = get_space("nb201")
    X = one_hot(space, [space.parse(a) for a in archs])  # the MLP's and GBDT's input
    out = {"n": 781, "pool_seed": 0, "one_hot_ridge": {}}
    for j, col in enumerate(DEVICES):
        p = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(X[tr], Y[tr, j]).predict(X[val])
        out["one_hot_ridge"][col] = [round(float(kendalltau(p, Y[val, j]).statistic), 4),
                                     round(float(spearmanr(p, Y[val, j]).statistic), 4)]
    return out


if __name__ == "__main__":
    commands = {"counts": counts, "additive": additive}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit(__doc__)
    print(json.dumps(commands[sys.argv[1]]()))

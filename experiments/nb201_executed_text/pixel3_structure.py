"""What pixel3 and raspi4 latency depend on: hand-made features of the NB201 cell, ranked by
a GBDT (a probe of what a text must show, not a surrogate; the RLM reads no features).

    python experiments/nb201_executed_text/pixel3_structure.py [DATA_DIR]

Trains on 10,000 of the 15,625 cells (log latency) and prints Kendall τ on 1,000 others,
per feature set, for pixel3, raspi4 and (for contrast) eyeriss; plus the latency of cells
whose output is identically zero (every path to node 3 has a ``none`` edge).
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.stats import kendalltau
from sklearn.ensemble import HistGradientBoostingRegressor

from nas_rlm.data import load_targets
from nas_rlm.search_spaces.nb201 import EDGES, live_edges, parse_arch_string

N_OPS = 5  # none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3


def _counts(ops, keep) -> list[int]:
    return [sum(1 for e, o in enumerate(ops) if o == k and keep(e)) for k in range(N_OPS)]


def features(arch) -> dict[str, list[float]]:
    ops = list(arch)
    live = set(live_edges(arch))
    by_dst = [c for d in (1, 2, 3) for c in _counts(ops, lambda e, d=d: EDGES[e][0] == d)]
    by_src = [c for s in (0, 1, 2) for c in _counts(ops, lambda e, s=s: EDGES[e][1] == s)]
    return {
        "op counts (executed graph)": _counts(ops, lambda e: True),
        "op counts, executed + pruned graph": _counts(ops, lambda e: True)
        + _counts(ops, lambda e: e in live),
        "op counts per destination node": by_dst,
        "op counts per source node": by_src,
        "per destination + per source node": by_dst + by_src,
        "one-hot per edge": [float(o == k) for o in ops for k in range(N_OPS)],
    }


def main() -> None:
    data_dir = sys.argv[1] if len(sys.argv) > 1 else None
    cols = ["pixel3", "raspi4", "eyeriss"]
    archs, Y = load_targets("nb201", cols, data_dir)
    parsed = [parse_arch_string(a) for a in archs]
    feats = [features(a) for a in parsed]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(archs))
    train, test = order[:10000], order[10000:11000]
    zero = np.array([3 not in {EDGES[e][0] for e in live_edges(a)} for a in parsed])
    for j, col in enumerate(cols):
        y = np.log(Y[:, j])
        print(f"{col}: median {np.median(Y[~zero, j]):.2f} ms, zero-output cells "
              f"({zero.sum()}) median {np.median(Y[zero, j]):.2f} ms")
        for name in feats[0]:
            X = np.array([f[name] for f in feats], dtype=float)
            g = HistGradientBoostingRegressor(max_iter=300, random_state=0)
            g.fit(X[train], y[train])
            print(f"  {name:40s} τ {kendalltau(g.predict(X[test]), y[test]).statistic:.3f}")


if __name__ == "__main__":
    main()

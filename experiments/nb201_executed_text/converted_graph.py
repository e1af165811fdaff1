"""What pixel3 and raspi4 ran: the executed graph (every edge, as PyTorch runs it) or the
graph a constant-folding converter (TFLite) leaves of it (``NB201.converted_view``)?

A probe of the table, not a surrogate: a least-squares cost model over the computed labels of
each graph (MFLOPs, params, op counts: what ``nas-rlm pretrain`` teaches the RLM to read) is
fitted on 3,000 sampled cells per column and ranks 1,000 others (Spearman ρ). Also printed:
the latency of cells whose output cannot depend on their input, and what one conv edge costs
by where it sits (the same cell with that edge set to ``none``). One JSON object.

    python experiments/nb201_executed_text/converted_graph.py [DATA_DIR]
"""

from __future__ import annotations

import json
import sys

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import LinearRegression

from nas_rlm.data import load_targets
from nas_rlm.search_spaces.nb201 import EDGES, NB201, live_edges, parse_arch_string
from nas_rlm.surrogates.recipes import computed_labels

COLUMNS = ["pixel3", "raspi4", "eyeriss", "gold_6226", "1080ti_1"]


def edge_costs(archs: list, y: np.ndarray) -> dict[str, float]:
    """Median latency a conv edge adds, by where it sits: on a live path, on a branch that
    reaches no output, or reading an all-zero node (a node fed by ``none`` edges only)."""
    row = {a: i for i, a in enumerate(archs)}
    out: dict[str, list[float]] = {"live": [], "reaches_no_output": [], "reads_zero_node": []}
    for a in archs:
        if not live_edges(a):
            continue
        reach, live = {0}, set(live_edges(a))
        for e, (dst, src) in enumerate(EDGES):
            if a[e] != 0 and src in reach:
                reach.add(dst)
        for e in range(len(EDGES)):
            if a[e] not in (2, 3):  # the convs
                continue
            b = (*a[:e], 0, *a[e + 1:])
            if not live_edges(b):
                continue
            kind = ("live" if e in live else
                    "reads_zero_node" if EDGES[e][1] not in reach else "reaches_no_output")
            out[kind].append(float(y[row[a]] - y[row[b]]))
    return {k: round(float(np.median(v)), 3) for k, v in out.items()}


def main() -> None:
    data_dir = sys.argv[1] if len(sys.argv) > 1 else None
    archs, Y = load_targets("nb201", COLUMNS, data_dir)
    parsed = [parse_arch_string(a) for a in archs]
    constant = np.array([not live_edges(a) for a in parsed])
    idx = np.random.default_rng(0).choice(len(parsed), 4000, replace=False)
    tr, te = idx[:3000], idx[3000:]
    space = NB201()
    views = {"executed": space.executed(), "converted": space.converted_view()}
    X = {v: computed_labels(s, [parsed[i] for i in idx], progress=True)
         for v, s in views.items()}
    out: dict = {"constant_output_cells": int(constant.sum()), "columns": {}}
    for j, col in enumerate(COLUMNS):
        y = Y[:, j]
        res = {"median_ms_constant_output": round(float(np.median(y[constant])), 3),
               "median_ms_other": round(float(np.median(y[~constant])), 3),
               "conv_edge_ms": edge_costs(parsed, y)}
        for v in views:
            model = LinearRegression().fit(X[v][:3000], y[tr])
            res[f"cost_model_rho_{v}"] = round(float(
                spearmanr(model.predict(X[v][3000:]), y[te]).statistic), 4)
        out["columns"][col] = res
        print(col, json.dumps(res), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

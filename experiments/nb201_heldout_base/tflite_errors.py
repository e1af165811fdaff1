"""Where does the RLM lose pixel3 and raspi4 rank to the GBDT? Pool archs only, never the
held-out set.

``pairs``: for each pool arch with a branch the converted graph drops (``reaching_edges``),
the pool arch with that edge set to ``none`` has the same converted graph, hence the same
text; the mean latency difference of such pairs is what the dropped op costs on the device.
The converted view assumes it costs nothing.

``split BASE COLUMN``: the evaluate budget (N = 781, pool seed 0, 293 steps, encoder frozen)
fine-tunes BASE on COLUMN; it and the one-hot GBDT rank the 500 pool-validation archs, and
the Spearman ρ and the share of squared rank error are split by whether an arch has a dropped
3×3 conv. ``linear`` does the same for a linear model with pairwise terms over counts of the
kept ops (``dead_branches.py linear``'s "kept" model), which reads exactly what the converted
graph holds. One JSON line per command::

    python experiments/nb201_heldout_base/tflite_errors.py pairs
    python experiments/nb201_heldout_base/tflite_errors.py split runs/nb201_base_nopx3/model pixel3
    python experiments/nb201_heldout_base/tflite_errors.py linear
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import replace

import numpy as np
import torch
from scipy.stats import rankdata, spearmanr
from sklearn.linear_model import LinearRegression

from nas_rlm.data import load_targets
from nas_rlm.data.splits import heldout_indices, pool_validation_indices, train_indices
from nas_rlm.search_spaces import get_space
from nas_rlm.search_spaces.nb201 import EDGES, OPS, live_edges, reaching_edges
from nas_rlm.surrogates.baselines import OneHotGBDT
from nas_rlm.surrogates.recipes import FINETUNE_TRAIN, finetune_rlm, load_base

COLUMNS = ("pixel3", "raspi4")
CONV3 = OPS.index("nor_conv_3x3")


def pairs() -> dict:
    space = get_space("nb201")
    archs, Y = load_targets("nb201", list(COLUMNS))
    pool = np.setdiff1d(np.arange(len(archs)), heldout_indices("nb201"))  # the whole pool
    label = {tuple(space.parse(archs[i])): Y[i] for i in pool}
    dropped, kept_ = defaultdict(list), defaultdict(list)
    for a, y in label.items():
        kept = set(reaching_edges(a))
        for e in range(len(a)):
            b = (*a[:e], 0, *a[e + 1:])
            if a[e] == 0 or b not in label:
                continue
            if e in kept:  # for scale: a kept op against none (another converted graph)
                kept_[f"edge {e} {OPS[a[e]]}"].append(y - label[b])
            elif set(reaching_edges(b)) == kept:
                dropped[f"edge {e} {OPS[a[e]]}"].append(y - label[b])

    def table(diff: dict) -> dict:
        return {k: {"pairs": len(v), **{c: round(float(np.mean(v, 0)[j]), 2)
                                        for j, c in enumerate(COLUMNS)}}
                for k, v in sorted(diff.items())}

    return {"pool_archs": len(label), "dropped_op_minus_none_ms": table(dropped),
            "kept_op_minus_none_ms": table(kept_)}


def kept_mask(grid: list) -> np.ndarray:
    """Per arch and edge: whether the converted graph keeps the edge (``reaching_edges``)."""
    kept = np.zeros((len(grid), len(EDGES)), bool)
    for i, a in enumerate(grid):
        kept[i, reaching_edges(tuple(a))] = True
    return kept


def kept_op_counts(grid: list, kept: np.ndarray) -> np.ndarray:
    """Counts of kept skip/conv1x1/conv3x3/pool edges, and whether the cell input reaches
    the output: the converted graph, as a linear cost model reads it."""
    ops = np.asarray(grid)
    connected = [bool(live_edges(tuple(a))) for a in grid]
    return np.stack([((ops == op) & kept).sum(1) for op in (1, 2, 3, 4)] + [connected],
                    1).astype(float)


def pairwise(X: np.ndarray) -> np.ndarray:
    """``X`` beside the products of every pair of its columns."""
    return np.hstack([X, (X[:, :, None] * X[:, None, :]).reshape(len(X), -1)])


def _scores(preds: dict, grid: list, y: np.ndarray) -> dict:
    """Spearman ρ of each prediction, on all archs and without those with a dropped 3×3
    conv, and those archs' share of the squared rank error."""
    dead3 = ((np.asarray(grid) == CONV3) & ~kept_mask(grid)).any(1)
    out = {"val_archs": len(grid), "with_dropped_conv3": int(dead3.sum())}
    for name, p in preds.items():
        sq = (rankdata(p) - rankdata(y)) ** 2
        out[name] = {"rho": round(float(spearmanr(p, y).statistic), 4),
                     "rho_without_dropped_conv3": round(float(
                         spearmanr(p[~dead3], y[~dead3]).statistic), 4),
                     "share_of_sq_rank_error_with_dropped_conv3": round(
                         float(sq[dead3].sum() / sq.sum()), 3)}
    return out


def split(base_dir: str, column: str) -> dict:
    torch.set_num_threads(1)
    space = get_space("nb201")
    archs, Y = load_targets("nb201", [column])
    tr, val = train_indices("nb201", 781, 0), pool_validation_indices("nb201", 781, 0)
    a_tr, a_val, y = [archs[i] for i in tr], [archs[i] for i in val], Y[val, 0]
    base = load_base(base_dir, "nb201", unseen=[column])
    rlm = finetune_rlm(base, a_tr, Y[tr], [column],
                       replace(FINETUNE_TRAIN, steps=293, freeze_encoder=True), seed=0,
                       progress=False)
    preds = {"rlm": rlm.predict_expected(a_val)[:, 0],
             "gbdt": OneHotGBDT(space, [column]).fit(a_tr, Y[tr]).predict_point(a_val)[:, 0]}
    grid = [tuple(space.parse(a)) for a in a_val]
    return {"base": base_dir, "column": column, **_scores(preds, grid, y)}


def linear() -> list[dict]:
    space = get_space("nb201")
    archs, Y = load_targets("nb201", list(COLUMNS))
    tr, val = train_indices("nb201", 781, 0), pool_validation_indices("nb201", 781, 0)
    grid = [tuple(space.parse(a)) for a in archs]
    X = pairwise(kept_op_counts(grid, kept_mask(grid)))
    return [{"model": "linear over kept-op counts, pairwise", "column": col,
             **_scores({"linear": LinearRegression().fit(X[tr], Y[tr, j]).predict(X[val])},
                       [grid[i] for i in val], Y[val, j])}
            for j, col in enumerate(COLUMNS)]


if __name__ == "__main__":
    cmd = sys.argv[1:2]
    if cmd == ["pairs"]:
        print(json.dumps(pairs()))
    elif cmd == ["linear"]:
        for line in linear():
            print(json.dumps(line))
    elif cmd == ["split"] and len(sys.argv) == 4:
        print(json.dumps(split(sys.argv[2], sys.argv[3])))
    else:
        raise SystemExit(__doc__)

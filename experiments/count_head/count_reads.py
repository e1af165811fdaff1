"""Why a count head stays below the one-hot MLP on batch-256 GPUs: missing information, or
misread counts? Pool validation only (fit on the (N = 781, seed 0) pool, score on its 500
validation archs), printed as one JSON object.

Per column, a count head (``fit_count_head``, weight 1) over the counts of the graph the
device ran (the converted graph for ``CONVERTER_COLUMNS``, else the executed one):
1. the TRUE counts (computed from the graph, what a perfect reader would decode);
2. the counts the column's blind base decodes (exact medians), as ``evaluate`` reads them
   (a fine-tune's own counts agree with its base's on 95-100 % of archs);
3. (2) with one count at a time replaced by its true value; and (2) without the wiring
   counts (conv_depth, conv_shallowest, log10_paths), which the base reads least exactly.
Beside them, a linear ridge over the one-hot edges (the MLP's input), and per count the share
of archs whose decoded value is exact (relative error ≤ 1e-3), and the share with any count
misread.

    python experiments/count_head/count_reads.py DATA_DIR [COLUMN ...] > count_reads.json
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from pool_val import N, score
from sklearn.linear_model import RidgeCV

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.data.tables import CONVERTER_COLUMNS
from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.baselines import one_hot
from nas_rlm.surrogates.recipes import (
    computed_labels,
    count_head_sources,
    decoded_medians,
    fit_count_head,
    load_base,
    pretrain_objectives,
)
from nas_rlm.surrogates.rlm import view_space

#: each NB201 device column with the base blind to it that ``evaluate --rlm-base`` ran it on
#: (docs/rlm_v2.md; experiments/nb201_heldout_base/README.md)
_BLIND = {
    "nas_rlm/pretrained/nb201-base": "titan_rtx_256 gold_6226 pixel2 raspi4 eyeriss fpga",
    "experiments/nb201_heldout_base/base_wiring": "pixel3 1080ti_1",
    "experiments/nb201_heldout_base/base_blind6":
        "samsung_a50 essential_ph_1 silver_4114 2080ti_1 titanxp_256 titanx_32",
    "experiments/nb201_heldout_base/base_blind6b":
        "samsung_s7 gold_6240 silver_4210r titan_rtx_1 1080ti_32 titanx_256",
    "experiments/nb201_heldout_base/base_blind7":
        "1080ti_256 2080ti_256 2080ti_32 titan_rtx_32 titanx_1 titanxp_1 titanxp_32"}
BASES = {c: b for b, cols in _BLIND.items() for c in cols.split()}
WIRING = ("conv_depth", "conv_shallowest", "log10_paths")


def head(srcs: list[str], X: np.ndarray, y: np.ndarray, ntr: int) -> list[float]:
    """τ / ρ on the validation rows of a count head fitted on the pool rows, fitted once as
    this probe measured it (before ``COUNT_HEAD_TRIM``; ``trim_pool_val.py`` adds the refit)."""
    fitted = fit_count_head(srcs, X[:ntr], y[:ntr], trim=0)
    return score(fitted.blend(X[ntr:], np.ones(len(X) - ntr)), y[ntr:])


def read_exactly(decoded: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Where a decoded count equals the true one: relative error at most 1e-3 (absolute below
    1), so a float count such as MFLOPs is not called misread for its last digit."""
    return np.abs(decoded - true) <= 1e-3 * np.maximum(1.0, np.abs(true))


def true_counts(names: list[str], parsed: list) -> np.ndarray:
    """The computed labels ``names`` (``<view>_<label>``: a device view's counts, as a base
    names them) of the parsed NB201 archs ``parsed``, in the base's units: what a perfect
    reader would decode. Each view's labels are computed once."""
    cache: dict[str, np.ndarray] = {}
    labels = pretrain_objectives(False, paths=True)
    cols = []
    for name in names:
        view, label = name.split("_", 1)
        if view not in cache:
            cache[view] = computed_labels(view_space(get_space("nb201"), view), parsed,
                                          paths=True)
        cols.append(cache[view][:, labels.index(label)])
    return np.column_stack(cols) if cols else np.empty((len(parsed), 0))


def readings(data_dir: str, cols: list[str]):
    """Per column: its count sources, the blind base's decoded counts ``X`` and the true
    counts ``T`` of the pool then its validation archs, the labels ``y``, the pool's size,
    and the one-hot edges ``H`` of the same archs."""
    torch.set_num_threads(1)
    space = get_space("nb201")
    archs, Y = load_targets("nb201", cols, data_dir)
    tr, val = train_indices("nb201", N, 0), pool_validation_indices("nb201", N, 0)
    idx, ntr = np.concatenate([tr, val]), len(tr)
    texts = [archs[i] for i in idx]
    parsed = [space.parse(a) for a in texts]
    names = pretrain_objectives(False, paths=True)
    H = one_hot(space, parsed)
    decoded, true = {}, {}
    for c in cols:
        view = "converted" if c in CONVERTER_COLUMNS else "executed"
        if view not in true:
            true[view] = computed_labels(view_space(space, view), parsed, paths=True)
        if (BASES[c], view) not in decoded:
            base = load_base(BASES[c], "nb201", unseen=[c])
            srcs = count_head_sources(base, view)
            decoded[BASES[c], view] = srcs, decoded_medians(base, srcs, texts)
        srcs, X = decoded[BASES[c], view]
        T = true[view][:, [names.index(s.split("_", 1)[1]) for s in srcs]]
        yield c, srcs, X, T, Y[idx, cols.index(c)], ntr, H


def main(data_dir: str, cols: list[str]) -> None:
    out = {}
    for c, srcs, X, T, y, ntr, H in readings(data_dir, cols):
        ok = read_exactly(X, T)
        keep = [k for k, s in enumerate(srcs) if s.split("_", 1)[1] not in WIRING]
        swapped = {}
        for k, s in enumerate(srcs):
            Xk = X.copy()
            Xk[:, k] = T[:, k]
            swapped[s] = head(srcs, Xk, y, ntr)
        ridge = RidgeCV(alphas=np.logspace(-4, 3, 15)).fit(H[:ntr], y[:ntr])
        out[c] = {"base": BASES[c],
                  "head_true_counts": head(srcs, T, y, ntr),
                  "head_decoded_counts": head(srcs, X, y, ntr),
                  "head_decoded_without_wiring": head([srcs[k] for k in keep], X[:, keep], y,
                                                      ntr),
                  "head_decoded_one_count_true": swapped,
                  "one_hot_linear_ridge": score(ridge.predict(H[ntr:]), y[ntr:]),
                  "decoded_exact_share": {s: round(float(ok[:, k].mean()), 3)
                                          for k, s in enumerate(srcs)},
                  "any_op_count_misread_share": round(float((~ok[:, keep]).any(1).mean()), 3)}
        print(c, json.dumps(out[c]), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or list(BASES))

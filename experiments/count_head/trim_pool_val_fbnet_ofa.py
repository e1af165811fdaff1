"""``trim_pool_val.py`` for FBNet and OFA-MBv3: a count head refitted without the archs it
fits worst (``COUNT_HEAD_TRIM``) against one fit, on pool validation only. Per device column
of the space, a head over the counts its shipped base decodes (exact medians of
``count_head_sources``, the graph every device of the space reads), fitted on the (N = 781,
seed 0) pool and scored on its 500 validation archs. Prints one JSON object: per column and
trim, τ / ρ, and the mean over the columns.

    python experiments/count_head/trim_pool_val_fbnet_ofa.py DATA_DIR > trim_pool_val_fbnet_ofa.json
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from pool_val import N
from trim_pool_val import TRIMS, scored

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.surrogates.recipes import (
    count_head_sources,
    decoded_medians,
    load_base,
)

BASES = {"fbnet": "nas_rlm/pretrained/fbnet-base", "ofa_mbv3": "nas_rlm/pretrained/ofa_mbv3-base"}
COLUMNS = {"fbnet": ["pixel3", "raspi4", "eyeriss", "fpga", "gold_6226", "1080ti_1"],
           "ofa_mbv3": ["2080ti_1", "titan_rtx_1", "titan_xp_1", "v100_1"]}


def main(data_dir: str) -> None:
    torch.set_num_threads(1)
    out = {}
    for space, cols in COLUMNS.items():
        archs, Y = load_targets(space, cols, data_dir)
        tr, val = train_indices(space, N, 0), pool_validation_indices(space, N, 0)
        idx, ntr = np.concatenate([tr, val]), len(tr)
        base = load_base(BASES[space], space)
        srcs = count_head_sources(base, "optimised")
        X = decoded_medians(base, srcs, [archs[i] for i in idx])
        for k, c in enumerate(cols):
            y = Y[idx, k]
            res = {f"{t:g}": scored(srcs, X, X, y, ntr, t) for t in TRIMS}
            out[f"{space}/{c}"] = {"sources": srcs, "trim": res}
            print(space, c, json.dumps(res), file=sys.stderr, flush=True)
    mean = {f"{t:g}": np.mean([o["trim"][f"{t:g}"] for o in out.values()], 0).round(5).tolist()
            for t in TRIMS}
    print(json.dumps({"columns": out, "mean": mean}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])

"""A count head refitted without the archs it fits worst (``COUNT_HEAD_TRIM``), against one fit,
on pool validation only: fitted on the (N = 781, seed 0) pool's counts as each column's blind
base decodes them (``count_reads.readings``), scored on its 500 validation archs, for all 27
NB201 device columns. Beside them, the same heads fitted on the *true* counts and read on the
decoded ones (what a perfect fit could take back), and read on the true counts (what misreads
at prediction time still cost). Prints one JSON object: per column and trim, τ / ρ.

    python experiments/count_head/trim_pool_val.py DATA_DIR [COLUMN ...] > trim_pool_val.json
"""

from __future__ import annotations

import json
import sys

import numpy as np
from count_reads import BASES, readings
from pool_val import score

from nas_rlm.surrogates.recipes import fit_count_head

TRIMS = (0.0, 3.0, 4.0, 5.0, 6.0, 8.0)


def scored(srcs: list[str], fit: np.ndarray, read: np.ndarray, y: np.ndarray, ntr: int,
           trim: float) -> list[float]:
    """τ / ρ on the validation rows (``read``) of a head fitted on the pool rows of ``fit``."""
    head = fit_count_head(srcs, fit[:ntr], y[:ntr], trim=trim)
    return score(head.blend(read[ntr:], np.ones(len(y) - ntr)), y[ntr:])


def main(data_dir: str, cols: list[str]) -> None:
    out = {}
    for c, srcs, X, T, y, ntr, _ in readings(data_dir, cols):
        out[c] = {"trim": {f"{t:g}": scored(srcs, X, X, y, ntr, t) for t in TRIMS},
                  "fit_true_read_decoded": scored(srcs, T, X, y, ntr, 0.0),
                  "trim5_read_true": scored(srcs, X, T, y, ntr, 5.0)}
        print(c, json.dumps(out[c]), file=sys.stderr, flush=True)
    mean = {f"{t:g}": np.mean([o["trim"][f"{t:g}"] for o in out.values()], 0).round(5).tolist()
            for t in TRIMS}
    print(json.dumps({"columns": out, "mean": mean}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or list(BASES))

"""How well an NB201 base reads the counts a count head sums (pool validation only): per device
column the base never saw, a count head (``fit_count_head``, ``COUNT_HEAD_TRIM``, weight 1) over
the counts the base decodes, fitted on the (N = 781, POOL_SEED) pool and scored on its 500
validation archs; beside it, the share of validation archs with any count of the graph the
device ran misread (exact median off the true count by more than 1e-3 relative), and the same
share over its op counts alone (the wiring counts left out). With ``--and BASE2``, also BASE2's
head, the two heads' latencies averaged geometrically, and the share of validation archs on
whose op counts the two bases disagree (a probe: are their misreads the same archs?). Why: a head
ranks as well as its counts are read (docs/rlm_v2.md, "Where the misreads are"), so a base
that reads its text better should show it here before any fine-tune. One JSON line per column,
then one for the means.

    python experiments/nb201_relative_ids/heads.py BASE [--pool-seed S] [--and BASE2] [COLUMN ...]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "count_head"))
from count_reads import WIRING, read_exactly, true_counts
from pool_val import score

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.data.tables import CONVERTER_COLUMNS
from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.recipes import (
    COUNT_HEAD_TRIM,
    count_head_sources,
    decoded_medians,
    fit_count_head,
    load_base,
)

N = 781
#: the device columns the shipped NB201 base never saw (its card)
BLIND = ("titan_rtx_256", "gold_6226", "pixel2", "raspi4", "eyeriss", "fpga")


def main(base_dir: str, pool_seed: int, cols: list[str], second: str | None = None) -> None:
    torch.set_num_threads(1)
    t0 = time.time()
    space = get_space("nb201")
    archs, Y = load_targets("nb201", cols)
    tr, val = train_indices("nb201", N, pool_seed), pool_validation_indices("nb201", N, pool_seed)
    idx, ntr = np.concatenate([tr, val]), len(tr)
    texts = [archs[i] for i in idx]
    parsed = [space.parse(a) for a in texts]
    bases = [load_base(b, "nb201", unseen=cols) for b in (base_dir, second) if b]
    cache: dict[str, tuple] = {}
    rows = []
    for j, c in enumerate(cols):
        view = "converted" if c in CONVERTER_COLUMNS else "executed"
        if view not in cache:
            srcs = count_head_sources(bases[0], view)
            if second and count_head_sources(bases[1], view) != srcs:
                raise SystemExit(f"{base_dir} and {second} decode other counts for {view}")
            cache[view] = (srcs, [decoded_medians(b, srcs, texts) for b in bases],
                           true_counts(srcs, parsed))
        srcs, Xs, T = cache[view]
        y = Y[idx, j]
        ops = [k for k, s in enumerate(srcs) if s.split("_", 1)[1] not in WIRING]
        preds = [fit_count_head(srcs, X[:ntr], y[:ntr], trim=COUNT_HEAD_TRIM).blend(
            X[ntr:], np.ones(len(y) - ntr)) for X in Xs]
        ok = read_exactly(Xs[0][ntr:], T[ntr:])
        rows.append({"base": base_dir, "pool_seed": pool_seed, "column": c,
                     "head": score(preds[0], y[ntr:]),
                     "misread_share": round(float(1 - ok.all(1).mean()), 4),
                     "misread_share_ops": round(float(1 - ok[:, ops].all(1).mean()), 4),
                     "exact_share": {s: round(float(v), 4)
                                     for s, v in zip(srcs, ok.mean(0), strict=True)}})
        if second:  # two bases' heads, their latencies averaged geometrically
            same = (np.abs(Xs[0][ntr:, ops] - Xs[1][ntr:, ops])
                    <= 1e-3 * np.maximum(1.0, np.abs(T[ntr:, ops]))).all(1)
            rows[-1].update({"second": second, "second_head": score(preds[1], y[ntr:]),
                             "both_heads": score(np.sqrt(preds[0] * preds[1]), y[ntr:]),
                             "ops_disagree_share": round(float(1 - same.mean()), 4)})
        print(json.dumps(rows[-1]), flush=True)
    keys = ["head", *(["second_head", "both_heads"] if second else [])]
    print(json.dumps({"base": base_dir, "pool_seed": pool_seed, "columns": cols,
                      **{f"mean_{k}": np.mean([r[k] for r in rows], 0).round(4).tolist()
                         for k in keys},
                      "mean_misread_share": round(float(np.mean([r["misread_share"]
                                                                 for r in rows])), 4),
                      "seconds": round(time.time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    argv = sys.argv[1:]
    opts = {"--pool-seed": "0", "--and": ""}
    for flag in opts:
        if flag in argv:
            at = argv.index(flag)
            opts[flag], argv = argv[at + 1], argv[:at] + argv[at + 2:]
    if not argv:
        raise SystemExit(__doc__)
    main(argv[0], int(opts["--pool-seed"]), argv[1:] or list(BLIND), opts["--and"] or None)

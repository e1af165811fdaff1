"""Does a count head need non-negative weights? Pool validation only (never the held-out set).

Why: held out (session 44), gold_6226 seed 1 ranked at ρ 0.9844 against 0.9890 for seed 0,
with τ nearly level. Four archs of the 5,000 carried a third of the squared rank error: cells
of five 1x1 convolutions that run in 14-16 ms, read by the head at 0.6-3 ms. The seed-1 ridge
had chosen the smallest penalty (0.001) and split the collinear MFLOPs and conv_k3 into
+0.29 ms per MFLOP and -1.36 ms per 3x3 convolution. Where the base misreads one count on a
rare cell (conv_k3 35 for 20), the cancelling pair turns the slip into a collapse. Latency is
a sum over what runs, so more of any count should never make a network faster: a head with
non-negative weights cannot collapse that way.

For each device column and pool seed (N = 781): the base's exact medians of the column's count
head sources (``count_head_sources``, the column's view as a fine-tune gives it) on the pool
and on its 500 pool-validation archs; each head variant is fitted on the pool and scored alone
(weight 1) on the validation archs. Decoded counts are cached in OUT (one file per base, view
and arch set), so a rerun only refits. One JSON line per (column, seed)::

    python experiments/count_head/positive_pool_val.py COLUMNS SEEDS OUT [BASE]
    python experiments/count_head/positive_pool_val.py titan_rtx_256,gold_6226 0,1,2,3,4 runs/pos
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, rankdata, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.data.tables import ACCURACY_NAMES
from nas_rlm.surrogates.mix_head import MixHead
from nas_rlm.surrogates.recipes import (
    count_head_sources,
    decoded_medians,
    load_base,
    new_column_views,
)

N = 781
SHIPPED = "nas_rlm/pretrained/nb201-base"


def counts(base, base_dir: str, sources: list[str], archs: list, rows: np.ndarray,
           out: Path) -> np.ndarray:
    """The base's exact medians of ``sources`` on ``rows``, cached by base, sources and rows."""
    key = hashlib.sha1(json.dumps([base_dir, sources, rows.tolist()]).encode()).hexdigest()[:16]
    f = out / f"counts_{key}.npy"
    if not f.exists():
        np.save(f, decoded_medians(base, sources, [archs[i] for i in rows]))
    return np.load(f)


def scores(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """τ, ρ, and the share of the squared rank error carried by the worst 1 % of archs."""
    d2 = (rankdata(p) - rankdata(y)) ** 2
    worst = np.sort(d2)[::-1][: max(1, len(d2) // 100)].sum() / max(d2.sum(), 1e-12)
    return {"tau": round(float(kendalltau(p, y).statistic), 4),
            "rho": round(float(spearmanr(p, y).statistic), 4),
            "worst1pct_share": round(float(worst), 3)}


def main(argv: list[str]) -> None:
    if len(argv) not in (3, 4):
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    columns, seeds = argv[0].split(","), [int(s) for s in argv[1].split(",")]
    out, base_dir = Path(argv[2]), argv[3] if len(argv) == 4 else SHIPPED
    out.mkdir(parents=True, exist_ok=True)
    base = load_base(base_dir, "nb201", columns)
    archs, Y = load_targets("nb201", columns)
    for j, col in enumerate(columns):
        view = new_column_views(base, [col], ACCURACY_NAMES)[col]
        sources = count_head_sources(base, view)
        for seed in seeds:
            tr = train_indices("nb201", N, seed)
            val = pool_validation_indices("nb201", N, seed)
            Xtr = counts(base, base_dir, sources, archs, tr, out)
            Xval = counts(base, base_dir, sources, archs, val, out)
            res = {"column": col, "base": base_dir, "pool_seed": seed, "n": N,
                   "sources": sources}
            for name, positive in (("ridge", False), ("positive", True)):
                head = MixHead.fit(sources, Xtr, Y[tr, j], weight=1.0, linear=True,
                                   positive=positive)
                p = np.exp(head.log_predict(Xval))
                res[name] = {**scores(p, Y[val, j]), "alpha": head.alpha,
                             "coef_per_unit": [round(c / s, 4) for c, s in
                                               zip(head.coef, head.scale, strict=True)]}
            print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""How often an RLM's samples land a decade off, and what nucleus sampling (``top_p``) does to
that and to the samples' calibration, on pool archs the model never trained on (never the
held-out set).

    python experiments/rlm_readouts/sample_tails.py [MODEL] [DATA_DIR]

A constrained sample may write any exponent, and a normalised objective whose labels all sat
under one exponent maps a sample one exponent up far past its labels (the main job's Pareto
front once reported a pixel3 spread of 2,012 ms for a 19 ms arch). Per ``(top_p, reach)``
(the nucleus, and how far past its map's knots a sample is mapped back: ``REACH``, the point
readouts' ten ranges, or ``SAMPLE_REACH``, the samples' one unit) and objective it prints:

- ``off``: the share of samples at least one normalised unit (an eighth of the labels'
  range) outside the knots of the objective's map: samples no training label was near;
- ``cover80``: the share of true values inside the samples' 10-90 % range (0.8 is
  calibrated), and ``cover_all`` inside their min-max range;
- ``rel_spread``: the median over archs of half the samples' 25-75 % range over their median
  (what ``search`` reports as the spread), ``max_rel_spread`` its largest and ``over_half``
  the share of archs where it exceeds 0.5;
- ``tau``: Kendall τ of the median of the samples against the truth.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from scipy.stats import kendalltau

from nas_rlm.surrogates import rlm as rlm_module
from nas_rlm.surrogates.base import uncertainty
from nas_rlm.surrogates.normalization import REACH, SAMPLE_REACH

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from pool_val import pool_archs  # the same pool archs as the readout comparison

#: (top_p, reach): before 2026-12-02 samples were (1.0, REACH); since, (0.95, SAMPLE_REACH)
GRID = ((1.0, REACH), (1.0, SAMPLE_REACH), (0.98, SAMPLE_REACH), (0.95, REACH),
        (0.95, SAMPLE_REACH), (0.9, SAMPLE_REACH))
K = 16


def main() -> None:
    rlm, names, cols, views, Y = pool_archs(sys.argv[1:])
    out: dict = {"model": str(rlm.source), "k": K, "archs": len(views)}
    for top_p, reach in GRID:
        t0 = time.perf_counter()
        rlm_module.SAMPLE_REACH = reach  # the constant predict maps samples back with
        S = rlm.predict(views, k=K, seed=0, top_p=top_p)[:, :, cols]
        rlm_module.SAMPLE_REACH = SAMPLE_REACH
        row: dict = {"seconds": round(time.perf_counter() - t0, 1)}
        for j, o in enumerate(names):
            s, y = S[:, :, j], Y[:, j]
            m = rlm.scalers[o]
            z = m.forward(s)
            lo, hi = np.percentile(s, [10, 90], axis=1)
            med = np.median(s, 1)
            rel = uncertainty(s) / np.maximum(np.abs(med), 1e-9)
            edge = 1 - 1e-9  # a sample clipped at SAMPLE_REACH still counts
            row[o] = {"off": round(float(np.mean((z <= m.z[0] - edge) | (z >= m.z[-1] + edge))),
                                   5),
                      "cover80": round(float(np.mean((y >= lo) & (y <= hi))), 4),
                      "cover_all": round(float(np.mean((y >= s.min(1)) & (y <= s.max(1)))), 4),
                      "rel_spread": round(float(np.median(rel)), 4),
                      "max_rel_spread": round(float(rel.max()), 3),
                      "over_half": round(float(np.mean(rel > 0.5)), 4),
                      "tau": round(float(kendalltau(med, y).statistic), 4)}
        name = f"top_p={top_p}, reach={reach:g}"
        out[name] = row
        print(json.dumps({name: row}), flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""Readouts of one RLM on pool-validation archs (never the held-out set): Kendall τ of the
expected value, the exact median, and the median and mean of k samples.

    python experiments/rlm_readouts/pool_val.py [MODEL] [DATA_DIR]

MODEL defaults to the shipped NB201 default model; its training pool is the N = 781, seed-0
pool, so the 500 archs are ``pool_validation_indices("nb201", 781, 0)``.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from scipy.stats import kendalltau

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices
from nas_rlm.surrogates.pretrained import default_model_dir
from nas_rlm.surrogates.rlm import RLM


def main() -> None:
    torch.set_num_threads(1)
    model = sys.argv[1] if len(sys.argv) > 1 else default_model_dir("nb201")
    data_dir = sys.argv[2] if len(sys.argv) > 2 else None
    rlm = RLM.from_pretrained(model)
    archs, Y = load_targets("nb201", rlm.objectives, data_dir)
    idx = pool_validation_indices("nb201", 781, 0)
    views = rlm.views_for([archs[i] for i in idx])
    samples = rlm.predict(views, k=32, seed=0)
    readouts = {"expected value": rlm.predict_expected(views),
                "exact median": rlm.predict_median(views),
                "median of 8 samples": np.median(samples[:, :8], 1),
                "median of 32 samples": np.median(samples, 1),
                "mean of 32 samples": samples.mean(1)}
    out = {name: {o: round(float(kendalltau(v[:, j], Y[idx, j]).statistic), 4)
                  for j, o in enumerate(rlm.objectives)} for name, v in readouts.items()}
    out["distinct true values"] = {o: len(np.unique(Y[idx, j]))
                                   for j, o in enumerate(rlm.objectives)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""Score default-model candidates on a validation split of the training pool (never the
held-out set): 500 pool archs outside the (N = 781, seed 0) pool the default model trains
on, the split every choice of the default model is made on. Prints one JSON object:
Kendall τ / Spearman ρ per model and column, of the exact median (``predict_point``, what
searches rank by) and of the expected value (``ev_`` keys).

    python experiments/nb201_default_surrogate/pool_validation.py DATA_DIR MODEL_DIR [...]
"""

from __future__ import annotations

import json
import sys

import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices
from nas_rlm.surrogates.rlm import RLM


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    data_dir, models = sys.argv[1], sys.argv[2:]
    out = {}
    for path in models:
        rlm = RLM.from_pretrained(path)
        archs, Y = load_targets("nb201", rlm.objectives, data_dir)
        val = pool_validation_indices("nb201", 781, 0)
        val_archs = [archs[i] for i in val]
        readouts = {"": rlm.predict_point(val_archs), "ev_": rlm.predict_expected(val_archs)}
        out[path] = {c: {f"{r}{m}": round(float(f(P[:, j], Y[val, j]).statistic), 4)
                         for r, P in readouts.items()
                         for m, f in (("kendall_tau", kendalltau), ("spearman", spearmanr))}
                     for j, c in enumerate(rlm.objectives)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""Readouts of one RLM on pool archs it never trained on (never the held-out set): Kendall τ
of the expected value, the exact median, and the median and mean of k samples.

    python experiments/rlm_readouts/pool_val.py [MODEL] [DATA_DIR]

MODEL defaults to the shipped NB201 default model; its training pool is the N = 781, seed-0
pool, so the 500 archs are ``pool_validation_indices("nb201", 781, 0)``. For a pretrained
NB201 base (``nas_rlm/pretrained/nb201-base``) they are 500 pool archs outside the rows it
pretrained on, scored on its table columns (a second model with many more objectives).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from scipy.stats import kendalltau

from nas_rlm.data import load_targets
from nas_rlm.data.splits import TABLE_SIZES, heldout_indices, pool_validation_indices
from nas_rlm.surrogates.pretrained import default_model_dir
from nas_rlm.surrogates.recipes import source_rows
from nas_rlm.surrogates.rlm import RLM


def scored(rlm: RLM) -> tuple[list[str], np.ndarray]:
    """The objectives to score and the pool archs the model never trained on."""
    base = rlm.training_info.get("base")
    if not base or "finetune" in rlm.training_info:  # a model fine-tuned from a base is not one
        return rlm.objectives, pool_validation_indices("nb201", 781, 0)
    pool = np.setdiff1d(np.arange(TABLE_SIZES["nb201"]), heldout_indices("nb201"))
    seen = source_rows("nb201", TABLE_SIZES["nb201"], base["pretrain_archs"], base["seed"])
    rest = np.setdiff1d(pool, seen)
    return base["source_columns"], np.random.default_rng(99).choice(rest, 500, replace=False)


def pool_archs(argv: list[str]):
    """``(rlm, names, cols, views, Y)`` for ``[MODEL] [DATA_DIR]``: the model, the objectives
    scored and their columns in it, the texts of the pool archs it never trained on, and
    their true values."""
    torch.set_num_threads(1)
    model = argv[0] if argv else default_model_dir("nb201")
    data_dir = argv[1] if len(argv) > 1 else None
    rlm = RLM.from_pretrained(model)
    names, idx = scored(rlm)
    archs, Y = load_targets("nb201", names, data_dir)
    return (rlm, names, [rlm.objectives.index(o) for o in names],
            rlm.views_for([archs[i] for i in idx]), Y[idx])


def main() -> None:
    rlm, names, cols, views, Y = pool_archs(sys.argv[1:])
    k = 8 if len(rlm.objectives) > 8 else 32  # a base decodes dozens of objectives
    samples = rlm.predict(views, k=k, seed=0)[:, :, cols]
    readouts = {"expected value": rlm.predict_expected(views)[:, cols],
                "exact median": rlm.predict_median(views)[:, cols],
                "median of 8 samples": np.median(samples[:, :8], 1),
                f"median of {k} samples": np.median(samples, 1),
                f"mean of {k} samples": samples.mean(1)}
    out = {name: {o: round(float(kendalltau(v[:, j], Y[:, j]).statistic), 4)
                  for j, o in enumerate(names)} for name, v in readouts.items()}
    for name in readouts:
        out[name]["mean"] = round(float(np.mean(list(out[name].values()))), 4)
    out["distinct true values"] = {o: len(np.unique(Y[:, j])) for j, o in enumerate(names)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

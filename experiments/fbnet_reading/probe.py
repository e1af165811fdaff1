"""Does the RLM read an FBNet text better with more archs? A probe for the FBNet few-shot gap.

The FBNet base's own FLOPs objective ranks the held-out archs at ρ 0.87-0.92 where the true
count gives 0.93-0.98 (docs/fewshot.md), so a better FLOPs reader is what the FBNet few-shot
figures wait on. Computed labels are free for any sampled arch, so: the default recipe
trained from scratch on one computed label (MFLOPs of the graph) of N sampled FBNet archs,
for a fixed number of optimizer steps, then scored on 1,000 other sampled archs (τ, ρ
against the true count) and, zero-shot, on the first 1,000 DESIGN §3 held-out table archs
of FBNet's three held-out devices (ρ of the predicted count beside that of the true count).
Only computed labels are read in training; no table column.

    python experiments/fbnet_reading/probe.py N STEPS [SEED]     # one JSON line
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import HELDOUT_DEVICES, heldout_indices
from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.recipes import DEFAULT_RECIPE, computed_labels, train_rlm

OUT = Path(__file__).with_name("results.jsonl")


def main(argv: list[str]) -> None:
    if len(argv) not in (2, 3):
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    n, steps, seed = int(argv[0]), int(argv[1]), int(argv[2]) if len(argv) == 3 else 0
    space = get_space("fbnet")
    archs = space.sample(n, np.random.default_rng([seed, 101]))
    evals = space.sample(1000, np.random.default_rng([seed, 202]))
    t0 = time.time()
    y = computed_labels(space, archs, progress=True)[:, :1]  # MFLOPs
    y_eval = computed_labels(space, evals)[:, 0]
    label_s = time.time() - t0
    recipe = replace(DEFAULT_RECIPE, train=replace(
        DEFAULT_RECIPE.train, steps=steps, val_fraction=min(0.1, 300 / n), eval_every=250,
        patience=100))
    t0 = time.time()
    rlm = train_rlm(space, archs, y, ["mflops"], recipe=recipe, seed=seed, progress=True)
    fit_s = time.time() - t0
    pred = rlm.predict_point(evals)[:, 0]
    out = {"n": n, "steps": steps, "seed": seed, "label_seconds": round(label_s, 1),
           "fit_seconds": round(fit_s, 1),
           "sampled": {"tau": round(float(kendalltau(pred, y_eval).statistic), 4),
                       "rho": round(float(spearmanr(pred, y_eval).statistic), 4)}}
    devices = list(HELDOUT_DEVICES["fbnet"])
    table, Y = load_targets("fbnet", devices)
    idx = heldout_indices("fbnet")[:1000]
    test = [table[i] for i in idx]
    p_test = rlm.predict_point(test)[:, 0]
    true = computed_labels(space, test)[:, 0]
    out["heldout"] = {"mflops_rho_vs_true_count": round(float(spearmanr(p_test, true).statistic),
                                                        4)}
    for j, d in enumerate(devices):
        out["heldout"][d] = {"predicted_count": round(float(spearmanr(p_test, Y[idx, j]).statistic),
                                                      4),
                             "true_count": round(float(spearmanr(true, Y[idx, j]).statistic), 4)}
    line = json.dumps(out)
    print(line)
    with OUT.open("a") as f:
        f.write(line + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])

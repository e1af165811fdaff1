"""FBNet 1080ti_1 without its count head: the final fine-tune that `nas-rlm evaluate --space
fbnet --targets 1080ti_1 --surrogates rlm_base --ns 781 --seeds 0 --test-limit 1000` makes
where its fifth chooses weight 0 (same pool, seed and budget), scored by its exact median on
the same 1,000 held-out archs. That run chose w = 1; this is the token it blended away. It
reads the run's cell (RUN, default runs/s44/fb/1080ti_1) to check the test archs are the same.

    python experiments/count_head/fbnet_token_alone.py [RUN]
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import heldout_indices, train_indices
from nas_rlm.surrogates.pretrained import default_base_dir
from nas_rlm.surrogates.recipes import finetune_budget, finetune_rlm, load_base

COLUMN, N, SEED, TEST = "1080ti_1", 781, 0, 1000


def main(run: str) -> None:
    torch.set_num_threads(2)
    archs, Y = load_targets("fbnet", [COLUMN])
    tr, te = train_indices("fbnet", N, SEED), heldout_indices("fbnet")[:TEST]
    cell = np.load(f"{run}/cells/rlm_base_n{N}_s{SEED}.npz")
    if not np.array_equal(cell["test_indices"], np.asarray(te)):
        raise SystemExit(f"{run} scored other test archs")
    base = load_base(default_base_dir("fbnet"), "fbnet", [COLUMN])
    rlm = finetune_rlm(base, [archs[i] for i in tr], Y[tr], [COLUMN],
                       finetune_budget([COLUMN], N), seed=SEED, progress=False, threads=2)
    p, y = rlm.predict_median([archs[i] for i in te])[:, 0], Y[te, 0]
    print(json.dumps({"token_alone_exact_median_tau": round(float(kendalltau(p, y).statistic), 4),
                      "rho": round(float(spearmanr(p, y).statistic), 4)}))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/s44/fb/1080ti_1")

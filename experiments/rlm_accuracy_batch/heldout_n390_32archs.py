"""CIFAR-10, N = 390: the `nas-rlm evaluate --surrogates rlm_base` cell with 32 archs per
step (accuracy_batch=0), seeds 0-4, exact-median tau on the 5,000 held-out archs: the
same-CPU reference for the 128-arch rule (`heldout_cifar10_n390.json`), one fine-tune per
cell as then (``accuracy_members=1``).

    python experiments/rlm_accuracy_batch/heldout_n390_32archs.py 0 1 2 3 4
"""
import json
import sys

import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import heldout_indices, train_indices
from nas_rlm.surrogates.recipes import FinetunedRLM

torch.set_num_threads(1)
archs, Y = load_targets("nb201", ["cifar10"])
test = heldout_indices("nb201")
for seed in map(int, sys.argv[1:]):
    tr = train_indices("nb201", 390, seed)
    m = FinetunedRLM("nb201", ["cifar10"], seed=seed, accuracy_batch=0, accuracy_members=1)
    m.fit([archs[i] for i in tr], Y[tr])
    p = m.predict_point([archs[i] for i in test])[:, 0]
    print(json.dumps({"n": 390, "seed": seed, "accuracy_batch": 0,
                      "tau": round(float(kendalltau(p, Y[test, 0]).statistic), 4),
                      "rho": round(float(spearmanr(p, Y[test, 0]).statistic), 4)}), flush=True)

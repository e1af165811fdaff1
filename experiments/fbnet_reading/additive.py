"""How much of FBNet's latency is a sum over what each layer holds? A diagnostic on pool
validation only (the N = 781, pool-seed-0 pool and its 500 validation archs).

Why: on five of FBNet's six device columns the one-hot MLP ranks at τ 0.86-0.98 and the RLM
at 0.85-0.92 (docs/rlm_v2.md). If latency is a sum of a cost per layer kind, what a reader
must get from the text is which kind each layer is, not an aggregate such as FLOPs.

Per column, a least-squares fit (ridge, alpha by cross-validation) of the latency in ms on
each feature set of the pool archs, scored on the validation archs (τ / ρ):
``counts`` the computed labels the FBNet base decodes (MFLOPs, kparams, op counts), exact;
``stage_ops`` how many layers of each of the 7 stages carry each of the 9 ops;
``line_kinds`` how many layers of each (c_in, c_out, stride, op) there are, which is what
distinct node lines of the text tell apart; ``one_hot`` the op of each of the 22 layers
(the MLP's input). Prints one JSON object; the features are for this probe only.

    python experiments/fbnet_reading/additive.py > experiments/fbnet_reading/additive.json
"""

from __future__ import annotations

import json

import numpy as np
from scipy.stats import kendalltau, spearmanr
from sklearn.linear_model import RidgeCV

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.search_spaces import get_space
from nas_rlm.search_spaces.fbnet import N_LAYERS, OPS, STAGES, layer_shapes
from nas_rlm.surrogates.recipes import PRETRAIN_OBJECTIVES, computed_labels

COLUMNS = ["pixel3", "raspi4", "eyeriss", "fpga", "gold_6226", "1080ti_1"]


def counted(A: np.ndarray, group: list[int], n_groups: int) -> np.ndarray:
    """How many layers of each (group, op): ``group[l]`` is layer l's group."""
    X = np.zeros((len(A), n_groups * len(OPS)))
    for layer in range(N_LAYERS):
        np.add.at(X, (np.arange(len(A)), group[layer] * len(OPS) + A[:, layer]), 1.0)
    return X


def main() -> None:
    space = get_space("fbnet")
    archs, Y = load_targets("fbnet", COLUMNS)
    tr, val = train_indices("fbnet", 781, 0), pool_validation_indices("fbnet", 781, 0)
    idx = np.r_[tr, val]
    A = np.array([space.parse(archs[i]) for i in idx])
    stage = [s for s, (n, _, _) in enumerate(STAGES) for _ in range(n)]
    kinds = sorted(set(layer_shapes()))
    computed = computed_labels(space, [archs[i] for i in idx])
    varying = computed.std(0) > 0
    feats = {"counts": computed[:, varying],
             "stage_ops": counted(A, stage, len(STAGES)),
             "line_kinds": counted(A, [kinds.index(s) for s in layer_shapes()], len(kinds)),
             "one_hot": counted(A, list(range(N_LAYERS)), N_LAYERS)}
    n = len(tr)
    out = {"pool": "fbnet, N = 781, pool seed 0; scored on its 500 validation archs",
           "counts": [o for o, v in zip(PRETRAIN_OBJECTIVES, varying, strict=True) if v],
           "line_kinds": len(kinds) * len(OPS), "columns": {}}
    for j, col in enumerate(COLUMNS):
        y = Y[idx, j]
        row = {"mflops_zero_shot": [round(float(f(computed[n:, 0], y[n:]).statistic), 4)
                                    for f in (kendalltau, spearmanr)]}
        for name, X in feats.items():
            mu, sd = X[:n].mean(0), X[:n].std(0) + 1e-8
            fit = RidgeCV(alphas=np.logspace(-6, 3, 19)).fit((X[:n] - mu) / sd, y[:n])
            p = fit.predict((X[n:] - mu) / sd)
            row[name] = [round(float(f(p, y[n:]).statistic), 4) for f in (kendalltau, spearmanr)]
        out["columns"][col] = row
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

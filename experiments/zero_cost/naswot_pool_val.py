"""Does a zero-cost proxy carry CIFAR-10 information a FLOPs count does not? A probe before
adding one as a pretraining label (a computed quantity of the graph, allowed for every arch).

NASWOT (Mellor et al. 2021): the log-determinant of the Hamming kernel of the ReLU codes of a
batch, on the untrained benchmark network (``NB201.to_torch``, BatchNorm in training mode) and
a seeded batch of Gaussian inputs (no CIFAR images here). Scored against CIFAR-10 on the 500
pool-validation archs of the N = 781, seed-0 pool (never the held-out set), beside the pruned
FLOPs count and rank averages of the two::

    python experiments/zero_cost/naswot_pool_val.py > experiments/zero_cost/naswot_pool_val.json
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from scipy.stats import kendalltau, rankdata, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices
from nas_rlm.search_spaces import get_space

BATCH = 32


def naswot(space, arch, seed: int = 0) -> float:
    torch.manual_seed(seed)
    net = space.to_torch(arch, num_classes=10).train()
    kernel = torch.zeros(BATCH, BATCH, dtype=torch.float64)

    def hook(_module, _inputs, out):
        codes = (out.detach().reshape(BATCH, -1) > 0).double()
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    for m in net.modules():
        if isinstance(m, torch.nn.ReLU):
            m.register_forward_hook(hook)
    x = torch.randn(BATCH, 3, 32, 32, generator=torch.Generator().manual_seed(1234))
    with torch.no_grad():
        net(x)
    return float(torch.slogdet(kernel)[1])


def main() -> None:
    torch.set_num_threads(1)
    space = get_space("nb201")
    val = pool_validation_indices("nb201", 781, 0)
    archs, Y = load_targets("nb201", ["cifar10"])
    y = Y[val, 0]
    t0 = time.time()
    score = np.array([naswot(space, archs[i]) for i in val])
    flops = np.array([space.pruned_flops(archs[i]) for i in val])

    def tau_rho(p):
        return [round(float(kendalltau(p, y).statistic), 4),
                round(float(spearmanr(p, y).statistic), 4)]

    out = {"split": "nb201 pool validation, N = 781, seed 0 (500 archs)", "target": "cifar10",
           "naswot": tau_rho(score), "flops_pruned": tau_rho(flops),
           "naswot_vs_flops_rho": round(float(spearmanr(score, flops).statistic), 4),
           "rank_average_naswot_weight": {str(w): tau_rho(w * rankdata(score)
                                                          + (1 - w) * rankdata(flops))
                                          for w in (0.25, 0.5, 0.75)},
           "seconds": round(time.time() - t0, 1)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

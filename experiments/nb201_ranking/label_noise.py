"""How much of a NB201 table column is measurement noise: the archs whose texts are the same
run the same network, so their labels differ only by noise. Prints one JSON object.

Device columns group archs by the executed graph (``NB201(prune=False)``: what the devices
ran, dead branches included); accuracy columns by the optimised graph (``NB201()``: the
function the network computes), where the differences are training noise. Per column:

* ``twins``: groups of two or more archs, and the archs in them;
* ``retest_rho``: Spearman ρ between the first and second member of each group, two
  measurements of one network (a test-retest correlation);
* ``ceiling_rho``: ``sqrt(retest_rho)``, the Spearman ρ that a model predicting each network's
  noise-free value would reach against one noisy label (the attenuation formula, exact for
  Pearson's r with normal noise; read as an estimate);
* ``noise_share``: the within-group variance of the labels' ranks (ranked over the whole
  table, scaled to [0, 1]) over their total variance;
* ``top5_agreement``: of the groups whose first member is in the column's best 5 % (highest
  accuracy, lowest latency), the share whose second member is too: roughly the most of a
  noisy top 5 % that a model of the text can find (``evaluate``'s ``precision_top5``).

Twins are not a random draw of the table (they are archs whose ``none`` edges or isomorphic
cells coincide), so the figures assume the noise does not depend on the network.

    python experiments/nb201_ranking/label_noise.py [COLUMNS]
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np
from scipy.stats import rankdata, spearmanr
from tqdm import tqdm

from nas_rlm.data import load_targets
from nas_rlm.data.tables import ACCURACY_NAMES
from nas_rlm.search_spaces import NB201

COLUMNS = "cifar10,cifar100,imagenet16-120,pixel3,eyeriss,gold_6226,1080ti_1,titan_rtx_256,fpga"


def groups_of(texts: list[str]) -> list[list[int]]:
    by_text: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(texts):
        by_text[t].append(i)
    return [g for g in by_text.values() if len(g) > 1]


def noise(y: np.ndarray, groups: list[list[int]], larger_is_better: bool) -> dict:
    r = (rankdata(y) - 1) / (len(y) - 1)
    best = r >= 0.95 if larger_is_better else r <= 0.05
    a, b = np.array([g[0] for g in groups]), np.array([g[1] for g in groups])
    retest = float(spearmanr(y[a], y[b]).statistic)
    within = sum(float(((r[g] - r[g].mean()) ** 2).sum()) for g in groups)
    members = np.concatenate([np.array(g) for g in groups])
    return {"twins": len(groups), "archs": len(members),
            "retest_rho": round(retest, 4), "ceiling_rho": round(float(np.sqrt(retest)), 4),
            "noise_share": round(within / float(((r[members] - r[members].mean()) ** 2).sum()),
                                 4),
            "top5_agreement": round(float(best[b][best[a]].mean()), 3)}


def main(argv: list[str]) -> None:
    cols = (argv[0] if argv else COLUMNS).split(",")
    archs, Y = load_targets("nb201", cols)
    out = {}
    for name, space in (("optimised", NB201()), ("executed", NB201(prune=False))):
        mine = [j for j, c in enumerate(cols) if (c in ACCURACY_NAMES) == (name == "optimised")]
        if not mine:
            continue
        groups = groups_of([space.to_text(a) for a in tqdm(archs, desc=name, unit="arch")])
        for j in mine:
            out[cols[j]] = {"text": name, **noise(Y[:, j], groups, cols[j] in ACCURACY_NAMES)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])

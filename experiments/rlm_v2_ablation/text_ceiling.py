"""The best any model of the NB201 text can rank: each distinct text predicted by the mean
label of all archs that render to it (an oracle that has seen every label, so an upper bound,
not a method). Prints JSON: per text form, distinct texts and the oracle's Spearman ρ / Kendall
τ on the first 5,000 archs of a seeded permutation.

    python experiments/rlm_v2_ablation/text_ceiling.py [COLUMNS]

It is how we found that the pruned text (dead branches removed) caps latency ρ at 0.89-0.92:
the benchmark's devices ran the dead branches too (docs/rlm_v2.md, "What the devices ran").
"""

from __future__ import annotations

import json
import sys

import numpy as np
from scipy.stats import kendalltau, spearmanr
from tqdm import tqdm

from nas_rlm.data import load_targets
from nas_rlm.search_spaces import NB201


def ceiling(keys: list, Y: np.ndarray, test: np.ndarray) -> dict:
    ids: dict = {}
    g = np.array([ids.setdefault(k, len(ids)) for k in keys])
    out = {"distinct": len(ids)}
    for j in range(Y.shape[1]):
        pred = (np.bincount(g, weights=Y[:, j]) / np.bincount(g))[g]
        out[j] = (round(float(spearmanr(pred[test], Y[test, j]).statistic), 4),
                  round(float(kendalltau(pred[test], Y[test, j]).statistic), 4))
    return out


def main(argv: list[str]) -> None:
    cols = (argv[0] if argv else "cifar10,pixel3,eyeriss,gold_6226,1080ti_1,fpga").split(",")
    archs, Y = load_targets("nb201", cols)
    test = np.random.default_rng(0).permutation(len(archs))[:5000]
    result = {}
    for name, space in (("pruned", NB201()), ("unpruned", NB201(prune=False))):
        texts = [space.to_text(a) for a in tqdm(archs, desc=name, unit="arch")]
        c = ceiling(texts, Y, test)
        result[name] = {"distinct_texts": c.pop("distinct"),
                        **{cols[j]: {"rho": r, "tau": t} for j, (r, t) in c.items()}}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])

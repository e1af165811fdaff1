"""Equivalent re-renderings as augmentation (issue "RLM v2", deliverable 6), measured on a
validation split of the training pool (never the held-out set).

A re-rendering is the same ONNX graph written in another topological order (ties in
``onnx_text._kahn`` broken at random instead of by structure), so other SSA ids and line
order: the same network, another text. The base is fine-tuned on the (N, pool seed) pool of
one column with each arch's canonical text plus R re-renderings (same labels, same step
budget as without), then scored on 500 other pool archs: Kendall τ of the expected value on
the canonical texts, and of its mean over the canonical and R re-rendered texts
(test-time augmentation). One JSON line.

    python experiments/rlm_augmentation/run.py BASE COLUMN N POOL_SEED R [SEED]
    python experiments/rlm_augmentation/run.py nas_rlm/pretrained/nb201-base cifar10 781 0 3
"""

from __future__ import annotations

import json
import random
import sys
import time
from contextlib import contextmanager

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.search_spaces import onnx_text
from nas_rlm.search_spaces.nb201 import NB201
from nas_rlm.surrogates.recipes import finetune_budget, finetune_rlm, load_base
from nas_rlm.surrogates.rlm import Views


@contextmanager
def shuffled_order(seed: int):
    """Topological orders with ties broken at random (seeded) while rendering."""
    kahn, rng = onnx_text._kahn, random.Random(seed)
    onnx_text._kahn = lambda n, deps, key: kahn(n, deps, key=lambda i: rng.random())
    try:
        yield
    finally:
        onnx_text._kahn = kahn


def rerendered(rlm, archs, seed: int) -> list[Views]:
    """``rlm.views_for(archs)`` rendered in a random order (the same views, other texts)."""
    spaces = [NB201(), NB201(prune=False)][: rlm.n_views]
    with shuffled_order(seed):
        return [Views(s.to_text(a) for s in spaces) for a in archs]


def main(argv: list[str]) -> None:
    if len(argv) not in (5, 6):
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    base_dir, column, n, pool_seed, R = argv[0], argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    seed = int(argv[5]) if len(argv) == 6 else 0
    archs, Y = load_targets("nb201", [column])
    tr, val = train_indices("nb201", n, pool_seed), pool_validation_indices("nb201", n, pool_seed)
    a_tr, a_val, y_val = [archs[i] for i in tr], [archs[i] for i in val], Y[val, 0]
    base = load_base(base_dir, "nb201")
    canon = base.views_for(a_tr)
    assert rerendered(base, a_tr[:20], -1) != canon[:20], "re-rendering changed nothing"
    t0 = time.time()
    inputs, labels = list(canon), [Y[tr]]
    for r in range(R):
        inputs += rerendered(base, a_tr, r)
        labels.append(Y[tr])
    t_render = time.time() - t0
    lens = [len(x) for v in inputs for x in base.encode_texts(list(v))]
    t0 = time.time()
    rlm = finetune_rlm(base, inputs, np.concatenate(labels), [column],
                       finetune_budget([column], n), seed=seed, progress=False)
    t_fit = time.time() - t0
    evs = [rlm.predict_expected(rlm.views_for(a_val))[:, 0]]
    evs += [rlm.predict_expected(rerendered(rlm, a_val, 1000 + r))[:, 0] for r in range(3)]
    out = {"column": column, "n": n, "pool_seed": pool_seed, "R": R, "seed": seed,
           "train_rows": len(inputs), "text_tokens_mean": round(float(np.mean(lens)), 1),
           "seconds": {"render": round(t_render, 1), "fit": round(t_fit, 1)}}
    for name, p in [("canonical", evs[0]), ("rerendered_0", evs[1]),
                    ("tta_mean_of_4", np.mean(evs, 0))]:
        out[name] = {"tau": round(float(kendalltau(p, y_val).statistic), 4),
                     "rho": round(float(spearmanr(p, y_val).statistic), 4)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Does the base's encoder hold what a column's ranking needs? A diagnostic, on a validation
split of the training pool (never the held-out set): mean-pool the frozen encoder's states
of each arch's text (the view the column reads), fit a ridge (alpha by 5-fold CV on the pool)
from them to the pool labels (log latency; accuracy as is), and print one JSON line with
Kendall τ / Spearman ρ on 500 other pool archs, beside ridges of the same split on the
one-hot edge ops, on the bag of ops (how many edges carry each op), and on the base's own
decoded counts of the executed graph (``COUNTS``).
If the probe ranks well where the fine-tuned RLM does not, the decoder or its fine-tuning is
the limit; if not, the representation is.

    python experiments/encoder_probe/run.py BASE COLUMNS N POOL_SEED
    python experiments/encoder_probe/run.py nas_rlm/pretrained/nb201-base cifar10,eyeriss 781 0
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr
from sklearn.linear_model import RidgeCV

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.search_spaces.nb201 import NB201
from nas_rlm.surrogates.baselines import one_hot
from nas_rlm.surrogates.recipes import load_base
from nas_rlm.surrogates.rlm import Views


@torch.no_grad()
def pooled(rlm, texts: list[str], batch: int = 64) -> np.ndarray:
    out = []
    for s in range(0, len(texts), batch):
        h, mask = rlm.encoder_output(texts[s : s + batch])
        m = mask[..., None].float()
        out.append(torch.cat([(h * m).sum(1) / m.sum(1), h[:, 0]], 1).numpy())
    return np.concatenate(out)


def bag_of_ops(archs) -> np.ndarray:
    """How many of the six edges carry each of the five ops (position ignored)."""
    return one_hot(NB201(), archs).reshape(len(archs), 6, 5).sum(1).astype(np.float64)


#: The base's computed objectives of the executed graph that count what runs.
COUNTS = ["executed_conv_k1", "executed_conv_k3", "executed_pool", "executed_nodes",
          "executed_mflops"]


def main(argv: list[str]) -> None:
    if len(argv) != 4:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    base_dir, columns, n, pool_seed = argv[0], argv[1].split(","), int(argv[2]), int(argv[3])
    rlm = load_base(base_dir, "nb201")
    archs, Y = load_targets("nb201", columns)
    tr, val = train_indices("nb201", n, pool_seed), pool_validation_indices("nb201", n, pool_seed)
    views: list[Views] = rlm.views_for([archs[i] for i in (*tr, *val)])
    feats = [pooled(rlm, [v[i] for v in views]) for i in range(rlm.n_views)]
    pool_archs = [archs[i] for i in (*tr, *val)]
    oh, bag = one_hot(NB201(), pool_archs).astype(np.float64), bag_of_ops(pool_archs)
    counter = load_base(base_dir, "nb201")
    counter.set_objectives(COUNTS)
    decoded = counter.predict_expected(pool_archs)  # the base's own reading of the counts
    accuracy = {"cifar10", "cifar100", "imagenet16-120"}
    for j, col in enumerate(columns):
        X = feats[0 if col in accuracy else rlm.n_views - 1]
        y = Y[tr, j] if col in accuracy else np.log(Y[tr, j])
        row = {"column": col, "n": n, "pool_seed": pool_seed}
        for name, F in (("encoder_probe", X), ("one_hot_ridge", oh), ("bag_of_ops_ridge", bag),
                        ("base_decoded_counts_ridge", decoded)):
            mu, sd = F[: len(tr)].mean(0), F[: len(tr)].std(0) + 1e-8
            model = RidgeCV(alphas=np.logspace(-3, 4, 15)).fit((F[: len(tr)] - mu) / sd, y)
            p = model.predict((F[len(tr):] - mu) / sd)
            row[name] = {"tau": round(float(kendalltau(p, Y[val, j]).statistic), 4),
                         "rho": round(float(spearmanr(p, Y[val, j]).statistic), 4),
                         "alpha": float(model.alpha_)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

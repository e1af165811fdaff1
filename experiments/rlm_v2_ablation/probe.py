"""One RLM trained with ``train_rlm`` on an NB201 pool, scored on the first 1,000 held-out
archs; prints one JSON line with the learning curve. The quick probes that chose the v2
recipe's model size, learning rate and step budget (docs/rlm_v2.md) are this script.

    python experiments/rlm_v2_ablation/probe.py TARGETS N [recipe overrides...]
    python experiments/rlm_v2_ablation/probe.py pixel3 781 train.steps=300 train.lr=2e-3
    python experiments/rlm_v2_ablation/probe.py pixel3 781 space.prune=false
    python experiments/rlm_v2_ablation/probe.py cifar10 78 pool.seed=1

``pool.seed`` picks the DESIGN §3 training pool (default 0); ``space.*`` are space settings;
everything else is a recipe override.
"""

from __future__ import annotations

import json
import sys
import time

import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import heldout_indices, train_indices
from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.recipes import RLMRecipe, train_rlm


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    objs, n, overrides = argv[0].split(","), int(argv[1]), argv[2:]
    settings = {k[len("space."):]: json.loads(v) for k, _, v in
                (o.partition("=") for o in overrides if o.startswith("space."))}
    space = get_space("nb201", settings)
    pool_seed = int(next((o.partition("=")[2] for o in overrides if o.startswith("pool.seed=")),
                         0))
    recipe_overrides = [o for o in overrides if not o.startswith(("space.", "pool."))]
    archs, Y = load_targets("nb201", objs)
    tr, te = train_indices("nb201", n, pool_seed), heldout_indices("nb201")[:1000]
    recipe = RLMRecipe().with_overrides(recipe_overrides)
    t0 = time.time()
    rlm = train_rlm(space, [archs[i] for i in tr], Y[tr], objs, recipe, seed=pool_seed,
                    progress=False)
    seconds = time.time() - t0
    ev = rlm.predict_expected([archs[i] for i in te])
    print(json.dumps({
        "overrides": overrides, "objs": objs, "n": n, "train_s": round(seconds),
        "best_step": rlm.training_info["best_step"],
        "test_tau": [round(float(kendalltau(ev[:, j], Y[te, j]).statistic), 3)
                     for j in range(len(objs))],
        "test_rho": [round(float(spearmanr(ev[:, j], Y[te, j]).statistic), 3)
                     for j in range(len(objs))],
        "hist": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in h.items()
                  if k != "lr"} for h in rlm.training_info["history"]]}))


if __name__ == "__main__":
    main(sys.argv[1:])

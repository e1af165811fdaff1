"""Choose the fine-tuning budget of ``FINETUNE_TRAIN`` on a validation split of the training
pool (never the held-out set): fine-tune a base on S pool archs of a device, score Spearman
ρ on 500 other pool archs, and print one JSON line. ``zero_shot`` is the ρ of the base
objective the new token starts from, before any step.

    python experiments/fewshot/tune.py BASE_MODEL_DIR DEVICE S SEED [field=value ...]
    python experiments/fewshot/tune.py runs/fewshot/base_s0/model eyeriss 20 0 steps=100
    python experiments/fewshot/tune.py runs/fbnet_base/model eyeriss 10 0 space=fbnet lr=3e-4

``space=`` names the base's space (default nb201); ``view=executed`` makes a converter
device (pixel3, raspi4) read the executed graph instead of the converted one; every other
``field=value`` overrides a field of ``FINETUNE_TRAIN``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.surrogates.recipes import FINETUNE_TRAIN, finetune_rlm, load_base


def main(argv: list[str]) -> None:
    if len(argv) < 4:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    base_dir, device, n, seed = argv[0], argv[1], int(argv[2]), int(argv[3])
    fields = dict(a.partition("=")[::2] for a in argv[4:])
    space = fields.pop("space", "nb201")
    view = fields.pop("view", None)
    if view not in (None, "executed"):
        raise SystemExit(f"view= takes 'executed' only, got {view!r}")
    fields = {k: json.loads(v) for k, v in fields.items()}
    archs, Y = load_targets(space, [device])
    tr = train_indices(space, n, seed)
    val = pool_validation_indices(space, n, seed)
    a_tr, a_val = [archs[i] for i in tr], [archs[i] for i in val]
    base = load_base(base_dir, space, unseen=[device])
    t0 = time.time()
    rlm = finetune_rlm(base, a_tr, Y[tr], [device], replace(FINETUNE_TRAIN, **fields),
                       seed=seed, progress=False, converted=() if view else None)
    start = rlm.training_info["finetune"]["started_from"][device]
    pred = rlm.predict_expected(a_val)[:, 0]
    rho, tau = spearmanr(pred, Y[val, 0]).statistic, kendalltau(pred, Y[val, 0]).statistic
    zero = load_base(base_dir, space)
    zero.set_objectives([start])
    rho0 = spearmanr(zero.predict_expected(a_val)[:, 0], Y[val, 0]).statistic
    print(json.dumps({"space": space, "device": device, "n": n, "seed": seed, "fields": fields,
                      **({"view": view} if view else {}),
                      "started_from": start, "val_rho": round(float(rho), 4),
                      "val_tau": round(float(tau), 4),
                      "zero_shot_val_rho": round(float(rho0), 4),
                      "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main(sys.argv[1:])

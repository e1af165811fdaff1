"""Choose the fine-tuning budget of ``FINETUNE_TRAIN`` on a validation split of the training
pool (never the held-out set): fine-tune a base on S pool archs of a device, score Spearman
ρ on 500 other pool archs, and print one JSON line. ``zero_shot`` is the ρ of the base
objective the new token starts from, before any step.

    python experiments/fewshot/tune.py BASE_MODEL_DIR DEVICE S SEED [field=value ...]
    python experiments/fewshot/tune.py runs/fewshot/base_s0/model eyeriss 20 0 steps=100
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import torch
from scipy.stats import spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.surrogates.recipes import FINETUNE_TRAIN, finetune_rlm
from nas_rlm.surrogates.rlm import RLM


def main(argv: list[str]) -> None:
    if len(argv) < 4:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    base_dir, device, n, seed = argv[0], argv[1], int(argv[2]), int(argv[3])
    fields = {k: json.loads(v) for k, _, v in (a.partition("=") for a in argv[4:])}
    archs, Y = load_targets("nb201", [device])
    tr = train_indices("nb201", n, seed)
    val = pool_validation_indices("nb201", n, seed)
    a_tr, a_val = [archs[i] for i in tr], [archs[i] for i in val]
    base = RLM.from_pretrained(base_dir)
    t0 = time.time()
    rlm = finetune_rlm(base, a_tr, Y[tr], [device], replace(FINETUNE_TRAIN, **fields),
                       seed=seed, progress=False)
    start = rlm.training_info["finetune"]["started_from"][device]
    rho = spearmanr(rlm.predict_expected(a_val)[:, 0], Y[val, 0]).statistic
    zero = RLM.from_pretrained(base_dir)
    zero.set_objectives([start])
    rho0 = spearmanr(zero.predict_expected(a_val)[:, 0], Y[val, 0]).statistic
    print(json.dumps({"device": device, "n": n, "seed": seed, "fields": fields,
                      "started_from": start, "val_rho": round(float(rho), 4),
                      "zero_shot_val_rho": round(float(rho0), 4),
                      "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Does the mix head help past ``MIX_HEAD_MAX_LABELS`` labels? Chosen on pool archs only.

``finetune_rlm`` blends a new device's token with a ridge over the base's own predicted
source-device latencies (:class:`~nas_rlm.surrogates.mix_head.MixHead`) for 3-100 labels,
and keeps the token alone above that, where it was never measured. Here a base is
fine-tuned on the (N, seed) training pool of DESIGN §3, as ``nas-rlm evaluate --surrogates
rlm_base`` does, a head is fitted on the same N labels, and the blend is scored at several
weights on 500 pool archs outside both the N and the base's pretraining rows (the base's
source predictions on rows it pretrained on would flatter the head). One JSON line.

    python experiments/fewshot/mix_large_n_pool.py BASE DEVICE N SEED
    python experiments/fewshot/mix_large_n_pool.py nas_rlm/pretrained/nb201-base gold_6226 781 0
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import TABLE_SIZES, heldout_indices, train_indices
from nas_rlm.surrogates.mix_head import MixHead
from nas_rlm.surrogates.recipes import (
    finetune_rlm,
    load_base,
    source_rows,
    varied_objectives,
)

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main(argv: list[str]) -> None:
    if len(argv) != 4:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    base_dir, device, n, seed = argv[0], argv[1], int(argv[2]), int(argv[3])
    base = load_base(base_dir, "nb201", unseen=[device])
    info = base.training_info["base"]
    known = varied_objectives(base)
    sources = [o for o in info["source_columns"] if o in known]
    tr = train_indices("nb201", n, seed)
    seen = source_rows("nb201", TABLE_SIZES["nb201"], info["pretrain_archs"], info["seed"])
    pool = np.setdiff1d(np.arange(TABLE_SIZES["nb201"]), heldout_indices("nb201"))
    rest = np.setdiff1d(np.setdiff1d(pool, tr), seen)
    val = np.random.default_rng([seed, 99]).choice(rest, 500, replace=False)
    archs, Y = load_targets("nb201", [device])
    a_tr, a_val = [archs[i] for i in tr], [archs[i] for i in val]
    t0 = time.time()
    rlm = finetune_rlm(base, a_tr, Y[tr], [device], seed=seed, progress=False, mix_head=False)
    own = rlm.predict_point(a_val)[:, 0]
    rlm.set_objectives(sources)
    X_tr, X_val = rlm.predict_point(a_tr), rlm.predict_point(a_val)
    y_val = Y[val, 0]
    out = {}
    for w in WEIGHTS:
        head = MixHead.fit(sources, X_tr, Y[tr, 0], weight=w)
        v = head.blend(X_val, own)
        out[str(w)] = {"rho": round(float(spearmanr(v, y_val).statistic), 4),
                       "tau": round(float(kendalltau(v, y_val).statistic), 4)}
    print(json.dumps({"base": base_dir, "device": device, "n": n, "seed": seed,
                      "started_from": rlm.training_info["finetune"]["started_from"],
                      "by_weight": out, "seconds": round(time.time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

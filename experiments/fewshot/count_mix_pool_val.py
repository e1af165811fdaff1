"""Would a mix head over a count base's own predicted counts help a new FBNet device?

The mix head (``nas_rlm/surrogates/mix_head.py``) reads a base's predicted *source device*
latencies; a base of computed labels alone (``nas_rlm/pretrained/fbnet-base``) has none. This
probe fits the same ridge over its predicted computed labels instead, on S pool archs of a
held-out device, and scores Spearman ρ on 500 other pool archs (never the held-out set),
beside the ``mflops`` objective a new token starts from. One JSON line per cell.

    python experiments/fewshot/count_mix_pool_val.py nas_rlm/pretrained/fbnet-base > OUT.jsonl
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import torch
from scipy.stats import spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import HELDOUT_DEVICES, pool_validation_indices, train_indices
from nas_rlm.surrogates.mix_head import MixHead
from nas_rlm.surrogates.recipes import load_base


def main(base_dir: str) -> None:
    torch.set_num_threads(1)
    devices = list(HELDOUT_DEVICES["fbnet"])
    base = load_base(base_dir, "fbnet", unseen=devices)
    objs = list(base.objectives)
    archs, Y = load_targets("fbnet", devices)
    feature_sets = {"mflops,kparams": ["mflops", "kparams"],
                    "mflops,kparams,nodes": ["mflops", "kparams", "nodes"], "all": objs}
    for seed in (0, 1):
        for n in (10, 20):
            tr, val = train_indices("fbnet", n, seed), pool_validation_indices("fbnet", n, seed)
            P = base.predict_point([archs[i] for i in np.concatenate([tr, val])])
            for j, d in enumerate(devices):
                row = {"device": d, "n": n, "seed": seed, "mflops_start": round(float(
                    spearmanr(P[n:, objs.index("mflops")], Y[val, j]).statistic), 4)}
                for name, srcs in feature_sets.items():
                    k = [objs.index(o) for o in srcs]
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        head = MixHead.fit(srcs, P[:n, k], Y[tr, j])
                    row[f"ridge[{name}]"] = round(float(spearmanr(
                        head.log_predict(P[n:, k]), Y[val, j]).statistic), 4)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])

"""Does fine-tuning an accuracy column keep reading the text better when the base's own
computed labels (FLOPs, params, op counts of the same graph) are fine-tuned beside it?
Pool archs only, never the held-out set: the evaluate budget fine-tunes BASE on CIFAR-10 of
the N = 781 pool (seed 0), with AUX computed labels of those archs (and of EXTRA other pool
archs, which have no accuracy label) as further objectives; Kendall τ / Spearman ρ of the
exact median and the expected value on the 500 pool-validation archs. One JSON line
(``aux_pool_val.jsonl``: no gain, docs/rlm_v2.md)::

    python experiments/rlm_aux/aux_pool_val.py BASE SEED AUX EXTRA [field=value ...]
    python experiments/rlm_aux/aux_pool_val.py nas_rlm/pretrained/nb201-base 0 none 0
    python experiments/rlm_aux/aux_pool_val.py nas_rlm/pretrained/nb201-base 0 mflops,conv_k3 0
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import heldout_indices, pool_validation_indices, train_indices
from nas_rlm.surrogates.recipes import (
    PRETRAIN_OBJECTIVES,
    computed_labels,
    finetune_budget,
    finetune_rlm,
    load_base,
)

COLUMN, N = "cifar10", 781


def main(argv: list[str]) -> None:
    if len(argv) < 4:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    base_dir, seed = argv[0], int(argv[1])
    aux = [] if argv[2] == "none" else argv[2].split(",")
    extra = int(argv[3])
    fields = {k: json.loads(v) for k, v in (a.partition("=")[::2] for a in argv[4:])}
    archs, Y = load_targets("nb201", [COLUMN])
    tr, val = train_indices("nb201", N, 0), pool_validation_indices("nb201", N, 0)
    rest = np.setdiff1d(np.arange(len(archs)),
                        np.concatenate([heldout_indices("nb201"), tr, val]))
    more = np.random.default_rng([seed, 3]).choice(rest, extra, replace=False) if extra else []
    idx = np.concatenate([tr, np.asarray(more, dtype=int)])
    a_fit = [archs[i] for i in idx]
    Yfit = np.full((len(idx), 1 + len(aux)), np.nan)
    Yfit[: len(tr), 0] = Y[tr, 0]
    if aux:
        unknown = sorted(set(aux) - set(PRETRAIN_OBJECTIVES))
        if unknown:
            raise SystemExit(f"not computed labels: {unknown}; choose from {PRETRAIN_OBJECTIVES}")
        C = computed_labels("nb201", a_fit)
        Yfit[:, 1:] = C[:, [PRETRAIN_OBJECTIVES.index(a) for a in aux]]
    # one-hot digit targets, as measured (field digit_sigma=0.4 gives today's budget)
    cfg = replace(finetune_budget([COLUMN], N), **{"digit_sigma": 0.0, **fields})
    base = load_base(base_dir, "nb201", unseen=[COLUMN])
    fit = base.fit
    base.fit = lambda a, y, **kw: fit(a, y, missing_ok=True, **kw)  # archs without accuracy
    t0 = time.time()
    rlm = finetune_rlm(base, a_fit, Yfit, [COLUMN, *aux], cfg, seed=seed, progress=False)
    seconds = time.time() - t0
    rlm.set_objectives([COLUMN])
    a_val, y = [archs[i] for i in val], Y[val, 0]
    out = {"column": COLUMN, "n": N, "pool_seed": 0, "seed": seed, "aux": aux, "extra": extra,
           "steps": cfg.steps, "freeze_encoder": cfg.freeze_encoder, "fields": fields}
    for name, p in (("median", rlm.predict_point(a_val)[:, 0]),
                    ("ev", rlm.predict_expected(a_val)[:, 0])):
        out[name] = {"tau": round(float(kendalltau(p, y).statistic), 4),
                     "rho": round(float(spearmanr(p, y).statistic), 4)}
    out["seconds"] = round(seconds, 1)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""How a new device's token should pick the base objective it starts from, simulated on the
training pool (never the held-out set). ``finetune_rlm`` starts the token from the base
objective whose point predictions rank the S labels best (Spearman ρ); with 10 labels that
choice is noisy. Here the base predicts every objective once on pool archs; then, for many
random S-arch draws, each rule picks a start from the draw alone and is scored by the
Spearman ρ of that start on all the other pool archs (what fine-tuning starts from).

    python experiments/fewshot/start_rule_pool.py BASE SPACE [--pool 3000] [--draws 400]
    python experiments/fewshot/start_rule_pool.py nas_rlm/pretrained/fbnet-base fbnet

Prints one JSON line per (device, S): for each rule, the mean and 5th percentile of the
start's pool ρ over draws and the objectives it picked most often.
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections import Counter

import numpy as np
import torch
from scipy.stats import ConstantInputWarning, kendalltau, pearsonr, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import HELDOUT_DEVICES, heldout_indices
from nas_rlm.data.tables import ACCURACY_NAMES
from nas_rlm.surrogates.recipes import (
    load_base,
    new_column_views,
    start_candidates,
    start_similarity,
    varied_objectives,
)

#: each rule scores a candidate objective's predictions ``p`` against the S labels ``y``;
#: ``pearson_log`` is what ``finetune_rlm`` uses, ``spearman`` the rule before it
RULES = {
    "spearman": lambda p, y: spearmanr(p, y).statistic,
    "kendall": lambda p, y: kendalltau(p, y).statistic,
    "pearson": lambda p, y: pearsonr(p, y).statistic,
    "pearson_log": start_similarity,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("space")
    ap.add_argument("--pool", type=int, default=3000, help="pool archs predicted")
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--sizes", default="10,20")
    args = ap.parse_args()
    torch.set_num_threads(1)
    devices = list(HELDOUT_DEVICES[args.space])
    archs, Y = load_targets(args.space, devices)
    pool = np.setdiff1d(np.arange(len(archs)), heldout_indices(args.space))
    pool = np.sort(np.random.default_rng(7).choice(pool, min(args.pool, len(pool)),
                                                   replace=False))
    base = load_base(args.base, args.space, unseen=devices)
    known = varied_objectives(base)
    base.set_objectives(known)
    P = base.predict_point([archs[i] for i in pool])
    Yp = Y[pool]
    views = new_column_views(base, devices, ACCURACY_NAMES)  # as finetune_rlm reads them
    for d, dev in enumerate(devices):
        view = views[dev]
        ks = [known.index(o) for o in start_candidates(base, view)]
        y_all = Yp[:, d]
        full = {known[k]: spearmanr(P[:, k], y_all).statistic for k in ks}
        for s in (int(x) for x in args.sizes.split(",")):
            rng = np.random.default_rng([s, d])
            out: dict[str, dict] = {}
            picks = {r: [] for r in RULES}
            for _ in range(args.draws):
                idx = rng.choice(len(pool), s, replace=False)
                rest = np.setdiff1d(np.arange(len(pool)), idx)
                for r, f in RULES.items():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConstantInputWarning)
                        sc = [f(P[idx, k], y_all[idx]) for k in ks]
                    sc = [v if np.isfinite(v) else -1.0 for v in sc]
                    k = ks[int(np.argmax(sc))]
                    picks[r].append((known[k],
                                     spearmanr(P[rest, k], y_all[rest]).statistic))
            for r, got in picks.items():
                rho = np.array([g[1] for g in got])
                out[r] = {"mean_rho": round(float(rho.mean()), 4),
                          "p05_rho": round(float(np.quantile(rho, 0.05)), 4),
                          "picked": dict(Counter(g[0] for g in got).most_common(4))}
            print(json.dumps({"space": args.space, "device": dev, "s": s, "pool": len(pool),
                              "draws": args.draws,
                              "view": view,
                              "best_pool_rho": max(full.items(), key=lambda kv: kv[1]),
                              "rules": out}), flush=True)


if __name__ == "__main__":
    main()

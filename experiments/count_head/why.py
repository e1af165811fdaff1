"""Why a count head, and why it reads the base: three measurements on pool archs (never the
held-out set), printed as one JSON object.

1. How exactly the shipped base decodes the executed graph's computed labels, on 400 pool
   archs outside its 8,000 pretraining rows (share of archs within 0.1 %, mean |error|).
2. How its own 2080ti_256 token ranks that column on rows it pretrained on and on others, and
   titan_rtx_256 (which the true 2080ti_256 ranks at τ 0.986).
3. After a titan_rtx_256 fine-tune (N = 781, pool seed 0, 586 steps, as ``evaluate`` chooses
   for it): how often its decoded counts still agree with the base's on the 500
   pool-validation archs, and a ridge over either model's counts, fitted on the pool.

    python experiments/count_head/why.py > experiments/count_head/why.json
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import torch
from scipy.stats import kendalltau

from nas_rlm.data import load_targets
from nas_rlm.data.splits import heldout_indices, pool_validation_indices, train_indices
from nas_rlm.surrogates.mix_head import MixHead
from nas_rlm.surrogates.recipes import (
    EXECUTED,
    finetune_budget,
    finetune_rlm,
    load_base,
    source_rows,
)
from nas_rlm.surrogates.rlm import view_space

BASE, N = "nas_rlm/pretrained/nb201-base", 781


def tau(p: np.ndarray, y: np.ndarray) -> float:
    return round(float(kendalltau(p, y).statistic), 4)


def read(rlm, objectives: list[str], archs: list) -> np.ndarray:
    rlm.set_objectives(objectives)
    return rlm.predict_median(archs)


def main() -> None:
    from nas_rlm.surrogates.recipes import computed_labels

    torch.set_num_threads(1)
    t0 = time.time()
    cols = ["titan_rtx_256", "2080ti_256"]
    archs, Y = load_targets("nb201", cols)
    seen = source_rows("nb201", len(archs), 8000, 0)
    pool = np.setdiff1d(np.arange(len(archs)), heldout_indices("nb201"))
    unseen = np.setdiff1d(pool, seen)
    rng = np.random.default_rng(0)
    u400 = np.sort(rng.choice(unseen, 400, replace=False))
    base = load_base(BASE, "nb201")
    counts = [o for o in base.objectives if o.startswith(EXECUTED)]
    exact = computed_labels(view_space(base._space, "executed"), [archs[i] for i in u400],
                            paths=True)
    P = read(base, counts, [archs[i] for i in u400])
    out: dict = {"base_counts_exact_share": {
        o: round(float(np.mean(np.isclose(P[:, j], exact[:, j], rtol=1e-3, atol=1e-9))), 3)
        for j, o in enumerate(counts)}}
    s1000, u1000 = (np.sort(rng.choice(a, 1000, replace=False)) for a in (seen, unseen))
    tok = {k: read(base, ["2080ti_256"], [archs[i] for i in idx])[:, 0]
           for k, idx in (("seen", s1000), ("unseen", u1000))}
    out["base_2080ti_256_token"] = {
        "tau_on_rows_it_pretrained_on": tau(tok["seen"], Y[s1000, 1]),
        "tau_on_other_pool_rows": tau(tok["unseen"], Y[u1000, 1]),
        "tau_vs_titan_rtx_256_other_rows": tau(tok["unseen"], Y[u1000, 0]),
        "true_2080ti_256_vs_titan_rtx_256": tau(Y[u1000, 1], Y[u1000, 0])}
    tr, val = train_indices("nb201", N, 0), pool_validation_indices("nb201", N, 0)
    A_tr, A_val = [archs[i] for i in tr], [archs[i] for i in val]
    B_tr, B_val = read(base, counts, A_tr), read(base, counts, A_val)
    col = "titan_rtx_256"
    cfg = replace(finetune_budget([col], N), steps=586)
    rlm = finetune_rlm(load_base(BASE, "nb201", [col]), A_tr, Y[tr, :1], [col], cfg, seed=0,
                       progress=False)
    token = rlm.predict_point(A_val)[:, 0]
    F_tr, F_val = read(rlm, counts, A_tr), read(rlm, counts, A_val)

    def ridge(Xtr: np.ndarray, Xval: np.ndarray) -> float:
        h = MixHead.fit(counts, Xtr, Y[tr, 0], 1.0, linear=True)
        return tau(np.exp(h.log_predict(Xval)), Y[val, 0])

    out["titan_rtx_256_finetune"] = {
        "token_tau": tau(token, Y[val, 0]),
        "counts_agree_with_base": {o: round(float(np.mean(np.isclose(
            F_val[:, j], B_val[:, j], rtol=1e-3, atol=1e-9))), 3) for j, o in enumerate(counts)},
        "ridge_on_base_counts_tau": ridge(B_tr, B_val),
        "ridge_on_finetuned_counts_tau": ridge(F_tr, F_val)}
    out["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

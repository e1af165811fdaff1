"""Which readout of a pretrained base ranks a new device best from S measurements, on pool
archs the base never pretrained on (never the held-out set)?

- ``single``: the base objective whose predictions rank the S labels best (Spearman ρ): what
  ``finetune_rlm`` starts a new device from, before any fine-tuning step;
- ``stack``: a ridge on the log of the base's predicted source-device latencies, fitted on
  the S labels (the reference-device ridge, but reading the base's predictions from text
  instead of measured latencies);
- ``stack_pos`` / ``stack_pos_ridge``: the same with non-negative weights (no penalty / a
  fixed one);
- ``blend``: the sum of the z-scores of ``single`` and ``stack``;
- ``blend_units``: ``single`` mapped to units by a line fitted on the S labels, then the
  mean with ``stack`` in log units: what :class:`nas_rlm.surrogates.mix_head.MixHead` does
  with the fine-tuned token in place of ``single`` (chosen: results/stack_pool_val.json);
- ``ridge_ref`` / ``ridge_ref_pos``: the reference-device ridge on *measured* source
  latencies (the bar), and with non-negative weights.

S labelled archs and the rest of N_ARCHS (default 1,000) as the test, REPS draws each.

    python experiments/fewshot/stack_pool_val.py [BASE] [N_ARCHS] [REPS]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import TABLE_SIZES, heldout_indices
from nas_rlm.evaluation.fewshot import HELDOUT_DEVICES
from nas_rlm.surrogates.recipes import load_base, source_rows, varied_objectives


def _fit(X_tr: np.ndarray, y_tr: np.ndarray, X_te: np.ndarray, kind: str) -> np.ndarray:
    """A linear readout of log latencies: RidgeCV (as the reference-device ridge), or with
    non-negative weights (a new device's latency as a positive mix of known ones)."""
    from sklearn.linear_model import LinearRegression, Ridge, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    reg = {"ridgecv": lambda: RidgeCV(alphas=np.logspace(-3, 3, 13)),
           "positive": lambda: LinearRegression(positive=True),
           "positive_ridge": lambda: Ridge(alpha=1.0, positive=True)}[kind]()
    return make_pipeline(StandardScaler(), reg).fit(X_tr, y_tr).predict(X_te)


def _z(v: np.ndarray) -> np.ndarray:
    return (v - v.mean()) / (v.std() + 1e-12)


def main() -> None:
    torch.set_num_threads(1)
    base_dir = sys.argv[1] if len(sys.argv) > 1 else "nas_rlm/pretrained/nb201-base"
    n_archs = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    base = load_base(base_dir, "nb201")
    info = base.training_info["base"]
    sources = info["source_columns"]
    devices = list(HELDOUT_DEVICES["nb201"])
    pool = np.setdiff1d(np.arange(TABLE_SIZES["nb201"]), heldout_indices("nb201"))
    seen = source_rows("nb201", TABLE_SIZES["nb201"], info["pretrain_archs"], info["seed"])
    idx = np.random.default_rng(7).choice(np.setdiff1d(pool, seen), n_archs, replace=False)
    archs, Y = load_targets("nb201", devices + sources)
    views = base.views_for([archs[i] for i in idx])
    known = varied_objectives(base)
    base.set_objectives(known)
    cache = f"runs/stack_pool_val_{n_archs}_{Path(base_dir).name}.npz"  # one per base
    try:
        P = np.load(cache)["P"]
    except FileNotFoundError:
        P = base.predict_median(views)
        np.savez(cache, P=P)
    src = [known.index(s) for s in sources]
    Ps = np.log(np.clip(P[:, src], 1e-6, None))
    T = np.log(Y[idx][:, len(devices):])
    # how well the base reads each source device on these archs (its own pretraining labels)
    out: dict = {"source_rho": {s: round(float(spearmanr(Ps[:, k], T[:, k]).statistic), 4)
                                for k, s in enumerate(sources)}}
    print("source_rho", json.dumps(out["source_rho"]), flush=True)
    for j, dev in enumerate(devices):
        y = np.log(Y[idx, j])
        for s in (10, 20, 50, 100):
            acc: dict[str, list[float]] = {}
            for r in range(reps):
                perm = np.random.default_rng(r).permutation(n_archs)
                tr, te = perm[:s], perm[s:]
                rho = np.nan_to_num([spearmanr(P[tr, k], y[tr]).statistic
                                     for k in range(len(known))], nan=-1.0)
                single = np.log(np.clip(P[te, int(np.argmax(rho))], 1e-6, None))
                stack = _fit(Ps[tr], y[tr], Ps[te], "ridgecv")
                k = int(np.argmax(rho))
                a, b = np.polyfit(np.log(np.clip(P[tr, k], 1e-6, None)), y[tr], 1)
                preds = {"single": single,
                         "blend_units": 0.5 * (a * single + b) + 0.5 * stack,
                         "blend": _z(single) + _z(stack),
                         "stack": _fit(Ps[tr], y[tr], Ps[te], "ridgecv"),
                         "stack_pos": _fit(Ps[tr], y[tr], Ps[te], "positive"),
                         "stack_pos_ridge": _fit(Ps[tr], y[tr], Ps[te], "positive_ridge"),
                         "ridge_ref": _fit(T[tr], y[tr], T[te], "ridgecv"),
                         "ridge_ref_pos": _fit(T[tr], y[tr], T[te], "positive")}
                for m, v in preds.items():
                    acc.setdefault(m, []).append(spearmanr(v, y[te]).statistic)
            out.setdefault(dev, {})[s] = {m: round(float(np.mean(v)), 4) for m, v in acc.items()}
        print(dev, json.dumps(out[dev]), flush=True)
    mean = {s: {m: round(float(np.mean([out[d][s][m] for d in devices])), 4)
                for m in out[devices[0]][s]} for s in (10, 20, 50, 100)}
    source_rho = out.pop("source_rho")
    print(json.dumps({"base": base_dir, "archs": n_archs, "reps": reps, "mean": mean,
                      "source_rho": source_rho, "devices": out}, indent=1))


if __name__ == "__main__":
    main()

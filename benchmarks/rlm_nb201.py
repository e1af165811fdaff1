"""Score a trained NB201 RLM on the DESIGN §3 held-out set; print JSON.

Reports, per objective, Kendall τ and Spearman ρ of three point estimates against the table:
the exact median (``predict_point``), the expected-value readout and the median of k
samples. Also throughput with k samples for all objectives, against two same-run references: one
encoder forward pass over the same archs (the floor a decoder readout sits on when it waits
for the encoder) and the same sampling with the encoder in the caller's thread
(``ENCODE_AHEAD = 0``), alternated, median of ``--repeats``; and the throughput of the two
one-pass readouts.

    python benchmarks/rlm_nb201.py --model runs/rlm-nb201-n781-s0/model [--limit 5000] [--k 8]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

import nas_rlm.surrogates.rlm as rlm_module
from nas_rlm.data import load_targets
from nas_rlm.data.splits import heldout_indices
from nas_rlm.surrogates.rlm import RLM


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--limit", type=int, default=5000, help="first N held-out archs")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--throughput-archs", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="throughput: median of this many")
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rlm = RLM.from_pretrained(args.model)
    archs, Y = load_targets("nb201", rlm.objectives, args.data_dir)
    test = heldout_indices("nb201")[: args.limit]
    leaked = set(test) & set(rlm.training_info.get("train_indices", []))
    if leaked:
        raise SystemExit(f"{len(leaked)} held-out archs were in the training pool")
    t0 = time.perf_counter()
    test_views = rlm.views_for([archs[i] for i in test])  # rendered once, read by both readouts
    t_render = time.perf_counter() - t0

    t0 = time.perf_counter()
    ev = rlm.predict_expected(test_views)
    t_ev = time.perf_counter() - t0
    samples = rlm.predict(test_views, k=args.k)
    med = np.median(samples, axis=1)
    t0 = time.perf_counter()
    exact = rlm.predict_median(test_views)
    t_exact = time.perf_counter() - t0
    result = {"benchmark": "rlm_nb201", "model": args.model, "n_params": rlm.n_params,
              "n_train": rlm.training_info.get("n_train"), "test_archs": len(test),
              "objectives": {}}
    for j, name in enumerate(rlm.objectives):
        y = Y[test, j]
        result["objectives"][name] = {
            "kendall_tau_expected": round(float(kendalltau(ev[:, j], y).statistic), 4),
            "spearman_expected": round(float(spearmanr(ev[:, j], y).statistic), 4),
            "kendall_tau_median_of_k": round(float(kendalltau(med[:, j], y).statistic), 4),
            "spearman_median_of_k": round(float(spearmanr(med[:, j], y).statistic), 4),
            "kendall_tau_median": round(float(kendalltau(exact[:, j], y).statistic), 4),
            "spearman_median": round(float(spearmanr(exact[:, j], y).statistic), 4),
            "distinct_expected": len(np.unique(np.round(ev[:, j], 6))),
        }

    # Throughput: texts distinct in every view, so dedup does not flatter the figure; sampling and
    # the reference (one encoder pass over every text the model reads) alternate, and each
    # figure is the median of the repeats, since a shared CPU drifts between calls.
    seen, sub = set(), []
    for views in test_views:  # archs none of whose texts came before: nothing is decoded twice
        if len(sub) < args.throughput_archs and not seen & set(views):
            seen |= set(views)
            sub.append(views)
    t_pred, t_turn, t_enc = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        rlm.predict(sub, k=args.k)
        t_pred.append(time.perf_counter() - t0)
        ahead, rlm_module.ENCODE_AHEAD = rlm_module.ENCODE_AHEAD, 0  # encoding in turn
        t0 = time.perf_counter()
        rlm.predict(sub, k=args.k)
        t_turn.append(time.perf_counter() - t0)
        rlm_module.ENCODE_AHEAD = ahead
        t0 = time.perf_counter()
        for v in range(rlm.n_views):
            for s in range(0, len(sub), 64):
                rlm.encoder_output([x[v] for x in sub[s : s + 64]])
        t_enc.append(time.perf_counter() - t0)
    result["throughput"] = {
        "archs": len(sub), "k": args.k, "objectives": len(rlm.objectives),
        "threads": args.threads, "repeats": args.repeats,
        "archs_per_s": round(len(sub) / float(np.median(t_pred)), 1),
        "reference_encoder_only_archs_per_s": round(len(sub) / float(np.median(t_enc)), 1),
        "ratio_to_encoder_only": round(float(np.median(np.array(t_pred) / np.array(t_enc))), 2),
        "encoding_in_turn_archs_per_s": round(len(sub) / float(np.median(t_turn)), 1),
        "speedup_of_encoding_ahead": round(float(np.median(np.array(t_turn)
                                                           / np.array(t_pred))), 2),
        "expected_value_archs_per_s_incl_dedup": round(len(test) / t_ev, 1),
        "exact_median_archs_per_s_incl_dedup": round(len(test) / t_exact, 1),
        "render_archs_per_s": round(len(test) / t_render, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

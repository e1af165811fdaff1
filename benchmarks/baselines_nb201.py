"""The DESIGN §3 NB201 ranking protocol for the simple baselines: N in {78, 390, 781} x seeds 0..4.

Each (N, seed) cell fits every baseline of ``nas_rlm.surrogates.baselines`` on the training
pool (accuracy and the four default latencies) and scores it on the fixed 5,000-arch held-out
set. The zero-shot proxies ignore the labels, so their numbers repeat across cells (std 0).
Prints JSON: a compact Kendall τ table (mean ± std over seeds per baseline, N and objective),
the full summary (τ, Spearman ρ, precision@top-5 %) and every cell; ``--out`` saves the same.
One process, one torch thread (the machine is shared; parallelise across processes if not).

    python benchmarks/baselines_nb201.py [--out runs/baselines_nb201.json] [--ns 78,390,781]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from nas_rlm.evaluation.metrics import ranking_scores

OBJECTIVES = ["cifar10", "pixel3", "eyeriss", "gold_6226", "1080ti_1"]
LARGER_IS_BETTER = {"cifar10": True}  # latencies: smaller is better
METRICS = ("kendall_tau", "spearman", "precision_top5")
# DESIGN §4 "Simple baselines" (Kendall τ, mean over seeds 0-4), for side-by-side reading.
DESIGN_TABLE = {
    "flops_proxy": {"cifar10": 0.583, "pixel3": 0.685, "eyeriss": 0.421, "gold_6226": 0.751,
                    "1080ti_1": 0.640},
    "gbdt": {"cifar10": [0.371, 0.587, 0.700], "pixel3": [0.673, 0.812, 0.845],
             "eyeriss": [0.737, 0.870, 0.914], "gold_6226": [0.703, 0.839, 0.871],
             "1080ti_1": [0.706, 0.831, 0.869]},
    "ridge": {"cifar10": [0.321, 0.489, 0.520], "pixel3": [0.733, 0.802, 0.807],
              "eyeriss": [0.957, 0.964, 0.964], "gold_6226": [0.894, 0.923, 0.925],
              "1080ti_1": [0.893, 0.912, 0.913]},
    "N": [78, 390, 781],
}


def make_baselines(space, mlp_epochs: int) -> dict:
    """Name -> factory ``seed -> Surrogate``. Proxies are shared so their count cache is too."""
    from nas_rlm.surrogates.baselines import FlopsProxy, OneHotGBDT, OneHotMLP, ParamsProxy

    flops, flops_unpruned, params = FlopsProxy(space), FlopsProxy(space, False), ParamsProxy(space)
    return {"flops_pruned": lambda seed: flops,
            "flops_unpruned": lambda seed: flops_unpruned,
            "params": lambda seed: params,
            "gbdt": lambda seed: OneHotGBDT(space, seed=seed),
            "mlp": lambda seed: OneHotMLP(space, epochs=mlp_epochs, seed=seed)}


def summarize(cells: list[dict]) -> tuple[dict, dict]:
    """``(tau_table, summary)``: compact τ strings, and every metric's mean ± std."""
    tau_table: dict = {}
    summary: dict = {}
    for name in dict.fromkeys(c["baseline"] for c in cells):
        tau_table[name], summary[name] = {}, {}
        for n in sorted({c["n"] for c in cells if c["baseline"] == name}):
            group = [c for c in cells if c["baseline"] == name and c["n"] == n]
            entry: dict = {"seeds": sorted(c["seed"] for c in group),
                           "seconds_mean": round(float(np.mean([c["seconds"] for c in group])),
                                                 2)}
            for obj in OBJECTIVES:
                entry[obj] = {}
                for m in METRICS:
                    v = [c["scores"][obj][m] for c in group]
                    entry[obj][m] = {"mean": round(float(np.mean(v)), 4),
                                     "std": round(float(np.std(v)), 4)}
                tau_table[name].setdefault(obj, {})[f"N={n}"] = (
                    f"{entry[obj]['kendall_tau']['mean']:.3f} ± "
                    f"{entry[obj]['kendall_tau']['std']:.3f}")
            summary[name][f"N={n}"] = entry
    return tau_table, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/baselines_nb201.json")
    ap.add_argument("--ns", default="78,390,781")
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--baselines", help="comma-separated subset of the baseline names")
    ap.add_argument("--mlp-epochs", type=int, default=200)
    ap.add_argument("--test-limit", type=int, help="score only the first N held-out archs")
    ap.add_argument("--data-dir")
    args = ap.parse_args()

    import torch

    from nas_rlm.data import load_targets
    from nas_rlm.evaluation.protocol import heldout_indices, train_indices
    from nas_rlm.io import write_json
    from nas_rlm.search_spaces.nb201 import NB201

    torch.set_num_threads(1)
    t_start = time.perf_counter()
    lo, _, hi = args.seeds.partition("-")
    seeds = range(int(lo), int(hi or lo) + 1)
    ns = [int(x) for x in args.ns.split(",")]
    space = NB201()
    archs, Y = load_targets("nb201", OBJECTIVES, args.data_dir)
    te = heldout_indices("nb201")[: args.test_limit]
    test_archs = [archs[i] for i in te]
    baselines = make_baselines(space, args.mlp_epochs)
    if args.baselines:
        baselines = {k: baselines[k] for k in args.baselines.split(",")}

    cells = []
    for n in ns:
        for seed in seeds:
            tr = train_indices("nb201", n, seed)
            assert not set(tr.tolist()) & set(te.tolist()), "a held-out arch is in training"
            train_archs = [archs[i] for i in tr]
            for name, make in baselines.items():
                t0 = time.perf_counter()
                pred = make(seed).fit(train_archs, Y[tr], OBJECTIVES).predict_point(
                    test_archs, k=1)
                seconds = time.perf_counter() - t0
                cells.append({"baseline": name, "n": n, "seed": seed,
                              "seconds": round(seconds, 2),
                              "scores": {obj: ranking_scores(pred[:, j], Y[te, j],
                                                             LARGER_IS_BETTER.get(obj, False))
                                         for j, obj in enumerate(OBJECTIVES)}})
    tau_table, summary = summarize(cells)
    result = {"benchmark": "baselines_nb201",
              "protocol": {"ns": ns, "seeds": list(seeds), "test_archs": len(te),
                           "objectives": OBJECTIVES, "mlp_epochs": args.mlp_epochs,
                           "threads": 1},
              "wall_seconds": round(time.perf_counter() - t_start, 1),
              "kendall_tau": tau_table, "design_table": DESIGN_TABLE,
              "summary": summary, "cells": cells}
    if args.out:
        write_json(args.out, result)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

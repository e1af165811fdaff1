"""The DESIGN §3 NB201 ranking protocol for the RLM: N in {78, 390, 781} x seeds 0..4.

Each (N, seed) cell trains one RLM on the training pool (accuracy and the four default
latencies, decoded in that order) and scores it on the fixed 5,000-arch held-out set. Cells
run in separate processes (one torch thread each, ``--workers`` at a time) and each result is
written to ``--out`` as it finishes, so an interrupted run restarts where it stopped. Prints
JSON: per cell, and mean ± std over seeds of Kendall τ, Spearman ρ and precision@top-5 %,
with training wall time and peak resident memory.

    python benchmarks/rlm_ranking_nb201.py --out runs/rlm-ranking [--ns 78,390,781] [--seeds 0-4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
from pathlib import Path

import numpy as np

from nas_rlm.evaluation.metrics import ranking_scores

OBJECTIVES = ["cifar10", "pixel3", "eyeriss", "gold_6226", "1080ti_1"]
ANCHORS = {"cifar10": {"metric": "kendall_tau", "TA-GATES": {78: 0.773, 390: 0.866, 781: 0.889}},
           "pixel3": {"metric": "spearman", "paper RLM": 0.731},
           "eyeriss": {"metric": "spearman", "paper RLM": 0.466},
           "gold_6226": {"metric": "spearman", "paper RLM": 0.960},
           "1080ti_1": {"metric": "spearman", "paper RLM": 0.939}}


def run_cell(job: dict) -> dict:
    import torch

    from nas_rlm.data import load_targets
    from nas_rlm.evaluation.protocol import heldout_indices, train_indices
    from nas_rlm.io import write_json
    from nas_rlm.surrogates.recipes import train_rlm

    torch.set_num_threads(1)
    n, seed, out = job["n"], job["seed"], Path(job["out"])
    archs, Y = load_targets("nb201", OBJECTIVES, job["data_dir"])
    tr, te = train_indices("nb201", n, seed), heldout_indices("nb201")[: job["test_limit"]]
    assert not set(tr) & set(te), "a held-out arch is in the training pool"
    t0 = time.perf_counter()
    rlm = train_rlm("nb201", [archs[i] for i in tr], Y[tr], OBJECTIVES, seed=seed,
                    progress=False, epochs=job["epochs"], batch_size=job["batch_size"],
                    lr=job["lr"], patience=job["patience"], threads=1)
    train_s = time.perf_counter() - t0
    test_archs = [archs[i] for i in te]
    t0 = time.perf_counter()
    ev = rlm.predict_expected(test_archs)
    med = np.median(rlm.predict(test_archs, k=8, seed=seed), axis=1)
    predict_s = time.perf_counter() - t0
    res = {"n": n, "seed": seed, "train_seconds": round(train_s, 1),
           "predict_seconds": round(predict_s, 1), "best_epoch": rlm.training_info["best_epoch"],
           "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "n_params": rlm.n_params, "objectives": {}}
    for j, name in enumerate(OBJECTIVES):
        larger = name == "cifar10"
        res["objectives"][name] = {"expected": ranking_scores(ev[:, j], Y[te, j], larger),
                                   "median_of_8": ranking_scores(med[:, j], Y[te, j], larger)}
    if job["save_models"]:
        rlm.training_info["train_indices"] = tr.tolist()
        rlm.save_pretrained(out / f"model_n{n}_s{seed}")
    write_json(out / f"n{n}_s{seed}.json", res)
    return res


def summarize(cells: list[dict]) -> dict:
    out: dict = {}
    for n in sorted({c["n"] for c in cells}):
        group = [c for c in cells if c["n"] == n]
        entry: dict = {"seeds": sorted(c["seed"] for c in group),
                       "train_seconds_mean": round(float(np.mean([c["train_seconds"]
                                                                  for c in group])), 1),
                       "peak_rss_mib_max": max(c["peak_rss_mib"] for c in group)}
        for name in OBJECTIVES:
            entry[name] = {}
            for readout in ("expected", "median_of_8"):
                entry[name][readout] = {
                    m: f"{np.mean(v):.3f} ± {np.std(v):.3f}"
                    for m in ("kendall_tau", "spearman", "precision_top5")
                    for v in [[c["objectives"][name][readout][m] for c in group]]
                }
        out[f"N={n}"] = entry
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/rlm-ranking")
    ap.add_argument("--ns", default="78,390,781")
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--patience", type=int, default=6)
    ap.add_argument("--test-limit", type=int, help="score only the first N held-out archs")
    ap.add_argument("--save-models", action="store_true", help="keep each cell's model")
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    lo, _, hi = args.seeds.partition("-")
    seeds = range(int(lo), int(hi or lo) + 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs, cells = [], []
    for n in (int(x) for x in args.ns.split(",")):
        for s in seeds:
            done = out / f"n{n}_s{s}.json"
            if done.is_file():  # resume: finished cells are kept
                cells.append(json.loads(done.read_text()))
            else:
                jobs.append({"n": n, "seed": s, "out": str(out), "data_dir": args.data_dir,
                             "epochs": args.epochs, "batch_size": args.batch_size,
                             "lr": args.lr, "patience": args.patience,
                             "test_limit": args.test_limit, "save_models": args.save_models})
    jobs.sort(key=lambda j: -j["n"])  # longest first keeps both workers busy to the end
    with mp.get_context("spawn").Pool(args.workers, maxtasksperchild=1) as pool:
        cells += pool.map(run_cell, jobs, chunksize=1)
    print(json.dumps({"benchmark": "rlm_ranking_nb201",
                      "recipe": {k: getattr(args, k) for k in
                                 ("epochs", "batch_size", "lr", "patience")},
                      "anchors": ANCHORS, "summary": summarize(cells),
                      "cells": sorted(cells, key=lambda c: (c["n"], c["seed"]))}, indent=2))


if __name__ == "__main__":
    main()

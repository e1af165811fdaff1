"""The NB201 search protocol of DESIGN §3: 1,000 true evaluations, 5 seeds, one run.

Methods, all on the same budget of true (table) evaluations:

- ``random``: 1,000 distinct archs drawn uniformly;
- ``nsga2``: NSGA-II (pop 50) whose every evaluation is a true one;
- ``assisted_<surrogate>``: the surrogate-assisted loop (``search.budgeted``): 200 random
  archs, then rounds of fit -> NSGA-II on the surrogate (pop 50, 30 generations) -> the
  200 best unseen candidates (optimistic by 1 x sample spread) get true values.
  ``gbdt`` and ``mlp`` are refitted from scratch each round; ``rlm`` is warm-started
  (``RLMRefitter``: the recipe's steps first, a quarter of them per later round).

Cases: accuracy vs. pixel3 latency (2 objectives) and + eyeriss (3). Metrics on the true
values of the found front, normalised by the whole space's min/max, HV reference 1.1.

Every finished (case, method, seed) cell is written to ``OUT/cells/`` as it completes, so a
rerun resumes, and several processes may fill disjoint cells (``--methods``). The last call
aggregates all cells into ``OUT/results.json`` and prints it.

    python benchmarks/search_nb201.py --out runs/search_nb201 [--methods random,nsga2,...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from nas_rlm.io import write_json

CASES = {
    "2obj": (["cifar10", "pixel3"], ["accuracy", "latency:pixel3"]),
    "3obj": (["cifar10", "pixel3", "eyeriss"],
             ["accuracy", "latency:pixel3", "latency:eyeriss"]),
}
METHODS = ["random", "nsga2", "assisted_gbdt", "assisted_mlp", "assisted_rlm"]


def run_cell(case: str, method: str, seed: int, budget: int, data_dir: str | None) -> dict:
    import torch

    from nas_rlm.evaluation.ranking import surrogate_factories
    from nas_rlm.search import budgeted as B
    from nas_rlm.search.evaluators import TableEvaluator
    from nas_rlm.search_spaces import get_space
    from nas_rlm.surrogates.recipes import RLMRefitter

    torch.set_num_threads(1)
    space = get_space("nb201")
    columns, specs = CASES[case]
    ev = TableEvaluator(space, columns, data_dir)
    objs, cons, scorer = B.setup(space, ev, specs)
    if method == "random":
        run = B.random_search(space, ev, budget, seed, scorer)
    elif method == "nsga2":
        run = B.evolve_on_true(space, ev, objs, cons, budget, seed=seed, scorer=scorer)
    else:
        name = method.removeprefix("assisted_")
        if name == "rlm":
            fit = RLMRefitter("nb201", columns, seed=seed)
        else:
            fit = B.refit_from_scratch(surrogate_factories("nb201", [name], columns)[name],
                                       seed)
        run = B.surrogate_assisted(space, ev, fit, objs, cons, budget, seed=seed,
                                   scorer=scorer, method=method)
    final = scorer(run.Y)
    return {"case": case, "method": method, "seed": seed, "n_evals": run.n_evals,
            "hv_ratio": final["hv_ratio"], "igd_plus": final["igd_plus"],
            "seconds": run.seconds, "history": run.history}


def aggregate(cells: list[dict]) -> dict:
    out: dict = {}
    for c in cells:
        out.setdefault(c["case"], {}).setdefault(c["method"], []).append(c)
    summary = {}
    for case, by_method in out.items():
        summary[case] = {}
        for method, cs in by_method.items():
            hv = np.array([c["hv_ratio"] for c in cs], float)
            igd = np.array([c["igd_plus"] for c in cs], float)
            summary[case][method] = {
                "seeds": sorted(c["seed"] for c in cs),
                "hv_ratio_mean": round(float(hv.mean()), 5),
                "hv_ratio_std": round(float(hv.std()), 5),
                "igd_plus_mean": round(float(igd.mean()), 5),
                "igd_plus_std": round(float(igd.std()), 5),
                "n_evals_max": max(c["n_evals"] for c in cs),
                "seconds_mean": round(float(np.mean([c["seconds"] for c in cs])), 1),
            }
    return summary


def hv_at(history: list[dict], points: list[int]) -> list[float]:
    """HV ratio of the last record at or before each evaluation count (NaN before any)."""
    out = []
    for p in points:
        prior = [h["hv_ratio"] for h in history if h["n_evals"] <= p and "hv_ratio" in h]
        out.append(prior[-1] if prior else float("nan"))
    return out


def plot_curves(out: Path, cells: list[dict], budget: int) -> list[str]:
    """``OUT/hv_<case>.png/svg``: mean ± std HV ratio over seeds against true evaluations."""
    from nas_rlm.plots.pareto import plot_budget_curves

    points = list(range(budget // 5, budget + 1, budget // 5))
    written = []
    for case in sorted({c["case"] for c in cells}):
        curves, spread = {}, {}
        for method in METHODS:
            group = [c for c in cells if c["case"] == case and c["method"] == method]
            if group:
                hv = np.array([hv_at(c["history"], points) for c in group])
                curves[method] = (points, np.nanmean(hv, 0))
                spread[method] = np.nanstd(hv, 0)
        plot_budget_curves(out, curves, spread, stem=f"hv_{case}",
                           title=f"NB201 {case}: mean ± std over seeds")
        written += [f"hv_{case}.png", f"hv_{case}.svg"]
    return written


def _claim(lock: Path) -> bool:
    """Claim a cell for this process (several may share a run directory); a lock left by
    a process that no longer runs is taken over."""
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(lock.read_text() or 0), 0)
            return False  # its owner is alive and working on it
        except (ProcessLookupError, ValueError):
            lock.write_text(str(os.getpid()))
            return True
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/search_nb201")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--cases", default="2obj,3obj")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    out = Path(args.out)
    (out / "cells").mkdir(parents=True, exist_ok=True)
    methods = [m for m in args.methods.split(",") if m]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        ap.error(f"unknown methods {bad}; valid: {', '.join(METHODS)}")
    t0 = time.perf_counter()
    for case in args.cases.split(","):
        for method in methods:
            for seed in (int(s) for s in args.seeds.split(",")):
                path = out / "cells" / f"{case}_{method}_s{seed}.json"
                if path.is_file() or not _claim(path.with_suffix(".lock")):
                    continue
                cell = run_cell(case, method, seed, args.budget, args.data_dir)
                write_json(path, cell)
                path.with_suffix(".lock").unlink(missing_ok=True)
                print(f"{case} {method} seed {seed}: HV ratio {cell['hv_ratio']:.4f}, "
                      f"IGD+ {cell['igd_plus']:.4f}, {cell['seconds']:.0f} s",
                      file=sys.stderr, flush=True)
    cells = [json.loads(p.read_text()) for p in sorted((out / "cells").glob("*.json"))]
    result = {"benchmark": "search_nb201", "budget": args.budget,
              "protocol": "DESIGN §3 search; HV ratio and IGD+ on true values, space-wide "
                          "min/max normalisation, reference 1.1",
              "summary": aggregate(cells),
              "plots": plot_curves(out, cells, args.budget),
              "seconds_this_call": round(time.perf_counter() - t0, 1)}
    write_json(out / "results.json", result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

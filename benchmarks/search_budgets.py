"""Budgeted search, DESIGN §3: which method finds the best true front for a given number of
true evaluations (50, 100, 200, 500, 1,000), seeds 0-4, one run.

Methods, all on the same budget of true (table) evaluations, surrogate labels included:

- ``random``: distinct archs drawn uniformly;
- ``nsga2``: NSGA-II whose every evaluation is a true one;
- ``aging``: regularised (aging) evolution on true values, one child at a time;
- ``assisted_<surrogate>``: the surrogate-assisted loop (``search.budgeted``): a fifth of the
  budget at random, then four rounds of fit -> NSGA-II on the surrogate (pop 50, 30
  generations) -> the best unseen candidates (optimistic by 1 x sample spread) get true
  values. ``gbdt`` and ``mlp`` are refitted from scratch each round; ``rlm`` is warm-started
  (``RecipeRLM.refit``).

The evolutionary methods scale their population with the budget (a fifth of it, 10 to 50),
so a 50-evaluation NSGA-II gets five generations rather than one random population.

Cases: NB201 accuracy vs. pixel3 latency (``2obj``), + eyeriss (``3obj``); FBNet pixel3 vs.
1080ti_1 latency (``fbnet``, the two devices rank its archs least alike: Spearman 0.25),
restricted to the 5,000 archs its table covers. Metrics on the true values of the found
front, normalised by the table's min/max, HV reference 1.1.

Every finished (case, method, budget, seed) cell is written to ``OUT/cells/`` as it completes,
so a rerun resumes, and several processes may fill disjoint cells (``--methods``). Each call
aggregates all cells into ``OUT/results.json``, prints it with a markdown table and, per
budget, which of random / NSGA-II / aging / the best assisted loop are apart by more than
their std over seeds, and plots HV ratio and IGD+ against true evaluations with ± std bands.

    python benchmarks/search_budgets.py --out runs/search_budgets [--methods random,nsga2,...]
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

#: case -> (space, table columns, objectives)
CASES = {
    "2obj": ("nb201", ["cifar10", "pixel3"], ["accuracy", "latency:pixel3"]),
    "3obj": ("nb201", ["cifar10", "pixel3", "eyeriss"],
             ["accuracy", "latency:pixel3", "latency:eyeriss"]),
    "fbnet": ("fbnet", ["pixel3", "1080ti_1"], ["latency:pixel3", "latency:1080ti_1"]),
}
METHODS = ["random", "nsga2", "aging", "assisted_gbdt", "assisted_mlp", "assisted_rlm"]
BUDGETS = [50, 100, 200, 500, 1000]


def population(budget: int) -> int:
    """Population of the evolutionary methods on true values: a fifth of the budget, 10-50."""
    return int(np.clip(budget // 5, 10, 50))


def run_cell(case: str, method: str, budget: int, seed: int, data_dir: str | None) -> dict:
    import torch

    from nas_rlm.search import budgeted as B
    from nas_rlm.search.assisted import make_fitter
    from nas_rlm.search.evaluators import TableEvaluator
    from nas_rlm.search_spaces import get_space

    torch.set_num_threads(1)
    space_name, columns, specs = CASES[case]
    space = get_space(space_name)
    ev = TableEvaluator(space, columns, data_dir)
    objs, cons, scorer = B.setup(space, ev, specs)
    pop = population(budget)
    if method == "random":
        run = B.random_search(space, ev, budget, seed, scorer)
    elif method == "nsga2":
        run = B.evolve_on_true(space, ev, objs, cons, budget, pop_size=pop, seed=seed,
                               scorer=scorer)
    elif method == "aging":
        run = B.aging_evolution(space, ev, objs, cons, budget, pop_size=pop,
                                sample_size=max(2, pop // 4), seed=seed, scorer=scorer)
    else:
        n_init, batch = B.loop_sizes(budget)
        fit = make_fitter(space, method.removeprefix("assisted_"), columns, seed)
        run = B.surrogate_assisted(space, ev, fit, objs, cons, budget, n_init, batch,
                                   seed=seed, scorer=scorer, method=method)
    final = scorer(run.Y)
    return {"case": case, "method": method, "budget": budget, "seed": seed,
            "n_evals": run.n_evals, "hv_ratio": final["hv_ratio"],
            "igd_plus": final["igd_plus"], "seconds": run.seconds, "history": run.history}


def aggregate(cells: list[dict]) -> dict:
    """case -> method -> budget -> mean/std of HV ratio and IGD+ over seeds."""
    groups: dict = {}
    for c in cells:
        groups.setdefault(c["case"], {}).setdefault(c["method"], {}) \
            .setdefault(c["budget"], []).append(c)
    out: dict = {}
    for case, by_method in sorted(groups.items()):
        for method, by_budget in by_method.items():
            for budget, cs in sorted(by_budget.items()):
                hv = np.array([c["hv_ratio"] for c in cs], float)
                igd = np.array([c["igd_plus"] for c in cs], float)
                out.setdefault(case, {}).setdefault(method, {})[str(budget)] = {
                    "seeds": sorted(c["seed"] for c in cs),
                    "hv_ratio_mean": round(float(hv.mean()), 5),
                    "hv_ratio_std": round(float(hv.std()), 5),
                    "igd_plus_mean": round(float(igd.mean()), 5),
                    "igd_plus_std": round(float(igd.std()), 5),
                    "seconds_mean": round(float(np.mean([c["seconds"] for c in cs])), 1),
                }
    return out


def separations(summary: dict, case: str, budget: int) -> dict[str, str]:
    """The honest reading of one (case, budget): random, NSGA-II and aging evolution on true
    values and the best surrogate-assisted loop (by mean), pair by pair, ``A > B`` where A's
    mean - std lies above B's mean + std, ``A ~ B`` where the intervals overlap."""
    cells = {m: b[str(budget)] for m, b in summary.get(case, {}).items() if str(budget) in b}
    assisted = [m for m in cells if m.startswith("assisted_")]
    picked = [m for m in ("random", "nsga2", "aging") if m in cells]
    if assisted:
        picked.append(max(assisted, key=lambda m: cells[m]["hv_ratio_mean"]))
    out = {}
    for i, a in enumerate(picked):
        for b in picked[i + 1:]:
            hi, lo = sorted((a, b), key=lambda m: -cells[m]["hv_ratio_mean"])
            apart = (cells[hi]["hv_ratio_mean"] - cells[hi]["hv_ratio_std"]
                     > cells[lo]["hv_ratio_mean"] + cells[lo]["hv_ratio_std"])
            out[f"{a}|{b}"] = f"{hi} {'>' if apart else '~'} {lo}"
    return out


def table(summary: dict) -> str:
    """Markdown: one row per (case, method), HV ratio mean ± std per budget; orderings."""
    lines = []
    for case, by_method in summary.items():
        budgets = sorted({int(b) for m in by_method.values() for b in m})
        lines += [f"\n**{case}**: HV ratio, mean ± std over seeds\n",
                  "| method | " + " | ".join(str(b) for b in budgets) + " |",
                  "|---|" + "---|" * len(budgets)]
        most = max(len(c["seeds"]) for m in by_method.values() for c in m.values())
        for method in METHODS:
            if method in by_method:
                cells = [by_method[method].get(str(b)) for b in budgets]
                lines.append(f"| {method} | " + " | ".join(
                    "—" if not c else f"{c['hv_ratio_mean']:.4f} ± {c['hv_ratio_std']:.4f}"
                    + ("" if len(c["seeds"]) == most else
                       f" (seeds {','.join(map(str, c['seeds']))})")
                    for c in cells) + " |")
        lines += [f"- {b}: " + "; ".join(separations(summary, case, b).values())
                  for b in budgets]
    return "\n".join(lines)


def plot_curves(out: Path, summary: dict) -> list[str]:
    """``OUT/{hv,igd}_<case>.png/svg``: mean ± std over seeds against true evaluations."""
    from nas_rlm.plots.pareto import plot_budget_curves

    written = []
    for case, by_method in summary.items():
        for metric, label in (("hv_ratio", "HV ratio vs. true front"), ("igd_plus", "IGD+")):
            curves, spread = {}, {}
            for method in METHODS:
                if method in by_method:
                    b = sorted(by_method[method], key=int)
                    curves[method] = ([int(x) for x in b],
                                      [by_method[method][x][f"{metric}_mean"] for x in b])
                    spread[method] = [by_method[method][x][f"{metric}_std"] for x in b]
            stem = f"{metric.split('_')[0]}_{case}"
            plot_budget_curves(out, curves, spread, stem=stem, ylabel=label, log_x=True,
                               title=f"{case}: mean ± std over seeds")
            written += [f"{stem}.png", f"{stem}.svg"]
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


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/search_budgets")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--cases", default="2obj,3obj,fbnet")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    out = Path(args.out)
    (out / "cells").mkdir(parents=True, exist_ok=True)
    methods = [m for m in args.methods.split(",") if m]
    cases = [c for c in args.cases.split(",") if c]
    for kind, names, valid in (("methods", methods, METHODS), ("cases", cases, CASES)):
        bad = [n for n in names if n not in valid]
        if bad:
            ap.error(f"unknown {kind} {bad}; valid: {', '.join(valid)}")
    t0 = time.perf_counter()
    for case in cases:
        for budget in _ints(args.budgets):
            for method in methods:
                for seed in _ints(args.seeds):
                    path = out / "cells" / f"{case}_{method}_b{budget}_s{seed}.json"
                    if path.is_file() or not _claim(path.with_suffix(".lock")):
                        continue
                    cell = run_cell(case, method, budget, seed, args.data_dir)
                    write_json(path, cell)
                    path.with_suffix(".lock").unlink(missing_ok=True)
                    print(f"{case} {method} budget {budget} seed {seed}: HV ratio "
                          f"{cell['hv_ratio']:.4f}, IGD+ {cell['igd_plus']:.4f}, "
                          f"{cell['seconds']:.0f} s", file=sys.stderr, flush=True)
    cells = [json.loads(p.read_text()) for p in sorted((out / "cells").glob("*.json"))]
    summary = aggregate(cells)
    result = {"benchmark": "search_budgets",
              "protocol": "DESIGN §3 search; HV ratio and IGD+ on true values, table-wide "
                          "min/max normalisation, reference 1.1",
              "summary": summary,
              "separations": {case: {b: separations(summary, case, int(b))
                                     for b in sorted({b for m in by.values() for b in m},
                                                     key=int)}
                              for case, by in summary.items()},
              "plots": plot_curves(out, summary),
              "seconds_this_call": round(time.perf_counter() - t0, 1)}
    write_json(out / "results.json", result)
    print(json.dumps(result, indent=1))
    print(table(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

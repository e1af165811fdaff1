"""The surrogate-assisted search as a user runs it: evaluator, surrogate, run directory.

Run directory (``out_dir``):

- ``config.json``: space, objectives, constraints, evaluator columns, budget, surrogate;
- ``state.json``: every truly evaluated arch and its values, rewritten after each round;
  a rerun into the same directory resumes from it (the surrogate is refitted on it);
- ``evaluated.csv``: the same, as a table; ``front.csv``: the true non-dominated, truly
  feasible archs found;
- ``summary.json``: counts, timings and, with a benchmark table, HV ratio and IGD+;
- ``pareto.{png,svg}`` (found front at true values, with the true front where known) and
  ``hv.{png,svg}`` (HV ratio against true evaluations, with a table).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io import write_csv, write_json
from ..run_dir import claim, data_fingerprint, file_fingerprint
from ..search_spaces.base import SearchSpace
from . import budgeted as B
from .candidate_training import TrainingEvaluator
from .evaluators import (
    Evaluator,
    JointEvaluator,
    LatencyEvaluator,
    TableEvaluator,
    parts_of,
)
from .objectives import (
    SearchSpecError,
    constraint_specs,
    objective_matrix,
    objective_specs,
    spec_columns,
)
from .truth import FrontScorer

#: Surrogates the loop can refit, by name.
ASSISTED_SURROGATES: tuple[str, ...] = ("rlm", "gbdt", "mlp")
LOCAL = "local_cpu"


def make_evaluator(space: SearchSpace, columns: Sequence[str] = (),
                   accuracy_csv: str | os.PathLike | None = None,
                   measure_latency: bool = False,
                   data_dir: str | os.PathLike | None = None,
                   accuracy_column: str | None = None,
                   accuracy_evaluator: Evaluator | None = None) -> Evaluator:
    """Where the true values come from: a user's CSV or ``accuracy_evaluator`` (e.g. a
    :class:`TrainingEvaluator`), the benchmark table for ``columns``, and/or onnxruntime
    latency on this machine (column ``local_cpu``, measured whenever it is named).

    From the CSV comes the accuracy, by name: ``accuracy_column``, else the column called
    ``accuracy``, else its only column; plus any of ``columns`` that no table has. A column
    both in the CSV and in the benchmark table is an error, never a silent choice.
    """
    parts: list[Evaluator] = []
    if accuracy_evaluator is not None:
        if accuracy_csv is not None:
            raise SearchSpecError("the accuracy comes either from --accuracy-csv or from "
                                  "training (--evaluator train), not both")
        parts.append(accuracy_evaluator)
    elif accuracy_csv is not None:
        header = TableEvaluator.from_csv(space, accuracy_csv).columns
        acc = _accuracy_column(accuracy_csv, header, accuracy_column)
        extra = [c for c in columns if c in header and c != acc]
        clash = [c for c in extra if c in _table_columns(space, data_dir)]
        if clash:
            raise SearchSpecError(
                f"{', '.join(clash)} is both a column of {accuracy_csv} and of the "
                f"{space.name} benchmark table; rename it in the CSV to use the table, or "
                "drop it from the CSV")
        parts.append(TableEvaluator.from_csv(space, accuracy_csv, [acc, *extra]))
    elif accuracy_column is not None:
        raise SearchSpecError("--accuracy-column names a column of --accuracy-csv; pass both")
    table_cols = [c for c in columns if c != LOCAL and not any(c in p.columns for p in parts)]
    if table_cols:
        parts.append(TableEvaluator(space, table_cols, data_dir))
    if measure_latency or LOCAL in columns:
        parts.append(LatencyEvaluator(space, LOCAL))
    if not parts:
        raise SearchSpecError("no source of true values: name table columns, pass "
                              "--accuracy-csv, or --measure-latency")
    return parts[0] if len(parts) == 1 else JointEvaluator(*parts)


def _accuracy_column(path: str | os.PathLike, header: list[str], explicit: str | None) -> str:
    if explicit is not None:
        if explicit not in header:
            raise SearchSpecError(f"{path} has no column {explicit!r}; its columns: "
                                  f"{', '.join(header)}")
        return explicit
    if "accuracy" in header:
        return "accuracy"
    if len(header) == 1:
        return header[0]
    raise SearchSpecError(
        f"{path} has columns {', '.join(header)} and none is called 'accuracy'; say which "
        "one is the accuracy with --accuracy-column")


def _table_columns(space: SearchSpace, data_dir: str | os.PathLike | None) -> set[str]:
    from ..data.targets import target_names
    from ..errors import DataError, UnknownNameError

    try:
        return set(target_names(space.name, data_dir))
    except (DataError, UnknownNameError):
        return set()


def ev_uses_table(ev: Evaluator) -> bool:
    return any(isinstance(p, TableEvaluator) and not p.from_user for p in parts_of(ev))


def sources(ev: Evaluator, accuracy_csv: str | os.PathLike | None) -> dict[str, str]:
    """Which source gave each column: the user's CSV, the benchmark table or onnxruntime."""
    out = {}
    for i, part in enumerate(parts_of(ev)):
        what = ("onnxruntime on this machine" if isinstance(part, LatencyEvaluator)
                else f"training on {part.job.dataset}" if isinstance(part, TrainingEvaluator)
                else str(accuracy_csv) if accuracy_csv is not None and i == 0
                else "benchmark table")
        out.update(dict.fromkeys(part.columns, what))
    return out


@dataclass(frozen=True)
class AssistedConfig:
    """Every setting of one surrogate-assisted search, with its default (``nas-rlm
    assisted`` flags map to these one to one). ``n_init`` and ``batch`` default to a fifth
    of the budget each (:func:`budgeted.loop_sizes`); sizes are checked on construction."""

    objectives: str | Sequence[str] = ("accuracy", "latency:pixel3")  # DESIGN §1.4 names
    constraints: str | Sequence[str] | None = ()  # budgets, e.g. "latency:pixel3<=5"
    surrogate: str = "rlm"                        # one of ASSISTED_SURROGATES
    budget: int = 1000                            # true evaluations, the first ones included
    n_init: int | None = None                     # random archs evaluated first
    batch: int | None = None                      # true evaluations per round
    pop_size: int = 50                            # search on the surrogate, each round
    generations: int = 30
    seed: int = 0

    def __post_init__(self) -> None:
        if self.surrogate not in ASSISTED_SURROGATES:
            raise SearchSpecError(f"unknown surrogate {self.surrogate!r}; valid: "
                                  f"{', '.join(ASSISTED_SURROGATES)}")
        object.__setattr__(self, "objectives", objective_specs(self.objectives))
        object.__setattr__(self, "constraints", constraint_specs(self.constraints))
        if isinstance(self.budget, int) and self.budget >= 1:
            init, batch = B.loop_sizes(self.budget)
            object.__setattr__(self, "n_init", init if self.n_init is None else self.n_init)
            object.__setattr__(self, "batch", batch if self.batch is None else self.batch)
        B.check_sizes(self.budget, self.n_init, self.batch, self.pop_size, self.generations)


def run_assisted(
    space: SearchSpace,
    config: AssistedConfig | None = None,
    *,
    accuracy_csv: str | os.PathLike | None = None,
    accuracy_column: str | None = None,
    measure_latency: bool = False,
    accuracy_evaluator: Evaluator | None = None,
    out_dir: str | os.PathLike = "runs/assisted",
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    force_restart: bool = False,
) -> dict[str, Any]:
    """Run :func:`budgeted.surrogate_assisted` and write the run directory; the summary.

    Where the true values come from: with no ``accuracy_csv`` the objectives' columns come
    from the space's benchmark table (NB201: ``cifar10`` is the accuracy);
    ``latency:local_cpu`` is measured on this machine when ``measure_latency`` is set;
    ``accuracy_evaluator`` replaces the table's accuracy, e.g. a :class:`TrainingEvaluator`
    that trains every candidate (its settings become part of the run directory's inputs).
    """
    c = config or AssistedConfig()
    specs, cons_specs = list(c.objectives), list(c.constraints)
    cols = spec_columns(specs + cons_specs)
    if accuracy_evaluator is not None:
        cols = [*accuracy_evaluator.columns, *(col for col in cols
                                               if col not in accuracy_evaluator.columns)]
    elif accuracy_csv is None and any(s == "accuracy" for s in specs):
        if space.name != "nb201":  # the only space with an accuracy table in the data dir
            raise SearchSpecError(
                f"{space.name} has no accuracy table; pass --accuracy-csv with your own "
                f"(header 'arch,accuracy'), or search latency objectives only")
        cols = ["cifar10", *cols]
    ev = make_evaluator(space, cols, accuracy_csv, measure_latency, data_dir, accuracy_column,
                        accuracy_evaluator)
    objs, cons, scorer = B.setup(space, ev, specs, cons_specs or None)
    out = Path(out_dir)
    record = {"space": space.name, "objectives": [o.spec for o in objs],
              "constraints": [x.spec for x in cons], "columns": ev.columns,
              "surrogate": c.surrogate, "budget": c.budget, "n_init": c.n_init,
              "batch": c.batch, "pop_size": c.pop_size, "generations": c.generations,
              "seed": c.seed,
              "accuracy_csv": None if accuracy_csv is None else str(accuracy_csv),
              "measure_latency": measure_latency, "sources": sources(ev, accuracy_csv),
              "space_settings": space.settings(),
              "training": (accuracy_evaluator.job.settings()
                           if isinstance(accuracy_evaluator, TrainingEvaluator) else None)}
    rows = len(B.evaluable_archs(ev) or ()) or None  # a CSV's archs are all there is to evaluate
    note = (f"--budget {c.budget} is more than the {rows} archs with true values; every "
            f"one of them will be evaluated" if rows is not None and c.budget > rows else None)
    claim(out, {**record, "data": data_fingerprint(space.name) if ev_uses_table(ev) else {},
                "accuracy_csv": None if accuracy_csv is None else file_fingerprint(accuracy_csv)},
          force_restart)
    write_json(out / "config.json", record)
    if scorer is not None and scorer.n_feasible == 0:  # known before spending any budget
        summary = {"status": "infeasible", "n_evals": 0, "n_front": 0,
                   "message": f"no arch in the {space.name} table satisfies "
                              f"{', '.join(x.spec for x in cons)}; relax the budget"}
        write_json(out / "summary.json", summary)
        return summary
    fit = make_fitter(space, c.surrogate, ev.columns, c.seed,
                      accuracy=[o.column for o in objs if o.maximize])
    t0 = time.perf_counter()
    run = B.surrogate_assisted(space, ev, fit, objs, cons, c.budget, c.n_init, c.batch,
                               pop_size=c.pop_size, generations=c.generations, seed=c.seed,
                               scorer=scorer, progress=progress, state_path=out / "state.json",
                               method=f"assisted_{c.surrogate}")
    summary = _write_results(out, space, ev, objs, cons, run, scorer, record["sources"])
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    if note:
        summary["note"] = note
    write_json(out / "summary.json", summary)
    return summary


def _write_results(out: Path, space: SearchSpace, ev: Evaluator, objs, cons,
                   run: B.BudgetedRun, scorer: FrontScorer | None,
                   source_of: dict[str, str]) -> dict[str, Any]:
    """evaluated.csv, front.csv and the plots; the summary (its ``seconds`` left out)."""
    front = B.found_front(run, objs, cons)
    head = ["arch", *ev.columns]
    write_csv(out / "evaluated.csv", head,
              ([space.to_string(a), *map(float, y)] for a, y in zip(run.archs, run.Y,
                                                                   strict=True)))
    F = objective_matrix(objs, run.Y[front])
    order = front[np.argsort(F[:, 0])] if len(front) else front
    write_csv(out / "front.csv", head,
              ([space.to_string(run.archs[i]), *map(float, run.Y[i])] for i in order))
    summary: dict[str, Any] = {
        "status": "ok" if len(front) else "infeasible", "n_evals": run.n_evals,
        "n_front": len(front), "sources": source_of, "history": run.history}
    if not len(front):
        summary["message"] = ("no truly evaluated arch satisfies the constraints "
                              f"{[x.spec for x in cons]}; relax the budget")
    if scorer is not None:
        m = scorer(run.Y)
        summary.update(hv_ratio=m["hv_ratio"], igd_plus=m["igd_plus"])
    _plots(out, space, objs, run, order, scorer)
    return summary


def make_fitter(space: SearchSpace, name: str, columns: Sequence[str], seed: int = 0,
                accuracy: Sequence[str] | None = None) -> B.Fitter:
    """The loop's refit for a surrogate of :data:`ASSISTED_SURROGATES`: the RLM is
    warm-started from round to round (:meth:`RecipeRLM.refit`; ``accuracy`` names the columns
    that read the optimised graph, default: the known accuracy names), the baselines are
    refitted from scratch."""
    if name == "rlm":
        from ..surrogates.recipes import RecipeRLM

        return RecipeRLM(space, columns, seed=seed, accuracy=accuracy,
                         tokenizer_archs=1000).refit
    from ..surrogates.baselines import OneHotGBDT, OneHotMLP

    cls = {"gbdt": OneHotGBDT, "mlp": OneHotMLP}[name]
    return B.refit_from_scratch(lambda s: cls(space, columns, seed=s), seed)


def _plots(out: Path, space: SearchSpace, objs, run: B.BudgetedRun, front: np.ndarray,
           scorer: FrontScorer | None) -> None:
    from ..plots.pareto import plot_budget_curves, plot_pareto

    cols = [o.index for o in objs]
    labels = [o.label for o in objs]
    true_front = None if scorer is None else scorer.true_front_values()
    plot_pareto(out, labels, np.zeros((0, len(objs))), None, run.Y[front][:, cols],
                true_front, title=f"{space.name}: {run.method}, {run.n_evals} true evaluations")
    if scorer is not None:
        pts = [(h["n_evals"], h["hv_ratio"]) for h in run.history if "hv_ratio" in h]
        if pts:
            plot_budget_curves(out, {run.method: ([p[0] for p in pts], [p[1] for p in pts])})


__all__ = ["ASSISTED_SURROGATES", "AssistedConfig", "make_evaluator", "make_fitter",
           "run_assisted", "sources"]

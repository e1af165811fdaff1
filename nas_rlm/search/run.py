"""One multi-objective search on a surrogate, written to a run directory.

Run directory (``out_dir``):

- ``config.json``: what was asked (space, objectives, constraints, algorithm, sizes, seed,
  surrogate).
- ``cache.json``: every arch the surrogate scored (arch string -> all predicted outputs and,
  where sampled, their spread), rewritten atomically after each scoring batch.
- ``history.json``: per generation, the predicted front so far (archs), its predicted HV and,
  where a table exists, the true HV ratio; plus ``generations_done``.
- ``pareto.csv``: the final predicted front: arch, predicted values with spread, true values.
- ``summary.json``: status (``ok`` / ``infeasible``), message, counters, true-value metrics.
- ``pareto.{png,svg}``, ``hv.{png,svg}``.

Resume: pymoo's algorithm state is not checkpointed. Instead a rerun into the same
``out_dir`` reloads ``cache.json`` and restarts the algorithm with the same seed. Given the
same seed and the same (cached) values, pymoo makes the same choices, so the generations
already done are replayed from the cache at no surrogate cost, exactly, and only the
remaining ones call the surrogate; more ``generations`` extend a finished run. Any other
change of inputs (seed, objectives, algorithm, surrogate, model files, data) is refused
before anything is written (``inputs.json``, :mod:`nas_rlm.run_dir`).

The "found front" is the predicted non-dominated, predicted-feasible set of every arch the
search evaluated (its archive), which for NSGA-II equals the final population's front and
for MOEA/D is no worse than it.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from pymoo.core.callback import Callback
from pymoo.optimize import minimize

from ..io import write_csv, write_json
from ..run_dir import claim, data_fingerprint, model_fingerprint
from ..search_spaces.base import SearchSpace
from ..surrogates.base import Surrogate
from .algorithms import make_algorithm, supports_constraints
from .indicators import hypervolume, non_dominated
from .objectives import (
    Constraint,
    Objective,
    SearchSpecError,
    constraint_specs,
    objective_specs,
    parse_constraints,
    parse_objectives,
)
from .problem import PredictionCache, SurrogateProblem, surrogate_id
from .truth import FrontScorer, TrueTable, load_true_table

CACHE, HISTORY, CONFIG, SUMMARY, PARETO = (
    "cache.json", "history.json", "config.json", "summary.json", "pareto.csv")


@dataclass
class SearchResult:
    """What :func:`run_search` found; everything is also in ``out_dir``."""

    out_dir: Path
    status: str                    # "ok" or "infeasible"
    message: str
    summary: dict
    front: list[str]               # arch strings of the found front
    predicted: np.ndarray          # (n, n_objectives), natural units
    spread: np.ndarray             # (n, n_objectives), NaN where unknown
    true: np.ndarray | None        # (n, n_objectives) where a table exists

    @property
    def feasible(self) -> bool:
        return self.status == "ok"


# -- progress and per-generation history ---------------------------------------------------
class _Recorder(Callback):
    """Per generation: the archive's predicted front, written to history.json; a tqdm bar."""

    def __init__(self, problem: SurrogateProblem, space: SearchSpace, path: Path,
                 total: int, progress: bool, resumed_from: int) -> None:
        super().__init__()
        from tqdm import tqdm

        self.problem, self.space, self.path = problem, space, path
        self.resumed_from = resumed_from
        self.records: list[dict[str, Any]] = []
        self.bar = tqdm(total=total, desc="search", unit="gen", disable=not progress)

    def notify(self, algorithm: Any) -> None:
        keys = archive_front(self.problem)
        p = self.problem
        self.records.append({
            "generation": int(algorithm.n_gen), "archs_evaluated": len(p.seen),
            "surrogate_calls": p.n_calls, "archs_scored": p.n_scored, "cache_hits": p.n_hits,
            "front": [self.space.to_string(k) for k in keys],
        })
        self.write()
        self.bar.set_postfix(front=len(keys), scored=p.n_scored, refresh=False)
        self.bar.update(1)

    def write(self, extra: dict | None = None) -> None:
        write_json(self.path, {"generations_done": len(self.records),
                               "resumed_from_generation": self.resumed_from,
                               **(extra or {}), "generations": self.records})


def archive_front(problem: SurrogateProblem) -> list[Hashable]:
    """Predicted-feasible, predicted-non-dominated archs among all the search has seen."""
    keys, F, feasible = problem.archive()
    idx = np.flatnonzero(feasible)
    return [keys[i] for i in idx[non_dominated(F[idx])]]


# -- settings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchConfig:
    """Every setting of one surrogate search, with its default (``nas-rlm search`` flags
    map to these one to one). Objectives and constraints take a comma-separated string or a
    sequence; they are checked against the surrogate's outputs when the search starts."""

    objectives: str | Sequence[str] = ("accuracy", "latency:pixel3")  # DESIGN §1.4 names
    constraints: str | Sequence[str] | None = ()  # budgets, e.g. "latency:pixel3<=5"
    algorithm: str = "nsga2"                      # one of search.algorithms.ALGORITHMS
    pop_size: int = 50
    generations: int = 30                         # more on a rerun extends a finished run
    seed: int = 0
    k: int = 8                                    # samples per front arch, for its spread

    def __post_init__(self) -> None:
        object.__setattr__(self, "objectives", objective_specs(self.objectives))
        object.__setattr__(self, "constraints", constraint_specs(self.constraints))
        for name in ("pop_size", "generations", "k"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise SearchSpecError(f"{name} must be an integer >= 1, got "
                                      f"{getattr(self, name)!r}")
        if self.constraints and not supports_constraints(self.algorithm):
            raise SearchSpecError(f"algorithm {self.algorithm!r} does not handle constraints;"
                                  " use nsga2, nsga3 or agemoea")

    def resolve(self, names: Sequence[str]) -> tuple[list[Objective], list[Constraint]]:
        """Objectives and constraints as indices into a surrogate's outputs ``names``."""
        return parse_objectives(self.objectives, names), parse_constraints(self.constraints,
                                                                           names)


# -- the search: open the run dir, search, score, write, plot -------------------------------
def run_search(
    space: SearchSpace,
    surrogate: Surrogate,
    config: SearchConfig | None = None,
    *,
    out_dir: str | os.PathLike = "runs/search",
    data_dir: str | os.PathLike | None = None,
    surrogate_name: str | None = None,
    progress: bool = True,
    plots: bool = True,
    force_restart: bool = False,
) -> SearchResult:
    """Search ``space`` on ``surrogate`` with a pymoo algorithm and write a run directory.

    The search ranks by ``surrogate.predict_point``; ``config.k`` samples per arch give the
    spread reported for the found front. ``surrogate_name`` (e.g. the model directory) is
    recorded, and a saved cache is reused only for the same surrogate. A rerun into the same
    ``out_dir`` resumes (see the module docstring). Infeasible budgets still write the run
    directory, with ``status: "infeasible"`` in ``summary.json``.
    """
    t0 = time.perf_counter()
    config = config or SearchConfig()
    names = list(surrogate.objectives)
    objs, cons = config.resolve(names)
    algo = make_algorithm(config.algorithm, config.pop_size, len(objs))
    if data_dir is not None:  # a wrong --data-dir fails now, not after the search
        from ..data.paths import resolve_data_dir

        resolve_data_dir(data_dir)
    out = Path(out_dir)
    problem, resumed_from = _open_run(space, surrogate, config, objs, cons, out, data_dir,
                                      surrogate_name, force_restart)
    cached_before = len(problem.cache)
    rec = _Recorder(problem, space, out / HISTORY, config.generations, progress, resumed_from)
    try:
        minimize(problem, algo, ("n_gen", config.generations), seed=config.seed,
                 callback=rec, verbose=False, copy_algorithm=False)
    finally:
        rec.bar.close()
        problem.save()

    quantities = _quantities(objs, cons)
    table, truth_note = load_true_table(space, [names[i] for i in quantities], data_dir)
    scorer = None if table is None else _table_scorer(table, objs, cons, quantities)
    summary: dict[str, Any] = {
        "status": "ok", "message": "", "archs_evaluated": len(problem.seen),
        "surrogate_calls": problem.n_calls, "archs_scored": problem.n_scored,
        "cache_hits": problem.n_hits, "cached_before": cached_before,
        "resumed_from_generation": resumed_from, "generations": config.generations,
        "true_values": truth_note}
    front = archive_front(problem)
    if not front:
        msg = _infeasible_message(cons, problem, scorer)
        summary.update(status="infeasible", message=msg, n_front=0)
        rec.write({"hv_normalization": None})
        write_csv(out / PARETO, _pareto_header(names, quantities, table), [])
        summary["seconds"] = round(time.perf_counter() - t0, 3)
        write_json(out / SUMMARY, summary)
        m = len(objs)
        return SearchResult(out, "infeasible", msg, summary, [], np.zeros((0, m)),
                            np.zeros((0, m)), None)

    problem.ensure_spread(front)
    summary["surrogate_calls"] = problem.n_calls
    true_q = None if table is None else table.lookup(front, table.columns)
    if scorer is not None:
        metrics = scorer(true_q)
        summary["metrics_true"] = {
            **metrics, "n_true_front": len(scorer.true_front),
            "n_found_truly_feasible": int(scorer.usable(true_q).sum()),
            "normalization": "min/max over the whole space; HV reference 1.1 per objective"}
        summary.update(hv_ratio=metrics["hv_ratio"], igd_plus=metrics["igd_plus"])
    _score_history(rec, problem, space, table, scorer)

    vals, spr = problem.cache.values(front), problem.cache.spreads(front)
    order = np.argsort(problem.F(vals)[:, 0])
    _write_pareto(out / PARETO, space, [front[i] for i in order], names, quantities,
                  vals[order], spr[order], table, None if true_q is None else true_q[order])
    summary["n_front"] = len(front)
    obj_cols = [o.index for o in objs]
    found_true = None if true_q is None else true_q[order][:, :len(objs)]
    if plots:
        summary["plots"] = _plot(out, space, config, objs, rec, vals[order][:, obj_cols],
                                 spr[order][:, obj_cols], found_true, scorer)
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    write_json(out / SUMMARY, summary)
    return SearchResult(out, "ok", "", summary, [space.to_string(front[i]) for i in order],
                        vals[order][:, obj_cols], spr[order][:, obj_cols], found_true)


def _open_run(space: SearchSpace, surrogate: Surrogate, config: SearchConfig,
              objs: Sequence[Objective], cons: Sequence[Constraint], out: Path,
              data_dir: str | os.PathLike | None, surrogate_name: str | None,
              force_restart: bool) -> tuple[SurrogateProblem, int]:
    """Claim ``out`` for these inputs, reload its cache, write config.json; the problem."""
    names = list(surrogate.objectives)
    sid = surrogate_id(surrogate, surrogate_name)
    model = surrogate_name if surrogate_name and Path(surrogate_name).is_dir() else None
    inputs = {"objectives": [o.spec for o in objs], "constraints": [c.spec for c in cons],
              "algorithm": config.algorithm, "pop_size": config.pop_size,
              "seed": config.seed, "k": config.k, "surrogate": sid}
    claim(out, {  # generations are not an input: a rerun with more extends the run
        "space": space.name, "space_settings": space.settings(), **inputs,
        "model": model_fingerprint(model) if model else None,
        "data": data_fingerprint(space.name)}, force_restart)
    cache_path = out / CACHE
    cache = (PredictionCache.load(cache_path, space, sid, names) if cache_path.is_file()
             else PredictionCache(names, sid))
    write_json(out / CONFIG, {
        "space": space.name, **inputs, "generations": config.generations,
        "surrogate_objectives": names, "data_dir": None if data_dir is None else str(data_dir),
        "versions": _versions()})
    problem = SurrogateProblem(space, surrogate, objs, cons, k=config.k, cache=cache,
                               cache_path=cache_path)
    return problem, _generations_done(out / HISTORY)


def _table_scorer(table: TrueTable, objs: Sequence[Objective], cons: Sequence[Constraint],
                  quantities: list[int]) -> FrontScorer:
    """A :class:`FrontScorer` on ``table``, whose columns are the surrogate outputs
    ``quantities`` (objectives first): the surrogate's indices mapped to the table's."""
    at = {q: i for i, q in enumerate(quantities)}
    t_objs = [replace(o, index=at[o.index]) for o in objs]
    t_cons = [replace(c, target=replace(c.target, index=at[c.target.index])) for c in cons]
    return FrontScorer(table, t_objs, t_cons)


def _score_history(rec: _Recorder, problem: SurrogateProblem, space: SearchSpace,
                   table: TrueTable | None, scorer: FrontScorer | None) -> None:
    """Per generation, the HV of the predicted front and, with a table, its true HV ratio,
    all on one fixed scale: the table's (DESIGN §3), else the archive's predicted range."""
    if scorer is not None:
        lo, hi = scorer.lo, scorer.hi
    else:
        _, F, feasible = problem.archive()
        lo, hi = F[feasible].min(0), F[feasible].max(0)
    for r in rec.records:
        keys = [space.parse(a) for a in r["front"]]
        r["hv_predicted"] = hypervolume(problem.F(problem.cache.values(keys)), lo, hi)
        if scorer is not None:
            r["hv_ratio_true"] = scorer(table.lookup(keys, table.columns))["hv_ratio"]
    rec.write({"hv_normalization": {"lo": lo.tolist(), "hi": hi.tolist(), "ref": 1.1,
                                    "source": "table" if scorer is not None else "archive"}})


def _write_pareto(path: Path, space: SearchSpace, front: Sequence[Hashable],
                  names: list[str], quantities: list[int], vals: np.ndarray,
                  spr: np.ndarray, table: TrueTable | None, true_q: np.ndarray | None
                  ) -> None:
    """pareto.csv: arch, then per quantity its prediction, spread and true value."""
    rows = []
    for i, arch in enumerate(front):
        row: list[Any] = [space.to_string(arch)]
        for pos, q in enumerate(quantities):
            row += [_num(vals[i, q]), _num(spr[i, q])]
            if true_q is not None:
                row.append(_num(true_q[i, pos]))
        rows.append(row)
    write_csv(path, _pareto_header(names, quantities, table), rows)


def _plot(out: Path, space: SearchSpace, config: SearchConfig, objs: Sequence[Objective],
          rec: _Recorder, predicted: np.ndarray, spread: np.ndarray,
          found_true: np.ndarray | None, scorer: FrontScorer | None) -> list[str]:
    from ..plots.pareto import plot_hv, plot_pareto

    plot_pareto(out, [o.label for o in objs], predicted, spread, found_true,
                None if scorer is None else scorer.true_front_values(),
                title=f"{space.name}: {config.algorithm}, seed {config.seed}")
    plot_hv(out, [r["generation"] for r in rec.records],
            [r["hv_predicted"] for r in rec.records],
            [r["hv_ratio_true"] for r in rec.records] if scorer is not None else None)
    return ["pareto.png", "pareto.svg", "hv.png", "hv.svg"]


# -- helpers ---------------------------------------------------------------------------------
def _quantities(objs: Sequence[Objective], cons: Sequence[Constraint]) -> list[int]:
    """Surrogate output indices that matter: objectives, then constraint-only targets."""
    q = [o.index for o in objs]
    return q + [c.target.index for c in cons if c.target.index not in q]


def _pareto_header(names: list[str], quantities: list[int], table: TrueTable | None) -> list[str]:
    head = ["arch"]
    for q in quantities:
        head += [f"{names[q]}_pred", f"{names[q]}_spread"]
        if table is not None:
            head.append(f"{names[q]}_true")
    return head


def _num(v: float) -> float | str:
    return "" if v is None or math.isnan(v) else float(v)


def _infeasible_message(cons: Sequence[Constraint], problem: SurrogateProblem,
                        scorer: FrontScorer | None) -> str:
    """Say which budget cannot be met and how close the search got."""
    keys = list(problem.seen)
    vals = problem.cache.values(keys)
    parts = []
    for c in cons:
        v = vals[:, c.target.index]
        best = v.min() if c.op == "<=" else v.max()
        parts.append(f"{c.spec} (best predicted {c.target.column}: {best:.4g})")
    msg = (f"no arch satisfies the constraints: {'; '.join(parts)}, among {len(keys)} archs "
           f"evaluated on the surrogate; relax the budget")
    if scorer is not None:
        msg += (f" ({scorer.n_feasible} of {scorer.n_rows} archs in the table meet it on "
                "true values)")
    return msg


def _generations_done(path: Path) -> int:
    try:
        return int(json.loads(path.read_text()).get("generations_done", 0))
    except (OSError, ValueError, AttributeError, TypeError):
        return 0


def _versions() -> dict[str, str]:
    import pymoo

    import nas_rlm

    return {"nas_rlm": nas_rlm.__version__, "pymoo": pymoo.__version__}


__all__ = ["SearchConfig", "SearchResult", "run_search"]

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
from dataclasses import dataclass
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
from .indicators import front_metrics, hypervolume, non_dominated
from .objectives import (
    Constraint,
    Objective,
    SearchSpecError,
    parse_constraints,
    parse_objectives,
)
from .problem import PredictionCache, SurrogateProblem, surrogate_id
from .truth import TrueTable, load_true_table

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


# -- the search -----------------------------------------------------------------------------
def run_search(
    space: SearchSpace,
    surrogate: Surrogate,
    objectives: str | Sequence[str] = ("accuracy", "latency:pixel3"),
    constraints: str | Sequence[str] | None = None,
    algorithm: str = "nsga2",
    pop_size: int = 50,
    generations: int = 30,
    seed: int = 0,
    out_dir: str | os.PathLike = "runs/search",
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    k: int = 8,
    surrogate_name: str | None = None,
    plots: bool = True,
    force_restart: bool = False,
) -> SearchResult:
    """Search ``space`` on ``surrogate`` with a pymoo algorithm and write a run directory.

    The search ranks by ``surrogate.predict_point``; ``k`` samples per arch give the spread
    reported for the found front. ``surrogate_name`` (e.g. the model
    directory) is recorded, and a saved cache is reused only for the same surrogate. A rerun
    into the same ``out_dir`` resumes (see the module docstring). Infeasible budgets still
    write the run directory, with ``status: "infeasible"`` in ``summary.json``.
    """
    t0 = time.perf_counter()
    if generations < 1:
        raise SearchSpecError(f"generations must be >= 1, got {generations}")
    names = list(surrogate.objectives)
    objs = parse_objectives(objectives, names)
    cons = parse_constraints(constraints, names)
    if cons and not supports_constraints(algorithm):
        raise SearchSpecError(
            f"algorithm {algorithm!r} does not handle constraints; use nsga2, nsga3 or agemoea"
        )
    algo = make_algorithm(algorithm, pop_size, len(objs))
    if data_dir is not None:  # a wrong --data-dir fails now, not after the search
        from ..data.paths import resolve_data_dir

        resolve_data_dir(data_dir)
    out = Path(out_dir)
    sid = surrogate_id(surrogate, surrogate_name)
    model = surrogate_name if surrogate_name and Path(surrogate_name).is_dir() else None
    claim(out, {  # generations are not an input: a rerun with more extends the run
        "space": space.name, "space_settings": space.settings(),
        "objectives": [o.spec for o in objs], "constraints": [c.spec for c in cons],
        "algorithm": algorithm, "pop_size": pop_size, "seed": seed, "k": k,
        "surrogate": sid, "model": model_fingerprint(model) if model else None,
        "data": data_fingerprint(space.name)}, force_restart)
    cache_path = out / CACHE
    cache = (PredictionCache.load(cache_path, space, sid, names) if cache_path.is_file()
             else PredictionCache(names, sid))
    resumed_from = _generations_done(out / HISTORY)
    config = {
        "space": space.name, "objectives": [o.spec for o in objs],
        "constraints": [c.spec for c in cons], "algorithm": algorithm,
        "pop_size": pop_size, "generations": generations, "seed": seed, "k": k,
        "surrogate": sid, "surrogate_objectives": names,
        "data_dir": None if data_dir is None else str(data_dir),
        "versions": _versions(),
    }
    write_json(out / CONFIG, config)

    problem = SurrogateProblem(space, surrogate, objs, cons, k=k, cache=cache,
                               cache_path=cache_path)
    cached_before = len(cache)
    rec = _Recorder(problem, space, out / HISTORY, generations, progress, resumed_from)
    try:
        minimize(problem, algo, ("n_gen", generations), seed=seed, callback=rec,
                 verbose=False, copy_algorithm=False)
    finally:
        rec.bar.close()
        problem.save()

    # the found front, its spread, and true values where a table exists ---------------------
    quantities = _quantities(objs, cons)
    table, truth_note = load_true_table(space, [names[i] for i in quantities], data_dir)
    keys, F, feasible = problem.archive()
    counters = {"archs_evaluated": len(problem.seen), "surrogate_calls": problem.n_calls,
                "archs_scored": problem.n_scored, "cache_hits": problem.n_hits,
                "cached_before": cached_before, "resumed_from_generation": resumed_from,
                "generations": generations}
    summary: dict[str, Any] = {"status": "ok", "message": "", **counters,
                               "true_values": truth_note}

    front = archive_front(problem)
    if not front:
        msg = _infeasible_message(cons, problem, table, names)
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
    vals, spr = problem.cache.values(front), problem.cache.spreads(front)
    obj_cols = [o.index for o in objs]
    true_q = None if table is None else table.lookup(front, [names[i] for i in quantities])

    # metrics on true values (DESIGN §3): space-wide min/max normalisation, ref 1.1 ---------
    lo = hi = true_front_nat = found_true = None
    if table is not None:
        all_vals = _surrogate_shaped(table, names, quantities)
        F_all = problem.F(all_vals)
        lo, hi = F_all.min(0), F_all.max(0)
        ok = np.all(problem.G(all_vals) <= 0, axis=1)
        tf_idx = np.flatnonzero(ok)[non_dominated(F_all[ok])]
        found_all = _surrogate_shaped_rows(true_q, names, quantities)
        found_ok = (np.all(problem.G(found_all) <= 0, axis=1)
                    & ~np.isnan(found_all[:, obj_cols]).any(1))
        metrics = front_metrics(problem.F(found_all)[found_ok], F_all[tf_idx], lo, hi)
        summary["metrics_true"] = {
            **metrics, "n_true_front": len(tf_idx),
            "n_found_truly_feasible": int(found_ok.sum()),
            "normalization": "min/max over the whole space; HV reference 1.1 per objective",
        }
        true_front_nat = all_vals[tf_idx][:, obj_cols]
        found_true = found_all[:, obj_cols]
        summary["hv_ratio"] = metrics["hv_ratio"]
        summary["igd_plus"] = metrics["igd_plus"]
    else:
        lo, hi = F[feasible].min(0), F[feasible].max(0)  # archive scale: a convergence curve

    # per-generation HV of the predicted front (and true HV ratio) on that fixed scale --------
    row_of = {space.to_string(k): k for k in keys}
    hv_true_front = summary.get("metrics_true", {}).get("hv_true_front")
    for r in rec.records:
        fk = [row_of[a] for a in r["front"]]
        r["hv_predicted"] = hypervolume(problem.F(problem.cache.values(fk)), lo, hi)
        if table is not None:
            tv = _surrogate_shaped_rows(table.lookup(fk, [names[i] for i in quantities]),
                                        names, quantities)
            good = np.all(problem.G(tv) <= 0, axis=1) & ~np.isnan(tv[:, obj_cols]).any(1)
            hv = hypervolume(problem.F(tv)[good], lo, hi)
            r["hv_ratio_true"] = hv / hv_true_front if hv_true_front else None
    rec.write({"hv_normalization": {"lo": lo.tolist(), "hi": hi.tolist(), "ref": 1.1,
                                    "source": "table" if table is not None else "archive"}})

    # pareto.csv, summary, plots ------------------------------------------------------------
    order = np.argsort(problem.F(vals)[:, 0])
    rows = []
    for i in order:
        row: list[Any] = [space.to_string(front[i])]
        for q_pos, q in enumerate(quantities):
            row += [_num(vals[i, q]), _num(spr[i, q])]
            if table is not None:
                row.append(_num(true_q[i, q_pos]))
        rows.append(row)
    write_csv(out / PARETO, _pareto_header(names, quantities, table), rows)
    summary["n_front"] = len(front)
    if plots:
        from ..plots.pareto import plot_hv, plot_pareto

        labels = [o.label for o in objs]
        plot_pareto(out, labels, vals[:, obj_cols], spr[:, obj_cols], found_true,
                    true_front_nat, title=f"{space.name}: {algorithm}, seed {seed}")
        plot_hv(out, [r["generation"] for r in rec.records],
                [r["hv_predicted"] for r in rec.records],
                [r.get("hv_ratio_true") for r in rec.records] if table is not None else None)
        summary["plots"] = ["pareto.png", "pareto.svg", "hv.png", "hv.svg"]
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    write_json(out / SUMMARY, summary)
    return SearchResult(out, "ok", "", summary, [space.to_string(front[i]) for i in order],
                        vals[order][:, obj_cols], spr[order][:, obj_cols],
                        None if found_true is None else found_true[order])


# -- helpers ---------------------------------------------------------------------------------
def _quantities(objs: Sequence[Objective], cons: Sequence[Constraint]) -> list[int]:
    """Surrogate output indices that matter: objectives, then constraint-only targets."""
    q = [o.index for o in objs]
    return q + [c.target.index for c in cons if c.target.index not in q]


def _surrogate_shaped(table: TrueTable, names: list[str], quantities: list[int]) -> np.ndarray:
    """All table rows as ``(n, m_surrogate)`` (unused outputs NaN), for ``problem.F/G``."""
    return _surrogate_shaped_rows(table.Y, names, quantities)


def _surrogate_shaped_rows(vals: np.ndarray, names: list[str],
                           quantities: list[int]) -> np.ndarray:
    out = np.full((len(vals), len(names)), np.nan)
    out[:, quantities] = vals
    return out


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
                        table: TrueTable | None, names: list[str]) -> str:
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
    if table is not None:
        cols = [names.index(c) for c in table.columns]
        tv = _surrogate_shaped_rows(table.Y, names, cols)
        n_ok = int(np.all(problem.G(tv) <= 0, axis=1).sum())
        msg += f" ({n_ok} of {len(tv)} archs in the table meet it on true values)"
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


__all__ = ["SearchResult", "run_search"]

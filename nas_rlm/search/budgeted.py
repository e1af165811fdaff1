"""Searches that spend a fixed budget of *true* evaluations (DESIGN §1.4, §3).

Four strategies on the same footing, so the search benchmark compares like with like:

- :func:`random_search`: distinct archs drawn uniformly;
- :func:`evolve_on_true`: a pymoo algorithm whose every evaluation is a true one;
- :func:`aging_evolution`: regularised evolution on true values, one child at a time;
- :func:`surrogate_assisted`: fit a surrogate on the true values so far, search on it, take
  the true values of the most promising unseen candidates, refit, repeat.

Each returns a :class:`BudgetedRun`: every arch that was truly evaluated, in order, with its
values. The *found front* of a run is the true non-dominated, truly feasible set among those
archs -- what a user would keep -- so a surrogate cannot flatter a run. A :class:`FrontScorer`
measures it on a table (HV ratio, IGD+ with the DESIGN §3 normalisation).

Budget accounting is strict: the initial labels of the surrogate count, duplicates are never
re-evaluated (they cost nothing), and no strategy evaluates more than ``budget`` archs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, NasRlmError
from ..io import write_json
from ..search_spaces.base import SearchSpace
from ..surrogates.base import Surrogate
from .algorithms import make_algorithm, nearest
from .evaluators import Evaluator, TableEvaluator, parts_of, stored_archs
from .indicators import non_dominated
from .objectives import (
    Constraint,
    Objective,
    SearchSpecError,
    constraint_matrix,
    objective_matrix,
    parse_constraints,
    parse_objectives,
)
from .problem import SurrogateProblem
from .truth import FrontScorer

#: ``fit(archs, Y, round) -> Surrogate``: a fresh or refitted surrogate on all labels so far.
Fitter = Callable[[list[Hashable], np.ndarray, int], Surrogate]


@dataclass
class BudgetedRun:
    """Every truly evaluated arch of one run, in evaluation order, and how the run went."""

    method: str
    archs: list[Hashable]
    Y: np.ndarray                              # (n, len(evaluator.columns)), true values
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def n_evals(self) -> int:
        return len(self.archs)


def found_front(run: BudgetedRun, objectives: Sequence[Objective],
                constraints: Sequence[Constraint] = ()) -> np.ndarray:
    """Indices into ``run.archs`` of the true non-dominated, truly feasible archs."""
    ok = np.flatnonzero(np.all(constraint_matrix(constraints, run.Y) <= 0, axis=1))
    return ok[non_dominated(objective_matrix(objectives, run.Y)[ok])]


# -- shared bookkeeping ---------------------------------------------------------------------
class _Ledger:
    """The truly evaluated archs so far; refuses to go over budget or repeat an arch."""

    def __init__(self, evaluator: Evaluator, budget: int, scorer: FrontScorer | None,
                 progress: bool, desc: str) -> None:
        from tqdm import tqdm

        if budget < 1:
            raise ConfigError(f"budget must be >= 1 true evaluation, got {budget}")
        self.evaluator, self.budget, self.scorer = evaluator, int(budget), scorer
        self.archs: list[Hashable] = []
        self.rows: list[np.ndarray] = []
        self.index: dict[Hashable, int] = {}
        self.bar = tqdm(total=budget, desc=desc, unit="eval", disable=not progress)

    @property
    def left(self) -> int:
        return self.budget - len(self.archs)

    def add(self, archs: Sequence[Hashable]) -> np.ndarray:
        """Evaluate the new archs among ``archs`` (first ``left`` of them); values of all."""
        new = [a for a in dict.fromkeys(archs) if a not in self.index][: self.left]
        if new:
            Y = np.asarray(self.evaluator(new), float).reshape(len(new), -1)
            for a, y in zip(new, Y, strict=True):
                self.index[a] = len(self.archs)
                self.archs.append(a)
                self.rows.append(y)
            self.bar.update(len(new))
        return np.array([self.rows[self.index[a]] for a in archs if a in self.index])

    @property
    def Y(self) -> np.ndarray:
        return (np.array(self.rows) if self.rows
                else np.zeros((0, len(self.evaluator.columns))))

    def record(self, history: list[dict], **extra: Any) -> None:
        entry: dict[str, Any] = {"n_evals": len(self.archs), **extra}
        if self.scorer is not None and self.archs:
            m = self.scorer(self.Y)
            entry.update(hv_ratio=m["hv_ratio"], igd_plus=m["igd_plus"])
        history.append(entry)
        if "hv_ratio" in entry:
            self.bar.set_postfix(hv=f"{entry['hv_ratio']:.4f}", refresh=False)

    def result(self, method: str, history: list[dict], t0: float) -> BudgetedRun:
        self.bar.close()
        return BudgetedRun(method, list(self.archs), self.Y, history,
                           round(time.perf_counter() - t0, 3))


def _distinct_random(space: SearchSpace, n: int, rng: np.random.Generator,
                     universe: Sequence[Hashable] | None, exclude: set) -> list[Hashable]:
    """``n`` distinct archs not in ``exclude``: from ``universe`` (a table) or the space."""
    if universe is not None:
        pool = [a for a in universe if a not in exclude]
        pick = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
        return [pool[i] for i in pick]
    out: dict[Hashable, None] = {}
    for _ in range(100):
        for a in space.sample(max(n, 8), rng):
            a = space.parse(a)
            if a not in exclude and a not in out:
                out[a] = None
                if len(out) == n:
                    return list(out)
    return list(out)


def evaluable_archs(evaluator: Evaluator) -> list[Hashable] | None:
    """The archs that can be truly evaluated: those in every table behind ``evaluator``
    (None when no table limits it, e.g. onnxruntime latency alone)."""
    tables = [p for p in parts_of(evaluator) if isinstance(p, TableEvaluator)]
    if not tables:
        return None
    rest = [set(t.table.row) for t in tables[1:]]
    return [a for a in tables[0].archs() if all(a in r for r in rest)]


def _partial_table(space: SearchSpace, universe: list[Hashable] | None
                   ) -> list[Hashable] | None:
    """``universe`` where it is a table covering part of the space (FBNet's 5,000 archs, a
    user's CSV), else None (no table, or one with every arch, as NB201's)."""
    size = space.size()
    return universe if universe is not None and (size is None or len(universe) < size) \
        else None


# -- 1. random search -----------------------------------------------------------------------
def random_search(space: SearchSpace, evaluator: Evaluator, budget: int = 1000, seed: int = 0,
                  scorer: FrontScorer | None = None, progress: bool = False,
                  record_every: int = 100) -> BudgetedRun:
    """``budget`` distinct archs drawn uniformly (from the table where there is one)."""
    t0, rng = time.perf_counter(), np.random.default_rng(seed)
    led, hist = _Ledger(evaluator, budget, scorer, progress, "random"), []
    archs = _distinct_random(space, budget, rng, evaluable_archs(evaluator), set())
    for s in range(0, len(archs), record_every):
        led.add(archs[s: s + record_every])
        led.record(hist)
    return led.result("random", hist, t0)


# -- 2. an evolutionary algorithm on true values --------------------------------------------
class TrueValues(Surrogate):
    """An evaluator seen through the Surrogate contract, so a pymoo search can run on true
    values through the same cached :class:`SurrogateProblem` (duplicates are free)."""

    def __init__(self, ledger: _Ledger) -> None:
        self.ledger, self.objectives = ledger, list(ledger.evaluator.columns)

    def fit(self, archs: Sequence, Y: np.ndarray) -> TrueValues:
        return self

    def predict(self, archs: Sequence, k: int = 8) -> np.ndarray:
        keys = [self.ledger.evaluator.space.parse(a) for a in archs]
        Y = self.ledger.add(keys)
        if len(Y) != len(keys):
            raise NasRlmError("true-evaluation budget exhausted inside a generation")
        return np.repeat(Y[:, None, :], k, axis=1)


def evolve_on_true(space: SearchSpace, evaluator: Evaluator,
                   objectives: Sequence[Objective], constraints: Sequence[Constraint] = (),
                   budget: int = 1000, algorithm: str = "nsga2", pop_size: int = 50,
                   seed: int = 0, scorer: FrontScorer | None = None,
                   progress: bool = False) -> BudgetedRun:
    """Run ``algorithm`` (pymoo ask/tell) until ``budget`` distinct archs were evaluated.

    A generation that would overshoot keeps only its first ``left`` new members, so the
    budget is exact. Where a table covers part of the space (FBNet), a child outside it is
    moved to the nearest table arch not evaluated yet (``SurrogateProblem(within=...)``).
    """
    from pymoo.core.evaluator import Evaluator as PymooEvaluator
    from pymoo.core.termination import NoTermination

    t0 = time.perf_counter()
    led, hist = _Ledger(evaluator, budget, scorer, progress, algorithm), []
    problem = SurrogateProblem(space, TrueValues(led), objectives, constraints, k=1,
                               within=_partial_table(space, evaluable_archs(evaluator)))
    algo = make_algorithm(algorithm, pop_size, len(objectives))
    algo.setup(problem, seed=seed, termination=NoTermination(), verbose=False)
    ev = PymooEvaluator()
    while led.left > 0:
        pop = algo.ask()
        if pop is None or len(pop) == 0:
            break
        keys = problem.keys(pop.get("X"))
        new = [k for k in dict.fromkeys(keys) if k not in led.index]
        if len(new) > led.left:  # keep the members whose values the budget still covers
            allowed = set(new[: led.left]) | set(led.index)
            pop = pop[[i for i, k in enumerate(keys) if k in allowed]]
        ev.eval(problem, pop)
        algo.tell(infills=pop)
        led.record(hist, generation=int(algo.n_gen))
    return led.result(algorithm, hist, t0)


# -- 3. regularised (aging) evolution on true values -----------------------------------------
def aging_evolution(space: SearchSpace, evaluator: Evaluator,
                    objectives: Sequence[Objective], constraints: Sequence[Constraint] = (),
                    budget: int = 1000, pop_size: int = 50, sample_size: int = 10,
                    seed: int = 0, scorer: FrontScorer | None = None,
                    progress: bool = False, record_every: int | None = None) -> BudgetedRun:
    """Regularised evolution (Real et al. 2019, NASLib's ``RegularizedEvolution``), made
    multi-objective the plainest way.

    ``pop_size`` random archs start a queue. Each step draws ``sample_size`` members, takes a
    parent uniformly among the sample's best (feasible first, then non-dominated), evaluates
    one mutation of it, appends the child and drops the oldest member -- age, not fitness,
    decides who dies. A mutation that lands on an already evaluated arch is redrawn (it would
    cost nothing and teach nothing); after 100 such draws a random unseen arch is taken.
    Where a table covers part of the space (FBNet, a user's CSV), a mutant outside it moves to
    the nearest table arch not evaluated yet, as NSGA-II's children do.
    """
    from collections import deque

    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    t0, rng = time.perf_counter(), np.random.default_rng(seed)
    led, hist = _Ledger(evaluator, budget, scorer, progress, "aging"), []
    universe = evaluable_archs(evaluator)
    partial = _partial_table(space, universe)
    encoded = None if partial is None else np.array([space.encode(a) for a in partial])
    every = record_every or max(1, budget // 10)
    queue = deque(_distinct_random(space, min(pop_size, budget), rng, universe, set()))
    led.add(list(queue))
    led.record(hist, phase="init")
    while led.left > 0:
        sample = [queue[i] for i in rng.choice(len(queue), min(sample_size, len(queue)),
                                               replace=False)]
        Y = np.array([led.rows[led.index[a]] for a in sample])
        viol = np.clip(constraint_matrix(constraints, Y), 0, None).sum(1) \
            if constraints else np.zeros(len(sample))
        best = np.flatnonzero(viol == viol.min())
        F = objective_matrix(objectives, Y[best])
        front = best[NonDominatedSorting().do(F, only_non_dominated_front=True)]
        parent = sample[int(rng.choice(front))]
        child = None
        for _ in range(100):
            c = space.parse(space.mutate(parent, rng))
            if partial is not None and c not in led.index:
                fresh = np.flatnonzero([a not in led.index for a in partial])
                if not len(fresh):
                    break
                c = partial[fresh[nearest(encoded[fresh], space.encode(c), rng)]]
            if c not in led.index:
                child = c
                break
        if child is None:
            fill = _distinct_random(space, 1, rng, universe, set(led.index))
            if not fill:
                break  # every evaluable arch was evaluated
            child = fill[0]
        led.add([child])
        queue.append(child)
        queue.popleft()
        if len(led.archs) % every == 0 or led.left == 0:
            led.record(hist)
    return led.result("aging", hist, t0)


# -- 4. the surrogate-assisted loop ---------------------------------------------------------
def select_candidates(F: np.ndarray, G: np.ndarray, n: int) -> np.ndarray:
    """``n`` row indices by feasibility, then non-dominated rank, then crowding distance."""
    from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    F = np.asarray(F, float)
    viol = np.clip(G, 0, None).sum(1) if G.size else np.zeros(len(F))
    feas = np.flatnonzero(viol <= 0)
    chosen: list[int] = []
    if len(feas):
        for front in NonDominatedSorting().do(F[feas]):
            idx = feas[front]
            if len(chosen) + len(idx) <= n:
                chosen += idx.tolist()
            else:
                cd = calc_crowding_distance(F[idx])
                chosen += idx[np.argsort(-cd, kind="stable")][: n - len(chosen)].tolist()
            if len(chosen) >= n:
                break
    if len(chosen) < n:  # then the least violating predicted-infeasible ones
        infeas = np.flatnonzero(viol > 0)
        chosen += infeas[np.argsort(viol[infeas], kind="stable")][: n - len(chosen)].tolist()
    return np.array(chosen, int)


def surrogate_assisted(
    space: SearchSpace,
    evaluator: Evaluator,
    fit: Fitter,
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint] = (),
    budget: int = 1000,
    n_init: int = 200,
    batch: int = 200,
    algorithm: str = "nsga2",
    pop_size: int = 50,
    generations: int = 30,
    beta: float = 1.0,
    k: int = 8,
    seed: int = 0,
    scorer: FrontScorer | None = None,
    progress: bool = False,
    state_path: str | os.PathLike | None = None,
    method: str = "assisted",
) -> BudgetedRun:
    """Fit, search on the surrogate, evaluate the best unseen candidates, repeat.

    - ``n_init`` distinct random archs are evaluated first (they count against ``budget``).
    - Each round, ``fit`` returns a surrogate on all true values so far, and ``algorithm``
      runs ``generations`` on it, starting from the best true archs so far plus random ones.
      Where the evaluator is a table that covers only part of the space (FBNet's 5,000
      archs, a user's CSV), its unseen archs are scored instead, since nothing else can be
      truly evaluated.
    - Candidates are the archs the search saw and nobody evaluated yet. The ``3 * batch``
      best by predicted rank get ``k`` samples; each objective then moves towards its
      optimistic end by ``beta`` times the sample spread (a lower confidence bound, so an
      uncertain arch near the front gets its chance), and the ``batch`` best by rank and
      crowding are evaluated. Deterministic surrogates have zero spread, so ``beta`` does
      nothing for them; ``beta=0`` turns it off for all.
    - With ``state_path`` the evaluated archs and history are saved after every round, and
      a rerun resumes from them (the surrogate is refitted on all of them). Results an
      evaluator stored after the last saved round (``EvaluationStore``) are added first.
    """
    t0, rng = time.perf_counter(), np.random.default_rng(seed)
    check_sizes(budget=budget, n_init=n_init, batch=batch, pop_size=pop_size,
                generations=generations)
    led, hist = _Ledger(evaluator, budget, scorer, progress, method), []
    universe = evaluable_archs(evaluator)
    # Only archs with a true value can be picked. Where the table is the whole space (NB201)
    # the search runs on the surrogate; where it is a sample (FBNet, OFA, a user's own CSV),
    # archs found by a search would have no true value, so its archs are scored instead.
    pool = _partial_table(space, universe)
    state = Path(state_path) if state_path else None
    start_round = 0
    if state is not None and state.is_file():
        start_round = _restore(state, space, led, hist)
        # evaluations finished after the last saved round (a killed driver) are kept
        extra = [a for a in stored_archs(evaluator) if a not in led.index]
        if extra and led.left > 0:
            led.add(extra)
            led.record(hist, round=start_round, phase="recovered")
            _save(state, space, led, hist, start_round)
    if not led.archs:
        led.add(_distinct_random(space, n_init, rng, universe, set()))
        led.record(hist, round=0, phase="init")
        _save(state, space, led, hist, 1)
        start_round = 1
    r = max(start_round, 1)
    while led.left > 0:
        info: dict[str, Any] = {"round": r}
        t = time.perf_counter()
        surrogate = fit(list(led.archs), led.Y, r)
        info["fit_seconds"] = round(time.perf_counter() - t, 2)

        t = time.perf_counter()
        problem = SurrogateProblem(space, surrogate, objectives, constraints, k=k)
        if pool is None:
            start = _start_population(space, led, objectives, constraints, pop_size, rng)
            algo = make_algorithm(algorithm, pop_size, len(objectives), sampling=start)
            from pymoo.optimize import minimize

            minimize(problem, algo, ("n_gen", generations), seed=int(seed * 1000 + r),
                     verbose=False, copy_algorithm=False)
        else:  # a table that covers part of the space: score all of its unseen archs
            problem.score([a for a in pool if a not in led.index])
        keys, F, _ = problem.archive()
        cand = [i for i, key in enumerate(keys) if key not in led.index]
        n = min(batch, led.left)
        picked: list[Hashable] = []
        if cand:
            ck = [keys[i] for i in cand]
            vals = problem.cache.values(ck)
            pre = select_candidates(F[cand], problem.G(vals), min(len(cand), 3 * n))
            pk = [ck[i] for i in pre]
            pv = problem.cache.values(pk)
            if beta > 0:
                problem.ensure_spread(pk)
                spread = np.nan_to_num(problem.cache.spreads(pk))
                pv = np.where(_maximized(objectives, pv.shape[1]), pv + beta * spread,
                              pv - beta * spread)
            chosen = select_candidates(problem.F(pv), problem.G(pv), n)
            picked = [pk[i] for i in chosen]
        info["search_seconds"] = round(time.perf_counter() - t, 2)
        info["candidates"] = len(cand)
        if len(picked) < n:  # the search converged: spend the rest on unseen random archs
            seen = set(led.index) | set(picked)
            picked += _distinct_random(space, n - len(picked), rng, universe, seen)
            info["random_fill"] = n - len(cand) if len(cand) < n else 0
        led.add(picked)
        led.record(hist, **info)
        r += 1
        _save(state, space, led, hist, r)
        if not picked:
            break
    return led.result(method, hist, t0)


def _maximized(objectives: Sequence[Objective], m: int) -> np.ndarray:
    """Mask over surrogate columns of those the search maximises (optimism goes up there)."""
    mask = np.zeros(m, bool)
    for o in objectives:
        mask[o.index] = o.maximize
    return mask


def _start_population(space: SearchSpace, led: _Ledger, objectives: Sequence[Objective],
                      constraints: Sequence[Constraint], pop_size: int,
                      rng: np.random.Generator) -> np.ndarray:
    """The best true archs so far by rank and crowding (half the population), then random."""
    Y = led.Y
    best = select_candidates(objective_matrix(objectives, Y), constraint_matrix(constraints, Y),
                             min(len(Y), pop_size // 2))
    X = [space.encode(led.archs[i]) for i in best]
    X += [space.encode(a) for a in space.sample(pop_size - len(X), rng)]
    return np.array(X, dtype=np.int64)


def _save(state: Path | None, space: SearchSpace, led: _Ledger, hist: list, next_round: int
          ) -> None:
    if state is not None:
        write_json(state, {"next_round": next_round, "columns": led.evaluator.columns,
                           "archs": [space.to_string(a) for a in led.archs],
                           "Y": led.Y.tolist(), "history": hist})


def _restore(state: Path, space: SearchSpace, led: _Ledger, hist: list) -> int:
    import json

    try:
        raw = json.loads(state.read_text())
        if raw["columns"] != led.evaluator.columns:
            raise NasRlmError(f"{state} holds values of {raw['columns']}, not "
                              f"{led.evaluator.columns}; use a fresh state file")
        archs = [space.parse(a) for a in raw["archs"]]
        Y = np.asarray(raw["Y"], float).reshape(len(archs), len(led.evaluator.columns))
    except NasRlmError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise NasRlmError(f"{state} is damaged ({e}); delete it to start afresh") from e
    for a, y in zip(archs, Y, strict=True):
        led.index[a] = len(led.archs)
        led.archs.append(a)
        led.rows.append(y)
    led.bar.update(len(archs))
    hist.extend(raw.get("history", []))
    return int(raw.get("next_round", 1))


def loop_sizes(budget: int) -> tuple[int, int]:
    """``(n_init, batch)`` for a budget: a fifth each, so every budget gets one random start
    and four rounds of fit -> search -> evaluate, as the 1,000-evaluation protocol (200 + 4 x
    200) does; at least 4 (or the budget), so parallel evaluations have a batch to share."""
    step = max(min(4, int(budget)), int(budget) // 5)
    return step, step


def check_sizes(budget: int, n_init: int, batch: int, pop_size: int = 1,
                generations: int = 1) -> None:
    """The loop's sizes, checked before any run directory or evaluation exists."""
    for name, v in (("budget", budget), ("init", n_init), ("batch", batch),
                    ("pop-size", pop_size), ("generations", generations)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise SearchSpecError(f"--{name} must be a positive integer, got {v!r}")
    if n_init > budget:
        raise SearchSpecError(f"--init {n_init} is more than --budget {budget}: the first "
                              "random archs are part of the budget")


def setup(space: SearchSpace, evaluator: Evaluator, objectives: str | Sequence[str],
          constraints: str | Sequence[str] | None = None
          ) -> tuple[list[Objective], list[Constraint], FrontScorer | None]:
    """Parse specs against the evaluator's columns; a scorer where the evaluator is a table."""
    objs = parse_objectives(objectives, evaluator.columns)
    cons = parse_constraints(constraints, evaluator.columns)
    scorer = (FrontScorer(evaluator.table, objs, cons) if isinstance(evaluator, TableEvaluator)
              else None)
    return objs, cons, scorer


__all__ = [
    "BudgetedRun",
    "Fitter",
    "TrueValues",
    "aging_evolution",
    "check_sizes",
    "evaluable_archs",
    "evolve_on_true",
    "found_front",
    "loop_sizes",
    "random_search",
    "refit_from_scratch",
    "select_candidates",
    "setup",
    "surrogate_assisted",
]


def refit_from_scratch(make: Callable[[int], Surrogate], seed: int = 0) -> Fitter:
    """A :data:`Fitter` that trains a fresh ``make(seed)`` on all labels every round (cheap
    baselines); see ``surrogates.recipes.RecipeRLM.refit`` for the warm-started RLM."""
    def fit(archs: list[Hashable], Y: np.ndarray, round_: int) -> Surrogate:
        return make(seed).fit(archs, Y)
    return fit

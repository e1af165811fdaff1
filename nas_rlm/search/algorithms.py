"""pymoo algorithms by name, with operators that suit categorical genes.

An NB201 gene is an op index: 3 is not "between" 2 and 4, so SBX and polynomial mutation
(pymoo's defaults, made for real numbers) would search a meaningless geometry. Every
algorithm here gets integer random sampling, uniform crossover (each gene from either parent)
and random-reset mutation (a gene redrawn uniformly from its range).
"""

from __future__ import annotations

from math import comb
from typing import Any

import numpy as np
from pymoo.core.algorithm import Algorithm
from pymoo.core.mutation import Mutation
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair
from pymoo.operators.crossover.ux import UniformCrossover
from pymoo.operators.sampling.rnd import IntegerRandomSampling
from pymoo.util.ref_dirs import get_reference_directions

from ..errors import ArchError, ConfigError, NasRlmError, UnknownNameError

#: Valid names for :func:`make_algorithm`; the first is the default.
ALGORITHMS: tuple[str, ...] = ("nsga2", "nsga3", "agemoea", "moead")


class RandomResetMutation(Mutation):
    """Each gene is redrawn uniformly in its bounds with probability ``prob_var``
    (default ``1 / n_var``, so about one decision changes per child)."""

    def __init__(self, prob: float = 1.0, prob_var: float | None = None) -> None:
        super().__init__(prob=prob, prob_var=prob_var)

    def _do(self, problem: Problem, X: np.ndarray, *args: Any, random_state=None,
            **kwargs: Any) -> np.ndarray:
        X = np.rint(np.asarray(X, float)).astype(np.int64)
        xl, xu = (np.asarray(b, np.int64) for b in problem.bounds())
        p = self.get_prob_var(problem, size=len(X))
        p = np.broadcast_to(np.asarray(p, float).reshape(-1, 1), X.shape)
        reset = random_state.random(X.shape) < p
        draws = random_state.integers(xl, xu + 1, size=X.shape)
        return np.where(reset, draws, X)


class SpaceRepair(Repair):
    """Replace vectors that decode to no valid arch (e.g. a disconnected NB101 cell) by the
    space's own repair, so crossover and mutation never hand the surrogate an invalid arch.
    Spaces where every vector in bounds is valid pass through untouched.

    Where the problem is limited to some archs (``problem.within``: the encodings of a table
    that covers part of the space), a vector outside them moves to the nearest one not scored
    yet, by Hamming distance, ties broken at random: the search stays where true values
    exist. (The nearest one overall is mostly a parent on a sparse table such as FBNet's
    5,000 of 9^22 archs, and evolution would stall on duplicates.)"""

    def _do(self, problem: Problem, X: np.ndarray, *args: Any, random_state=None,
            **kwargs: Any) -> np.ndarray:
        space = getattr(problem, "space", None)
        if space is None:
            return X
        X = np.rint(np.asarray(X, float)).astype(np.int64)
        within = getattr(problem, "within", None)
        if within is not None:
            outside = [i for i, x in enumerate(X) if tuple(x) not in problem.within_set]
            if outside:
                fresh = np.array([k not in problem.cache for k in problem.within_keys])
                pool = within[fresh] if fresh.any() else within
                for i in outside:
                    X[i] = pool[nearest(pool, X[i], random_state)]
            return X
        for i, x in enumerate(X):
            try:
                space.decode(x)
            except ArchError:
                X[i] = space.repair(x, random_state)
        return X


def nearest(pool: np.ndarray, x: np.ndarray, rng: np.random.Generator) -> int:
    """Row of ``pool`` (integer encodings) nearest to ``x`` by Hamming distance, ties at
    random: how a search on a partial table (FBNet's 5,000 archs) stays inside it."""
    d = (np.asarray(pool) != np.asarray(x)).sum(1)
    return int(rng.choice(np.flatnonzero(d == d.min())))


def reference_directions(n_obj: int, pop_size: int) -> np.ndarray:
    """Das-Dennis directions, as many as fit in ``pop_size`` (at least ``n_obj``).

    NSGA-III and MOEA/D need them; the count for ``p`` partitions is C(p+m-1, m-1), so the
    largest ``p`` with at most ``pop_size`` directions is used.
    """
    p = 1
    while comb(p + 1 + n_obj - 1, n_obj - 1) <= pop_size:
        p += 1
    return get_reference_directions("das-dennis", n_obj, n_partitions=p)


def make_algorithm(name: str = "nsga2", pop_size: int = 50, n_obj: int = 2,
                   mutation_prob_var: float | None = None,
                   sampling: np.ndarray | None = None) -> Algorithm:
    """A configured algorithm; unknown names list the valid ones.

    ``moead`` is pymoo's ``ParallelMOEAD``: it makes ``pop_size`` children per generation and
    evaluates them as one batch (plain ``MOEAD`` scores one child at a time). It has no
    duplicate elimination and no constraint handling; its population size is the number of
    reference directions. ``sampling`` is an optional initial population (integer vectors,
    one row per member), e.g. the best archs found so far by a surrogate-assisted loop.
    """
    key = name.strip().lower().replace("-", "").replace("_", "") if isinstance(name, str) else ""
    if key not in ALGORITHMS:
        raise UnknownNameError(
            f"unknown algorithm {name!r}; valid: {', '.join(ALGORITHMS)} (default nsga2)"
        )
    if pop_size < 2:
        raise ConfigError(f"pop_size must be >= 2, got {pop_size}")
    ops: dict[str, Any] = dict(
        sampling=IntegerRandomSampling() if sampling is None else np.asarray(sampling),
        crossover=UniformCrossover(),
        mutation=RandomResetMutation(prob_var=mutation_prob_var),
        repair=SpaceRepair(),
    )
    if key == "nsga2":
        from pymoo.algorithms.moo.nsga2 import NSGA2

        return NSGA2(pop_size=pop_size, eliminate_duplicates=True, **ops)
    if key == "nsga3":
        from pymoo.algorithms.moo.nsga3 import NSGA3

        return NSGA3(reference_directions(n_obj, pop_size), pop_size=pop_size,
                     eliminate_duplicates=True, **ops)
    if key == "agemoea":
        try:  # pymoo's AGE-MOEA needs numba, an optional dependency of pymoo
            from pymoo.algorithms.moo.age import AGEMOEA
        except Exception as e:
            raise NasRlmError(
                f"algorithm 'agemoea' needs numba, which is not installed ({e}); "
                f"`pip install numba`, or use one of: "
                f"{', '.join(a for a in ALGORITHMS if a != 'agemoea')}"
            ) from None

        return AGEMOEA(pop_size=pop_size, eliminate_duplicates=True, **ops)
    from pymoo.algorithms.moo.moead import ParallelMOEAD

    dirs = reference_directions(n_obj, pop_size)
    return ParallelMOEAD(dirs, n_neighbors=min(20, len(dirs)), n_offsprings=len(dirs), **ops)


def supports_constraints(name: str) -> bool:
    """pymoo's MOEA/D asserts an unconstrained problem."""
    return name.strip().lower().replace("-", "").replace("_", "") != "moead"

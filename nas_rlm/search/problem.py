"""The pymoo problem: integer vectors in, surrogate predictions out, each arch scored once.

An evolutionary search proposes many duplicates (the same cell from different parents, the
same arch again after a restart), and each surrogate call costs a transformer forward pass.
So the problem decodes a whole population to canonical archs, scores only the ones it has
never seen in ONE batched surrogate call, and reads every value from a cache. The cache holds
all of the surrogate's outputs (not only the searched ones), so it can be saved and reused by
any later search with the same surrogate.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pymoo.core.problem import Problem

from ..errors import NasRlmError
from ..io import write_json
from ..search_spaces.base import SearchSpace
from ..surrogates.base import Surrogate, uncertainty
from .objectives import Constraint, Objective, constraint_matrix, objective_matrix

CACHE_FORMAT = 1


def surrogate_id(surrogate: Surrogate, name: str | None = None) -> str:
    """What a saved cache must match to be reused: the model's class, outputs and name."""
    cls = type(surrogate)
    base = f"{cls.__module__}.{cls.__qualname__}[{','.join(surrogate.objectives)}]"
    return f"{base}@{name}" if name else base


class PredictionCache:
    """Canonical arch -> (point estimate, sample spread or None), over all surrogate outputs.

    The spread is optional because the search ranks by ``predict_point`` (for the RLM the
    exact median of its distribution, which needs no samples); sampling is paid only for
    archs that get reported (the final front).
    """

    def __init__(self, objectives: Sequence[str], surrogate: str = "") -> None:
        self.objectives = list(objectives)
        self.surrogate = surrogate
        self.point: dict[Hashable, np.ndarray] = {}
        self.spread: dict[Hashable, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.point)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.point

    def values(self, keys: Sequence[Hashable]) -> np.ndarray:
        """Point estimates ``(n, m)`` for cached ``keys``."""
        m = len(self.objectives)
        return np.array([self.point[k] for k in keys], float).reshape(len(keys), m)

    def spreads(self, keys: Sequence[Hashable]) -> np.ndarray:
        """Sample spreads ``(n, m)``; NaN where none was computed."""
        m = len(self.objectives)
        nan = np.full(m, np.nan)
        return np.array([self.spread.get(k, nan) for k in keys], float).reshape(len(keys), m)

    # -- persistence: a plain JSON keyed by the space's canonical arch string ---------------
    def save(self, path: str | os.PathLike, space: SearchSpace) -> Path:
        """Atomic, so an interrupt leaves the previous generation's cache intact."""
        archs = {
            space.to_string(k): {
                "point": [float(v) for v in p],
                "spread": None if k not in self.spread else [float(v) for v in self.spread[k]],
            }
            for k, p in self.point.items()
        }
        return write_json(path, {"format": CACHE_FORMAT, "surrogate": self.surrogate,
                                 "objectives": self.objectives, "archs": archs})

    @classmethod
    def load(cls, path: str | os.PathLike, space: SearchSpace, surrogate: str,
             objectives: Sequence[str]) -> PredictionCache:
        """Reload a saved cache; one from another surrogate is refused, not silently mixed."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
            if raw.get("format") != CACHE_FORMAT:
                raise ValueError(f"format {raw.get('format')!r} is not {CACHE_FORMAT}")
            if raw.get("surrogate") != surrogate or raw.get("objectives") != list(objectives):
                raise NasRlmError(
                    f"{path} holds predictions of surrogate {raw.get('surrogate')!r}, not "
                    f"{surrogate!r}; use a fresh output directory or delete the file"
                )
            cache = cls(objectives, surrogate)
            m = len(objectives)
            for text, rec in raw["archs"].items():
                key = space.parse(text)
                cache.point[key] = _vector(rec["point"], m)
                if rec.get("spread") is not None:
                    cache.spread[key] = _vector(rec["spread"], m)
        except NasRlmError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise NasRlmError(f"{path} is damaged ({e}); delete it to start afresh") from e
        return cache


def _vector(values: Any, m: int) -> np.ndarray:
    v = np.asarray(values, float)
    if v.shape != (m,):
        raise ValueError(f"expected {m} values, got {values!r}")
    return v


class SurrogateProblem(Problem):
    """Minimise F (negated accuracy, latencies) subject to G <= 0 (budgets), on a surrogate.

    Counters say what the search cost: ``n_calls`` batched surrogate calls, ``n_scored`` archs
    sent to the surrogate, ``n_hits`` evaluations answered from the cache. ``seen`` lists, in
    order, every arch this problem has been asked about (cache hits included).

    ``within`` limits the search to some archs (a table that covers part of the space, such as
    FBNet's 5,000): the algorithms' repair moves any other vector to the nearest of them not
    scored yet.
    """

    def __init__(
        self,
        space: SearchSpace,
        surrogate: Surrogate,
        objectives: Sequence[Objective],
        constraints: Sequence[Constraint] = (),
        k: int = 8,
        cache: PredictionCache | None = None,
        cache_path: str | os.PathLike | None = None,
        within: Sequence[Hashable] | None = None,
    ) -> None:
        xl, xu = space.bounds
        super().__init__(n_var=len(xl), n_obj=len(objectives), n_ieq_constr=len(constraints),
                         xl=np.asarray(xl), xu=np.asarray(xu), vtype=int)
        self.space = space
        self.surrogate = surrogate
        self.objectives = list(objectives)
        self.constraints = list(constraints)
        self.k = int(k)
        self.cache = cache if cache is not None else PredictionCache(surrogate.objectives)
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.seen: dict[Hashable, None] = {}
        self.n_calls = self.n_scored = self.n_hits = 0
        self.within = (None if within is None else
                       np.array([space.encode(a) for a in within], np.int64).reshape(
                           len(within), len(xl)))
        self.within_set = None if within is None else {tuple(w) for w in self.within}
        self.within_keys = None if within is None else [space.parse(a) for a in within]

    # -- pymoo entry point ------------------------------------------------------------------
    def _evaluate(self, X: np.ndarray, out: dict, *args: Any, **kwargs: Any) -> None:
        keys = self.keys(X)
        self.score(keys)
        values = self.cache.values(keys)
        out["F"] = self.F(values)
        if self.constraints:
            out["G"] = self.G(values)

    def keys(self, X: np.ndarray) -> list[Hashable]:
        """Canonical archs of integer vectors (the cache key; equal cells share one key)."""
        X = np.rint(np.asarray(X, float)).astype(np.int64)
        return [self.space.parse(self.space.decode(x)) for x in X]

    def F(self, values: np.ndarray) -> np.ndarray:
        """Objectives to minimise from surrogate outputs ``(n, m_surrogate)``."""
        return objective_matrix(self.objectives, values)

    def G(self, values: np.ndarray) -> np.ndarray:
        """Constraint values, feasible where every column is ``<= 0``."""
        return constraint_matrix(self.constraints, values)

    # -- scoring ----------------------------------------------------------------------------
    def score(self, keys: Sequence[Hashable]) -> None:
        """Score the archs among ``keys`` that the cache lacks, in one batched call."""
        new = [k for k in dict.fromkeys(keys) if k not in self.cache]
        for k in keys:
            self.seen.setdefault(k, None)
        self.n_hits += len(keys) - len(new)
        if not new:
            return
        archs = [self.space.to_string(k) for k in new]
        m = len(self.cache.objectives)
        point = np.asarray(self.surrogate.predict_point(archs), float).reshape(len(new), m)
        spread = None  # sampled only where reported (ensure_spread)
        self.n_calls += 1
        self.n_scored += len(new)
        for i, k in enumerate(new):
            self.cache.point[k] = point[i]
            if spread is not None:
                self.cache.spread[k] = spread[i]
        self.save()

    def ensure_spread(self, keys: Sequence[Hashable]) -> None:
        """Sample spreads for ``keys`` that have none yet (one batched call), for reporting."""
        need = [k for k in dict.fromkeys(keys) if k not in self.cache.spread]
        if not need:
            return
        samples = np.asarray(
            self.surrogate.predict([self.space.to_string(k) for k in need], self.k), float
        )
        self.n_calls += 1
        for k, s in zip(need, uncertainty(samples), strict=True):
            self.cache.spread[k] = s
        self.save()

    def save(self) -> None:
        if self.cache_path is not None:
            self.cache.save(self.cache_path, self.space)

    # -- the archive of everything this search has looked at --------------------------------
    def archive(self) -> tuple[list[Hashable], np.ndarray, np.ndarray]:
        """``(keys, F, feasible)`` over every arch seen in this search."""
        keys = list(self.seen)
        values = self.cache.values(keys)
        feasible = np.all(self.G(values) <= 0, axis=1) if keys else np.zeros(0, bool)
        return keys, self.F(values) if keys else np.zeros((0, self.n_obj)), feasible

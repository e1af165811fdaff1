"""True values from a benchmark table, and the score of a found front against them.

The table's rows are keyed by canonical arch (``space.parse`` of the table's own arch
strings), so an arch spelled any way the space accepts finds its row. :class:`FrontScorer`
is the one place where a found front is measured on true values (DESIGN §3): the surrogate
search, the budgeted loops and the search benchmark all use it.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, UnknownNameError
from ..search_spaces.base import SearchSpace
from .indicators import front_metrics, non_dominated
from .objectives import Constraint, Objective, constraint_matrix, objective_matrix


@dataclass
class TrueTable:
    """Table values of some surrogate outputs for every arch of a space (natural units)."""

    columns: list[str]
    Y: np.ndarray                  # (n_archs, len(columns))
    row: dict[Hashable, int]       # canonical arch -> row

    def lookup(self, keys: Sequence[Hashable], columns: Sequence[str]) -> np.ndarray:
        idx = [self.columns.index(c) for c in columns]
        out = np.full((len(keys), len(idx)), np.nan)
        for i, k in enumerate(keys):
            r = self.row.get(k)
            if r is not None:
                out[i] = self.Y[r, idx]
        return out


def load_true_table(space: SearchSpace, columns: Sequence[str],
                    data_dir: str | os.PathLike | None = None) -> tuple[TrueTable | None, str]:
    """The benchmark table for ``columns`` (NB201: ``load_targets``), or None and why not.

    An explicit ``data_dir`` that fails is an error; with the default location a missing
    table only means "no true values".
    """
    from ..data.targets import load_targets

    try:
        archs, Y = load_targets(space.name, list(columns), data_dir)
    except (DataError, UnknownNameError) as e:
        if data_dir is not None and isinstance(e, DataError):
            raise
        return None, f"no true values: {e}"
    return TrueTable(list(columns), Y, {space.parse(a): i for i, a in enumerate(archs)}), "table"


class FrontScorer:
    """HV ratio and IGD+ of the true front found among some archs (DESIGN §3).

    ``objectives`` and ``constraints`` index ``table.columns``. Objectives are normalised by
    their min/max over the whole table, the HV reference point is 1.1 per objective, and the
    true front is that of the truly feasible table rows. Rows with a missing objective (an
    arch the table does not hold) count as not found.
    """

    def __init__(self, table: TrueTable, objectives: Sequence[Objective],
                 constraints: Sequence[Constraint] = ()) -> None:
        self.objectives, self.constraints = list(objectives), list(constraints)
        self.n_rows = len(table.Y)
        F = objective_matrix(self.objectives, table.Y)
        ok = self.usable(table.Y)
        self.n_feasible = int(ok.sum())  # 0: the budget is infeasible on true values
        self.lo, self.hi = F.min(0), F.max(0)
        self.true_front = F[ok][non_dominated(F[ok])] if ok.any() else F[:0]

    def usable(self, Y: np.ndarray) -> np.ndarray:
        """Rows that are truly feasible and have every objective."""
        Y = np.asarray(Y, float)
        F = objective_matrix(self.objectives, Y)
        return np.all(constraint_matrix(self.constraints, Y) <= 0, axis=1) & \
            ~np.isnan(F).any(axis=1)

    def true_front_values(self) -> np.ndarray:
        """The true front in natural units (accuracy back to a larger-is-better number)."""
        sign = np.array([-1.0 if o.maximize else 1.0 for o in self.objectives])
        return self.true_front * sign

    def __call__(self, Y: np.ndarray) -> dict[str, float | None]:
        Y = np.asarray(Y, float)
        return front_metrics(objective_matrix(self.objectives, Y)[self.usable(Y)],
                             self.true_front, self.lo, self.hi)

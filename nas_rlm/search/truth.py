"""True values from a benchmark table: what the search and the budgeted loops score against.

The table's rows are keyed by canonical arch (``space.parse`` of the table's own arch
strings), so an arch spelled any way the space accepts finds its row.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, UnknownNameError
from ..search_spaces.base import SearchSpace


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



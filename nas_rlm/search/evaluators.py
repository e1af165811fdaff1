"""True evaluations behind one interface: a table lookup, an onnxruntime measurement, or a
user's own function (for instance a training script).

A surrogate-assisted search spends a budget of *true* evaluations, so whatever produces them
must look the same to the loop (DESIGN §1.4). An :class:`Evaluator` maps canonical archs to
an ``(n, len(columns))`` matrix of true values in natural units (accuracy in %, latency in
ms). Evaluators are combined column-wise with :class:`JointEvaluator`, e.g. accuracy from a
user's table and latency measured on this machine.

Batches run in this process by default. :class:`FunctionEvaluator` can fan a batch out to
local processes (``n_jobs``); beyond one machine, wrap a Ray or Dask call in a function and
pass that -- nas-rlm has no scheduler of its own. Latency measurement always runs one arch at
a time, because concurrent runs on the same cores distort each other's timings.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import ArchError, ConfigError, DataError
from ..search_spaces.base import SearchSpace


class Evaluator(ABC):
    """True values of ``columns`` for canonical archs of one space."""

    columns: list[str]
    space: SearchSpace

    @abstractmethod
    def __call__(self, archs: Sequence[Hashable]) -> np.ndarray:
        """``(len(archs), len(columns))`` true values; raise rather than return NaN."""


class TableEvaluator(Evaluator):
    """Benchmark table lookups (``load_targets``): NB201 accuracy, any device's latency."""

    def __init__(self, space: SearchSpace, columns: Sequence[str],
                 data_dir: str | os.PathLike | None = None) -> None:
        from .truth import load_true_table

        table, why = load_true_table(space, columns, data_dir)
        if table is None:
            raise DataError(f"no table for {space.name} {list(columns)}: {why}")
        self.space, self.columns, self.table = space, list(columns), table
        self.from_user = False  # a benchmark table, not a user's CSV

    @classmethod
    def from_csv(cls, space: SearchSpace, path: str | os.PathLike,
                 columns: Sequence[str] | None = None) -> TableEvaluator:
        """A user's own table: an ``arch`` column (the space's strings) and one column per
        quantity, e.g. ``arch,accuracy`` from their own training runs. ``columns`` picks
        columns by header name, in that order (default: all). Every arch is parsed, so any
        spelling the space accepts works; bad rows fail with their line number."""
        import csv

        from .truth import TrueTable

        path = Path(path)
        try:  # utf-8-sig: a byte-order mark (spreadsheet exports) is read, not rejected
            with path.open(newline="", encoding="utf-8-sig") as f:
                rows = list(csv.reader(f))
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"cannot read {path}: {e}") from e
        if not rows or not rows[0] or rows[0][0].strip() != "arch" or len(rows[0]) < 2:
            raise DataError(f"{path}: the header must be 'arch,<column>[,...]', "
                            f"got {rows[0] if rows else 'an empty file'}")
        header = [c.strip() for c in rows[0][1:]]
        if len(set(header)) != len(header):
            raise DataError(f"{path}: duplicate column names in the header {rows[0]}")
        columns = header if columns is None else list(columns)
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(f"{path} has no column {', '.join(missing)}; its columns: "
                            f"{', '.join(header)}")
        pick = [header.index(c) + 1 for c in columns]
        index: dict[Hashable, int] = {}
        Y = np.empty((len(rows) - 1, len(columns)))
        for i, row in enumerate(rows[1:]):
            line = i + 2
            if len(row) != len(header) + 1:
                raise DataError(f"{path}:{line}: expected {len(header) + 1} fields, "
                                f"got {len(row)}")
            try:
                key = space.parse(row[0])
                Y[i] = [float(row[k]) for k in pick]
            except (ArchError, ValueError) as e:
                raise DataError(f"{path}:{line}: {e}") from e
            if not np.isfinite(Y[i]).all():
                raise DataError(f"{path}:{line}: non-finite value in {[row[k] for k in pick]}")
            if key in index:
                raise DataError(f"{path}:{line}: arch listed twice (first on line "
                                f"{index[key] + 2})")
            index[key] = i
        if not index:
            raise DataError(f"{path} has a header but no rows")
        self = cls.__new__(cls)
        self.space, self.columns, self.from_user = space, columns, True
        self.table = TrueTable(columns, Y, index)
        return self

    def __call__(self, archs: Sequence[Hashable]) -> np.ndarray:
        out = self.table.lookup(archs, self.columns)
        missing = np.flatnonzero(np.isnan(out).any(1))
        if len(missing):
            a = self.space.to_string(archs[missing[0]])
            raise DataError(f"{len(missing)} archs have no row in the {self.space.name} "
                            f"table, e.g. {a}; sample from the table's archs")
        return out

    def archs(self) -> list[Hashable]:
        """Every arch the table covers (the universe a table-backed search draws from)."""
        return list(self.table.row)


class LatencyEvaluator(Evaluator):
    """Median onnxruntime latency (ms) on this machine's CPU, one arch at a time."""

    def __init__(self, space: SearchSpace, column: str = "local_cpu", batch_size: int = 1,
                 warmup: int = 10, repeats: int = 50, threads: int = 1) -> None:
        self.space, self.columns = space, [column]
        self.kwargs = dict(batch_size=batch_size, warmup=warmup, repeats=repeats,
                           threads=threads)

    def __call__(self, archs: Sequence[Hashable]) -> np.ndarray:
        from ..search_spaces.latency import measure_archs

        rows = measure_archs(self.space, list(archs), progress=False, **self.kwargs)
        return np.array([[r["latency_ms"]] for r in rows], float).reshape(len(archs), 1)


class FunctionEvaluator(Evaluator):
    """A user's function ``arch string -> sequence of values`` (e.g. train and test a net).

    With ``n_jobs > 1`` a batch runs in that many local processes; ``fn`` must then be
    picklable (a module-level function).
    """

    def __init__(self, space: SearchSpace, columns: Sequence[str],
                 fn: Callable[[str], Sequence[float]], n_jobs: int = 1) -> None:
        self.space, self.columns, self.fn, self.n_jobs = space, list(columns), fn, int(n_jobs)

    def __call__(self, archs: Sequence[Hashable]) -> np.ndarray:
        strings = [self.space.to_string(a) for a in archs]
        if self.n_jobs > 1 and len(strings) > 1:
            with ProcessPoolExecutor(self.n_jobs) as pool:
                rows = list(pool.map(self.fn, strings))
        else:
            rows = [self.fn(s) for s in strings]
        out = np.array(rows, float).reshape(len(archs), -1)
        if out.shape[1] != len(self.columns):
            raise DataError(f"the evaluator function returned {out.shape[1]} values per "
                            f"arch, expected {len(self.columns)} ({', '.join(self.columns)})")
        bad = np.flatnonzero(~np.isfinite(out).all(1))
        if len(bad):
            raise DataError(f"the evaluator function returned a non-finite value for "
                            f"{strings[bad[0]]}: {out[bad[0]].tolist()}")
        return out


class JointEvaluator(Evaluator):
    """Columns of several evaluators side by side, in the order given."""

    def __init__(self, *parts: Evaluator) -> None:
        if not parts:
            raise ConfigError("JointEvaluator needs at least one evaluator")
        names = [c for p in parts for c in p.columns]
        if len(set(names)) != len(names):
            raise ConfigError(f"evaluators share column names: {names}")
        self.space, self.parts, self.columns = parts[0].space, list(parts), names

    def __call__(self, archs: Sequence[Hashable]) -> np.ndarray:
        return np.concatenate([p(archs) for p in self.parts], axis=1)


__all__ = ["Evaluator", "FunctionEvaluator", "JointEvaluator", "LatencyEvaluator",
           "TableEvaluator"]

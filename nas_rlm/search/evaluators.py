"""True evaluations behind one interface: a table lookup, an onnxruntime measurement, or a
user's own function (for instance a training script).

A surrogate-assisted search spends a budget of *true* evaluations, so whatever produces them
must look the same to the loop (DESIGN §1.4). An :class:`Evaluator` maps canonical archs to
an ``(n, len(columns))`` matrix of true values in natural units (accuracy in %, latency in
ms). Evaluators are combined column-wise with :class:`JointEvaluator`, e.g. accuracy from a
user's table and latency measured on this machine.

Batches run in this process by default. :class:`FunctionEvaluator` hands a batch to an
executor (``executors``: local processes, or Ray beyond one machine -- nas-rlm has no
scheduler of its own) and can keep every finished result on disk (:class:`EvaluationStore`).
Latency measurement always runs one arch at a time, in this process, because concurrent runs
on the same cores distort each other's timings.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ArchError, ConfigError, DataError
from ..search_spaces.base import SearchSpace

if TYPE_CHECKING:
    from .executors import Executor


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


class EvaluationStore:
    """Finished evaluations on disk, one JSON file per arch, written atomically the moment a
    result exists. A rerun reads them instead of evaluating again, so a killed run (or a
    killed Ray driver) loses only what was still running; an interrupted evaluation left no
    file and simply runs again. ``tag`` (the evaluation's settings) must match."""

    def __init__(self, directory: str | os.PathLike, columns: Sequence[str],
                 tag: dict | None = None) -> None:
        self.dir, self.columns, self.tag = Path(directory), list(columns), dict(tag or {})

    def _path(self, arch: str) -> Path:
        import hashlib

        return self.dir / f"{hashlib.sha256(arch.encode()).hexdigest()[:24]}.json"

    def _read(self, path: Path) -> dict:
        """One stored record; a damaged file names itself, wherever it is read."""
        import json

        try:
            rec = json.loads(path.read_text())
            rec["values"] = [float(v) for v in rec["values"]]
            rec["arch"] = str(rec["arch"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DataError(f"{path} is damaged ({e}); delete it to evaluate that arch "
                            "again") from e
        return rec

    def get(self, arch: str) -> list[float] | None:
        path = self._path(arch)
        if not path.is_file():
            return None
        rec = self._read(path)
        if rec["arch"] != arch or rec.get("columns") != self.columns:
            raise DataError(f"{path} holds {rec['arch']!r} {rec.get('columns')}, not "
                            f"{arch!r} {self.columns}; delete it")
        if rec.get("tag") != self.tag:
            raise DataError(f"{path} was evaluated with {rec.get('tag')}, not {self.tag}; "
                            "use a fresh run directory (or --force-restart)")
        return rec["values"]

    def put(self, arch: str, values: Sequence[float]) -> None:
        from ..io import write_json

        write_json(self._path(arch), {"arch": arch, "columns": self.columns, "tag": self.tag,
                                      "values": [float(v) for v in values]})

    def archs(self) -> list[str]:
        """Every arch with a stored result, oldest first."""
        files = sorted(self.dir.glob("*.json"), key=lambda p: p.stat().st_mtime_ns) \
            if self.dir.is_dir() else []
        return [self._read(path)["arch"] for path in files]


class FunctionEvaluator(Evaluator):
    """A user's function ``arch string -> sequence of values`` (e.g. train and test a net).

    ``executor`` runs a batch (``executors.LocalExecutor(n_jobs)`` by default; a
    ``RayExecutor`` scales out); ``fn`` must then be picklable (a module-level function, or an
    instance of a module-level class). With a ``store`` every finished result is saved at once
    and never computed again.
    """

    def __init__(self, space: SearchSpace, columns: Sequence[str],
                 fn: Callable[[str], Sequence[float]], n_jobs: int = 1,
                 executor: Executor | None = None, store: EvaluationStore | None = None
                 ) -> None:
        from .executors import LocalExecutor

        self.space, self.columns, self.fn = space, list(columns), fn
        self.executor = executor or LocalExecutor(int(n_jobs))
        self.store = store

    def __call__(self, archs: Sequence[Hashable]) -> np.ndarray:
        strings = [self.space.to_string(a) for a in archs]
        out = np.full((len(strings), len(self.columns)), np.nan)
        todo = []
        for i, s in enumerate(strings):
            hit = self.store.get(s) if self.store is not None else None
            if hit is None:
                todo.append(i)
            else:
                out[i] = self._check(s, hit)
        for j, row in self.executor.map(self.fn, [strings[i] for i in todo]):
            i = todo[j]
            out[i] = self._check(strings[i], row)
            if self.store is not None:
                self.store.put(strings[i], out[i])
        return out

    def _check(self, arch: str, row: Any) -> np.ndarray:
        values = np.asarray(row, float).reshape(-1)
        if len(values) != len(self.columns):
            raise DataError(f"the evaluator function returned {len(values)} values per "
                            f"arch, expected {len(self.columns)} ({', '.join(self.columns)})")
        if not np.isfinite(values).all():
            raise DataError(f"the evaluator function returned a non-finite value for "
                            f"{arch}: {values.tolist()}")
        return values


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


def parts_of(evaluator: Evaluator) -> list[Evaluator]:
    """The evaluators behind ``evaluator``: a joint one's parts, else itself."""
    return list(evaluator.parts) if isinstance(evaluator, JointEvaluator) else [evaluator]


def stored_archs(evaluator: Evaluator) -> list[Hashable]:
    """Archs whose results some part of ``evaluator`` keeps on disk (a resumed run adds them
    before choosing anything new, so nothing already paid for is lost)."""
    out: dict[Hashable, None] = {}
    for part in parts_of(evaluator):
        store = getattr(part, "store", None)
        if store is not None:
            out.update(dict.fromkeys(evaluator.space.parse(a) for a in store.archs()))
    return list(out)


__all__ = ["EvaluationStore", "Evaluator", "FunctionEvaluator", "JointEvaluator",
           "LatencyEvaluator", "TableEvaluator", "parts_of", "stored_archs"]

"""Typed, validated loaders for the benchmark tables.

Plain ``csv`` + numpy: the tables are small, and pandas would be a heavy
dependency for a few read-only columns.  Every numeric cell is checked once at
load time, so a NaN or a shifted column fails here with the file, row and column
named, instead of surfacing later as a strange Kendall τ.

Parsed tables are cached per (resolved path, mtime, size) and shared between
callers; their arrays are read-only so that one caller cannot corrupt another's
view.  Do not mutate ``archs`` or ``meta`` either.
"""

from __future__ import annotations

import csv
import functools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nas_rlm.data.paths import resolve_data_dir
from nas_rlm.errors import DataError, UnknownNameError
from nas_rlm.io import sha256_file

NB201_ACCURACY_FILES: dict[int, str] = {
    200: "nb201_nats_tss_200ep/nats_bench.csv",
    12: "nb201_minibench_12ep/nb201_12epoch_accs.csv",
}
"""Accuracy table per training budget (epochs). 200 is the project's default label."""

LATENCY_FILES: dict[str, str] = {
    "nb201": "help_latency/nb201_latency_ms.csv",
    "fbnet": "help_latency/fbnet_latency_ms.csv",
    "ofa_mbv3": "help_latency/ofa_mbv3_latency_ms.csv",
}
"""Latency table (ms) per search space."""

LATENCY_SPACES: tuple[str, ...] = tuple(LATENCY_FILES)

#: Latency columns measured through a converter that folds constants and drops branches that
#: reach no output (HW-NAS-Bench ran pixel3 and raspi4 as TFLite models): the RLM reads them
#: from ``space.converted_view()``, not the executed graph (docs/rlm_v2.md, "What pixel3
#: and raspi4 ran").
CONVERTER_COLUMNS: frozenset[str] = frozenset({"pixel3", "raspi4"})

# Friendly names shared by both fidelities, so code can switch ``epochs`` without
# renaming columns. The 12-epoch aliases point at the *test* columns, the only
# ones the 200-epoch table has.
_ACCURACY_ALIASES: dict[int, dict[str, str]] = {
    200: {
        "cifar10": "CIFAR10TestAccuracy200Epochs",
        "cifar100": "CIFAR100TestAccuracy200Epochs",
        "imagenet16-120": "ImageNetTestAccuracy200Epochs",
    },
    12: {
        "cifar10": "cifar10-test",
        "cifar100": "cifar100-test",
        "imagenet16-120": "imagenet-test",
    },
}


#: Every accuracy objective name (the aliases of all fidelities, and ``accuracy``, a user's
#: own column): quantities of the function a network computes, not of a device running it.
ACCURACY_NAMES: frozenset[str] = frozenset(
    {"accuracy", *(a for aliases in _ACCURACY_ALIASES.values() for a in aliases)})


@dataclass(frozen=True, eq=False)
class AccuracyTable:
    """NB201 accuracies (%), in file order; :meth:`column_for` gives them for given archs.

    ``columns`` holds the raw numeric columns under their file names; ``aliases``
    maps friendly names (``cifar10``, ``cifar100``, ``imagenet16-120``) to them.
    ``meta`` holds the non-numeric columns as raw strings (e.g. ``UniqueString``).
    """

    archs: list[str]
    columns: dict[str, np.ndarray]
    source: Path
    epochs: int = 200
    aliases: dict[str, str] = field(default_factory=dict)
    meta: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.archs)

    @property
    def column_names(self) -> list[str]:
        """Raw column names, then aliases."""
        return [*self.columns, *self.aliases]

    def column(self, name: str) -> np.ndarray:
        """A column by raw name or alias; unknown names list the valid ones."""
        if name in self.columns:
            return self.columns[name]
        if name in self.aliases:
            return self.columns[self.aliases[name]]
        aliases = ", ".join(f"{a} (= {r})" for a, r in self.aliases.items())
        raise UnknownNameError(
            f"unknown accuracy column {name!r} in {self.source.name} ({self.epochs} epochs); "
            f"valid: {', '.join(self.columns)}; aliases: {aliases}"
        )

    def column_for(self, name: str, archs: Sequence[str]) -> np.ndarray:
        """Column ``name`` for ``archs`` (the table's own arch strings), matched by arch,
        never by position: a re-sorted file gives the same labels."""
        return self.column(name)[rows_of(self.archs, archs, self.source)]


def rows_of(table_archs: Sequence[str], archs: Sequence[str], source: Path) -> np.ndarray:
    """Row index in ``table_archs`` of each of ``archs``; a missing or repeated arch in the
    table is a :class:`DataError` naming the file."""
    if list(table_archs) == list(archs):
        return np.arange(len(archs))
    where: dict[str, int] = {}
    for i, a in enumerate(table_archs):
        if where.setdefault(a, i) != i:
            raise DataError(f"{source}: arch {a!r} appears in rows {where[a]} and {i}")
    missing = [a for a in archs if a not in where]
    if missing:
        raise DataError(f"{source}: no row for {len(missing)} arch(s), e.g. {missing[0]!r}. "
                        "Check the file with `nas-rlm data verify`.")
    return np.array([where[a] for a in archs], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class LatencyTable:
    """Per-device latencies (ms) of the archs of one search space, in file order.

    ``archs`` are the space's canonical strings: NB201 ``arch_str``; FBNet the
    ``op_idx_list`` (22 space-separated op indices); OFA-MBv3 ``ofa_arch_str``
    (``ks=..;e=..;d=..;r=..``, padding slots kept as in the file).  ``meta`` holds
    the file's non-numeric columns as raw strings (index, ``op_names``, ``ks``...).
    """

    space: str
    archs: list[str]
    devices: dict[str, np.ndarray]
    source: Path
    meta: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.archs)

    @property
    def device_names(self) -> list[str]:
        """Device columns in file order."""
        return list(self.devices)

    def device(self, name: str) -> np.ndarray:
        """Latencies (ms) on one device; unknown names list the valid ones."""
        try:
            return self.devices[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown device {name!r} for space {self.space!r}; valid devices "
                f"({len(self.devices)}): {', '.join(self.devices)}"
            ) from None


def ofa_arch_str(ks: Sequence[int], e: Sequence[int], d: Sequence[int], r: int) -> str:
    """Canonical OFA-MBv3 string, e.g. ``ks=7,5,...;e=6,4,...;d=2,2,2,2,3;r=204``.

    Fields in OFA's arch-dict order. All 20 ``ks``/``e`` slots are kept (inactive
    ones included), so the string is a lossless key for a table row.
    """
    join = ",".join
    return f"ks={join(map(str, ks))};e={join(map(str, e))};d={join(map(str, d))};r={int(r)}"


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Spec:
    text_cols: tuple[str, ...]  # non-numeric columns; every other column is numeric
    index_col: str | None  # must read 0..n-1, so row i is arch index i
    arch: Callable[[Path, int, dict[str, list[str]]], str]  # (path, row, text cols) -> id


def _col(name: str) -> Callable[[Path, int, dict[str, list[str]]], str]:
    def get(path: Path, i: int, text: dict[str, list[str]]) -> str:
        return " ".join(text[name][i].split())

    return get


def _ofa_arch(path: Path, i: int, text: dict[str, list[str]]) -> str:
    parts = {}
    for name, n in (("ks", 20), ("e", 20), ("d", 5), ("r", 1)):
        cell = text[name][i]
        try:
            values = [int(v) for v in cell.split()]
        except ValueError:
            values = []
        if len(values) != n:
            raise DataError(
                f"{path}: row {i} (line {i + 2}), column {name!r}: expected {n} "
                f"space-separated integers, got {cell!r}"
            )
        parts[name] = values
    return ofa_arch_str(parts["ks"], parts["e"], parts["d"], parts["r"][0])


_SPECS: dict[str, _Spec] = {
    NB201_ACCURACY_FILES[200]: _Spec(
        ("ArchitectureString", "UniqueString"), None, _col("ArchitectureString")
    ),
    NB201_ACCURACY_FILES[12]: _Spec(("nb201_index", "arch_str"), "nb201_index", _col("arch_str")),
    LATENCY_FILES["nb201"]: _Spec(("nb201_index", "arch_str"), "nb201_index", _col("arch_str")),
    LATENCY_FILES["fbnet"]: _Spec(
        ("help_index", "op_idx_list", "op_names"), "help_index", _col("op_idx_list")
    ),
    LATENCY_FILES["ofa_mbv3"]: _Spec(("help_index", "ks", "e", "d", "r"), "help_index", _ofa_arch),
}


def _cell_error(path: Path, i: int, name: str, value: str) -> DataError:
    if value.strip() == "":
        what = "empty cell"
    else:
        try:
            what = "non-finite value" if not math.isfinite(float(value)) else "bad value"
        except ValueError:
            what = "non-numeric value"
    return DataError(f"{path}: row {i} (line {i + 2}), column {name!r}: {what} {value!r}")


def _numeric(path: Path, name: str, values: list[str]) -> np.ndarray:
    """Parse one column; numpy's bulk parse is the fast path, the loop finds the bad cell."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except ValueError:
        arr = None
    if arr is None or not np.isfinite(arr).all():
        for i, v in enumerate(values):
            try:
                ok = math.isfinite(float(v))
            except ValueError:
                ok = False
            if not ok:
                raise _cell_error(path, i, name, v)
        arr = np.array([float(v) for v in values], dtype=np.float64)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True)
class _Parsed:
    archs: list[str]
    numeric: dict[str, np.ndarray]
    text: dict[str, list[str]]


def _parse(path: Path, spec: _Spec) -> _Parsed:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise DataError(f"{path}: empty file (no header)")
    header, body = rows[0], rows[1:]
    if len(set(header)) != len(header):
        raise DataError(f"{path}: duplicate column names in header {header}")
    missing = [c for c in spec.text_cols if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; header is {header}")
    if not body:
        raise DataError(f"{path}: no data rows")
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise DataError(
                f"{path}: row {i} (line {i + 2}) has {len(row)} cells, expected {len(header)}"
            )
    cols = dict(zip(header, (list(c) for c in zip(*body, strict=True)), strict=True))
    text = {c: cols[c] for c in header if c in spec.text_cols}
    numeric = {c: _numeric(path, c, cols[c]) for c in header if c not in spec.text_cols}
    if spec.index_col is not None:
        for i, v in enumerate(text[spec.index_col]):
            if v.strip() != str(i):
                raise DataError(
                    f"{path}: row {i} (line {i + 2}), column {spec.index_col!r}: expected "
                    f"{i} (rows must be in index order), got {v!r}"
                )
    archs = [spec.arch(path, i, text) for i in range(len(body))]
    for i, a in enumerate(archs):
        if not a:
            raise DataError(f"{path}: row {i} (line {i + 2}): empty architecture cell")
    return _Parsed(archs, numeric, text)


def _locate(data_dir: str | os.PathLike[str] | None, relpath: str) -> tuple[Path, int, int]:
    root = resolve_data_dir(data_dir)
    path = (root / relpath).resolve()
    try:
        st = path.stat()
    except OSError:
        raise DataError(
            f"missing data file {path} (data directory {root}). Check the directory with "
            "`nas-rlm data verify`, or download the tables with `nas-rlm data pull`."
        ) from None
    return path, st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=16)
def _check_pinned(path: Path, mtime_ns: int, size: int, relpath: str) -> None:
    """The file's sha256 against its pin, hashed once per process and (mtime, size)."""
    from nas_rlm.data.registry import PINNED_FILES

    pin = next(pf for pf in PINNED_FILES if pf.relpath == relpath)
    if size != pin.size or sha256_file(path) != pin.sha256:
        raise DataError(
            f"{path} is not the pinned {relpath} (its sha256 or size differs), so its labels "
            "cannot be trusted. Run `nas-rlm data verify` to see which files differ and "
            "`nas-rlm data pull` to restore them."
        )


# The stat fields are part of the key so that a re-pulled file is re-read.
@functools.lru_cache(maxsize=16)
def _load_accuracy(path: Path, mtime_ns: int, size: int, epochs: int) -> AccuracyTable:
    p = _parse(path, _SPECS[NB201_ACCURACY_FILES[epochs]])
    return AccuracyTable(p.archs, p.numeric, path, epochs, dict(_ACCURACY_ALIASES[epochs]), p.text)


@functools.lru_cache(maxsize=16)
def _load_latency(path: Path, mtime_ns: int, size: int, space: str) -> LatencyTable:
    p = _parse(path, _SPECS[LATENCY_FILES[space]])
    return LatencyTable(space, p.archs, p.numeric, path, p.text)


def clear_cache() -> None:
    """Forget every parsed table (tests; long-lived processes after a re-pull)."""
    _load_accuracy.cache_clear()
    _load_latency.cache_clear()
    _check_pinned.cache_clear()


def _located(data_dir: str | os.PathLike[str] | None, relpath: str,
             verify: bool) -> tuple[Path, int, int]:
    where = _locate(data_dir, relpath)
    if verify:
        _check_pinned(*where, relpath)
    return where


def load_nb201_accuracy(
    data_dir: str | os.PathLike[str] | None = None, epochs: int = 200, verify: bool = True
) -> AccuracyTable:
    """NB201 accuracy after ``epochs`` of training: 200 (the default label) or 12.

    The two budgets are different labels (12-epoch numbers are low-fidelity), so
    each call returns exactly one of them and there is no way to get a mix. ``verify`` checks
    the file against its pinned sha256 (once per process); only tests of the parser skip it.

    Raises:
        UnknownNameError: ``epochs`` is not 200 or 12.
        DataError: the data directory or file is missing or not the pinned one, or a cell
            is bad.
    """
    if epochs not in NB201_ACCURACY_FILES or isinstance(epochs, bool):
        raise UnknownNameError(
            f"no NB201 accuracy table for epochs={epochs!r}; valid: 200 "
            f"({NB201_ACCURACY_FILES[200]}, the default label) or 12 "
            f"({NB201_ACCURACY_FILES[12]}, low-fidelity)"
        )
    return _load_accuracy(*_located(data_dir, NB201_ACCURACY_FILES[epochs], verify), epochs)


def load_latency(space: str, data_dir: str | os.PathLike[str] | None = None,
                 verify: bool = True) -> LatencyTable:
    """Per-device latency (ms) table of ``space``: ``nb201``, ``fbnet`` or ``ofa_mbv3``.

    Raises:
        UnknownNameError: unknown space (the message lists the valid ones).
        DataError: the data directory or file is missing or not the pinned one (``verify``),
            or a cell is bad.
    """
    if space not in LATENCY_FILES:
        raise UnknownNameError(
            f"no latency table for space {space!r}; valid: {', '.join(LATENCY_SPACES)}"
        )
    return _load_latency(*_located(data_dir, LATENCY_FILES[space], verify), space)

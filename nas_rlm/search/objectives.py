"""Objective and constraint strings, resolved against what a surrogate predicts.

Users name quantities the way DESIGN §1.4 does (``accuracy``, ``latency:pixel3``,
``latency:pixel3<=4.5``); the search needs column indices into the surrogate's output and a
direction. Parsing happens once, up front, so a typo fails before any model is run and the
message lists the names that would have worked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import NasRlmError, UnknownNameError

ACCURACY = "accuracy"
LATENCY = "latency"


class SearchSpecError(NasRlmError, ValueError):
    """A malformed objective or constraint string, or an unusable combination of them."""


@dataclass(frozen=True)
class Objective:
    """One predicted quantity, with the direction the search wants it to go.

    ``column`` is the surrogate's own name (``cifar10``, ``pixel3``) and ``index`` its position
    in the surrogate's output; ``spec`` is the user's spelling, kept for reports.
    """

    spec: str
    column: str
    index: int
    maximize: bool

    @property
    def label(self) -> str:
        """Axis / column label with units: accuracy in %, latencies in ms."""
        if self.maximize:
            return f"{self.column} accuracy (%)"
        return f"{self.column} latency (ms)"

    def to_min(self, values: np.ndarray) -> np.ndarray:
        """pymoo minimises, so maximised quantities are negated."""
        return -np.asarray(values, float) if self.maximize else np.asarray(values, float)


@dataclass(frozen=True)
class Constraint:
    """A budget on one predicted quantity: ``target <= bound`` or ``target >= bound``."""

    spec: str
    target: Objective
    op: str
    bound: float

    def g(self, values: np.ndarray) -> np.ndarray:
        """pymoo's convention: feasible where ``g <= 0``."""
        v = np.asarray(values, float)
        return v - self.bound if self.op == "<=" else self.bound - v

    def satisfied(self, values: np.ndarray) -> np.ndarray:
        return self.g(values) <= 0


def objective_matrix(objectives: Sequence[Objective], values: np.ndarray) -> np.ndarray:
    """``F`` to minimise from predicted or true values ``(n, m)`` in the surrogate's columns."""
    values = np.asarray(values, float)
    return np.column_stack([o.to_min(values[:, o.index]) for o in objectives]).reshape(
        len(values), len(objectives))


def constraint_matrix(constraints: Sequence[Constraint], values: np.ndarray) -> np.ndarray:
    """``G`` (feasible where every column is ``<= 0``) from values ``(n, m)``."""
    values = np.asarray(values, float)
    if not constraints:
        return np.zeros((len(values), 0))
    return np.column_stack([c.g(values[:, c.target.index]) for c in constraints])


def _valid_names(names: Sequence[str]) -> str:
    lat = ", ".join(f"{LATENCY}:{n}" for n in names[1:])
    return f"{ACCURACY} (= {names[0]}), {lat}" if lat else f"{ACCURACY} (= {names[0]})"


def resolve(spec: str, names: Sequence[str]) -> Objective:
    """One quantity: ``accuracy`` (the surrogate's first output, maximised), ``latency:DEV``
    (minimised; any output, the first included, so a latency-only search such as FBNet's
    pixel3 vs. 1080ti_1 works), or a bare output name (the first maximised, the rest
    minimised)."""
    names = list(names)
    if not names:
        raise SearchSpecError("the surrogate predicts no objectives")
    if not isinstance(spec, str) or not spec.strip():
        raise SearchSpecError(f"empty objective name; valid: {_valid_names(names)}")
    s = spec.strip()
    kind, sep, dev = s.partition(":")
    kind, dev = kind.strip(), dev.strip()
    if sep:
        if kind == ACCURACY and dev in names[:1]:
            return Objective(s, names[0], 0, True)
        if kind == LATENCY and dev in names:
            return Objective(s, dev, names.index(dev), False)
        if kind not in (ACCURACY, LATENCY):
            raise SearchSpecError(
                f"objective {s!r} must look like '{ACCURACY}' or '{LATENCY}:DEVICE'; valid: "
                f"{_valid_names(names)}"
            )
        raise UnknownNameError(
            f"unknown {kind} {dev!r} in {s!r}; this surrogate predicts: {_valid_names(names)}"
        )
    if s == ACCURACY:
        return Objective(s, names[0], 0, True)
    if s in names:
        i = names.index(s)
        return Objective(s, s, i, i == 0)
    raise UnknownNameError(
        f"unknown objective {s!r}; this surrogate predicts: {_valid_names(names)}"
    )


def objective_specs(specs: str | Sequence[str]) -> tuple[str, ...]:
    """A comma-separated string or a sequence of objective specs, as a tuple (blanks
    dropped, each stripped); non-strings are kept for :func:`resolve` to name."""
    items = specs.split(",") if isinstance(specs, str) else list(specs)
    return tuple(i.strip() if isinstance(i, str) else i for i in items
                 if not (isinstance(i, str) and not i.strip()))


def constraint_specs(specs: str | Sequence[str] | None) -> tuple[str, ...]:
    """One constraint string, a sequence of them, or None (unconstrained), as a tuple."""
    if specs is None:
        return ()
    return (specs,) if isinstance(specs, str) else tuple(specs)


def parse_objectives(specs: str | Sequence[str], names: Sequence[str]) -> list[Objective]:
    """At least two distinct objectives (a comma-separated string or a list)."""
    objs = [resolve(i, names) for i in objective_specs(specs)]
    if len(objs) < 2:
        raise SearchSpecError(
            f"multi-objective search needs at least 2 objectives, got {len(objs)} "
            f"({', '.join(o.spec for o in objs) or 'none'}); e.g. {ACCURACY},"
            f"{LATENCY}:{names[1] if len(names) > 1 else 'DEVICE'}"
        )
    seen: dict[str, str] = {}
    for o in objs:
        if o.column in seen:
            raise SearchSpecError(f"objectives {seen[o.column]!r} and {o.spec!r} are the same")
        seen[o.column] = o.spec
    return objs


_CONSTRAINT = re.compile(
    r"^\s*(?P<target>[^<>=]+?)\s*(?P<op><=|>=)\s*(?P<bound>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)"
    r"\s*(?P<unit>ms|%)?\s*$"
)


def parse_constraint(spec: str, names: Sequence[str]) -> Constraint:
    """``latency:pixel3<=4.5`` (optional unit ``ms``; ``accuracy>=90`` may say ``%``)."""
    if not isinstance(spec, str):
        raise SearchSpecError(f"constraint must be a string, got {type(spec).__name__}")
    m = _CONSTRAINT.match(spec)
    if m is None:
        raise SearchSpecError(
            f"constraint {spec!r} must look like 'QUANTITY<=NUMBER' or 'QUANTITY>=NUMBER', "
            f"e.g. '{LATENCY}:{names[1] if len(names) > 1 else 'DEVICE'}<=4.5'; quantities: "
            f"{_valid_names(names)}"
        )
    target = resolve(m["target"], names)
    unit = m["unit"]
    if unit and unit != ("%" if target.maximize else "ms"):
        raise SearchSpecError(
            f"constraint {spec!r}: {target.column} is in {'%' if target.maximize else 'ms'}, "
            f"not {unit}"
        )
    bound = float(m["bound"])
    if not math.isfinite(bound):
        raise SearchSpecError(f"constraint {spec!r}: the bound {m['bound']} is not a finite "
                              "number")
    return Constraint(spec.strip(), target, m["op"], bound)


def parse_constraints(specs: str | Sequence[str] | None, names: Sequence[str]) -> list[Constraint]:
    """Any number of constraints; ``None`` or ``[]`` means unconstrained."""
    return [parse_constraint(s, names) for s in constraint_specs(specs)]


def spec_columns(specs: Sequence[str]) -> list[str]:
    """Column names that objective/constraint specs name, read before any surrogate or table
    exists (``latency:pixel3<=4.5`` -> ``pixel3``), each once, so a caller can load exactly
    those columns; plain ``accuracy`` names none (it means the first column)."""
    out = []
    for spec in specs:
        m = _CONSTRAINT.match(spec)
        head = (m["target"] if m else spec).strip()
        _kind, sep, dev = head.partition(":")
        name = dev.strip() if sep else head
        if name and name != ACCURACY:
            out.append(name)
    return list(dict.fromkeys(out))  # a budget on an objective's own column names it twice

"""Label matrices by objective name: ``cifar10`` and other accuracies, or any device column.

One place that turns ``["cifar10", "pixel3"]`` into an ``(n_archs, 2)`` matrix, so the CLI,
training and evaluation name targets the same way and reject unknown ones the same way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from nas_rlm.data.tables import load_latency, load_nb201_accuracy
from nas_rlm.errors import UnknownNameError


def target_names(space: str, data_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Every objective name with a table for ``space``."""
    names = list(load_latency(space, data_dir).device_names)
    if space == "nb201":
        names = list(load_nb201_accuracy(data_dir).aliases) + names
    return names


def load_targets(
    space: str, names: Sequence[str], data_dir: str | os.PathLike[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """``(archs, Y)``: the latency table's arch strings (index order) and one column per
    name; accuracy rows are matched to them by arch string."""
    lat = load_latency(space, data_dir)
    acc = load_nb201_accuracy(data_dir) if space == "nb201" else None
    cols = []
    for name in names:
        if acc is not None and name in acc.aliases:
            cols.append(acc.column_for(name, lat.archs))
        elif name in lat.devices:
            cols.append(lat.device(name))
        else:
            raise UnknownNameError(
                f"unknown objective {name!r} for {space}; valid: "
                f"{', '.join(target_names(space, data_dir))}"
            )
    return list(lat.archs), np.stack(cols, axis=1).astype(np.float64)

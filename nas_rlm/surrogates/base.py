"""The one contract every surrogate follows: the RLM and every baseline.

A surrogate is built from a ``SearchSpace`` and its objective names, fitted on archs with a
label matrix (``fit(archs, Y)``), and predicts *samples*: an array of shape
``(n_archs, k, n_objectives)``; ``predict_point`` is the estimate everything ranks by.
Uncertainty is derived from the samples the same way for every model, so calibration
compares like with like.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError


class Surrogate(ABC):
    #: Names of the predicted quantities, in the order of the last axis of ``predict``.
    objectives: list[str]

    @abstractmethod
    def fit(self, archs: Sequence, Y: np.ndarray) -> Surrogate:
        """Fit on ``archs`` with labels ``Y`` of shape ``(n_archs, n_objectives)``."""

    @abstractmethod
    def predict(self, archs: Sequence, k: int = 8) -> np.ndarray:
        """Samples of shape ``(n_archs, k, n_objectives)``."""

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted surrogate into the directory ``path``;
        ``surrogates.saved.load_surrogate`` reads it back."""
        raise NotImplementedError(f"{type(self).__name__} cannot be saved")

    def predict_point(self, archs: Sequence) -> np.ndarray:
        """The point estimate every consumer ranks by, ``(n_archs, n_objectives)``: the
        median of 8 samples here; a surrogate with a finer readout overrides it (the RLM
        returns the exact median of its distribution, without the samples' noise)."""
        return point_estimate(self.predict(archs, 8))


def point_estimate(samples: np.ndarray) -> np.ndarray:
    """The median over samples: robust to the odd wild draw of a sampled decoder."""
    return np.median(samples, axis=1)


def uncertainty(samples: np.ndarray) -> np.ndarray:
    """Half the 25-75 % inter-quantile range over samples (0 for a deterministic model)."""
    q25, q75 = np.percentile(samples, [25, 75], axis=1)
    return (q75 - q25) / 2


def check_labels(Y: np.ndarray, n_archs: int, objectives: Sequence[str]) -> np.ndarray:
    """Labels as a float matrix; NaN/inf or a shape mismatch raise an error naming the cell."""
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.shape != (n_archs, len(objectives)):
        raise DataError(
            f"labels have shape {Y.shape}, expected ({n_archs}, {len(objectives)}) for "
            f"objectives {list(objectives)}"
        )
    bad = np.argwhere(~np.isfinite(Y))
    if len(bad):
        r, c = bad[0]
        raise DataError(
            f"label for arch {r}, objective {objectives[c]!r} is {Y[r, c]} "
            f"({len(bad)} non-finite labels in all); drop or fix them before fitting"
        )
    return Y

"""Front quality on one fixed scale (DESIGN §3), with pymoo's indicators.

Every value here is in *minimisation* form (accuracy negated). Objectives are normalised by
their min/max over the whole space, and the hypervolume reference point is 1.1 per objective,
so HV ratios of different runs, seeds and algorithms are comparable.
"""

from __future__ import annotations

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.indicators.igd_plus import IGDPlus
from pymoo.util.nds.non_dominated_sorting import find_non_dominated

REF = 1.1


def non_dominated(F: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``F`` (minimisation; duplicates all kept)."""
    F = np.asarray(F, float)
    if len(F) == 0:
        return np.zeros(0, int)
    return np.asarray(find_non_dominated(F), int)


def normalize(F: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Map ``[lo, hi]`` to ``[0, 1]`` per objective (a constant objective maps to 0)."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (np.asarray(F, float) - lo) / span


def hypervolume(F: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """HV of normalised ``F`` against (1.1, ..., 1.1); 0 for an empty set."""
    F = np.asarray(F, float)
    if len(F) == 0:
        return 0.0
    return float(HV(ref_point=np.full(F.shape[1], REF))(normalize(F, lo, hi)))


def front_metrics(found: np.ndarray, true_front: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray) -> dict[str, float | None]:
    """HV ratio (found / true front) and IGD+ to the true front, on normalised objectives.

    ``found`` holds the *true* values of the archs a search returned, so a surrogate cannot
    flatter itself; dominated or duplicate rows in it are harmless (HV ignores them).
    """
    found, true_front = np.asarray(found, float), np.asarray(true_front, float)
    hv_true = hypervolume(true_front, lo, hi)
    hv_found = hypervolume(found, lo, hi)
    igd = None
    if len(found) and len(true_front):
        igd = float(IGDPlus(normalize(true_front, lo, hi))(normalize(found, lo, hi)))
    return {
        "hv_ratio": hv_found / hv_true if hv_true > 0 else None,
        "igd_plus": igd,
        "hv": hv_found,
        "hv_true_front": hv_true,
    }

"""Ranking metrics of the DESIGN §3 protocol, from ``scipy.stats``: one definition for all."""

from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau, spearmanr


def precision_at_top(pred: np.ndarray, true: np.ndarray, larger_is_better: bool,
                     top: float = 0.05) -> float:
    """Share of the truly best ``top`` fraction found among the predicted best ``top``."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    k = max(1, round(len(true) * top))
    sign = -1 if larger_is_better else 1
    best_true = set(np.argsort(sign * true, kind="stable")[:k].tolist())
    best_pred = set(np.argsort(sign * pred, kind="stable")[:k].tolist())
    return len(best_true & best_pred) / k


def ranking_scores(pred: np.ndarray, true: np.ndarray, larger_is_better: bool,
                   top: float = 0.05) -> dict[str, float]:
    """Kendall τ (tau-b), Spearman ρ and precision@top (accuracy: larger is better)."""
    return {"kendall_tau": float(kendalltau(pred, true).statistic),
            "spearman": float(spearmanr(pred, true).statistic),
            "precision_top5": precision_at_top(pred, true, larger_is_better, top)}

"""The protocol's ranking metrics on cases with known answers."""

import numpy as np
import pytest

from nas_rlm.evaluation.metrics import precision_at_top, ranking_scores


def test_perfect_and_reversed_rankings():
    true = np.arange(100.0)
    assert ranking_scores(true * 2, true, True) == pytest.approx(
        {"kendall_tau": 1.0, "spearman": 1.0, "precision_top5": 1.0})
    rev = ranking_scores(-true, true, True)
    assert rev["kendall_tau"] == pytest.approx(-1.0) and rev["precision_top5"] == 0.0


def test_precision_direction():
    true = np.arange(100.0)  # latency: the best are the smallest
    pred = true.copy()
    pred[:3] = 1000  # three of the five fastest predicted slow
    assert precision_at_top(pred, true, larger_is_better=False) == pytest.approx(2 / 5)
    # ...and, read as accuracy, those three crowd out three of the true top five
    assert precision_at_top(pred, true, larger_is_better=True) == pytest.approx(2 / 5)

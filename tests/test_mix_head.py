"""The mix head alone: a ridge in log space over decoded source values, blended with the
objective's own value; pure numpy, no model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from nas_rlm.surrogates.mix_head import MixHead


def _devices(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three known devices and a new one that is a product of powers of two of them."""
    rng = np.random.default_rng(seed)
    X = np.exp(rng.normal(size=(n, 3)))
    y = 2.0 * X[:, 0] ** 0.7 * X[:, 2] ** -0.4
    return X, y


def test_fit_recovers_a_mix_of_known_devices():
    X, y = _devices(20)
    head = MixHead.fit(["a", "b", "c"], X, y)
    Xt, yt = _devices(500, seed=1)
    assert spearmanr(np.exp(head.log_predict(Xt)), yt).statistic > 0.99
    assert abs(head.coef[1]) < 0.1 * abs(head.coef[0])  # the unused device gets no weight
    assert head.coef[2] < 0  # a device may enter with a negative power


def test_blend_is_the_weighted_geometric_mean():
    X, y = _devices(20)
    head = MixHead.fit(["a", "b", "c"], X, y, weight=0.25)
    own = np.full(len(y), 3.0)
    expected = np.exp(0.25 * head.log_predict(X) + 0.75 * np.log(3.0))
    np.testing.assert_allclose(head.blend(X, own), expected)
    # a decoded 0 (a latency clipped at 0) is read at a floor, never log(0)
    assert np.isfinite(head.blend(np.zeros((2, 3)), np.zeros(2))).all()
    # samples: any leading shape
    assert head.blend(np.stack([X, X], 1), np.ones((20, 2))).shape == (20, 2)


def test_blend_samples_moves_their_median_and_keeps_their_spread():
    X, y = _devices(20)
    head = MixHead.fit(["a", "b", "c"], X, y)
    own = np.exp(np.random.default_rng(3).normal(size=(20, 5)))
    out = head.blend_samples(X[:, None, :], own)
    np.testing.assert_allclose(np.median(out, 1), head.blend(X, np.median(own, 1)))
    np.testing.assert_allclose(np.log(out) - np.log(own),
                               np.broadcast_to((np.log(out) - np.log(own))[:, :1], (20, 5)))


def test_weighed_drops_the_sources_of_weight_zero_and_keeps_every_value():
    X, y = _devices(20)
    head = MixHead.fit(["a", "b", "c"], X, y, weight=0.75, linear=True, positive=True)
    zero = MixHead(**{**head.to_dict(), "coef": [0.5, 0.0, 0.25]})
    kept = zero.weighed()
    assert kept.sources == ["a", "c"] and kept.weight == 0.75 and kept.linear
    own = np.exp(np.random.default_rng(2).normal(size=(20, 3)))
    np.testing.assert_allclose(kept.blend(X[:, [0, 2]], own[:, 0]), zero.blend(X, own[:, 0]))
    np.testing.assert_allclose(kept.blend_samples(X[:, None, [0, 2]], own),
                               zero.blend_samples(X[:, None, :], own))
    full = MixHead(**{**head.to_dict(), "coef": [0.5, 0.1, 0.25]})
    assert full.weighed() is full


def test_round_trip_and_damage():
    X, y = _devices(12)
    head = MixHead.fit(["a", "b", "c"], X, y)
    assert MixHead.from_dict(head.to_dict()) == head
    bad = {**head.to_dict(), "coef": [1.0]}
    with pytest.raises(ValueError, match="3 sources has 1 weights"):
        MixHead.from_dict(bad)
    with pytest.raises(TypeError):
        MixHead.from_dict({"sources": ["a"]})
    with pytest.raises(ValueError, match="expected"):
        MixHead.fit(["a", "b"], X, y)


def test_a_source_constant_on_the_labels_gets_no_weight_and_output_stays_in_range():
    """A source that barely varied among the S archs would extrapolate without bound on
    other archs; it gets weight 0, and log y never leaves the labels' range widened by it."""
    X, y = _devices(15)
    X[:, 1] = 5.0 * (1 + 1e-12 * np.arange(15))  # decoded nearly constant on the S archs
    head = MixHead.fit(["a", "b", "c"], X, y)
    assert head.coef[1] == 0.0
    Xt = X.copy()
    Xt[:, 1] = 1e6
    np.testing.assert_allclose(head.log_predict(Xt), head.log_predict(X))
    wild = np.full((1, 3), 1e30)
    span = np.ptp(np.log(y))
    assert np.log(y).min() - span <= head.log_predict(wild)[0] <= np.log(y).max() + span
    const = MixHead.fit(["a", "b", "c"], np.ones((4, 3)), np.array([1.0, 2.0, 3.0, 4.0]))
    assert const.coef == [0.0, 0.0, 0.0]
    json.dumps(const.to_dict(), allow_nan=False)  # strict JSON in rlm.json
    np.testing.assert_allclose(np.exp(const.log_predict(np.ones((1, 3)))), np.exp(np.log(
        [1.0, 2.0, 3.0, 4.0]).mean()))


def test_blend_samples_of_one_point_is_the_blend():
    """``RLM._run`` moves point readouts (k = 1) and samples by the same rule."""
    X, y = _devices(20)
    head = MixHead.fit(["a", "b", "c"], X, y)
    own = np.exp(np.random.default_rng(4).normal(size=20))
    np.testing.assert_allclose(head.blend_samples(X[:, None, :], own[:, None])[:, 0],
                               head.blend(X, own), rtol=1e-12)


def test_a_linear_head_fits_latency_as_a_sum_over_counts():
    """The count head: latency is a sum over what runs, linear in op counts, not in their
    logs; a log-log head of the same counts ranks it worse."""
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 7, size=(200, 3)).astype(float)
    y = 1.5 + counts @ np.array([0.25, 1.5, 0.05])
    head = MixHead.fit(["k1", "k3", "pool"], counts[:80] + 1, y[:80], linear=True)
    assert head.linear
    np.testing.assert_allclose(np.exp(head.log_predict(counts[80:] + 1)), y[80:], rtol=1e-3)
    loglog = MixHead.fit(["k1", "k3", "pool"], counts[:80] + 1, y[:80])
    err = lambda h: np.abs(np.exp(h.log_predict(counts[80:] + 1)) - y[80:]).max()  # noqa: E731
    assert err(head) < 0.01 < err(loglog)
    # a negative prediction is read at the floor and clipped to the labels' range below
    span = np.ptp(np.log(y[:80]))
    low = head.log_predict(np.full((1, 3), -1e6))[0]
    assert np.isfinite(low) and low >= np.log(y[:80]).min() - span - 1e-12
    # saved and read back; a log-log head's dict has no `linear` key (heads saved before it)
    assert MixHead.from_dict(json.loads(json.dumps(head.to_dict()))) == head
    assert "linear" not in loglog.to_dict() and MixHead.from_dict(loglog.to_dict()) == loglog


def test_a_non_negative_count_head_does_not_collapse_on_a_misread_count():
    """MFLOPs is a sum of the convolutions' costs, so it and the conv counts are collinear;
    with little noise an unsigned ridge may split them into a cancelling pair, and one
    misread count then moves the prediction by far more than that count costs. With
    ``positive`` no weight is below zero and the slip costs what the count costs."""
    rng = np.random.default_rng(7)
    k1, k3 = rng.integers(0, 7, 300).astype(float), rng.integers(0, 7, 300).astype(float)
    # mostly the convolutions' FLOPs, collinear with their counts, and some of its own
    mflops = 4.0 * k1 + 36.0 * k3 + rng.normal(0, 10.0, 300)
    X = np.column_stack([mflops, k1, k3])
    # a 3x3 convolution costs less than its FLOPs say: net +0.32 a k3, +0.38 a k1
    y = 2.0 + 0.02 * mflops + 0.3 * k1 - 0.4 * k3 + rng.normal(0, 0.02, 300)
    free = MixHead.fit(["mflops", "k1", "k3"], X, y, 1.0, linear=True)
    signed = MixHead.fit(["mflops", "k1", "k3"], X, y, 1.0, linear=True, positive=True)
    assert signed.alpha == free.alpha and min(signed.coef) >= 0.0
    assert min(free.coef) < 0.0  # the cancelling pair this guards against
    # both rank the clean archs alike
    assert spearmanr(np.exp(signed.log_predict(X)), y).statistic > 0.99
    # a cell whose conv_k3 is misread 6 too high (MFLOPs right): the unsigned head reads it
    # 2.4 ms faster (-0.4 a k3), the non-negative one no faster
    x = np.array([[4.0 * 3 + 36.0 * 2, 3.0, 2.0]])
    slip = x + np.array([[0.0, 0.0, 6.0]])
    moved = lambda h: np.exp(h.log_predict(slip))[0] - np.exp(h.log_predict(x))[0]  # noqa: E731
    assert moved(free) < -2.0 and 0.0 <= moved(signed) < 0.5


def test_a_count_head_is_refitted_without_the_archs_whose_counts_were_misread():
    """Decoded counts carry a few misreads; in the fit they pull the least-squares ridge off
    every other arch. ``fit_count_head`` refits without the archs beyond ``trim`` median
    absolute deviations, and lands on the weights of the clean archs."""
    from nas_rlm.surrogates.recipes import COUNT_HEAD_TRIM, fit_count_head

    rng = np.random.default_rng(3)
    n = 400
    k1, k3 = rng.integers(0, 30, n).astype(float), rng.integers(0, 30, n).astype(float)
    true = np.column_stack([k1, k3])
    y = 1.0 + 0.05 * k1 + 0.2 * k3 + rng.normal(0, 0.05, n)
    decoded = true.copy()
    slips = rng.choice(n, 12, replace=False)  # 3 % of archs: a conv_k3 misread 15 too high
    decoded[slips, 1] += 15.0
    names = ["k1", "k3"]
    once = fit_count_head(names, decoded, y, trim=0)
    refit = fit_count_head(names, decoded, y)
    clean = fit_count_head(names, true, y, trim=0)
    assert COUNT_HEAD_TRIM > 0
    # one fit bends towards the slips (its k3 weight falls); the refit matches a clean fit
    w = lambda h: np.array(h.coef) / np.array(h.scale)  # noqa: E731  (per count)
    assert abs(w(once)[1] - 0.2) > 0.01
    np.testing.assert_allclose(w(refit), w(clean), rtol=0.02)
    np.testing.assert_allclose(w(refit), [0.05, 0.2], rtol=0.05)
    # on clean archs the refit ranks as the clean fit does, the single fit worse
    test = np.column_stack([rng.integers(0, 30, 500), rng.integers(0, 30, 500)]).astype(float)
    yt = 1.0 + 0.05 * test[:, 0] + 0.2 * test[:, 1]
    err = lambda h: np.abs(np.exp(h.log_predict(test)) - yt).mean()  # noqa: E731
    assert err(refit) < 0.5 * err(once)
    # nothing to drop (an exact fit, or too few archs): the single fit is returned
    exact = 1.0 + 0.05 * k1 + 0.2 * k3
    assert fit_count_head(names, true, exact) == fit_count_head(names, true, exact, trim=0)

"""A new device as a mix of the devices a base knows, fitted on the few labels it has.

A fine-tuned base writes a new device's latency through one objective token, started from
the single known device that ranks the S labels best; a few dozen steps barely move it from
there. But a new device is rarely like one known device: the reference-device ridge ranks it
from a *mix* of measured devices. :class:`MixHead` is that ridge over the model's own decoded
latencies of its source devices (log units, so a mix is a product of powers), fitted on the
S labels; the model's number for the device is blended with it in log space.

Chosen on pool archs the base never saw (``experiments/fewshot/stack_pool_val.py``, NB201
base, six held-out devices, 10 draws): mean Spearman ρ of the single start device
0.893 / 0.932 / 0.943 / 0.943 at S = 10 / 20 / 50 / 100, the ridge alone 0.945 / 0.938 /
0.948 / 0.953, the half-and-half blend 0.941 / 0.951 / 0.956 / 0.959. The ridge alone
fails where the base's predictions miss what a device needs (raspi4, S = 20: 0.80); the
blend keeps the token's ranking there and takes the ridge's where it is better (eyeriss,
S = 10: 0.78 → 0.94).

A *linear* head (``linear=True``) is a ridge of the latency itself on the sources' values:
the count head of a device of many labels (``recipes.COUNT_HEAD_WEIGHTS``), whose sources
are the base's decoded op counts of the graph the device ran. Latency is a sum over what
runs, so it is linear in counts, not in their logs, and no count lowers it: the count head
is fitted with ``positive`` (``recipes.fit_count_head``), since an unsigned ridge can split
collinear counts (MFLOPs and 3x3 convolutions) into a large cancelling pair that one misread
count turns into a collapse; and it is refitted without the labelled archs it fits worst
(``recipes.COUNT_HEAD_TRIM``), whose decoded counts are likely misread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

#: the smallest value read as a latency before taking logs (a decoded 0 is clipped to it)
_FLOOR = 1e-9


@dataclass
class MixHead:
    """``log y = intercept + Σ coef_k (log x_k - mean_k) / scale_k`` over ``sources`` (with
    ``linear``: ``y = intercept + Σ coef_k (x_k - mean_k) / scale_k``); the output blends
    ``weight`` of it with ``1 - weight`` of the objective's own decoded value (geometric
    mean), so both must be in the same units (the labels' units)."""

    sources: list[str]  # the model's objectives it reads (source devices; counts if linear)
    mean: list[float]  # standardisation of log x (of x where linear), fitted on the S archs
    scale: list[float]
    coef: list[float]
    intercept: float
    alpha: float  # the ridge penalty chosen by leave-one-out over the S labels (0: none)
    lo: float  # log y is clipped to the labels' range, widened by that range on each side:
    hi: float  # a mix extrapolates wildly where a source barely varied among the S archs
    weight: float = 0.5  # the head's share of the blend (log space)
    linear: bool = False  # a ridge of y on x (the count head), not of log y on log x

    @classmethod
    def fit(cls, sources: Sequence[str], X: np.ndarray, y: np.ndarray,
            weight: float = 0.5, linear: bool = False, positive: bool = False) -> MixHead:
        """Ridge (penalty by leave-one-out, as the reference-device ridge) of ``log y`` on
        ``log X`` (``linear``: of ``y`` on ``X``): ``X`` is the model's decoded values of
        ``sources`` on the labelled archs. ``positive``: refitted at that penalty with no
        negative weight."""
        from sklearn.linear_model import Ridge, RidgeCV

        if X.shape != (len(y), len(sources)):
            raise ValueError(f"X has shape {X.shape}, expected ({len(y)}, {len(sources)})")
        logy = np.log(np.clip(y, _FLOOR, None))
        xs = np.asarray(X, dtype=np.float64) if linear else np.log(np.clip(X, _FLOOR, None))
        target = np.asarray(y, dtype=np.float64) if linear else logy
        mean, scale = xs.mean(0), xs.std(0)
        varied = scale > 1e-6 * np.maximum(1.0, np.abs(mean))  # else it gets no weight
        scale[~varied] = 1.0
        coef = np.zeros(len(sources))
        reg = RidgeCV(alphas=np.logspace(-3, 3, 13))
        if varied.any():
            z = ((xs - mean) / scale)[:, varied]
            alpha = float(reg.fit(z, target).alpha_)
            if positive:  # the same penalty, no weight below zero
                reg = Ridge(alpha=alpha, positive=True).fit(z, target)
            coef[varied], intercept = reg.coef_, float(reg.intercept_)
        else:
            intercept, alpha = float(target.mean()), 0.0  # nothing to fit: the labels' mean
        span = max(float(np.ptp(logy)), 1e-3)
        return cls(list(sources), mean.tolist(), scale.tolist(), coef.tolist(), intercept,
                   alpha, float(logy.min() - span), float(logy.max() + span), weight, linear)

    def log_predict(self, X: np.ndarray) -> np.ndarray:
        """``log y`` for decoded source values ``X`` of shape ``(..., len(sources))``."""
        xs = np.asarray(X, dtype=np.float64) if self.linear else np.log(
            np.clip(X, _FLOOR, None))
        out = self.intercept + ((xs - self.mean) / self.scale) @ np.asarray(self.coef)
        if self.linear:  # a latency below the floor is clipped to the labels' range below
            out = np.log(np.clip(out, _FLOOR, None))
        return np.clip(out, self.lo, self.hi)

    def weighed(self) -> MixHead:
        """The same head over only the sources it gives a weight: the same values, from fewer
        decoded sources. A count head's non-negative ridge often weighs a few of its
        collinear counts 0, and each one it reads is a number the readout must decode."""
        keep = [i for i, c in enumerate(self.coef) if c != 0.0]
        if len(keep) == len(self.coef):
            return self
        return replace(self, **{f: [getattr(self, f)[i] for i in keep]
                                for f in ("sources", "mean", "scale", "coef")})

    def blend(self, X: np.ndarray, own: np.ndarray) -> np.ndarray:
        """The blended value, from the sources' decoded values ``X`` and the objective's own
        ``own`` (same leading shape)."""
        own_log = np.log(np.clip(own, _FLOOR, None))
        return np.exp(self.weight * self.log_predict(X) + (1 - self.weight) * own_log)

    def blend_samples(self, X: np.ndarray, own: np.ndarray) -> np.ndarray:
        """Samples ``own`` of shape ``(n, k)``, each moved by the blend's correction of
        their median: the median becomes :meth:`blend` of it, and the spread (log units) is
        the token's own; with ``k = 1`` (a point readout) this is :meth:`blend`. ``X``: one
        value per arch of each source, ``(n, 1, len(sources))``."""
        own_log = np.log(np.clip(own, _FLOOR, None))
        centre = np.median(own_log, axis=1, keepdims=True)
        return np.exp(own_log + self.weight * (self.log_predict(X) - centre))

    def to_dict(self) -> dict:
        d = asdict(self)
        if not self.linear:  # heads saved before the field read back the same
            del d["linear"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MixHead:
        """Read back :meth:`to_dict`; a damaged head raises ``ValueError`` or ``TypeError``."""
        head = cls(**d)
        n = len(head.sources)
        if not (len(head.mean) == len(head.scale) == len(head.coef) == n):
            raise ValueError(f"a mix head over {n} sources has {len(head.coef)} weights")
        return head

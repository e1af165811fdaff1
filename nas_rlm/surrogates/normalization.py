"""Per-objective label normalisation: a monotone, invertible map fitted on training labels.

Why: ranking is decided by the first tokens that differ between two values. Raw latencies
straddle a decade (NB201 pixel3: 54 % of values are ≥ 10 ms) and accuracies crowd into a few
percent, so most archs share their leading tokens. Mapping each objective onto ``[1, 9]``
spreads the labels over the first mantissa digit, under one exponent, and the decoder's
first choice becomes a ranking decision. Predictions are mapped back to units on output.

The map is piecewise linear through knots (quantiles of the training labels for
``"quantile"``, the two extremes for ``"minmax"``) and continues its end segments beyond them,
so a value outside the training range stays ordered and invertible. On the way back, a
normalised value more than ten ranges (``REACH``) beyond the knots is clipped there:
constrained decoding may write any exponent, and an objective fine-tuned for a few steps
sometimes samples one (measured: 8.6e10 % CIFAR-10 accuracy among 3 samples after 10 steps
from the NB201 base). Labels never reach the clip; a sample that does is noise, not a rank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelFormatError, NasRlmError

KINDS = ("none", "quantile", "minmax")
LOW, HIGH = 1.0, 9.0  # the normalised range: one decade, positive, first digit 1..9
#: How far beyond the knots a decoded value is still mapped back unclipped (normalised units).
#: Ten ranges: an exponent one above the labels' still maps back; a stray larger one does not.
REACH = 10 * (HIGH - LOW)
#: The same for samples (``RLM.predict``): one normalised unit, an eighth of the labels'
#: range. A sample's exponent can land a decade off where its point estimate never does: the
#: shipped NB201 model put 5 of 16 samples of the archs at the top of eyeriss, 1080ti_1 and
#: gold_6226 one exponent up (z about 89, 482 ms for an eyeriss latency whose labels end at
#: 10.5 ms), on pool archs (``experiments/rlm_readouts/sample_tails.py``). Clipped here, such
#: a sample says "beyond the labels", not how far: with this clip alone the largest spread
#: over median of 1080ti_1 and gold_6226 there fell from 31 and 30 to 0.58, and no point
#: estimate or median of samples moved.
SAMPLE_REACH = 1.0
N_KNOTS = 33


@dataclass(frozen=True)
class MonotoneMap:
    """``z = f(y)`` through ``(x[i], z[i])`` knots, both strictly increasing."""

    kind: str
    x: tuple[float, ...] = ()
    z: tuple[float, ...] = ()

    @classmethod
    def fit(cls, y: np.ndarray, kind: str = "quantile") -> MonotoneMap:
        if kind not in KINDS:
            raise NasRlmError(f"unknown normalisation {kind!r}; choose one of {', '.join(KINDS)}")
        y = np.asarray(y, dtype=np.float64)
        y = y[np.isfinite(y)]
        if kind == "none":
            return cls("none")
        if y.size == 0:
            raise NasRlmError("cannot fit a normalisation without labels")
        lo, hi = float(y.min()), float(y.max())
        if hi - lo <= 1e-12 * max(1.0, abs(lo)):  # one distinct value: centre it
            return cls(kind, (lo - 0.5, lo + 0.5), (LOW, HIGH))
        if kind == "minmax":
            return cls(kind, (lo, hi), (LOW, HIGH))
        levels = np.linspace(0.0, 1.0, N_KNOTS)
        xs = np.quantile(y, levels)
        # equal quantiles (ties) would break strict monotonicity: keep the first of each run
        keep = np.r_[True, np.diff(xs) > 1e-12 * max(1.0, abs(hi))]
        xs, zs = xs[keep], LOW + (HIGH - LOW) * levels[keep]
        xs[-1], zs[-1] = hi, HIGH
        return cls(kind, tuple(map(float, xs)), tuple(map(float, zs)))

    @property
    def constant(self) -> bool:
        """A quantile map fitted on labels with one distinct value (``fit`` centres those on
        two knots one unit apart; labels that vary give a quantile map more knots, unless all
        but a sliver of them share one value), e.g. NB201's count of 5x5 convolutions: such
        an objective tells nothing apart. A min-max map of two labels one unit apart has the
        same knots, so it is never called constant."""
        return (self.kind == "quantile" and len(self.x) == 2 and self.z == (LOW, HIGH)
                and abs(self.x[1] - self.x[0] - 1.0) <= 1e-9 * max(1.0, abs(self.x[0])))

    @property
    def _slopes(self) -> tuple[float, float]:
        """Slopes of the first and last segments, continued beyond the knots: the density of
        labels near each end (accuracies crowd at the top), so a prediction past the best
        training label stays close to it in units rather than a decade beyond."""
        x, z = self.x, self.z
        return (z[1] - z[0]) / (x[1] - x[0]), (z[-1] - z[-2]) / (x[-1] - x[-2])

    def forward(self, y: np.ndarray) -> np.ndarray:
        """Units → normalised."""
        if self.kind == "none":
            return np.array(y, dtype=np.float64)
        lo, hi = self._slopes
        return _piecewise(y, self.x, self.z, lo, hi)

    def inverse(self, v: np.ndarray, reach: float = REACH) -> np.ndarray:
        """Normalised → units: the exact inverse of :meth:`forward` within ``reach`` of the
        knots, clipped beyond it."""
        if self.kind == "none":
            return np.array(v, dtype=np.float64)
        lo, hi = self._slopes
        v = np.clip(np.asarray(v, dtype=np.float64), self.z[0] - reach, self.z[-1] + reach)
        return _piecewise(v, self.z, self.x, 1.0 / lo, 1.0 / hi)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "x": list(self.x), "z": list(self.z)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MonotoneMap:
        """Rebuild a saved map; anything that is not strictly increasing is a damaged file."""
        try:
            kind, x, z = d["kind"], tuple(map(float, d["x"])), tuple(map(float, d["z"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFormatError(f"bad normalisation entry {dict(d)!r}: {e}") from None
        if kind not in KINDS:
            raise ModelFormatError(f"unknown normalisation kind {kind!r} in checkpoint")
        if kind != "none" and (
            len(x) != len(z) or len(x) < 2 or not np.all(np.isfinite(x + z))
            or np.any(np.diff(x) <= 0) or np.any(np.diff(z) <= 0)
        ):
            raise ModelFormatError(f"normalisation knots are not strictly increasing: {d!r}")
        return cls(kind, x, z)


def _piecewise(v, a, b, lo: float, hi: float) -> np.ndarray:
    """Linear interpolation through ``(a[i], b[i])``, continued with slope ``lo`` below ``a[0]``
    and ``hi`` above ``a[-1]``."""
    v = np.asarray(v, dtype=np.float64)
    a, b = np.asarray(a), np.asarray(b)
    out = np.interp(v, a, b)
    out = np.where(v < a[0], b[0] + (v - a[0]) * lo, out)
    return np.where(v > a[-1], b[-1] + (v - a[-1]) * hi, out)

"""The inverted-residual (MBConv) block as ONNX nodes, shared by FBNet, OFA-MBv3 and OFA-PN.

One block is: an optional 1x1 expansion conv-BN-act (grouped, then a channel shuffle, for
FBNet's ``g2`` ops), a depthwise kxk conv-BN-act, an optional squeeze-and-excitation, a 1x1
projection conv-BN, and an identity residual where the official code adds one. The three
spaces differ only in their macro skeletons and in which of these options they use, so the
block is written once here and every space counts params/FLOPs off the same graph.

Two renderings, as in NB201:

* ``fold=True`` is the network as an inference export leaves it: each BatchNorm folded into
  the conv before it (one biased Conv). This is what the surrogate reads.
* ``fold=False`` keeps BatchNorm as its own node. Params and FLOPs are counted on it, because
  the published counts are those of the PyTorch module (BN affine weights are parameters, BN
  adds no multiply-accumulates).

Activations map one-to-one onto ONNX ops: ReLU -> ``Relu``, ReLU6 -> ``Clip(0, 6)``,
h-swish -> ``HardSwish``, and the SE gate's h-sigmoid ``relu6(x + 3) / 6`` ->
``HardSigmoid(alpha=1/6, beta=0.5)`` (ONNX's default alpha is 0.2, which is not the same).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import ArchError
from .onnx_builder import GraphBuilder
from .onnx_stats import count_flops

#: Activations a block may use (names as in the official OFA / HW-NAS-Bench code).
ACTIVATIONS: tuple[str, ...] = ("relu", "relu6", "h_swish")


def make_divisible(v: float, divisor: int = 8, min_val: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` (the TF/OFA rule, never -10 %)."""
    min_val = divisor if min_val is None else min_val
    new_v = max(min_val, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


@dataclass(frozen=True)
class MBConvSpec:
    """Static shape of one inverted-residual block.

    ``mid=None`` means no expansion conv at all (OFA's expand-ratio-1 blocks); FBNet's ``e1``
    blocks keep the 1x1 conv, so they pass ``mid=c_in``. ``groups`` applies to both 1x1 convs
    and adds a channel shuffle after the expansion (FBNet's ``g2``).
    """

    c_in: int
    c_out: int
    kernel: int
    stride: int = 1
    mid: int | None = None
    act: str = "relu"
    se_mid: int | None = None
    groups: int = 1
    residual: bool = False

    def __post_init__(self) -> None:
        if self.act not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.act!r}; valid: {', '.join(ACTIVATIONS)}")
        width = self.c_in if self.mid is None else self.mid
        if self.groups > 1 and (self.mid is None or self.c_in % self.groups
                                or width % self.groups or self.c_out % self.groups):
            raise ValueError(f"grouped 1x1 convs need an expansion conv and channel counts "
                             f"divisible by {self.groups}: {self}")
        if self.residual and (self.stride != 1 or self.c_in != self.c_out):
            raise ValueError(f"a residual needs stride 1 and c_in == c_out: {self}")

    @property
    def width(self) -> int:
        """Channels of the depthwise conv."""
        return self.c_in if self.mid is None else self.mid


def out_size(size: int, stride: int) -> int:
    """Spatial size after a 'same'-padded odd-kernel conv: ceil(size / stride), as PyTorch."""
    return -(-size // stride)


class BlockWriter:
    """Writes conv/BN/activation nodes into one graph, folded or literal.

    Constants (ReLU6 bounds, shuffle shapes) are created once per graph and shared, as an
    optimiser's constant folding would leave them.
    """

    def __init__(self, b: GraphBuilder, fold: bool, eps: float = 1e-5) -> None:
        self.b = b
        self.fold = fold
        self.eps = eps
        self._consts: dict[tuple, str] = {}

    # -- constants ---------------------------------------------------------------------------
    def scalar(self, value: float) -> str:
        key = ("f", float(value))
        if key not in self._consts:
            self._consts[key] = self.b.const(float(value))
        return self._consts[key]

    def shape(self, dims: tuple[int, ...]) -> str:
        key = ("i64", *dims)
        if key not in self._consts:
            out = self.b.name("c")
            self.b.nodes.append(helper.make_node(
                "Constant", [], [out],
                value=helper.make_tensor("v", TensorProto.INT64, [len(dims)], list(dims))))
            self._consts[key] = out
        return self._consts[key]

    # -- layers ------------------------------------------------------------------------------
    def act(self, x: str, kind: str | None) -> str:
        if kind is None:
            return x
        if kind == "relu":
            return self.b.op("Relu", [x])
        if kind == "relu6":
            return self.b.op("Clip", [x, self.scalar(0.0), self.scalar(6.0)])
        if kind == "h_swish":
            return self.b.op("HardSwish", [x])
        raise ValueError(f"unknown activation {kind!r}; valid: {', '.join(ACTIVATIONS)}")

    def batchnorm(self, x: str, c: int) -> str:
        b = self.b
        inputs = [x, b.weight([c], "one"), b.weight([c], "zero"),
                  b.weight([c], "zero"), b.weight([c], "one")]
        return b.op("BatchNormalization", inputs, epsilon=self.eps)

    def conv_bn_act(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1,
                    groups: int = 1, act: str | None = None, bn: bool = True) -> str:
        """Conv (no bias) -> BN -> act; with ``fold`` the BN becomes the conv's bias."""
        if bn and self.fold:
            y = self.b.conv(x, c_in, c_out, k, stride, bias=True, group=groups)
        else:
            y = self.b.conv(x, c_in, c_out, k, stride, group=groups)
            if bn:
                y = self.batchnorm(y, c_out)
        return self.act(y, act)

    def squeeze_excite(self, x: str, c: int, mid: int) -> str:
        """OFA's SEModule: mean, 1x1 conv (bias), ReLU, 1x1 conv (bias), h-sigmoid, x * gate."""
        b = self.b
        y = b.op("GlobalAveragePool", [x])
        y = b.op("Relu", [b.conv(y, c, mid, 1, bias=True)])
        y = b.conv(y, mid, c, 1, bias=True)
        y = b.op("HardSigmoid", [y], alpha=1.0 / 6.0, beta=0.5)
        return b.op("Mul", [x, y])

    def channel_shuffle(self, x: str, c: int, groups: int, size: int) -> str:
        """HW-NAS-Bench's ChannelShuffle: [N,C,H,W] -> [N,g,C/g,HW] -> swap -> [N,C,H,W]."""
        b = self.b
        y = b.op("Reshape", [x, self.shape((0, groups, c // groups, size * size))])
        y = b.op("Transpose", [y], perm=[0, 2, 1, 3])
        return b.op("Reshape", [y, self.shape((0, c, size, size))])

    def mbconv(self, x: str, spec: MBConvSpec, size: int) -> str:
        """One inverted-residual block on an input of spatial ``size``; returns its output."""
        y = x
        if spec.mid is not None:
            y = self.conv_bn_act(y, spec.c_in, spec.mid, 1, groups=spec.groups, act=spec.act)
            if spec.groups > 1:
                y = self.channel_shuffle(y, spec.mid, spec.groups, size)
        w = spec.width
        y = self.conv_bn_act(y, w, w, spec.kernel, spec.stride, groups=w, act=spec.act)
        if spec.se_mid is not None:
            y = self.squeeze_excite(y, w, spec.se_mid)
        y = self.conv_bn_act(y, w, spec.c_out, 1, groups=spec.groups)
        if spec.residual:
            y = self.b.op("Add", [y, x])
        return y

    def classifier(self, x: str, c: int, n_classes: int) -> str:
        """Flatten a pooled [N,C,1,1] tensor and apply the linear head (with bias)."""
        b = self.b
        x = b.op("Flatten", [x])
        w, bias = b.weight([n_classes, c]), b.weight([n_classes], "zero")
        return b.op("Gemm", [x, w, bias], out="logits", transB=1)


def macs_without_bias(model: onnx.ModelProto) -> float:
    """Conv/Gemm multiply-accumulates without the bias adds: OFA's ``profile`` convention.

    ``count_flops`` adds one op per output element of a biased layer. In the unfolded OFA
    networks only the SE convs and the classifier carry a bias, and each has exactly one
    output element per bias entry (1x1 spatial / one row), so subtracting the bias sizes
    gives OFA's count exactly.
    """
    sizes = {t.name: math.prod(t.dims) for t in model.graph.initializer}
    bias = sum(sizes.get(n.input[2], 0) for n in model.graph.node
               if n.op_type in ("Conv", "Gemm") and len(n.input) > 2 and n.input[2])
    return count_flops(model) - float(bias)


def int_vector(vector: Any, n: int, space: str, upper: Sequence[int],
               legend: Sequence[str] | None = None) -> np.ndarray:
    """Validate an integer vector of length ``n`` with entries in ``0..upper[i]``.

    Integral floats are accepted (optimisers hand them over); booleans, NaN and fractions
    are not. Shared by the MBConv-family adapters so they fail the same way.
    """
    try:
        vals = np.asarray(vector)
    except (TypeError, ValueError) as e:
        raise ArchError(f"{space} vector must be {n} integers: {vector!r}") from e
    if vals.shape != (n,):
        raise ArchError(f"{space} vector must have {n} entries, got shape {vals.shape}")
    if vals.dtype.kind not in "iuf":
        raise ArchError(f"{space} vector must hold integers, got {vals.tolist()}")
    if vals.dtype.kind == "f" and not np.all(np.isfinite(vals) & (vals == np.round(vals))):
        raise ArchError(f"{space} vector must hold integers, got {vals.tolist()}")
    ints = vals.astype(np.int64)
    hi = np.asarray(upper, np.int64)
    bad = np.flatnonzero((ints < 0) | (ints > hi))
    if bad.size:
        i = int(bad[0])
        what = f" ({', '.join(f'{j}={o}' for j, o in enumerate(legend))})" if legend else ""
        raise ArchError(
            f"{space} vector entry {i} must be in 0..{int(hi[i])}{what}, got {int(ints[i])} "
            f"in {ints.tolist()}"
        )
    return ints

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

In the folded rendering each searchable block (one with an expansion conv) is a call of a
model-local function, one function per block *kind*: activation, grouping, SE and residual
(see :class:`BlockKind`). Everything else that varies between blocks of a kind is bound at the
call site, so one body serves every call: the weights are function inputs (a call's weights show
their shapes, hence its channel counts), the depthwise conv's ``group``, ``kernel_shape``,
``pads`` and (without a residual) ``strides`` are function attributes (``g=@group`` in the
body, ``g=144 k=5x5 ...`` at the call), and a grouped block's channel-shuffle shapes are two
graph-level constants passed in. Blocks without an expansion conv (OFA's fixed first block)
stay inline. Chains of identical calls are then printed as ``Name*k`` by the renderer. The
unfolded (counting) graph is always written inline.

Activations map one-to-one onto ONNX ops: ReLU -> ``Relu``, ReLU6 -> ``Clip(0, 6)``,
h-swish -> ``HardSwish``, and the SE gate's h-sigmoid ``relu6(x + 3) / 6`` ->
``HardSigmoid(alpha=1/6, beta=0.5)`` (ONNX's default alpha is 0.2, which is not the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import onnx
from onnx import AttributeProto, TensorProto, helper

from .onnx_builder import FUNCTION_DOMAIN, FunctionBuilder, GraphBuilder, make_function

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


#: Function-name part of each activation: the ONNX op it becomes.
_ACT_NAMES = {"relu": "Relu", "relu6": "Clip", "h_swish": "HardSwish"}


@dataclass(frozen=True)
class BlockKind:
    """What a block's function body depends on; the rest is bound at each call.

    The name spells the kind out (``MBReluSERes``: ReLU, squeeze-and-excitation, residual;
    ``G`` for grouped 1x1 convs with a channel shuffle), so equal names mean equal bodies.
    """

    act: str
    groups: int
    se: bool
    residual: bool

    @classmethod
    def of(cls, spec: MBConvSpec) -> BlockKind:
        return cls(spec.act, spec.groups, spec.se_mid is not None, spec.residual)

    @property
    def name(self) -> str:
        return ("MB" + _ACT_NAMES[self.act] + ("G" if self.groups > 1 else "")
                + ("SE" if self.se else "") + ("Res" if self.residual else ""))

    @property
    def attributes(self) -> tuple[str, ...]:
        """The function's attributes, all read by its depthwise conv."""
        return ("group", "kernel_shape", "pads") + (() if self.residual else ("strides",))


class BlockWriter:
    """Writes conv/BN/activation nodes into one graph, folded or literal.

    Constants (ReLU6 bounds, shuffle shapes) are created once per graph and shared, as an
    optimiser's constant folding would leave them.

    With ``functions`` (only meaningful with ``fold``), :meth:`mbconv` writes each block with
    an expansion conv as a call of its kind's model-local function; the functions used are
    collected in :attr:`functions` for :func:`onnx_builder.make_model`.
    """

    def __init__(self, b: GraphBuilder, fold: bool, eps: float = 1e-5,
                 functions: bool = False) -> None:
        self.b = b
        self.fold = fold
        self.eps = eps
        self.use_functions = functions and fold
        self.functions: dict[str, onnx.FunctionProto] = {}
        self._consts: dict[tuple, str] = {}

    def function_list(self) -> list[onnx.FunctionProto]:
        """The functions called so far, sorted by name."""
        return [self.functions[k] for k in sorted(self.functions)]

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

    def depthwise(self, x: str, spec: MBConvSpec) -> str:
        """The block's kxk depthwise conv-BN-act."""
        w = spec.width
        return self.conv_bn_act(x, w, w, spec.kernel, spec.stride, groups=w, act=spec.act)

    def mbconv(self, x: str, spec: MBConvSpec, size: int) -> str:
        """One inverted-residual block on an input of spatial ``size``; returns its output."""
        if self.use_functions and spec.mid is not None:
            return self._call(x, spec, size)
        y = x
        if spec.mid is not None:
            y = self.conv_bn_act(y, spec.c_in, spec.mid, 1, groups=spec.groups, act=spec.act)
            if spec.groups > 1:
                y = self.channel_shuffle(y, spec.mid, spec.groups, size)
        y = self.depthwise(y, spec)
        if spec.se_mid is not None:
            y = self.squeeze_excite(y, spec.width, spec.se_mid)
        y = self.conv_bn_act(y, spec.width, spec.c_out, 1, groups=spec.groups)
        if spec.residual:
            y = self.b.op("Add", [y, x])
        return y

    def _call(self, x: str, spec: MBConvSpec, size: int) -> str:
        """The block as a call of its kind's function (written into the model on first use).

        The body is written afresh for every call, into a throwaway builder, only to learn the
        call's weight shapes in the body's input order. Everything number-dependent in a body
        is an input or an attribute reference, so every call of a kind writes the same body.
        """
        kind = BlockKind.of(spec)
        plain = replace(spec, residual=False)
        fb = FunctionBuilder()
        out = _BodyWriter(fb, self.eps, self.functions).mbconv("x", plain, size)
        # the caller's tensors per formal input; weights drawn in the inline writer's order
        actual = {"x": x}
        if spec.groups > 1:  # [N,C,H,W] -> [N,g,C/g,HW] and back, as graph constants per size
            actual["shape_split"] = self.shape((0, spec.groups, -1, size * size))
            actual["shape_merge"] = self.shape((0, -1, size, size))
        for name, shape, init in fb.params:
            actual[name] = self.b.weight(shape, init)
        inputs = _by_first_use(fb.nodes, list(actual))
        base = BlockKind.of(plain)
        if base.name not in self.functions:
            self.functions[base.name] = _function(base.name, fb, inputs, out, base.attributes)
        if kind.residual and kind.name not in self.functions:
            # the plain block at stride 1, plus the identity: the body is stated once
            rb = FunctionBuilder()
            y = rb.op(base.name, inputs, domain=FUNCTION_DOMAIN, strides=[1, 1])
            rb.nodes[-1].attribute.extend(_attr_refs(kind.attributes))
            z = rb.op("Add", [y, "x"])
            self.functions[kind.name] = _function(kind.name, rb, inputs, z, kind.attributes)
        args = [actual[name] for name in inputs]
        k = spec.kernel
        attrs: dict[str, Any] = {"group": spec.width, "kernel_shape": [k, k], "pads": [k // 2] * 4}
        if not spec.residual:
            attrs["strides"] = [spec.stride, spec.stride]
        return self.b.op(kind.name, args, domain=FUNCTION_DOMAIN, **attrs)


#: Name of the squeeze-and-excitation function that SE block bodies call (it sorts before the
#: ``MB*`` names, so the renderer knows its argument order when it prints their bodies).
SE_FUNCTION = "ExciteSE"


def _attr_refs(names: Sequence[str]) -> list[AttributeProto]:
    """References to the enclosing function's attributes of the same names."""
    ints = AttributeProto.INTS
    return [helper.make_attribute_ref(a, AttributeProto.INT if a == "group" else ints)
            for a in names]


def _by_first_use(nodes: Sequence[onnx.NodeProto], names: Sequence[str]) -> list[str]:
    """``names`` in the order a body first reads them, so a call lists its arguments in the
    order the renderer numbers the formals (the body is a chain, so that order is canonical)."""
    order: list[str] = []
    for n in nodes:
        order += [x for x in n.input if x in names and x not in order]
    return order + [x for x in names if x not in order]


def _function(name: str, fb: GraphBuilder, inputs: Sequence[str], out: str,
              attributes: Sequence[str]) -> onnx.FunctionProto:
    fn = make_function(name, fb, inputs, [out])
    fn.attribute.extend(attributes)
    if any(n.domain == FUNCTION_DOMAIN for n in fn.node):  # a body that calls a function
        fn.opset_import.append(helper.make_opsetid(FUNCTION_DOMAIN, 1))
    return fn


class _BodyWriter(BlockWriter):
    """Writes a block's function body: folded, weights as inputs, the depthwise conv's
    channel-, kernel- and stride-dependent attributes as references to the function's own,
    and the SE module as a call of :data:`SE_FUNCTION` (registered in ``functions``)."""

    def __init__(self, fb: FunctionBuilder, eps: float,
                 functions: dict[str, onnx.FunctionProto]) -> None:
        super().__init__(fb, fold=True, eps=eps)
        self.functions = functions

    def depthwise(self, x: str, spec: MBConvSpec) -> str:
        w = spec.width
        inputs = [x, self.b.weight([w, 1, spec.kernel, spec.kernel]), self.b.weight([w], "zero")]
        node = helper.make_node("Conv", inputs, [self.b.name()])
        node.attribute.extend(_attr_refs(BlockKind.of(spec).attributes))
        self.b.nodes.append(node)
        return self.act(node.output[0], spec.act)

    def channel_shuffle(self, x: str, c: int, groups: int, size: int) -> str:
        y = self.b.op("Reshape", [x, "shape_split"])
        y = self.b.op("Transpose", [y], perm=[0, 2, 1, 3])
        return self.b.op("Reshape", [y, "shape_merge"])

    def squeeze_excite(self, x: str, c: int, mid: int) -> str:
        se = FunctionBuilder()
        out = BlockWriter(se, fold=True).squeeze_excite("x", c, mid)
        if SE_FUNCTION not in self.functions:
            self.functions[SE_FUNCTION] = _function(
                SE_FUNCTION, se, ["x", *(p[0] for p in se.params)], out, ())
        args = [self.b.weight(shape, init) for _, shape, init in se.params]
        return self.b.op(SE_FUNCTION, [x, *args], domain=FUNCTION_DOMAIN)

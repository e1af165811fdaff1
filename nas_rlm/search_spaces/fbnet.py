"""FBNet search space as HW-NAS-Bench defines it: 22 searchable layers x 9 candidate blocks.

Source of the skeleton: HW-NAS-Bench (GATECH-EIC/HW-NAS-Bench, MIT),
``hw_nas_bench_api/fbnet_models/model_infer.py`` (``FBNet_Infer``, ``ConvBlock``, ``Skip``) and
``hw_nas_bench_api/hw_nas_bench_api.py`` (``get_net_config`` / ``fbnet_get_metrics``), with
the CIFAR-100 settings that the HELP latency table uses (``dataset='cifar100'``):

* stem: 3x3 conv 3->16, stride 1, BN, ReLU, on a 32x32 input;
* 7 stages of [1, 4, 4, 4, 4, 4, 1] layers, widths [16, 24, 32, 64, 112, 184, 352],
  strides [1, 1, 2, 2, 1, 2, 1] (the "unofficial CIFAR" strides; stride on a stage's first
  layer only);
* header: 1x1 conv 352->1504, BN, ReLU; global average pool; linear 1504->100.

A ``kK_eE[_g2]`` block is HW-NAS-Bench's ``ConvBlock``: 1x1 conv (C_in -> E*C_in, kept even for
E=1) -BN-ReLU, a channel shuffle when grouped, KxK depthwise conv (carrying the stride)
-BN-ReLU, 1x1 conv -BN, and an identity residual when C_in == C_out and stride 1. ``g2``
groups both 1x1 convs in 2. ``skip`` is HW-NAS-Bench's ``Skip``: the identity where the shape
is kept, else (layers 2, 6, 10, 14, 18, 22 here) a 1x1 conv (with the stride) -BN-ReLU.

The arch string is HW-NAS-Bench's ``op_idx_list``, 22 space-separated op indices (the HELP
table's ``op_idx_list`` column). No FLOPs/params are published for this space; they are
counted here by the project's convention (``onnx_stats``, as NB201): Conv/Gemm MACs plus the
classifier's bias adds, and every trainable PyTorch parameter (BN affine included).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import onnx

from ..errors import ArchError
from .base import ChoiceSpace
from .mbconv import BlockWriter, MBConvSpec, out_size
from .onnx_builder import GraphBuilder, Weights, float_input, make_model

OPS: tuple[str, ...] = (
    "k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip",
)
SKIP = OPS.index("skip")
N_LAYERS = 22
STEM = 16
#: (layers, width, stride) per stage, HW-NAS-Bench's CIFAR setting.
STAGES: tuple[tuple[int, int, int], ...] = (
    (1, 16, 1), (4, 24, 1), (4, 32, 2), (4, 64, 2), (4, 112, 1), (4, 184, 2), (1, 352, 1),
)
HEADER, N_CLASSES, RESOLUTION = 1504, 100, 32

Arch = tuple[int, ...]


@cache
def layer_shapes() -> tuple[tuple[int, int, int], ...]:
    """(c_in, c_out, stride) of each of the 22 searchable layers."""
    out, c = [], STEM
    for n, width, stride in STAGES:
        for i in range(n):
            out.append((c, width, stride if i == 0 else 1))
            c = width
    return tuple(out)


def op_block(op: int, c_in: int, c_out: int, stride: int) -> MBConvSpec | None:
    """The ConvBlock of op index ``op`` (None for ``skip``)."""
    if op == SKIP:
        return None
    name = OPS[op]
    k, e = int(name[1]), int(name.split("_")[1][1:])
    return MBConvSpec(c_in, c_out, k, stride, mid=c_in * e, act="relu",
                      groups=2 if name.endswith("_g2") else 1,
                      residual=c_in == c_out and stride == 1)


def parse_arch_string(text: str) -> Arch:
    """Parse 22 whitespace-separated op indices (or op names) into an arch."""
    if not isinstance(text, str):
        raise ArchError(f"FBNet arch string must be a str, got {type(text).__name__}")
    tokens = text.replace(",", " ").split()
    if len(tokens) != N_LAYERS:
        raise ArchError(
            f"FBNet arch string needs {N_LAYERS} op indices (one per layer), "
            f"found {len(tokens)}: {text!r}"
        )
    ops = []
    for layer, tok in enumerate(tokens, start=1):
        if tok in OPS:
            ops.append(OPS.index(tok))
        elif tok.isdigit() and int(tok) < len(OPS):
            ops.append(int(tok))
        else:
            raise ArchError(
                f"layer {layer}: bad op {tok!r} in {text!r}; valid ops: "
                + ", ".join(f"{i}={o}" for i, o in enumerate(OPS))
            )
    return tuple(ops)


class FBNet(ChoiceSpace):
    """HW-NAS-Bench's FBNet space, CIFAR-100 network (9^22 archs)."""

    name = "fbnet"
    label = "FBNet"
    ops = OPS
    n_slots = N_LAYERS

    # -- identity ------------------------------------------------------------------------
    def parse_string(self, text: str) -> Arch:
        return parse_arch_string(text)

    def to_string(self, arch: Any) -> str:
        return " ".join(map(str, self.parse(arch)))

    def op_names(self, arch: Any) -> list[str]:
        """The ops by name (the HELP table's ``op_names`` column)."""
        return [OPS[o] for o in self.parse(arch)]

    # -- network -------------------------------------------------------------------------
    def to_onnx(
        self, arch: Any, weights: Weights = "random", seed: int = 0, *, optimized: bool = True
    ) -> onnx.ModelProto:
        """The CIFAR-100 network; ``optimized=False`` keeps BatchNorm unfolded (for counting).

        The optimized (folded) graph calls one model-local function per block kind
        (``mbconv.BlockKind``), so its text states each kind once.
        """
        return build_network(self.parse(arch), weights, seed, fold=optimized)


def build_network(arch: Arch, weights: Weights, seed: int, fold: bool,
                  functions: bool = True) -> onnx.ModelProto:
    """The network; folded, each block kind is a local function (``functions=False``: inline)."""
    b = GraphBuilder(weights, seed)
    w = BlockWriter(b, fold, functions=functions)
    x = w.conv_bn_act("input", 3, STEM, 3, 1, act="relu")
    size = RESOLUTION
    for op, (c_in, c_out, stride) in zip(arch, layer_shapes(), strict=True):
        spec = op_block(op, c_in, c_out, stride)
        if spec is not None:
            x = w.mbconv(x, spec, size)
        elif stride != 1 or c_in != c_out:  # HW-NAS-Bench's Skip on a shape change
            x = w.conv_bn_act(x, c_in, c_out, 1, stride, act="relu")
        size = out_size(size, stride)
    x = w.conv_bn_act(x, STAGES[-1][1], HEADER, 1, act="relu")
    x = b.op("GlobalAveragePool", [x])
    w.b.classifier(x, HEADER, N_CLASSES)
    return make_model(
        "fbnet", b,
        [float_input("input", ["N", 3, RESOLUTION, RESOLUTION])],
        [float_input("logits", ["N", N_CLASSES])],
        w.function_list(),
    )


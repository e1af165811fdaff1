"""Once-for-All ProxylessNAS space: the OFA-MBv3 decisions on ProxylessNAS' skeleton.

Source of the skeleton: ``mit-han-lab/once-for-all`` (MIT),
``ofa/imagenet_classification/elastic_nn/networks/ofa_proxyless.py``
(``OFAProxylessNASNets``, default ``base_stage_width``):

* base widths [32, 16, 24, 40, 80, 96, 192, 320, 1280] times ``width_mult``, each rounded by
  ``make_divisible(., 8)``; ReLU6 everywhere, no SE, BN eps 1e-3;
* first conv 3x3 stride 2, BN, ReLU6; first block an expand-ratio-1 MBConv 3x3 without a
  residual (``ResidualBlock(first_block_conv, None)``);
* 5 elastic stages of up to 4 blocks (widths 24, 40, 80, 96, 192; strides 2, 2, 2, 1, 2),
  then one more stage of exactly one block (width 320, stride 1) whose kernel size and expand
  ratio are searched too; blocks as in OFA-MBv3 (residual where stride 1 and widths match);
* feature mix 1x1 conv-BN-ReLU6 (1280 x w), global average pool, linear to 1000 classes.

So an arch has 21 ks / e slots and 6 depths, the last always 1 (OFA's ``sample_active_subnet``
sets ``depth_setting[-1] = 1``). The string is the OFA-MBv3 one with these lengths,
``ks=<21>;e=<21>;d=<5 or 6 ending in 1>;r=..``, written with 6 depths so it is OFA's own arch
dict; the integer encoding has the 5 elastic depths only.

Width: the released supernet is ``ofa_proxyless_d234_e346_k357_w1.3`` (the OFA README's model
zoo), so ``width_mult`` defaults to 1.3. No table of this space comes with the project and no
published FLOPs of a fixed subnet were found; params and FLOPs are checked against the official
``ofa`` package's own subnets and ``profile`` counter instead (see the tests).
"""

from __future__ import annotations

import onnx

from .mbconv import BlockWriter, MBConvSpec, make_divisible, out_size
from .ofa_mbv3 import MAX_DEPTH, N_CLASSES, N_STAGES, OFAArch, OFASpace
from .onnx_builder import GraphBuilder, Weights, float_input, make_model

#: (base width, stride) of the 5 elastic stages and, last, the fixed depth-1 stage.
PN_STAGES: tuple[tuple[int, int], ...] = ((24, 2), (40, 2), (80, 2), (96, 1), (192, 2), (320, 1))


class OFAProxylessNAS(OFASpace):
    """OFA-ProxylessNAS (ks 3/5/7, e 3/4/6, d 2/3/4, r 128..224), ImageNet, 1000 classes."""

    name = "ofa_pn"
    label = "OFA-PN"
    extra_slots = 1
    fixed_depths = (1,)

    def __init__(self, width_mult: float = 1.3) -> None:
        self.width_mult = width_mult

    def build(self, arch: OFAArch, weights: Weights, seed: int, fold: bool) -> onnx.ModelProto:
        return build_proxyless(arch, self.width_mult, weights, seed, fold)


def build_proxyless(arch: OFAArch, width_mult: float, weights: Weights = "none", seed: int = 0,
                    fold: bool = False, functions: bool = True) -> onnx.ModelProto:
    """The OFA-PN subnet ``arch`` at its resolution (block kinds as local functions when
    folded, unless ``functions=False``)."""
    def width(c: int) -> int:
        return make_divisible(c * width_mult, 8)

    b = GraphBuilder(weights, seed)
    w = BlockWriter(b, fold, eps=1e-3, functions=functions)
    c0, c1 = width(32), width(16)
    x = w.conv_bn_act("input", 3, c0, 3, 2, act="relu6")
    size = out_size(arch.r, 2)
    x = w.mbconv(x, MBConvSpec(c0, c1, 3, 1, act="relu6"), size)
    c = c1
    depths = (*arch.d, 1)
    for s, (base, stride) in enumerate(PN_STAGES):
        c_out = width(base)
        for i in range(depths[s]):
            slot = MAX_DEPTH * s + i if s < N_STAGES else MAX_DEPTH * N_STAGES
            k, e = arch.ks[slot], arch.e[slot]
            st = stride if i == 0 else 1
            spec = MBConvSpec(c, c_out, k, st, mid=make_divisible(round(c * e), 8), act="relu6",
                              residual=st == 1 and c == c_out)
            x = w.mbconv(x, spec, size)
            size, c = out_size(size, st), c_out
    c_mix = width(1280)
    x = w.conv_bn_act(x, c, c_mix, 1, act="relu6")
    x = b.op("GlobalAveragePool", [x])
    w.b.classifier(x, c_mix, N_CLASSES)
    return make_model(
        "ofa_proxyless", b,
        [float_input("input", ["N", 3, arch.r, arch.r])],
        [float_input("logits", ["N", N_CLASSES])],
        w.function_list(),
    )

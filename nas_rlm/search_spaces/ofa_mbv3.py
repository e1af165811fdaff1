"""Once-for-All MobileNetV3 space: kernel size and expand ratio per block, depth per stage,
input resolution.

Source of the skeleton: ``mit-han-lab/once-for-all`` (MIT),
``ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py`` (``OFAMobileNetV3``) with
``ofa/utils/layers.py`` (``MBConvLayer``, ``ConvLayer``) and ``ofa/utils/pytorch_modules.py``
(``SEModule``, ``make_divisible``, h-swish / h-sigmoid):

* base widths [16, 16, 24, 40, 80, 112, 160, 960, 1280] times ``width_mult``, each rounded by
  ``make_divisible(., 8)``;
* first conv 3x3 stride 2, BN, h-swish; first block an expand-ratio-1 MBConv 3x3 with ReLU and
  an identity residual;
* 5 stages of up to 4 blocks, strides [2, 2, 2, 1, 2], activations
  [relu, relu, h_swish, h_swish, h_swish], SE in stages 2, 4 and 5 (1-based, as in
  MobileNetV3-Large); block i of stage s uses ``ks[4s+i]`` and ``e[4s+i]``, expanded width
  ``make_divisible(round(c_in * e), 8)``, SE width ``make_divisible(mid // 4, 8)``; a residual
  where stride is 1 and widths match (every block but a stage's first);
* final expand 1x1 conv-BN-h-swish (960 x w), global average pool, feature mix 1x1 conv
  (1280 x w, no BN, no bias) with h-swish, linear classifier to 1000 classes.

Width: HELP (whose latency table this space serves) evaluates its OFA archs on
``ofa_net('ofa_mbv3_d234_e346_k357_w1.2')`` (``HayeonLee/HELP``, ``validate_imagenet.py``), so
the default ``width_mult`` is 1.2; ``OFAMobileNetV3(width_mult=1.0)`` gives the w1.0 supernet.

Arch strings are ``ks=..;e=..;d=..;r=..`` (the HELP table's format, ``data.tables.ofa_arch_str``)
with 20 ks / e slots. Slots beyond a stage's depth are not part of the network, so they are
canonicalised to the smallest choice (ks 3, e 3): two strings that differ only there parse to
the same arch and give the same text, and the written string is still a valid OFA arch dict.

Params are every trainable parameter of the PyTorch subnet (BN affine included); FLOPs are
multiply-accumulates by OFA's ``ofa.utils.flops_counter.profile`` (conv and linear weights, no
bias adds). The published specialised net ``flops@595M_top1@80.0_finetune@75`` (a w1.2 subnet at
236 px) comes out at 595.19 M, see the tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import onnx

from ..errors import ArchError
from .base import SearchSpace, as_rng, check_vector
from .mbconv import BlockWriter, MBConvSpec, make_divisible, out_size
from .onnx_builder import GraphBuilder, Weights, float_input, make_model

KS: tuple[int, ...] = (3, 5, 7)
ES: tuple[int, ...] = (3, 4, 6)
DS: tuple[int, ...] = (2, 3, 4)
RESOLUTIONS: tuple[int, ...] = tuple(range(128, 225, 4))
N_STAGES, MAX_DEPTH = 5, 4
N_CLASSES = 1000
_WHAT = {"ks": "kernel size", "e": "expand ratio", "d": "depth"}


class OFAArch(NamedTuple):
    """A canonical OFA subnet: per-slot kernel sizes and expand ratios, per-stage depths,
    resolution. Inactive slots hold ``KS[0]`` / ``ES[0]``."""

    ks: tuple[int, ...]
    e: tuple[int, ...]
    d: tuple[int, ...]
    r: int


def active_slots(d: Sequence[int]) -> list[int]:
    """Indices of the ks/e slots that are part of the network for depths ``d``."""
    return [MAX_DEPTH * s + i for s in range(len(d)) for i in range(d[s])]


class OFASpace(SearchSpace):
    """Shared identity, encoding and sampling of the OFA spaces (MobileNetV3, ProxylessNAS).

    Subclasses set the slot counts and build the network. ``extra_slots`` are ks/e slots after
    the elastic stages that are always active (ProxylessNAS' last, depth-1 stage).
    """

    label = "OFA"
    flops_bias = False  # OFA's ``profile`` counts conv/linear weights, no bias adds
    extra_slots = 0
    #: Depth entries after the 5 elastic ones that the string carries with a fixed value.
    fixed_depths: tuple[int, ...] = ()

    @property
    def n_slots(self) -> int:
        return N_STAGES * MAX_DEPTH + self.extra_slots

    def active(self, d: Sequence[int]) -> list[int]:
        return active_slots(d) + list(range(N_STAGES * MAX_DEPTH, self.n_slots))

    # -- identity ------------------------------------------------------------------------
    def canonical(self, ks: Sequence[int], e: Sequence[int], d: Sequence[int], r: int) -> OFAArch:
        """Validate values (every slot must hold a valid choice) and reset inactive slots."""
        ks, e, d = [int(v) for v in ks], [int(v) for v in e], [int(v) for v in d]
        for name, vals, choices in (("ks", ks, KS), ("e", e, ES), ("d", d, DS)):
            for i, v in enumerate(vals):
                if v not in choices:
                    raise ArchError(
                        f"{self.label}: {name}[{i}]={v} is not a valid {_WHAT[name]}; "
                        f"valid: {', '.join(map(str, choices))}"
                    )
        if int(r) not in RESOLUTIONS:
            raise ArchError(
                f"{self.label}: r={r} is not a valid resolution; valid: "
                f"{RESOLUTIONS[0]}..{RESOLUTIONS[-1]} in steps of 4"
            )
        live = set(self.active(d))
        ks = tuple(k if i in live else KS[0] for i, k in enumerate(ks))
        e = tuple(x if i in live else ES[0] for i, x in enumerate(e))
        return OFAArch(ks, e, tuple(d), int(r))

    def _check_lengths(self, ks: Sequence, e: Sequence, d: Sequence, where: str) -> list:
        want = {"ks": self.n_slots, "e": self.n_slots, "d": N_STAGES}
        depths_ok = (N_STAGES, N_STAGES + len(self.fixed_depths))
        for name, vals in (("ks", ks), ("e", e), ("d", d)):
            n = len(vals)
            if name == "d" and n in depths_ok:
                continue
            if n != want[name]:
                extra = (f" (or {depths_ok[1]} ending in {', '.join(map(str, self.fixed_depths))})"
                         if name == "d" and self.fixed_depths else "")
                raise ArchError(
                    f"{self.label}: {name} needs {want[name]} values{extra}, got {n} in {where}"
                )
        d = list(d)
        if len(d) > N_STAGES:
            tail = [int(v) for v in d[N_STAGES:]]
            if tail != list(self.fixed_depths):
                raise ArchError(f"{self.label}: the depth of the last stage is fixed at "
                                f"{', '.join(map(str, self.fixed_depths))}, got {tail} in {where}")
        return d[:N_STAGES]

    def parse_string(self, text: str) -> OFAArch:
        """Parse ``ks=..;e=..;d=..;r=..`` (comma- or space-separated values)."""
        if not isinstance(text, str):
            raise ArchError(f"{self.label} arch string must be a str, got {type(text).__name__}")
        fields = [f.strip() for f in text.strip().split(";")]
        names = [f.partition("=")[0].strip() for f in fields]
        if names != ["ks", "e", "d", "r"] or any("=" not in f for f in fields):
            raise ArchError(
                f"{self.label} arch string must be 'ks=..;e=..;d=..;r=..' (in this order), "
                f"got fields {names}: {text!r}"
            )
        values = {}
        for name, f in zip(names, fields, strict=True):
            body = f.partition("=")[2].strip()
            try:
                values[name] = [int(v) for v in re.split(r"[,\s]+", body) if v]
            except ValueError:
                raise ArchError(f"{self.label}: {name} must be integers, got {body!r} "
                                f"in {text!r}") from None
        if len(values["r"]) != 1:
            raise ArchError(f"{self.label}: r needs one value, got {len(values['r'])} in {text!r}")
        d = self._check_lengths(values["ks"], values["e"], values["d"], repr(text))
        return self.canonical(values["ks"], values["e"], d, values["r"][0])

    def parse(self, arch: Any) -> OFAArch:
        if isinstance(arch, str):
            return self.parse_string(arch)
        if isinstance(arch, Mapping):  # OFA's / HELP's arch dict
            keys = set(arch) - {"wid"}
            if keys != {"ks", "e", "d", "r"} or arch.get("wid") is not None:
                raise ArchError(f"{self.label} arch dict needs keys ks, e, d, r (and wid=None), "
                                f"got {sorted(arch)}")
            try:
                d = self._check_lengths(arch["ks"], arch["e"], arch["d"], "the arch dict")
                return self.canonical(arch["ks"], arch["e"], d, arch["r"])
            except TypeError as e:
                raise ArchError(f"{self.label} arch dict values must be int lists: {e}") from e
        if isinstance(arch, tuple) and len(arch) == 4 and not np.isscalar(arch[0]):
            try:
                d = self._check_lengths(arch[0], arch[1], arch[2], "the arch tuple")
                return self.canonical(arch[0], arch[1], d, arch[3])
            except TypeError as e:
                raise ArchError(f"{self.label} arch tuple must be (ks, e, d, r): {e}") from e
        return self.decode(arch)

    def to_string(self, arch: Any) -> str:
        a = self.parse(arch)
        join = ",".join
        d = (*a.d, *self.fixed_depths)
        return (f"ks={join(map(str, a.ks))};e={join(map(str, a.e))};"
                f"d={join(map(str, d))};r={a.r}")

    def to_dict(self, arch: Any) -> dict[str, Any]:
        """OFA's arch dict (``set_active_subnet(**dict)`` plus the resolution)."""
        a = self.parse(arch)
        return {"ks": list(a.ks), "e": list(a.e), "d": [*a.d, *self.fixed_depths], "r": a.r}

    # -- encoding: choice indices ks[n], e[n], d[5], r -----------------------------------
    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.n_slots
        hi = [len(KS) - 1] * n + [len(ES) - 1] * n + [len(DS) - 1] * N_STAGES
        hi.append(len(RESOLUTIONS) - 1)
        return np.zeros(len(hi), np.int64), np.asarray(hi, np.int64)

    def encode(self, arch: Any) -> np.ndarray:
        a = self.parse(arch)
        vals = ([KS.index(k) for k in a.ks] + [ES.index(x) for x in a.e]
                + [DS.index(x) for x in a.d] + [RESOLUTIONS.index(a.r)])
        return np.asarray(vals, np.int64)

    def decode(self, vector: Sequence[int] | np.ndarray) -> OFAArch:
        """Choice indices to an arch; entries of inactive slots are ignored."""
        v = check_vector(vector, self.bounds[1], self.label)
        n = self.n_slots
        ks = [KS[i] for i in v[:n]]
        e = [ES[i] for i in v[n:2 * n]]
        d = [DS[i] for i in v[2 * n:2 * n + N_STAGES]]
        return self.canonical(ks, e, d, RESOLUTIONS[v[-1]])

    # -- sampling ------------------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> list[OFAArch]:
        """OFA's ``sample_active_subnet``: every slot, depth and the resolution uniform.

        So depths are uniform per stage (not weighted by how many subnets each depth holds).
        """
        rng = as_rng(rng)
        hi = self.bounds[1]
        vecs = rng.integers(0, hi + 1, size=(n, len(hi)))
        return [self.decode(v) for v in vecs]

    def mutate(self, arch: Any, rng: np.random.Generator | int | None = None) -> OFAArch:
        """Change one live decision: an active slot's ks or e, a stage depth, or r.

        Blocks that a deeper stage switches on start at the canonical (3, 3); inactive slots
        are never picked, since changing one would not change the network.
        """
        rng = as_rng(rng)
        a = self.parse(arch)
        ks, e, d = list(a.ks), list(a.e), list(a.d)
        live = self.active(d)
        decisions = ([("ks", i) for i in live] + [("e", i) for i in live]
                     + [("d", s) for s in range(N_STAGES)] + [("r", 0)])
        kind, i = decisions[int(rng.integers(len(decisions)))]
        target, choices = {"ks": (ks, KS), "e": (e, ES), "d": (d, DS)}.get(kind, (None, None))
        if target is None:
            r = int(rng.choice([x for x in RESOLUTIONS if x != a.r]))
            return self.canonical(ks, e, d, r)
        target[i] = int(rng.choice([x for x in choices if x != target[i]]))
        return self.canonical(ks, e, d, a.r)

    def size(self) -> int:
        per_stage = sum((len(KS) * len(ES)) ** d for d in DS)
        return per_stage ** N_STAGES * (len(KS) * len(ES)) ** self.extra_slots * len(RESOLUTIONS)

    # -- counts --------------------------------------------------------------------------
    def to_onnx(
        self, arch: Any, weights: Weights = "random", seed: int = 0, *, optimized: bool = True
    ) -> onnx.ModelProto:
        """The subnet at its resolution; ``optimized=False`` keeps BatchNorm unfolded.

        The optimized (folded) graph calls one model-local function per block kind
        (``mbconv.BlockKind``), so its text states each kind once.
        """
        return self.build(self.parse(arch), weights, seed, fold=optimized)

    def build(self, arch: OFAArch, weights: Weights, seed: int, fold: bool) -> onnx.ModelProto:
        raise NotImplementedError


#: Per stage: (base width, stride, activation, SE), from ``OFAMobileNetV3.__init__``.
MBV3_STAGES: tuple[tuple[int, int, str, bool], ...] = (
    (24, 2, "relu", False), (40, 2, "relu", True), (80, 2, "h_swish", False),
    (112, 1, "h_swish", True), (160, 2, "h_swish", True),
)


class OFAMobileNetV3(OFASpace):
    """OFA-MobileNetV3 (ks 3/5/7, e 3/4/6, d 2/3/4, r 128..224), ImageNet, 1000 classes."""

    name = "ofa_mbv3"
    label = "OFA-MBv3"

    def __init__(self, width_mult: float = 1.2) -> None:
        self.width_mult = width_mult

    def build(self, arch: OFAArch, weights: Weights, seed: int, fold: bool) -> onnx.ModelProto:
        return build_mbv3(arch, self.width_mult, weights, seed, fold)


def build_mbv3(arch: OFAArch, width_mult: float, weights: Weights = "none", seed: int = 0,
               fold: bool = False, functions: bool = True) -> onnx.ModelProto:
    """The OFA-MBv3 subnet ``arch`` (any resolution, so published nets at 236 px build too).

    Folded, each block kind is a model-local function; ``functions=False`` writes it inline.
    """
    def width(c: int) -> int:
        return make_divisible(c * width_mult, 8)

    b = GraphBuilder(weights, seed)
    w = BlockWriter(b, fold, eps=1e-5, functions=functions)
    c0, c1 = width(16), width(16)
    x = w.conv_bn_act("input", 3, c0, 3, 2, act="h_swish")
    size = out_size(arch.r, 2)
    x = w.mbconv(x, MBConvSpec(c0, c1, 3, 1, act="relu", residual=c0 == c1), size)
    c = c1
    for s, (base, stride, act, se) in enumerate(MBV3_STAGES):
        c_out = width(base)
        for i in range(arch.d[s]):
            k, e = arch.ks[MAX_DEPTH * s + i], arch.e[MAX_DEPTH * s + i]
            st = stride if i == 0 else 1
            mid = make_divisible(round(c * e), 8)
            spec = MBConvSpec(c, c_out, k, st, mid=mid, act=act,
                              se_mid=make_divisible(mid // 4, 8) if se else None,
                              residual=st == 1 and c == c_out)
            x = w.mbconv(x, spec, size)
            size, c = out_size(size, st), c_out
    c_final, c_mix = width(960), width(1280)
    x = w.conv_bn_act(x, c, c_final, 1, act="h_swish")
    x = b.op("GlobalAveragePool", [x])
    x = w.conv_bn_act(x, c_final, c_mix, 1, act="h_swish", bn=False)
    w.b.classifier(x, c_mix, N_CLASSES)
    return make_model(
        "ofa_mbv3", b,
        [float_input("input", ["N", 3, arch.r, arch.r])],
        [float_input("logits", ["N", N_CLASSES])],
        w.function_list(),
    )

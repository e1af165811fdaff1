"""Once-for-All ResNet50 (OFA-ResNet50D): elastic depth, expand ratio, width and resolution.

Everything here follows the OFA reference code, mit-han-lab/once-for-all:

* ``ofa/model_zoo.py`` (``ofa_net("ofa_resnet50")``): the released supernet uses
  ``depth_list=[0, 1, 2]``, ``expand_ratio_list=[0.2, 0.25, 0.35]`` and
  ``width_mult_list=[0.65, 0.8, 1.0]``; the README lists its resolutions as 128-224.
* ``ofa/imagenet_classification/elastic_nn/networks/ofa_resnets.py`` (``OFAResNets``):
  the arch dict ``{"d": 5 ints, "e": 18 floats, "w": 6 ints}`` of ``set_active_subnet`` and
  ``sample_active_subnet``, and how ``get_active_subnet`` turns it into a static network.
* ``ofa/imagenet_classification/networks/resnets.py`` (``ResNets``, ``ResNet50D``): the
  skeleton, base depths ``[2, 2, 4, 2]``, widths ``[256, 512, 1024, 2048]``, strides
  ``[1, 2, 2, 2]``, max pool 3/2/1, global average pool, a biased linear head.
* ``ofa/utils/layers.py`` (``ResNetBottleneckBlock``, ``ResidualBlock``) and
  ``ofa/utils/my_modules.py`` (``CHANNEL_DIVISIBLE = 8``), ``make_divisible``.

The network, for input ``3 x r x r`` and 1000 classes:

* input stem: conv3x3/2 (3 -> ``mid``), an optional residual conv3x3 (``mid -> mid``, plus the
  identity, no activation after the add), conv3x3 (``mid -> c``); each conv is Conv-BN-ReLU.
  ``c = make_divisible(64 w)`` and ``mid = make_divisible(c // 2)``;
* max pool 3x3/2, pad 1;
* 4 stages of ``[2, 2, 4, 2][i] + d[i + 1]`` bottleneck blocks. A block is 1x1 -> 3x3 (stride
  here) -> 1x1 with BN and ReLU, the shortcut added before the final ReLU. Its middle width is
  ``make_divisible(round(out * e))``, from the block's *output* width as in OFA. The shortcut is
  the identity when the shape is kept, else ``avgpool_conv``: AvgPool(k=s, s=s, ceil_mode) then
  1x1 conv-BN. The stride-1 AvgPool of stage 1's first block is a no-op and is left out;
* global average pool, linear 1000 (with bias).

Arch string, in the project's OFA format (``ofa_arch_str`` for MBv3: OFA's arch-dict keys,
comma-joined values, keys joined by ``;``)::

    d=2,1,2,2,1;e=0.25,0.25,0.25,0.2,...;w=2,2,2,2,2,2;r=224

* ``d``: 5 depths. ``d[0]`` is the input stem: OFA keeps the middle stem conv only when
  ``d[0] == 2`` (``input_stem_skipping = d[0] != max(depth_list)``) and samples it from
  ``{0, 2}``; ``d[1:]`` adds 0-2 blocks to each stage.
* ``e``: 18 expand ratios, one per block slot (4, 4, 6, 4 slots per stage, i.e. base + 2).
* ``w``: 6 width indices into ``(0.65, 0.8, 1.0)``: first stem conv, last stem conv, 4 stages.
* ``r``: input resolution, 128..224 step 4 by default (the README's range; the step of
  OFA's continuous-size loader, ``MyRandomResizedCrop.IMAGE_SIZE_SEG = 4``).

Canonical form, so that equal networks give equal archs and equal strings: ``e`` slots of
inactive blocks (beyond a stage's depth) are reset to the smallest choice, 0.2, as the OFA-MBv3
adapter does (on input they may hold any choice, or 0 as OFA's ``feature2arch`` pads them);
``d[0] = 1`` becomes 0 (both skip the stem conv); ``w[0] = 1`` becomes 0 (0.65 and 0.8 both
give a 24-channel first stem conv). The parser accepts values separated by commas or
whitespace, and OFA arch dicts (``image_size`` or ``r``; a scalar is broadcast as in
``set_active_subnet``).

The ONNX graph is written as an inference exporter and optimiser leave it: BatchNorm folded
into conv biases, and the two repeated block kinds (identity and downsampling bottleneck) as
model-local functions, so the text states each once and folds runs of equal-width blocks into
one ``Bottleneck*k`` line. :meth:`OFAResNet50.params` and :meth:`OFAResNet50.flops` count the
literal unfolded network instead, OFA's convention (``ofa/utils/flops_counter.py`` and
``ResNet50LatencyTable.count_flops_given_config``): params are all trainable tensors (BN
scale and shift included), FLOPs are conv and linear multiply-accumulates without bias terms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import cache
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
import onnx

from ..errors import ArchError
from .base import SearchSpace, as_rng, check_vector
from .onnx_builder import (
    FUNCTION_DOMAIN,
    FunctionBuilder,
    GraphBuilder,
    Weights,
    float_input,
    make_function,
    make_model,
)

# -- the OFA-ResNet50 supernet (ofa/model_zoo.py, networks/resnets.py) -------------------
D_CHOICES: tuple[int, ...] = (0, 1, 2)
E_CHOICES: tuple[float, ...] = (0.2, 0.25, 0.35)
W_MULTS: tuple[float, ...] = (0.65, 0.8, 1.0)
BASE_DEPTHS: tuple[int, ...] = (2, 2, 4, 2)
STAGE_WIDTHS: tuple[int, ...] = (256, 512, 1024, 2048)
STRIDES: tuple[int, ...] = (1, 2, 2, 2)
MAX_D = max(D_CHOICES)
#: Block slots per stage (base depth + max extra depth) and the first slot of each stage.
SLOTS: tuple[int, ...] = tuple(b + MAX_D for b in BASE_DEPTHS)
OFFSETS: tuple[int, ...] = tuple(sum(SLOTS[:i]) for i in range(len(SLOTS)))
N_STAGES = len(BASE_DEPTHS)
#: Block slots, depth values (stem + stages) and width slots (2 stem convs + stages).
N_BLOCKS, N_D, N_W = sum(SLOTS), N_STAGES + 1, N_STAGES + 2
N_CLASSES = 1000
CHANNEL_DIVISIBLE = 8
DEFAULT_RESOLUTIONS: tuple[int, ...] = tuple(range(128, 225, 4))
#: ``e`` that OFA's ``ResNetArchEncoder.feature2arch`` writes for a block beyond its stage's
#: depth; accepted there on input. The canonical filler is ``E_CHOICES[0]``, as in the
#: sibling OFA-MBv3 adapter, so a written string stays a valid OFA arch dict.
INACTIVE_E = 0.0
KEYS: tuple[str, ...] = ("d", "e", "w", "r")


def make_divisible(v: float, divisor: int = CHANNEL_DIVISIBLE, min_val: int | None = None) -> int:
    """OFA's ``make_divisible``: round to a multiple of ``divisor``, never more than 10% down."""
    if min_val is None:
        min_val = divisor
    new_v = max(min_val, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


#: Channels per width index: the last stem conv, the first (and middle) stem conv, each stage.
STEM_OUT: tuple[int, ...] = tuple(make_divisible(64 * m) for m in W_MULTS)
STEM_MID: tuple[int, ...] = tuple(make_divisible(c // 2) for c in STEM_OUT)
STAGE_OUT: tuple[tuple[int, ...], ...] = tuple(
    tuple(make_divisible(width * m) for m in W_MULTS) for width in STAGE_WIDTHS
)


def width_channels(slot: int, w: int) -> int:
    """Output channels of width slot ``slot`` (0: first stem conv, 1: last stem conv, 2-5:
    stages) at width index ``w``."""
    if slot == 0:
        return STEM_MID[w]
    if slot == 1:
        return STEM_OUT[w]
    return STAGE_OUT[slot - 2][w]


def mid_channels(out: int, e: float) -> int:
    """Bottleneck width, from the block's output width as in OFA's ``ResNetBottleneckBlock``."""
    return make_divisible(round(out * e))


#: Per width slot: the smallest width index giving the same channel count (w[0]: 1 -> 0).
W_CANON: tuple[tuple[int, ...], ...] = tuple(
    tuple(min(j for j in range(len(W_MULTS)) if width_channels(s, j) == width_channels(s, w))
          for w in range(len(W_MULTS)))
    for s in range(N_W)
)
#: Per width slot: the distinct (canonical) width indices, in order.
W_DISTINCT: tuple[tuple[int, ...], ...] = tuple(tuple(sorted(set(c))) for c in W_CANON)


class OFAResNetArch(NamedTuple):
    """A canonical OFA-ResNet50 subnet: OFA's arch dict plus the resolution."""

    d: tuple[int, ...]
    e: tuple[float, ...]
    w: tuple[int, ...]
    r: int


def stage_of_slot(i: int) -> tuple[int, int]:
    """(stage, position in stage) of block slot ``i``."""
    for s in reversed(range(N_STAGES)):
        if i >= OFFSETS[s]:
            return s, i - OFFSETS[s]
    raise IndexError(i)


def active_slots(d: Sequence[int]) -> list[int]:
    """Block slots that are part of the network for depths ``d`` (``d[0]`` is the stem)."""
    return [OFFSETS[s] + j for s in range(N_STAGES) for j in range(BASE_DEPTHS[s] + d[s + 1])]


# -- parsing and validation ------------------------------------------------------------------
def _describe_resolutions(res: Sequence[int]) -> str:
    steps = {b - a for a, b in pairwise(res)}
    if len(res) > 2 and len(steps) == 1:
        return f"{res[0]}..{res[-1]} step {steps.pop()}"
    return ", ".join(map(str, res))


def _as_int(v: Any, what: str) -> int:
    if isinstance(v, str):
        if not re.fullmatch(r"[+-]?\d+", v.strip()):
            raise ArchError(f"{what} = {v!r} is not an integer")
        return int(v)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer, float, np.floating)):
        raise ArchError(f"{what} = {v!r} is not an integer")
    if isinstance(v, (float, np.floating)) and not (math.isfinite(v) and v == int(v)):
        raise ArchError(f"{what} = {v!r} is not an integer")
    return int(v)


def _as_float(v: Any, what: str) -> float:
    if isinstance(v, str):
        try:
            out = float(v)
        except ValueError:
            raise ArchError(f"{what} = {v!r} is not a number") from None
    elif isinstance(v, bool) or not isinstance(v, (int, np.integer, float, np.floating)):
        raise ArchError(f"{what} = {v!r} is not a number")
    else:
        out = float(v)
    if not math.isfinite(out):
        raise ArchError(f"{what} = {v!r} is not a finite number")
    return out


def make_arch(d: Sequence[Any], e: Sequence[Any], w: Sequence[Any], r: Any,
              resolutions: Sequence[int] = DEFAULT_RESOLUTIONS) -> OFAResNetArch:
    """Validate OFA's ``d``/``e``/``w`` lists and a resolution; return the canonical arch."""
    if len(d) != N_D:
        raise ArchError(f"d needs {N_D} values (input stem, then {N_STAGES} stages), "
                        f"found {len(d)}: {list(d)}")
    if len(e) != N_BLOCKS:
        raise ArchError(f"e needs {N_BLOCKS} values (one per block slot, "
                        f"{', '.join(map(str, SLOTS))} per stage), found {len(e)}: {list(e)}")
    if len(w) != N_W:
        raise ArchError(f"w needs {N_W} values (2 input stem convs, then {N_STAGES} stages), "
                        f"found {len(w)}: {list(w)}")
    dd = [_as_int(v, f"d[{i}]") for i, v in enumerate(d)]
    for i, v in enumerate(dd):
        if v not in D_CHOICES:
            raise ArchError(f"d[{i}] = {v} is not a valid depth; valid: "
                            f"{', '.join(map(str, D_CHOICES))}")
    ww = [_as_int(v, f"w[{i}]") for i, v in enumerate(w)]
    for i, v in enumerate(ww):
        if not 0 <= v < len(W_MULTS):
            raise ArchError(f"w[{i}] = {v} is not a valid width index; valid: 0, 1, 2 "
                            f"(width multipliers {', '.join(map(str, W_MULTS))})")
    d0 = MAX_D if dd[0] == MAX_D else 0  # OFA: the stem conv is kept only at max depth
    dd = [d0, *dd[1:]]
    active = set(active_slots(dd))
    ee: list[float] = []
    for i, v in enumerate(e):
        x = _as_float(v, f"e[{i}]")
        if x not in E_CHOICES and not (x == INACTIVE_E and i not in active):
            s, j = stage_of_slot(i)
            if x == INACTIVE_E:
                raise ArchError(
                    f"e[{i}] = 0 marks an inactive block, but block {j} of stage {s + 1} is "
                    f"active (depth {BASE_DEPTHS[s] + dd[s + 1]}); valid: "
                    f"{', '.join(map(str, E_CHOICES))}")
            raise ArchError(f"e[{i}] = {v} is not a valid expand ratio; valid: "
                            f"{', '.join(map(str, E_CHOICES))} (0 for inactive blocks)")
        ee.append(x if i in active else E_CHOICES[0])
    rr = _as_int(r, "r")
    if rr not in resolutions:
        raise ArchError(f"resolution r={rr} is not supported; valid: "
                        f"{_describe_resolutions(resolutions)}")
    wc = tuple(W_CANON[i][v] for i, v in enumerate(ww))
    return OFAResNetArch(tuple(dd), tuple(ee), wc, rr)


def parse_arch_string(text: str, resolutions: Sequence[int] = DEFAULT_RESOLUTIONS
                      ) -> OFAResNetArch:
    """Parse ``d=..;e=..;w=..;r=..`` (values comma- or space-separated, keys in any order)."""
    if not isinstance(text, str):
        raise ArchError(f"OFA-ResNet50 arch string must be a str, got {type(text).__name__}")
    s = text.strip()
    if not s:
        raise ArchError("OFA-ResNet50 arch string is empty; expected 'd=...;e=...;w=...;r=...'")
    fields: dict[str, list[str]] = {}
    for part in s.split(";"):
        key, sep, val = part.partition("=")
        key = key.strip()
        if not sep:
            raise ArchError(f"field {part.strip()!r} must look like 'key=values' in {text!r}")
        if key not in KEYS:
            raise ArchError(f"unknown key {key!r} in {text!r}; valid keys: {', '.join(KEYS)}")
        if key in fields:
            raise ArchError(f"duplicate key {key!r} in {text!r}")
        fields[key] = [v for v in re.split(r"[,\s]+", val.strip()) if v]
    missing = [k for k in KEYS if k not in fields]
    if missing:
        raise ArchError(f"missing key(s) {', '.join(missing)} in {text!r}; "
                        "expected 'd=...;e=...;w=...;r=...'")
    if len(fields["r"]) != 1:
        raise ArchError(f"r needs 1 value, found {len(fields['r'])} in {text!r}")
    return make_arch(fields["d"], fields["e"], fields["w"], fields["r"][0], resolutions)


def _fmt_e(x: float) -> str:
    return f"{x:g}"


def arch_to_string(arch: OFAResNetArch) -> str:
    j = ",".join
    return (f"d={j(map(str, arch.d))};e={j(map(_fmt_e, arch.e))};"
            f"w={j(map(str, arch.w))};r={arch.r}")


# -- the integer encoding ----------------------------------------------------------------------
#: Vector layout: [stem kept?, d1..d4, e slot indices (18), w as index into W_DISTINCT (6), r].
_POS_D, _POS_E, _POS_W = 1, N_D, N_D + N_BLOCKS
N_VARS = N_D + N_BLOCKS + N_W + 1


#: Each encoding entry, as the out-of-range message names it.
_VAR_NAMES = ("stem (0: d[0]=0, 1: d[0]=2)", *(f"d[{i}]" for i in range(1, N_D)),
              *(f"e[{i}]" for i in range(N_BLOCKS)), *(f"w[{i}]" for i in range(N_W)), "r")


class OFAResNet50(SearchSpace):
    """The OFA-ResNet50 space: 1.6e12 distinct subnets per resolution (4.1e13 in all at the
    default 25 resolutions, 128..224 step 4; pass ``resolutions`` to change them).
    """

    name = "ofa_resnet"
    flops_bias = False  # OFA's ``profile`` and ``count_flops_given_config``: no bias adds

    def __init__(self, resolutions: Sequence[int] | None = None) -> None:
        res = DEFAULT_RESOLUTIONS if resolutions is None else resolutions
        try:
            vals = sorted({_as_int(r, "resolution") for r in res})
        except TypeError:
            raise ArchError(f"resolutions must be a sequence of ints, got {res!r}") from None
        if not vals or vals[0] < 32:
            raise ArchError(f"resolutions must be non-empty ints >= 32, got {list(res)}")
        self.resolutions: tuple[int, ...] = tuple(vals)

    # -- identity ------------------------------------------------------------------------
    def parse(self, arch: Any) -> OFAResNetArch:
        if isinstance(arch, OFAResNetArch):
            return make_arch(*arch, resolutions=self.resolutions)
        if isinstance(arch, str):
            return parse_arch_string(arch, self.resolutions)
        if isinstance(arch, Mapping):
            return self._from_dict(arch)
        return self.decode(arch)

    def _from_dict(self, arch: Mapping) -> OFAResNetArch:
        """OFA's arch dict; a scalar is broadcast as ``set_active_subnet`` does."""
        unknown = sorted(set(map(str, arch)) - {"d", "e", "w", "r", "image_size"})
        if unknown:
            raise ArchError(f"unknown key(s) {', '.join(unknown)} in OFA-ResNet50 arch dict; "
                            "valid: d, e, w, r (or image_size)")
        if "r" in arch and "image_size" in arch:
            raise ArchError("give the resolution as r or image_size, not both")
        has_r = "r" in arch or "image_size" in arch
        missing = [k for k in ("d", "e", "w") if k not in arch]
        missing += [] if has_r else ["r (or image_size)"]
        if missing:
            raise ArchError(f"OFA-ResNet50 arch dict is missing {', '.join(missing)}")

        def lst(key: str, n: int) -> list:
            v = arch[key]
            return list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v] * n

        r = arch["r"] if "r" in arch else arch["image_size"]
        return make_arch(lst("d", N_D), lst("e", N_BLOCKS), lst("w", N_W), r, self.resolutions)

    def to_string(self, arch: Any) -> str:
        return arch_to_string(self.parse(arch))

    def to_ofa_dict(self, arch: Any) -> dict[str, Any]:
        """OFA's arch dict (``set_active_subnet(**d)`` plus ``image_size``)."""
        a = self.parse(arch)
        return {"d": list(a.d), "e": list(a.e), "w": list(a.w), "image_size": a.r}

    # -- encoding ------------------------------------------------------------------------
    def encode(self, arch: Any) -> np.ndarray:
        """Integer vector: ``[stem kept, d[1..4], e index per slot (inactive: 0, ignored),
        w as index into its distinct widths (w[0]: 0 or 1), resolution index]``."""
        a = self.parse(arch)
        v = [int(a.d[0] == MAX_D), *a.d[1:]]
        v += [E_CHOICES.index(x) for x in a.e]
        v += [W_DISTINCT[i].index(x) for i, x in enumerate(a.w)]
        v.append(self.resolutions.index(a.r))
        return np.asarray(v, dtype=np.int64)

    def decode(self, vector: Sequence[int] | np.ndarray) -> OFAResNetArch:
        v = check_vector(vector, self.bounds[1], "OFA-ResNet50", names=_VAR_NAMES)
        d = [MAX_D if v[0] else 0, *map(int, v[_POS_D:_POS_E])]
        active = set(active_slots(d))
        e = [E_CHOICES[int(x) if i in active else 0] for i, x in enumerate(v[_POS_E:_POS_W])]
        w = [W_DISTINCT[i][int(x)] for i, x in enumerate(v[_POS_W:_POS_W + N_W])]
        return make_arch(d, e, w, self.resolutions[int(v[-1])], self.resolutions)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        hi = [1] + [len(D_CHOICES) - 1] * (N_D - 1) + [len(E_CHOICES) - 1] * N_BLOCKS
        hi += [len(c) - 1 for c in W_DISTINCT] + [len(self.resolutions) - 1]
        return np.zeros(N_VARS, np.int64), np.asarray(hi, np.int64)

    # -- sampling ------------------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator | int | None = None
               ) -> list[OFAResNetArch]:
        """Each decision drawn uniformly as OFA's ``sample_active_subnet`` does (``d[0]`` from
        {0, 2}, ``w`` from all 3 indices, so 2/3 of stems get the 24-channel first conv)."""
        rng = as_rng(rng)
        d0 = rng.choice([0, MAX_D], size=n)
        d = rng.integers(0, len(D_CHOICES), size=(n, N_STAGES))
        e = rng.integers(0, len(E_CHOICES), size=(n, N_BLOCKS))
        w = rng.integers(0, len(W_MULTS), size=(n, N_W))
        r = rng.integers(0, len(self.resolutions), size=n)
        return [
            make_arch([int(d0[k]), *(D_CHOICES[x] for x in d[k])], [E_CHOICES[x] for x in e[k]],
                      w[k].tolist(), self.resolutions[r[k]], self.resolutions)
            for k in range(n)
        ]

    def mutate(self, arch: Any, rng: np.random.Generator | int | None = None) -> OFAResNetArch:
        """Change one decision that changes the network: the stem conv, one stage's depth, the
        expand ratio of one active block, one width, or the resolution. A deeper stage's new
        blocks get random expand ratios (they had none)."""
        rng = as_rng(rng)
        a = self.parse(arch)
        d, e, w = list(a.d), list(a.e), list(a.w)
        r = a.r
        choices: list[tuple[str, int]] = [("stem", 0)] + [("d", s) for s in range(1, N_D)]
        choices += [("e", i) for i in active_slots(d)] + [("w", i) for i in range(N_W)]
        if len(self.resolutions) > 1:
            choices.append(("r", 0))
        kind, i = choices[int(rng.integers(len(choices)))]
        if kind == "stem":
            d[0] = MAX_D - d[0]
        elif kind == "d":
            was = set(active_slots(d))
            d[i] = int(rng.choice([x for x in D_CHOICES if x != d[i]]))
            for slot in sorted(set(active_slots(d)) - was):
                e[slot] = E_CHOICES[int(rng.integers(len(E_CHOICES)))]
        elif kind == "e":
            e[i] = float(rng.choice([x for x in E_CHOICES if x != e[i]]))
        elif kind == "w":
            w[i] = int(rng.choice([x for x in W_DISTINCT[i] if x != w[i]]))
        else:
            r = int(rng.choice([x for x in self.resolutions if x != r]))
        return make_arch(d, e, w, r, self.resolutions)

    def size(self) -> int:
        """Distinct canonical archs (inactive slots and aliased stem choices counted once)."""
        n = 2 * len(self.resolutions) * math.prod(len(c) for c in W_DISTINCT)
        for base in BASE_DEPTHS:
            n *= sum(len(E_CHOICES) ** (base + x) for x in D_CHOICES)
        return n

    # -- network -------------------------------------------------------------------------
    def to_onnx(
        self, arch: Any, weights: Weights = "random", seed: int = 0, *, optimized: bool = True
    ) -> onnx.ModelProto:
        """The subnet as ONNX. ``optimized=False`` gives the literal OFA network (BatchNorm
        unfolded, blocks inlined), used for params/FLOPs."""
        return build_network(self.parse(arch), weights, seed, optimized)


# -- the network builder ---------------------------------------------------------------------
class Block(NamedTuple):
    """One active bottleneck block of a subnet."""

    c_in: int
    mid: int
    c_out: int
    stride: int

    @property
    def identity(self) -> bool:
        return self.stride == 1 and self.c_in == self.c_out


class Layout(NamedTuple):
    """The static network of an arch: what ``get_active_subnet`` builds."""

    stem_mid: int
    stem_out: int
    stem_middle_conv: bool
    blocks: tuple[Block, ...]
    resolution: int


def layout(arch: OFAResNetArch) -> Layout:
    c = STEM_OUT[arch.w[1]]
    blocks = []
    for s in range(N_STAGES):
        out = STAGE_OUT[s][arch.w[s + 2]]
        for j in range(BASE_DEPTHS[s] + arch.d[s + 1]):
            e = arch.e[OFFSETS[s] + j]
            blocks.append(Block(c, mid_channels(out, e), out, STRIDES[s] if j == 0 else 1))
            c = out
    return Layout(STEM_MID[arch.w[0]], STEM_OUT[arch.w[1]], arch.d[0] == MAX_D, tuple(blocks),
                  arch.r)


def _conv_bn(b: GraphBuilder, x: str, c_in: int, c_out: int, k: int, stride: int, fold: bool,
             relu: bool = True) -> str:
    """Conv-BN(-ReLU); BN folded into a biased conv, as an inference export has it."""
    if fold:
        y = b.conv(x, c_in, c_out, k, stride, bias=True)
    else:
        y = b.batchnorm(b.conv(x, c_in, c_out, k, stride), c_out)
    return b.op("Relu", [y]) if relu else y


def _bottleneck(b: GraphBuilder, x: str, blk: Block, fold: bool) -> str:
    """OFA ``ResNetBottleneckBlock`` with ``downsample_mode="avgpool_conv"``."""
    if blk.identity:
        res = x
    else:
        p = x
        if blk.stride > 1:
            p = b.op("AveragePool", [x], kernel_shape=[blk.stride] * 2,
                     strides=[blk.stride] * 2, ceil_mode=1)
        res = _conv_bn(b, p, blk.c_in, blk.c_out, 1, 1, fold, relu=False)
    y = _conv_bn(b, x, blk.c_in, blk.mid, 1, 1, fold)
    y = _conv_bn(b, y, blk.mid, blk.mid, 3, blk.stride, fold)
    y = _conv_bn(b, y, blk.mid, blk.c_out, 1, 1, fold, relu=False)
    return b.op("Relu", [b.op("Add", [y, res])])


#: Channel placeholders in function weight shapes, replaced per call.
_C_IN, _MID, _C_OUT = -1, -2, -3


@cache
def _block_function(name: str) -> tuple[onnx.FunctionProto, tuple[tuple[list[int], str], ...]]:
    """A bottleneck kind as a model-local function, and its weights' (shape, kind)."""
    if name == "Bottleneck":
        proto = Block(_C_OUT, _MID, _C_OUT, 1)
    elif name == "BottleneckDown":
        proto = Block(_C_IN, _MID, _C_OUT, 2)
    else:
        raise ValueError(name)
    fb = FunctionBuilder()
    out = _bottleneck(fb, "x", proto, fold=True)
    fn = make_function(name, fb, ["x"] + [p[0] for p in fb.params], [out])
    return fn, tuple((shape, kind) for _, shape, kind in fb.params)


def _function_for(blk: Block) -> str | None:
    if blk.identity:
        return "Bottleneck"
    if blk.stride == 2:
        return "BottleneckDown"
    return None  # stage 1's first block (1x1 projection shortcut) occurs once: inlined


def build_network(arch: OFAResNetArch, weights: Weights, seed: int, optimized: bool
                  ) -> onnx.ModelProto:
    lay = layout(arch)
    b = GraphBuilder(weights, seed)
    fold = optimized
    mid, c = lay.stem_mid, lay.stem_out
    x = _conv_bn(b, "input", 3, mid, 3, 2, fold)
    if lay.stem_middle_conv:  # OFA ResidualBlock(ConvLayer, IdentityLayer): no ReLU after add
        x = b.op("Add", [x, _conv_bn(b, x, mid, mid, 3, 1, fold)])
    x = _conv_bn(b, x, mid, c, 3, 1, fold)
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], pads=[1] * 4, strides=[2, 2])
    used: dict[str, onnx.FunctionProto] = {}
    for blk in lay.blocks:
        fname = _function_for(blk) if optimized else None
        if fname is None:
            x = _bottleneck(b, x, blk, fold)
            continue
        fn, params = _block_function(fname)
        used[fname] = fn
        sub = {_C_IN: blk.c_in, _MID: blk.mid, _C_OUT: blk.c_out}
        args = [b.weight([sub.get(dim, dim) for dim in shape], kind) for shape, kind in params]
        x = b.op(fname, [x, *args], domain=FUNCTION_DOMAIN)
    c = lay.blocks[-1].c_out
    b.classifier(b.op("GlobalAveragePool", [x]), c, N_CLASSES)
    r = lay.resolution
    return make_model(
        "ofa_resnet50", b,
        [float_input("input", ["N", 3, r, r])],
        [float_input("logits", ["N", N_CLASSES])],
        [used[k] for k in sorted(used)],
    )

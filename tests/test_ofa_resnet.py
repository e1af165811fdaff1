"""OFA-ResNet50 search space: strings, canonical form, encoding, sampling, counts, ONNX and text.

Counts are checked three ways: exactly against a transcription of OFA's own FLOPs model
(``ResNet50LatencyTable.count_flops_given_config`` over the config ``OFAResNets`` builds),
against torchvision's published ResNet50 figures (the OFA subnet ``d=2,1,2,2,1``, ``e=0.25``,
``w=1.0`` is ResNet50-D, i.e. torchvision's ResNet50 with a deep stem and avg-pool
downsampling), and as a range check against the OFA README's specialised ResNet50D subnets.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import onnx
import pytest
from onnx import inliner

from nas_rlm.errors import ArchError
from nas_rlm.search_spaces.ofa_resnet import (
    BASE_DEPTHS,
    E_CHOICES,
    N_BLOCKS,
    N_VARS,
    OFFSETS,
    SLOTS,
    STAGE_OUT,
    STEM_MID,
    STEM_OUT,
    OFAResNet50,
    OFAResNetArch,
    active_slots,
    make_arch,
    mid_channels,
    parse_arch_string,
)
from nas_rlm.search_spaces.onnx_check import check_runnable
from nas_rlm.search_spaces.onnx_text import to_text

SPACE = OFAResNet50()


def _s(d, e, w, r) -> str:
    """An arch string from lists (scalars broadcast)."""
    e = [e] * N_BLOCKS if not isinstance(e, list) else e
    w = [w] * 6 if not isinstance(w, list) else w
    d = [d] * 5 if not isinstance(d, list) else d
    return f"d={','.join(map(str, d))};e={','.join(map(str, e))};w={','.join(map(str, w))};r={r}"


#: ResNet50-D (stage depths 3, 4, 6, 3; bottleneck width out/4; full width; deep stem).
RESNET50D = _s([2, 1, 2, 2, 1], 0.25, 2, 224)
LARGEST = _s(2, 0.35, 2, 224)
SMALLEST = _s(0, 0.2, 0, 128)


# -- a transcription of OFA's code, independent of the adapter -----------------------------
def _md(v: float, divisor: int = 8) -> int:
    """ofa.utils.make_divisible."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _ofa_net_config(d, e, w) -> dict:
    """What ``OFAResNets.set_active_subnet(d, e, w); get_active_net_config()`` returns (the
    fields the FLOPs model reads)."""
    wm = [0.65, 0.8, 1.0]
    input_channel = [_md(64 * m) for m in wm]
    mid_input_channel = [_md(c // 2) for c in input_channel]
    stage_width_list = [[_md(width * m) for m in wm] for width in [256, 512, 1024, 2048]]
    n_block_list = [base + 2 for base in [2, 2, 4, 2]]
    stem_mid = mid_input_channel[w[0]]
    stem = [dict(name="ConvLayer", in_channels=3, out_channels=stem_mid, kernel_size=3,
                 stride=2)]
    if d[0] == 2:  # input_stem_skipping = d[0] != max(depth_list)
        stem.append(dict(name="ResidualBlock", conv=dict(
            name="ConvLayer", in_channels=stem_mid, out_channels=stem_mid, kernel_size=3,
            stride=1)))
    stem.append(dict(name="ConvLayer", in_channels=stem_mid,
                     out_channels=input_channel[w[1]], kernel_size=3, stride=1))
    blocks, in_c, idx = [], input_channel[w[1]], 0
    for s, (n, widths, stride) in enumerate(zip(n_block_list, stage_width_list, [1, 2, 2, 2],
                                                strict=True)):
        runtime_depth = 2 - d[s + 1]
        for i in range(n):
            if i < n - runtime_depth:
                out = widths[w[s + 2]]
                blocks.append(dict(in_channels=in_c, out_channels=out, kernel_size=3,
                                   stride=stride if i == 0 else 1, expand_ratio=e[idx],
                                   mid_channels=_md(round(out * e[idx])), groups=1))
                in_c = out
            idx += 1
    return {"input_stem": stem, "blocks": blocks,
            "classifier": {"in_features": in_c, "out_features": 1000}}


def _ofa_flops(cfg: dict, image_size: int) -> float:
    """``ResNet50LatencyTable.count_flops_given_config`` (ofa/nas/efficiency_predictor), in MACs."""

    def conv(out_size, cin, cout, k, groups=1):
        return cin * cout * k * k * out_size * out_size / groups

    flops = 0.0
    for layer in cfg["input_stem"]:
        if layer["name"] != "ConvLayer":
            layer = layer["conv"]
        out = int((image_size - 1) / layer["stride"] + 1)
        flops += conv(out, layer["in_channels"], layer["out_channels"], layer["kernel_size"])
        image_size = out
    image_size = int((image_size - 1) / 2 + 1)
    for blk in cfg["blocks"]:
        cin, cout, mid = blk["in_channels"], blk["out_channels"], blk["mid_channels"]
        out = int((image_size - 1) / blk["stride"] + 1)
        flops += conv(image_size, cin, mid, 1) + conv(out, mid, mid, blk["kernel_size"])
        flops += conv(out, mid, cout, 1)
        if not (blk["stride"] == 1 and cin == cout):
            flops += conv(out, cin, cout, 1)
        image_size = out
    return flops + conv(1, cfg["classifier"]["in_features"], 1000, 1)


def _ofa_params(cfg: dict) -> int:
    """Trainable tensors of OFA's static ResNets: conv weights, BN scale and shift, linear."""
    n = 0
    for layer in cfg["input_stem"]:
        c = layer["conv"] if layer["name"] != "ConvLayer" else layer
        n += c["in_channels"] * c["out_channels"] * c["kernel_size"] ** 2 + 2 * c["out_channels"]
    for blk in cfg["blocks"]:
        cin, cout, mid = blk["in_channels"], blk["out_channels"], blk["mid_channels"]
        n += cin * mid + 2 * mid + mid * mid * 9 + 2 * mid + mid * cout + 2 * cout
        if not (blk["stride"] == 1 and cin == cout):
            n += cin * cout + 2 * cout
    return n + cfg["classifier"]["in_features"] * 1000 + 1000


# -- strings and the canonical form ----------------------------------------------------------
def test_string_round_trip_and_format():
    archs = [*SPACE.sample(300, 1), SPACE.parse(RESNET50D), SPACE.parse(LARGEST)]
    for a in archs:
        s = SPACE.to_string(a)
        assert SPACE.parse(s) == a
        assert SPACE.from_string(s) == a
        assert SPACE.to_string(s) == s
        assert parse_arch_string(s) == a
        assert SPACE.parse(SPACE.to_ofa_dict(a)) == a
        assert SPACE.parse(a) == a
    a = SPACE.parse(RESNET50D)
    assert a == OFAResNetArch(
        (2, 1, 2, 2, 1),
        (0.25, 0.25, 0.25, 0.2) + (0.25,) * 4 + (0.25,) * 6 + (0.25, 0.25, 0.25, 0.2),
        (2,) * 6, 224)
    assert SPACE.to_string(a) == (
        "d=2,1,2,2,1;e=0.25,0.25,0.25,0.2,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,"
        "0.25,0.25,0.25,0.2;w=2,2,2,2,2,2;r=224")
    assert SPACE.to_ofa_dict(a) == {"d": [2, 1, 2, 2, 1], "e": list(a.e), "w": [2] * 6,
                                    "image_size": 224}
    # whitespace-separated values (as in the CSV columns), any key order, surrounding spaces
    spaced = " r=224 ; w=2 2 2 2 2 2; e=" + " ".join(["0.25"] * 18) + "; d = 2 1 2 2 1 \n"
    assert SPACE.parse(spaced) == a
    # OFA arch dicts: image_size or r, scalars broadcast as in set_active_subnet
    assert SPACE.parse({"d": [2, 1, 2, 2, 1], "e": 0.25, "w": 2, "image_size": 224}) == a
    assert SPACE.parse({"d": (2, 1, 2, 2, 1), "e": 0.25, "w": 2, "r": 224}) == a
    assert SPACE.parse(dict(d=2, e=0.35, w=2, r=224)) == SPACE.parse(LARGEST)


def test_inactive_slots_and_aliases_are_canonicalised():
    a = SPACE.parse(RESNET50D)
    # inactive slots (stage 1 slot 3, stage 4 slot 3) may hold any choice, or 0 as OFA's
    # ResNetArchEncoder.feature2arch writes them: ignored, reset to the smallest choice
    assert a.e[3] == a.e[17] == 0.2
    for filler in (("0.35", "0.25"), ("0", "0"), ("0.2", "0")):
        e = ["0.25"] * 18
        e[3], e[17] = filler
        b = SPACE.parse(_s([2, 1, 2, 2, 1], e, 2, 224))
        assert b == a and SPACE.to_string(b) == SPACE.to_string(a)
        assert SPACE.to_text(b) == SPACE.to_text(a)
        assert SPACE.encode(b).tolist() == SPACE.encode(a).tolist()
    # d[0]=1 skips the stem conv just like d[0]=0 (OFA keeps it only at max depth)
    c0, c1 = SPACE.parse(_s([0, 1, 2, 2, 1], 0.25, 2, 224)), SPACE.parse(
        _s([1, 1, 2, 2, 1], 0.25, 2, 224))
    assert c0 == c1 and c1.d[0] == 0
    # w[0]=0 and w[0]=1 both give 24 stem channels (make_divisible(40 // 2) == 24 == ...(48 // 2))
    w0, w1 = (SPACE.parse(_s(2, 0.2, [k, 2, 2, 2, 2, 2], 160)) for k in (0, 1))
    assert w0 == w1 and w1.w[0] == 0
    assert SPACE.to_text(w0) == SPACE.to_text(_s(2, 0.2, [1, 2, 2, 2, 2, 2], 160))
    assert SPACE.to_text(w0) != SPACE.to_text(_s(2, 0.2, [2, 2, 2, 2, 2, 2], 160))
    # a stage's distinct (d, e) settings: 3^2 + 3^3 + 3^4 = 117 of the 3 * 3^4 written forms
    seen = set()
    for depth in (0, 1, 2):
        for k in range(3**4):
            e = [0.25] * 18
            for j in range(4):
                e[j] = E_CHOICES[(k // 3**j) % 3]
            seen.add(make_arch([0, depth, 0, 0, 0], e, [0] * 6, 128))
    assert len(seen) == 117


_E18 = ",".join(["0.25"] * 18)
_OK = f"d=2,1,2,2,1;e={_E18};w=2,2,2,2,2,2;r=224"


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("", ["is empty"]),
        ("   ", ["is empty"]),
        (_OK + ";k=3", ["unknown key 'k'", "valid keys: d, e, w, r"]),
        (_OK.replace("r=", "image_size="), ["unknown key 'image_size'"]),
        (_OK.replace("d=", "D="), ["unknown key 'D'"]),
        (f"d=2,1,2,2,1;e={_E18};w=2,2,2,2,2,2", ["missing key(s) r"]),
        (f"e={_E18};r=224", ["missing key(s) d, w"]),
        (_OK + ";d=2,1,2,2,1", ["duplicate key 'd'"]),
        (_OK.replace("d=", "d"), ["must look like 'key=values'"]),
        (_OK + ";", ["must look like 'key=values'"]),
        # wrong counts
        (_OK.replace("d=2,1,2,2,1", "d=2,1,2,2"), ["d needs 5 values", "found 4"]),
        (_OK.replace("d=2,1,2,2,1", "d=2,1,2,2,1,1"), ["d needs 5 values", "found 6"]),
        (_OK.replace("d=2,1,2,2,1", "d="), ["d needs 5 values", "found 0"]),
        (_OK.replace(_E18, _E18[:-5]), ["e needs 18 values", "4, 4, 6, 4 per stage", "found 17"]),
        (_OK.replace("w=2,2,2,2,2,2", "w=2,2,2,2,2"), ["w needs 6 values", "found 5"]),
        (_OK.replace("r=224", "r=224,228"), ["r needs 1 value, found 2"]),
        (_OK.replace("r=224", "r="), ["r needs 1 value, found 0"]),
        # bad values
        (_OK.replace("d=2,1,2,2,1", "d=2,3,2,2,1"), ["d[1] = 3 is not a valid depth",
                                                     "valid: 0, 1, 2"]),
        (_OK.replace("d=2,1,2,2,1", "d=2,1,-1,2,1"), ["d[2] = -1 is not a valid depth"]),
        (_OK.replace("d=2,1,2,2,1", "d=x,1,2,2,1"), ["d[0] = 'x' is not an integer"]),
        (_OK.replace("d=2,1,2,2,1", "d=2,1.5,2,2,1"), ["d[1] = '1.5' is not an integer"]),
        (_OK.replace("e=0.25", "e=0.3"), ["e[0] = 0.3 is not a valid expand ratio",
                                          "0.2, 0.25, 0.35"]),
        (_OK.replace("e=0.25", "e=abc"), ["e[0] = 'abc' is not a number"]),
        (_OK.replace("e=0.25", "e=nan"), ["e[0] = 'nan' is not a finite number"]),
        (_OK.replace("e=0.25", "e=0"), ["e[0] = 0 marks an inactive block",
                                        "block 0 of stage 1 is active"]),
        (_OK.replace("w=2,2,2,2,2,2", "w=2,2,3,2,2,2"), ["w[2] = 3 is not a valid width index",
                                                         "0.65, 0.8, 1.0"]),
        (_OK.replace("w=2,2,2,2,2,2", "w=2,2,2,2,2,1.0"), ["w[5] = '1.0' is not an integer"]),
        # bad resolutions
        (_OK.replace("r=224", "r=230"), ["resolution r=230 is not supported",
                                         "valid: 128..224 step 4"]),
        (_OK.replace("r=224", "r=226"), ["resolution r=226 is not supported"]),
        (_OK.replace("r=224", "r=120"), ["resolution r=120 is not supported"]),
        (_OK.replace("r=224", "r=big"), ["r = 'big' is not an integer"]),
    ],
)
def test_malformed_strings_raise_helpful_errors(text, needles):
    with pytest.raises(ArchError) as info:
        SPACE.parse(text)
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} not in error message {msg!r}"


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ({"d": 2, "e": 0.25, "w": 2}, "missing r (or image_size)"),
        ({"e": 0.25, "w": 2, "r": 224}, "missing d"),
        ({"d": 2, "e": 0.25, "w": 2, "r": 224, "ks": 3}, "unknown key(s) ks"),
        ({"d": 2, "e": 0.25, "w": 2, "r": 224, "image_size": 224}, "not both"),
        ({"d": 2, "e": 0.25, "w": 2, "r": 256}, "resolution r=256 is not supported"),
        ({"d": 2, "e": [0.25] * 17, "w": 2, "r": 224}, "e needs 18 values"),
        ({"d": True, "e": 0.25, "w": 2, "r": 224}, "d[0] = True is not an integer"),
        ({"d": 2, "e": None, "w": 2, "r": 224}, "e[0] = None is not a number"),
        (None, "OFA-ResNet50 vector"),
        (7, "OFA-ResNet50 vector"),
        (object(), "OFA-ResNet50 vector"),
        ([0, 1], "must have 30 entries"),
    ],
)
def test_other_malformed_inputs(value, needle):
    with pytest.raises(ArchError) as info:
        SPACE.parse(value)
    assert needle in str(info.value)


@pytest.mark.parametrize("value", [None, 3.5, b"d=2", {"d": 2}])
def test_non_string_to_the_string_parser(value):
    with pytest.raises(ArchError, match="must be a str, got"):
        parse_arch_string(value)


def test_custom_resolutions():
    space = OFAResNet50(resolutions=[224, 160, 160])
    assert space.resolutions == (160, 224)
    assert space.bounds[1][-1] == 1
    assert space.parse(_s(2, 0.25, 2, 160)).r == 160
    with pytest.raises(ArchError, match=r"r=192 is not supported; valid: 160, 224"):
        space.parse(_s(2, 0.25, 2, 192))
    assert {a.r for a in space.sample(50, 0)} == {160, 224}
    for bad in ([], [16], ["x"]):
        with pytest.raises(ArchError):
            OFAResNet50(resolutions=bad)


# -- channels: OFA's make_divisible arithmetic ---------------------------------------------
def test_channel_rules_follow_ofa():
    assert STEM_OUT == (40, 48, 64)
    assert STEM_MID == (24, 24, 32)
    assert STAGE_OUT == ((168, 208, 256), (336, 408, 512), (664, 816, 1024), (1328, 1640, 2048))
    assert [mid_channels(256, x) for x in E_CHOICES] == [48, 64, 88]  # from the OUTPUT width
    assert mid_channels(2048, 0.25) == 512
    # the three expand ratios always give three different bottleneck widths
    for widths in STAGE_OUT:
        for out in widths:
            assert len({mid_channels(out, x) for x in E_CHOICES}) == 3


# -- encoding ------------------------------------------------------------------------------
def test_encode_decode_round_trip_and_bounds():
    lo, hi = SPACE.bounds
    assert lo.tolist() == [0] * N_VARS
    assert hi.tolist() == [1] + [2] * 4 + [2] * 18 + [1] + [2] * 5 + [24]
    archs = [*SPACE.sample(300, 2), SPACE.parse(RESNET50D), SPACE.parse(SMALLEST)]
    for a in archs:
        v = SPACE.encode(a)
        assert v.dtype == np.int64 and v.shape == (N_VARS,)
        assert np.all(v >= lo) and np.all(v <= hi)
        assert SPACE.decode(v) == a
        assert SPACE.decode(v.astype(float)) == a
        assert SPACE.parse(list(v)) == a
    assert SPACE.decode(lo) == SPACE.parse(SMALLEST)
    assert SPACE.decode(hi) == SPACE.parse(LARGEST)
    # the stem entries are the distinct choices: kept conv -> d[0]=2, w[0] index 1 -> w=2
    assert SPACE.decode(hi).d[0] == 2 and SPACE.decode(hi).w[0] == 2
    # entries of inactive slots are free: decode ignores them
    v = SPACE.encode(SMALLEST)
    for i in set(range(N_BLOCKS)) - set(active_slots(SPACE.parse(SMALLEST).d)):
        v2 = v.copy()
        v2[5 + i] = 2
        assert SPACE.decode(v2) == SPACE.parse(SMALLEST)


@pytest.mark.parametrize(
    ("vector", "needle"),
    [
        ([0] * 29, "must have 30 entries"),
        ([0] * 31, "must have 30 entries"),
        ([[0] * 30], "must have 30 entries"),
        ([2] + [0] * 29, "entry 0 (stem (0: d[0]=0, 1: d[0]=2)) must be in 0..1, got 2"),
        ([0, 3] + [0] * 28, "entry 1 (d[1]) must be in 0..2, got 3"),
        ([0] * 23 + [2] + [0] * 6, "entry 23 (w[0]) must be in 0..1, got 2"),
        ([0] * 29 + [25], "entry 29 (r) must be in 0..24, got 25"),
        ([0] * 29 + [-1], "entry 29 (r) must be in 0..24, got -1"),
        ([0.5] + [0] * 29, "must hold integers"),
        ([float("nan")] + [0] * 29, "must hold integers"),
        (["a"] * 30, "must hold integers"),
        ([True] * 30, "must hold integers"),
    ],
)
def test_bad_vectors_raise_arch_error(vector, needle):
    with pytest.raises(ArchError) as info:
        SPACE.decode(vector)
    assert needle in str(info.value)


# -- sampling, mutation, size ---------------------------------------------------------------
def test_sample_is_seeded_valid_and_spread():
    a = SPACE.sample(400, 123)
    assert a == SPACE.sample(400, 123) == SPACE.sample(400, np.random.default_rng(123))
    assert a != SPACE.sample(400, 124)
    assert SPACE.sample(0, 1) == []
    rng = np.random.default_rng(5)
    assert SPACE.sample(20, rng) != SPACE.sample(20, rng)
    assert all(SPACE.parse(x) == x for x in a)
    assert {x.d[0] for x in a} == {0, 2}  # OFA samples the stem from {min, max}
    assert {x.d[s] for x in a for s in range(1, 5)} == {0, 1, 2}
    assert {x.w[0] for x in a} == {0, 2} and {x.w[3] for x in a} == {0, 1, 2}
    assert len({x.r for x in a}) == 25
    counts = Counter(x.e[i] for x in a for i in active_slots(x.d))
    assert set(counts) == set(E_CHOICES)
    assert all(abs(c / sum(counts.values()) - 1 / 3) < 0.03 for c in counts.values())


def _decisions(a: OFAResNetArch) -> dict:
    out = {("d", i): a.d[i] for i in range(5)} | {("w", i): a.w[i] for i in range(6)}
    out |= {("e", i): a.e[i] for i in active_slots(a.d)}
    return out | {("r", 0): a.r}


def test_mutate_changes_one_effective_decision():
    rng = np.random.default_rng(0)
    kinds = Counter()
    for a in SPACE.sample(300, 11):
        b = SPACE.mutate(a, rng)
        assert SPACE.parse(b) == b and b != a
        da, db = _decisions(a), _decisions(b)
        changed = {k for k in da.keys() & db.keys() if da[k] != db[k]}
        appeared = da.keys() ^ db.keys()
        assert len(changed) == 1, (a, b)
        (kind, i), = changed
        kinds[kind if kind != "d" or i else "stem"] += 1
        if appeared:  # only a stage depth change (de)activates blocks, all in that stage
            assert kind == "d" and i >= 1
            assert all(k[0] == "e" and OFFSETS[i - 1] <= k[1] < OFFSETS[i - 1] + SLOTS[i - 1]
                       for k in appeared)
    assert set(kinds) == {"stem", "d", "e", "w", "r"}
    assert SPACE.mutate(RESNET50D, 3) == SPACE.mutate(SPACE.parse(RESNET50D), 3)
    # every mutation changes the network, so the text
    for a in SPACE.sample(20, 4):
        assert SPACE.to_text(SPACE.mutate(a, 9)) != SPACE.to_text(a)


def test_size():
    per_stage = [sum(3 ** (base + x) for x in (0, 1, 2)) for base in BASE_DEPTHS]
    assert per_stage == [117, 117, 1053, 117]
    # stem kept or not, 2 distinct first-stem widths, 3 of each other width, 25 resolutions
    assert SPACE.size() == 2 * 2 * 3**5 * math.prod(per_stage) * 25 == 40_981_913_282_700
    assert OFAResNet50(resolutions=[224]).size() == SPACE.size() // 25


# -- params and MACs -------------------------------------------------------------------------
def test_counts_match_ofas_flops_model_exactly():
    archs = [*SPACE.sample(25, 3), SPACE.parse(RESNET50D), SPACE.parse(LARGEST),
             SPACE.parse(SMALLEST)]
    for a in archs:
        cfg = _ofa_net_config(a.d, a.e, a.w)
        assert SPACE.flops(a) == _ofa_flops(cfg, a.r), SPACE.to_string(a)
        assert SPACE.params(a) == _ofa_params(cfg), SPACE.to_string(a)


def test_resnet50d_matches_torchvision_published_counts():
    """torchvision's ResNet50 (pytorch.org/vision, ResNet50_Weights.IMAGENET1K_V1) has
    num_params 25,557,032 and 4.09 GFLOPS (MACs) at 224. ResNet50-D differs only in the stem
    (3x3 convs 3->32->32->64 instead of one 7x7 3->64; the avg-pool shortcut adds nothing),
    so the counts must differ by exactly that."""
    a = SPACE.parse(RESNET50D)
    deep = 3 * 32 * 9 + 32 * 32 * 9 + 32 * 64 * 9  # conv weights, each followed by BN
    tv = 7 * 7 * 3 * 64
    assert SPACE.params(a) == 25_557_032 - (tv + 2 * 64) + deep + 2 * (32 + 32 + 64)
    assert SPACE.params(a) == 25_576_264
    macs = SPACE.flops(a)
    stem_delta = 112 * 112 * (deep - tv)
    # published to 2 decimals; the exact conv+fc count of torchvision's net is 4,089,184,256
    assert abs((macs - stem_delta) / 1e9 - 4.09) <= 0.005
    assert macs - stem_delta == 4_089_184_256
    # params do not depend on the resolution, MACs scale with it
    assert SPACE.params(RESNET50D.replace("r=224", "r=128")) == 25_576_264
    assert SPACE.flops(RESNET50D.replace("r=224", "r=128")) < macs / 2.5


def test_published_specialised_subnets_lie_inside_the_space():
    """OFA README: the 8 specialised ResNet50D subnets span 9.6M-30.9M params and
    0.6B-4.1B MACs. Their configs are not published in the repo, so only the range is checked."""
    lo_p, hi_p = SPACE.params(SMALLEST), SPACE.params(LARGEST)
    lo_m, hi_m = SPACE.flops(SMALLEST), SPACE.flops(LARGEST)
    assert (lo_p, hi_p) == (6_539_280, 48_105_992)
    assert (lo_m, hi_m) == (315_079_552, 7_491_643_904)
    for params_m, macs_b in [(30.9, 4.1), (26.5, 3.7), (28.7, 3.0), (29.0, 2.4), (20.7, 1.8),
                             (19.3, 1.2), (14.5, 0.9), (9.6, 0.6)]:
        assert lo_p <= params_m * 1e6 <= hi_p and lo_m <= macs_b * 1e9 <= hi_m


def test_counts_accept_every_form():
    a = SPACE.parse(RESNET50D)
    p, f = SPACE.params(a), SPACE.flops(a)
    for form in (RESNET50D, SPACE.encode(a), SPACE.to_ofa_dict(a)):
        assert SPACE.params(form) == p and SPACE.flops(form) == f


# -- the ONNX network ------------------------------------------------------------------------
def test_models_are_runnable():
    # r=132: the feature maps are 33, 17, 9, 5 -- the avg-pool shortcut needs ceil_mode
    small = _s([2, 0, 1, 0, 2], 0.2, [1, 0, 1, 0, 1, 0], 132)
    check_runnable(SPACE.to_onnx(small, weights="random", seed=1))
    check_runnable(SPACE.to_onnx(small, weights="zeros", optimized=False))
    check_runnable(SPACE.to_onnx(RESNET50D.replace("r=224", "r=128"), weights="zeros"))


def test_network_skeleton():
    m = SPACE.to_onnx(RESNET50D, weights="none", optimized=False)
    ops = Counter(n.op_type for n in m.graph.node)
    # stem 3 convs + 16 blocks x 3 convs + 4 projection shortcuts; BN after each conv
    assert ops["Conv"] == 3 + 16 * 3 + 4 == ops["BatchNormalization"]
    assert ops["AveragePool"] == 3 and ops["MaxPool"] == 1 and ops["Gemm"] == 1
    assert ops["Add"] == 16 + 1  # 16 residuals + the stem's residual conv
    inp = m.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in inp] == ["N", 3, 224, 224]
    out = m.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in out] == ["N", 1000]
    # no stem residual conv when d[0] < 2
    m0 = SPACE.to_onnx(RESNET50D.replace("d=2,", "d=0,"), weights="none", optimized=False)
    assert Counter(n.op_type for n in m0.graph.node)["Conv"] == ops["Conv"] - 1


def _conv_signature(model: onnx.ModelProto) -> Counter:
    """Convs by (attributes, weight shape), after inlining functions."""
    model = inliner.inline_local_functions(model) if model.functions else model
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    return Counter(
        (tuple(sorted(str(a).replace("\n", " ") for a in n.attribute)), shapes[n.input[1]])
        for n in model.graph.node if n.op_type == "Conv"
    )


def test_optimized_graph_is_the_same_network():
    for a in [*SPACE.sample(5, 8), SPACE.parse(RESNET50D)]:
        opt = SPACE.to_onnx(a, weights="none")
        lit = SPACE.to_onnx(a, weights="none", optimized=False)
        assert _conv_signature(opt) == _conv_signature(lit)
        assert {f.name for f in opt.functions} == {"Bottleneck", "BottleneckDown"}
        assert not lit.functions
        inl = inliner.inline_local_functions(opt)
        assert not any(n.op_type == "BatchNormalization" for n in inl.graph.node)


def test_bad_weight_mode():
    with pytest.raises(ValueError, match="weights must be one of"):
        SPACE.to_onnx(RESNET50D, weights="ones")


# -- canonical text ----------------------------------------------------------------------------
def test_text_is_canonical_short_and_faithful():
    t = SPACE.to_text(RESNET50D)
    assert t == SPACE.to_text(SPACE.parse(RESNET50D)) == to_text(SPACE.to_onnx(RESNET50D))
    assert t.count("func Bottleneck(") == 1 and t.count("func BottleneckDown(") == 1
    assert "in %0 float[N,3,224,224]" in t and "float[N,1000]" in t
    # equal-width blocks of a stage fold into one line: stages of 3, 4, 6, 3 blocks
    calls = [ln.split(" = ")[1].split("(")[0] for ln in t.splitlines() if "= Bottleneck" in ln]
    assert calls == ["Bottleneck*2", "BottleneckDown", "Bottleneck*3", "BottleneckDown",
                     "Bottleneck*5", "BottleneckDown", "Bottleneck*2"]
    assert len(t.splitlines()) < 50
    # different canonical archs give different texts; the text never shows the arch string
    archs = SPACE.sample(60, 21)
    texts = [SPACE.to_text(a) for a in archs]
    assert len(set(texts)) == len(set(archs))
    assert all("0.25" not in x and "d=" not in x for x in texts)

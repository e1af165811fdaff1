"""OFA MobileNetV3 and OFA ProxylessNAS: strings, canonical inactive slots, encoding, sampling,
params/FLOPs against the official ``ofa`` package, and the ONNX networks.

Reference counts: the official package (PyPI ``ofa==0.1.0.post202307202001``, code of
``mit-han-lab/once-for-all``): ``OFAMobileNetV3`` / ``OFAProxylessNASNets`` with
``ks_list=[3,5,7], expand_ratio_list=[3,4,6], depth_list=[2,3,4]``, ``set_active_subnet``,
``get_active_subnet``; params = ``sum(p.numel())``, MACs = ``ofa.utils.flops_counter.profile``.
``profile`` sums in float32, so its MACs are rounded to float32 (a few tens at 1e9); ours
are exact, hence the relative tolerance. With weights copied from the unfolded ONNX model, the
official subnets' logits agreed with onnxruntime's to <= 1.4e-4 relative error on these archs.

Published figure: the OFA model zoo's specialised net ``flops@595M_top1@80.0_finetune@75``
(a w1.2 subnet at 236 px; its ``net.config`` / ``run.config`` as mirrored in
``Alibaba-MIIL/ImageNet21K``, ``src_files/models/ofa/specialized_models_configs/``).
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx.inliner
import pytest

from nas_rlm.data import load_latency
from nas_rlm.errors import ArchError
from nas_rlm.search_spaces.mbconv import make_divisible
from nas_rlm.search_spaces.ofa_mbv3 import (
    RESOLUTIONS,
    OFAArch,
    OFAMobileNetV3,
    active_slots,
    build_mbv3,
)
from nas_rlm.search_spaces.ofa_proxyless import OFAProxylessNAS
from nas_rlm.search_spaces.onnx_check import check_runnable
from nas_rlm.search_spaces.onnx_stats import count_flops, count_params

MBV3 = OFAMobileNetV3()
PN = OFAProxylessNAS()

ROW0 = ("ks=7,5,5,5,7,7,5,7,5,7,3,7,5,3,7,3,5,3,5,3;e=6,4,4,6,6,3,4,3,3,6,3,3,3,6,3,4,6,4,3,6;"
        "d=2,2,2,2,3;r=204")  # first row of the HELP table
ROW0_CANON = ("ks=7,5,3,3,7,7,3,3,5,7,3,3,5,3,3,3,5,3,5,3;e=6,4,3,3,6,3,3,3,3,6,3,3,3,6,3,3,"
              "6,4,3,3;d=2,2,2,2,3;r=204")


def _arch_str(ks, e, d, r) -> str:
    j = ",".join
    return f"ks={j(map(str, ks))};e={j(map(str, e))};d={j(map(str, d))};r={r}"


def _n(model, op: str) -> int:
    return sum(n.op_type == op for n in model.graph.node)


# -- identity and canonical inactive slots ------------------------------------------------------
def test_every_table_row_parses_to_a_distinct_canonical_arch(data_dir):
    table = load_latency("ofa_mbv3", data_dir)
    archs = [MBV3.parse(s) for s in table.archs]
    # canonicalising inactive slots merges no two rows, so parse()-keyed lookups stay 1:1
    assert len(archs) == 5000 and len(set(archs)) == 5000
    for s, a in zip(table.archs, archs, strict=True):
        ks, e, d, r = (f.split("=")[1] for f in s.split(";"))
        ks, e = ks.split(","), e.split(",")
        assert a.d == tuple(int(x) for x in d.split(",")) and a.r == int(r)
        assert all(a.ks[i] == int(ks[i]) and a.e[i] == int(e[i]) for i in active_slots(a.d))
        assert MBV3.parse(MBV3.to_string(a)) == a


def test_table_rows_are_found_by_their_canonical_arch(data_dir):
    from nas_rlm.search.truth import load_true_table

    table = load_latency("ofa_mbv3", data_dir)
    true, how = load_true_table(MBV3, ["2080ti_1"], data_dir)
    assert how == "table"
    keys = [MBV3.parse(s) for s in table.archs[:50]]
    np.testing.assert_array_equal(true.lookup(keys, ["2080ti_1"])[:, 0],
                                  table.device("2080ti_1")[:50])
    # the canonical string of a row finds the same row
    canon = [MBV3.parse(MBV3.to_string(k)) for k in keys]
    np.testing.assert_array_equal(true.lookup(canon, ["2080ti_1"])[:, 0],
                                  table.device("2080ti_1")[:50])


def test_inactive_slots_are_ignored():
    a = MBV3.parse(ROW0)
    assert MBV3.to_string(a) == ROW0_CANON
    assert MBV3.parse(ROW0_CANON) == a
    # change only slots beyond each stage's depth: same arch, same text
    ks, e = [7] * 20, [6] * 20
    for i in active_slots(a.d):
        ks[i], e[i] = a.ks[i], a.e[i]
    other = _arch_str(ks, e, a.d, a.r)
    assert other != ROW0
    assert MBV3.parse(other) == a
    assert MBV3.to_text(other) == MBV3.to_text(ROW0)
    assert MBV3.encode(other).tolist() == MBV3.encode(ROW0).tolist()
    # ... while an active slot does matter
    ks[0] = 3
    assert MBV3.to_text(_arch_str(ks, e, a.d, a.r)) != MBV3.to_text(ROW0)


def test_other_input_forms():
    a = MBV3.parse(ROW0)
    help_json = {"wid": None, "ks": list(a.ks), "e": list(a.e), "d": list(a.d), "r": a.r}
    assert MBV3.parse(help_json) == a
    assert MBV3.to_dict(a) == {k: v for k, v in help_json.items() if k != "wid"}
    assert MBV3.parse(tuple(a)) == a and MBV3.parse(OFAArch(*a)) == a
    # values may be space-separated, as in the CSV cells
    assert MBV3.parse(ROW0.replace(",", " ")) == a
    assert isinstance(MBV3.to_string(a), str) and hash(a) == hash(MBV3.parse(ROW0_CANON))


_K20, _E20 = ",".join(["3"] * 20), ",".join(["4"] * 20)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (f"ks={_K20[:-2]};e={_E20};d=2,2,2,2,2;r=160", ["ks needs 20 values, got 19"]),
        (f"ks={_K20};e={_E20},4;d=2,2,2,2,2;r=160", ["e needs 20 values, got 21"]),
        (f"ks={_K20};e={_E20};d=2,2,2,2;r=160", ["d needs 5 values, got 4"]),
        (f"ks=4,{_K20[2:]};e={_E20};d=2,2,2,2,2;r=160",
         ["ks[0]=4 is not a valid kernel size", "3, 5, 7"]),
        (f"ks={_K20};e={_E20[:-1]}5;d=2,2,2,2,2;r=160", ["e[19]=5 is not a valid expand ratio"]),
        (f"ks={_K20};e={_E20};d=2,2,5,2,2;r=160", ["d[2]=5 is not a valid depth", "2, 3, 4"]),
        (f"ks={_K20};e={_E20};d=2,2,2,2,2;r=130", ["r=130 is not a valid resolution",
                                                    "128..224 in steps of 4"]),
        (f"ks={_K20};e={_E20};d=2,2,2,2,2;r=236", ["r=236"]),
        (f"ks={_K20};e={_E20};d=2,2,2,2,2;r=160,164", ["r needs one value"]),
        (f"e={_E20};ks={_K20};d=2,2,2,2,2;r=160", ["'ks=..;e=..;d=..;r=..'", "['e', 'ks'"]),
        (f"ks={_K20};e={_E20};d=2,2,2,2,2", ["got fields ['ks', 'e', 'd']"]),
        (f"ks={_K20};e={_E20};d=2,2,x,2,2;r=160", ["d must be integers"]),
        ("", ["must be 'ks=..;e=..;d=..;r=..'"]),
    ],
)
def test_malformed_strings_raise_helpful_errors(text, needles):
    with pytest.raises(ArchError) as info:
        MBV3.parse(text)
    for needle in needles:
        assert needle in str(info.value), str(info.value)


@pytest.mark.parametrize("value", [None, 3.5, b"ks=3", {"ks": [3]}, object(), [0] * 45])
def test_garbage_raises_arch_error(value):
    with pytest.raises(ArchError):
        MBV3.parse(value)


# -- encoding, sampling, mutation -----------------------------------------------------------------
def test_encode_decode_and_bounds():
    lo, hi = MBV3.bounds
    assert len(hi) == 46 and lo.tolist() == [0] * 46
    assert hi.tolist() == [2] * 45 + [24]
    assert len(RESOLUTIONS) == 25 and RESOLUTIONS[0] == 128 and RESOLUTIONS[-1] == 224
    for a in MBV3.sample(200, 1):
        v = MBV3.encode(a)
        assert v.dtype == np.int64 and np.all(v >= lo) and np.all(v <= hi)
        assert MBV3.decode(v) == a and MBV3.parse(v) == a
    # decode ignores the entries of inactive slots
    v = MBV3.encode(ROW0)
    d_idx = v[40:45]
    w = v.copy()
    for s in range(5):
        for i in range(d_idx[s] + 2, 4):
            w[4 * s + i] = w[20 + 4 * s + i] = 2
    assert MBV3.decode(w) == MBV3.parse(ROW0)
    with pytest.raises(ArchError, match=r"entry 45 must be in 0\.\.24"):
        MBV3.decode([0] * 45 + [25])
    with pytest.raises(ArchError, match="must have 46 entries"):
        MBV3.decode([0] * 45)


def _decisions(space, a):
    live = space.active(a.d)
    return ({("ks", i): a.ks[i] for i in live} | {("e", i): a.e[i] for i in live}
            | {("d", s): a.d[s] for s in range(5)} | {("r", 0): a.r})


@pytest.mark.parametrize("space", [MBV3, PN], ids=["mbv3", "pn"])
def test_sample_and_mutate(space):
    a = space.sample(300, 7)
    assert a == space.sample(300, np.random.default_rng(7)) and a != space.sample(300, 8)
    assert {x.d[0] for x in a} == {2, 3, 4} and len({x.r for x in a}) == 25
    rng = np.random.default_rng(0)
    kinds = set()
    for x in a:
        y = space.mutate(x, rng)
        assert y != x and space.parse(y) == y
        dx, dy = _decisions(space, x), _decisions(space, y)
        changed = [k for k in dx if k in dy and dx[k] != dy[k]]
        assert len(changed) == 1, (x, y)
        kinds.add(changed[0][0])
        if changed[0][0] != "d":
            assert dx.keys() == dy.keys()
    assert kinds == {"ks", "e", "d", "r"}


def test_size():
    per_stage = 9**2 + 9**3 + 9**4
    assert MBV3.size() == per_stage**5 * 25
    assert PN.size() == per_stage**5 * 9 * 25


# -- params and FLOPs ---------------------------------------------------------------------------
def test_published_595m_specialised_net():
    """OFA's ``flops@595M_top1@80.0_finetune@75``: 595 M MACs (name), 595,188,992 by OFA's
    ``profile`` (float32 sum), 9,135,928 params; w1.2 channels 24..192, 236 px."""
    net = OFAArch(ks=(3, 5, 3, 3, 5, 5, 3, 5, 7, 5, 3, 5, 3, 5, 7, 3, 3, 3, 5, 3),
                  e=(3, 4, 3, 3, 4, 4, 6, 3, 6, 6, 3, 4, 6, 6, 6, 4, 6, 6, 6, 3),
                  d=(3, 4, 4, 4, 4), r=236)
    model = build_mbv3(net, 1.2)
    macs = count_flops(model, bias=False)
    assert round(macs / 1e6) == 595
    assert macs == pytest.approx(595_188_992, rel=2e-7)
    assert count_params(model) == 9_135_928


@pytest.mark.parametrize(
    ("space", "arch", "params", "macs"),
    [
        (MBV3, "ks=7,5,5,3,3,3,3,3,3,7,3,3,5,5,3,3,5,5,3,3;e=3,6,6,3,4,6,3,3,6,6,3,3,3,6,3,3,3,3,"
               "3,3;d=3,2,2,2,2;r=192", 5_195_624, 261_904_352),
        (MBV3, "ks=5,5,3,3,7,5,5,3,7,7,5,7,7,5,7,3,7,5,3,3;e=4,6,6,3,4,3,4,3,6,6,3,6,4,4,6,3,3,3,"
               "3,3;d=3,3,4,3,2;r=216", 5_822_592, 432_273_632),
        (MBV3, _arch_str([7] * 20, [6] * 20, [4] * 5, 224), 10_701_632, 843_101_056),
        (MBV3, _arch_str([3] * 20, [3] * 20, [2] * 5, 128), 4_602_456, 65_536_896),
        (OFAMobileNetV3(1.0), _arch_str([7] * 20, [6] * 20, [4] * 5, 224), 7_664_760,
         566_170_688),
        (OFAMobileNetV3(1.0), _arch_str([3] * 20, [3] * 20, [2] * 5, 128), 3_410_792,
         41_476_224),
        (PN, "ks=7,5,3,3,3,3,3,3,3,7,3,3,5,5,7,7,5,5,5,3,3;e=6,6,3,3,6,4,3,3,6,6,3,3,6,3,4,3,3,"
             "4,4,3,3;d=2,2,2,4,3,1;r=192", 4_919_184, 367_224_992),
        (PN, _arch_str([7] * 21, [6] * 21, [4] * 5 + [1], 224), 7_942_056, 1_004_907_968),
        (OFAProxylessNAS(1.0), _arch_str([7] * 21, [6] * 21, [4] * 5 + [1], 224), 5_103_336,
         606_590_720),
    ],
)
def test_params_and_flops_match_the_ofa_package(space, arch, params, macs):
    assert space.params(arch) == params
    assert space.flops(arch) == pytest.approx(macs, rel=2e-7)


def test_widths():
    assert [make_divisible(c * 1.2) for c in (16, 24, 40, 80, 112, 160, 960, 1280)] == [
        24, 32, 48, 96, 136, 192, 1152, 1536]
    assert [make_divisible(c * 1.3) for c in (32, 16, 24, 40, 80, 96, 192, 320, 1280)] == [
        40, 24, 32, 56, 104, 128, 248, 416, 1664]


# -- the networks -------------------------------------------------------------------------------
def test_mbv3_network_structure():
    a = MBV3.parse(_arch_str([5] * 20, [4] * 20, [3, 2, 4, 2, 3], 160))
    folded = MBV3.to_onnx(a, weights="none")
    # every block kind (activation x SE x residual) is a local function; SE is one too
    assert sorted(f.name for f in folded.functions) == [
        "ExciteSE", "MBHardSwish", "MBHardSwishRes", "MBHardSwishSE", "MBHardSwishSERes",
        "MBRelu", "MBReluRes", "MBReluSE", "MBReluSERes"]
    m = onnx.inliner.inline_local_functions(folded)  # count the network's ops
    g = m.graph
    assert [d.dim_value for d in g.input[0].type.tensor_type.shape.dim[1:]] == [3, 160, 160]
    assert [d.dim_value for d in g.output[0].type.tensor_type.shape.dim[1:]] == [1000]
    # SE in stages 2, 4, 5 (2 + 2 + 3 blocks): one GAP each, plus the head's
    assert _n(m, "GlobalAveragePool") == 7 + 1 and _n(m, "HardSigmoid") == 7
    # residuals: first block + every non-first block of a stage (2 + 1 + 3 + 1 + 2)
    assert _n(m, "Add") == 1 + 9
    assert _n(m, "BatchNormalization") == 0 and _n(m, "HardSwish") == 1 + 2 * 9 + 2
    unfolded = MBV3.to_onnx(a, weights="none", optimized=False)
    assert _n(unfolded, "BatchNormalization") == 1 + 2 + 3 * 14 + 1


def test_proxyless_strings_and_structure():
    a = PN.parse(_arch_str([5] * 21, [4] * 21, [2, 3, 4, 2, 3], 128))  # 5 depths accepted
    assert PN.to_string(a).split(";")[2] == "d=2,3,4,2,3,1"
    assert PN.parse(PN.to_string(a)) == a and PN.to_dict(a)["d"] == [2, 3, 4, 2, 3, 1]
    assert len(PN.bounds[1]) == 21 * 2 + 5 + 1
    with pytest.raises(ArchError, match="fixed at 1"):
        PN.parse(_arch_str([5] * 21, [4] * 21, [2, 3, 4, 2, 3, 2], 128))
    with pytest.raises(ArchError, match=r"ks needs 21 values, got 20"):
        PN.parse(_arch_str([5] * 20, [4] * 21, [2] * 5, 128))
    # the last (depth-1) block's ks/e are live decisions
    b = PN.parse(_arch_str([5] * 20 + [7], [4] * 21, [2, 3, 4, 2, 3], 128))
    assert b != a and PN.to_text(b) != PN.to_text(a)
    m = onnx.inliner.inline_local_functions(PN.to_onnx(a, weights="none"))
    assert _n(m, "HardSwish") == 0 and _n(m, "GlobalAveragePool") == 1
    assert _n(m, "Clip") == 1 + 1 + 2 * 15 + 1  # ReLU6: stem, first block, 15 blocks, mix
    assert _n(m, "Add") == 1 + 2 + 3 + 1 + 2  # no residual on the first block


@pytest.mark.parametrize("space", [MBV3, PN], ids=["mbv3", "pn"])
def test_runnable(space):
    a = space.sample(1, 3)[0]
    a = a._replace(r=128)
    check_runnable(space.to_onnx(a, weights="random", seed=2))
    check_runnable(space.to_onnx(a, weights="zeros", optimized=False))
    assert space.to_onnx(a, seed=2).SerializeToString() == \
        space.to_onnx(a, seed=2).SerializeToString()
    text = space.to_text(a)
    assert "\nin %0 float[N,3,128,128]\n" in text and text == space.to_text(
        space.to_string(a))


def test_bad_weight_mode():
    with pytest.raises(ValueError):
        MBV3.to_onnx(ROW0, weights="ones")


@pytest.mark.parametrize("space", [MBV3, PN], ids=["mbv3", "pn"])
def test_text_is_one_to_one_on_sampled_archs(space):
    """Equal archs give equal text, distinct archs distinct text (200 archs + neighbours);
    rewriting the inactive slots of a string changes neither arch nor text."""
    rng = np.random.default_rng(0)
    archs = space.sample(200, 0)
    archs += [space.mutate(a, rng) for a in archs[:100]]
    texts = {}
    for a in archs:
        t = space.to_text(a)
        assert texts.setdefault(t, a) == a, f"two archs share a text: {a} {texts[t]}"
    assert len(texts) == len(set(archs))
    lo, hi = space.bounds
    for a in archs[:20]:
        v = space.encode(a)
        noise = rng.integers(lo, hi + 1)
        live = set(space.active(a.d))
        n = space.n_slots
        for i in set(range(n)) - live:  # inactive ks and e entries only
            v[i], v[n + i] = noise[i], noise[n + i]
        assert space.to_text(space.to_string(space.decode(v))) == space.to_text(a)
        ks, e = [*a.ks], [*a.e]
        for i in set(range(n)) - live:
            ks[i], e[i] = 7, 6
        d = (*a.d, *space.fixed_depths)
        assert space.to_text(_arch_str(ks, e, d, a.r)) == space.to_text(a)


@pytest.mark.parametrize("space", [MBV3, PN], ids=["mbv3", "pn"])
def test_functions_compute_the_inline_network(space):
    """The function-based model is the folded network: same weights, same logits."""
    import onnxruntime as ort

    from nas_rlm.search_spaces.ofa_mbv3 import build_mbv3
    from nas_rlm.search_spaces.ofa_proxyless import build_proxyless

    build = build_mbv3 if space is MBV3 else build_proxyless
    x = np.random.default_rng(0).random((1, 3, 128, 128), dtype=np.float32)
    a = space.sample(1, 11)[0]._replace(r=128)
    outs = []
    for functions in (True, False):
        m = build(a, space.width_mult, "random", 4, fold=True, functions=functions)
        assert bool(m.functions) == functions
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        outs.append(sess.run(None, {"input": x})[0])
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5 * np.abs(outs[1]).max())
    assert not space.to_onnx(a, weights="none", optimized=False).functions

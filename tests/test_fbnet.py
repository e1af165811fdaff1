"""FBNet (HW-NAS-Bench, CIFAR-100): strings, encoding, sampling, params/FLOPs, the ONNX network.

The reference params/MACs below were computed on HW-NAS-Bench's own model
(``hw_nas_bench_api/fbnet_models/model_infer.py``, ``FBNet_Infer`` with
``dataset='cifar100'``), re-typed in PyTorch: params = ``sum(p.numel())``, MACs = conv and
linear multiply-accumulates plus the linear bias. With weights copied from the unfolded ONNX
model the two networks' logits agreed to 1e-6 relative error on every arch listed here, the
channel shuffles of the ``g2`` ops included.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx.inliner
import pytest

from nas_rlm.data import load_latency
from nas_rlm.errors import ArchError
from nas_rlm.search_spaces.fbnet import (
    N_LAYERS,
    OPS,
    FBNet,
    layer_shapes,
    parse_arch_string,
)
from nas_rlm.search_spaces.onnx_check import check_runnable

SPACE = FBNet()
ALL_SKIP = " ".join(["8"] * N_LAYERS)
SAMPLE = "4 4 6 8 0 1 7 8 2 2 7 3 2 7 2 3 5 4 0 0 7 6"


def _n(model, op: str) -> int:
    return sum(n.op_type == op for n in model.graph.node)


# -- identity ---------------------------------------------------------------------------------
def test_every_table_row_parses_and_round_trips(data_dir):
    table = load_latency("fbnet", data_dir)
    archs = [SPACE.parse(s) for s in table.archs]
    assert len(archs) == 5000 and len(set(archs)) == 5000
    assert [SPACE.to_string(a) for a in archs] == list(table.archs)
    # the table's op names agree with the op indices
    assert all(SPACE.op_names(a) == names.split()
               for a, names in zip(archs, table.meta["op_names"], strict=True))


def test_strings_and_names():
    a = SPACE.parse(SAMPLE)
    assert a == (4, 4, 6, 8, 0, 1, 7, 8, 2, 2, 7, 3, 2, 7, 2, 3, 5, 4, 0, 0, 7, 6)
    assert SPACE.to_string(a) == SAMPLE
    # op names, extra whitespace and commas are accepted; the string is always indices
    assert SPACE.parse(" ".join(OPS[o] for o in a)) == a
    assert SPACE.parse("  " + SAMPLE.replace(" ", ",  ") + "\n") == a
    assert SPACE.from_string(SAMPLE) == a
    assert OPS == ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6",
                   "skip")


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (" ".join(["0"] * 21), ["needs 22 op indices", "found 21"]),
        (" ".join(["0"] * 23), ["found 23"]),
        ("", ["found 0"]),
        (" ".join(["0"] * 21 + ["9"]), ["layer 22: bad op '9'", "8=skip"]),
        (" ".join(["k7_e6"] + ["0"] * 21), ["layer 1: bad op 'k7_e6'", "0=k3_e1"]),
        (" ".join(["-1"] + ["0"] * 21), ["layer 1: bad op '-1'"]),
        (" ".join(["1.0"] + ["0"] * 21), ["bad op '1.0'"]),
    ],
)
def test_malformed_strings_raise_helpful_errors(text, needles):
    with pytest.raises(ArchError) as info:
        SPACE.parse(text)
    for needle in needles:
        assert needle in str(info.value), str(info.value)


@pytest.mark.parametrize("value", [None, 3.5, b"0 0", {"a": 1}, object()])
def test_garbage_raises_arch_error(value):
    with pytest.raises(ArchError):
        SPACE.parse(value)
    with pytest.raises(ArchError, match="must be a str"):
        parse_arch_string(value)


# -- encoding, sampling, mutation -----------------------------------------------------------------
def test_encode_decode_and_bounds():
    lo, hi = SPACE.bounds
    assert lo.tolist() == [0] * 22 and hi.tolist() == [8] * 22
    for a in [*SPACE.sample(200, 3), SPACE.parse(ALL_SKIP)]:
        v = SPACE.encode(a)
        assert v.dtype == np.int64 and v.shape == (22,)
        assert SPACE.decode(v) == a and SPACE.parse(list(v)) == a
    assert SPACE.decode(np.full(22, 8.0)) == (8,) * 22


@pytest.mark.parametrize(
    ("vector", "needle"),
    [([0] * 21, "must have 22 entries"), ([0] * 21 + [9], "entry 21 must be in 0..8"),
     ([-1] + [0] * 21, "entry 0 must be in 0..8"), ([0.5] * 22, "must hold integers"),
     ([True] * 22, "must hold integers"), (["a"] * 22, "must hold integers")],
)
def test_bad_vectors(vector, needle):
    with pytest.raises(ArchError, match=needle):
        SPACE.decode(vector)


def test_sample_and_mutate():
    a = SPACE.sample(300, 5)
    assert a == SPACE.sample(300, np.random.default_rng(5)) and a != SPACE.sample(300, 6)
    assert all(len(x) == 22 and all(type(o) is int and 0 <= o < 9 for o in x) for x in a)
    rng = np.random.default_rng(0)
    layers = set()
    for x in a:
        y = SPACE.mutate(x, rng)
        diff = [i for i in range(22) if x[i] != y[i]]
        assert len(diff) == 1
        layers.add(diff[0])
    assert layers == set(range(22))
    assert SPACE.size() == 9**22


# -- params and FLOPs against HW-NAS-Bench's model ---------------------------------------------
@pytest.mark.parametrize(
    ("arch", "params", "macs"),
    [
        (ALL_SKIP, 780_660, 11_609_060),
        (" ".join(["0"] * 22), 1_170_676, 31_322_340),
        (" ".join(["1"] * 22), 940_084, 21_051_108),
        (" ".join(["5"] * 22), 967_220, 24_102_628),
        (" ".join(["3"] * 22), 3_586_836, 142_617_060),
        (" ".join(["7"] * 22), 3_749_652, 160_926_180),
        (SAMPLE, 2_134_804, 70_754_660),
    ],
)
def test_params_and_flops_match_hw_nas_bench(arch, params, macs):
    assert SPACE.params(arch) == params
    assert SPACE.flops(arch) == float(macs)


# -- the network --------------------------------------------------------------------------------
def test_skeleton_and_skip_semantics():
    shapes = layer_shapes()
    assert len(shapes) == 22 and shapes[0] == (16, 16, 1) and shapes[-1] == (184, 352, 1)
    changing = [i + 1 for i, (ci, co, s) in enumerate(shapes) if ci != co or s != 1]
    assert changing == [2, 6, 10, 14, 18, 22]
    m = SPACE.to_onnx(ALL_SKIP, weights="none", optimized=False)
    # stem + one 1x1 conv-BN-ReLU per shape-changing skip + header; identity skips add nothing
    assert _n(m, "Conv") == 8 and _n(m, "BatchNormalization") == 8
    g = m.graph
    assert [d.dim_value for d in g.input[0].type.tensor_type.shape.dim[1:]] == [3, 32, 32]
    assert [d.dim_value for d in g.output[0].type.tensor_type.shape.dim[1:]] == [100]


def test_grouped_ops_shuffle_and_residuals():
    folded = SPACE.to_onnx(" ".join(["1"] * 22), weights="none")
    # the blocks are calls of local functions; count the network's ops with them inlined
    assert sorted(f.name for f in folded.functions) == ["MBReluG", "MBReluGRes"]
    m = onnx.inliner.inline_local_functions(folded)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    groups = [next((a.i for a in n.attribute if a.name == "group"), 1) for n in convs]
    assert groups.count(2) == 44  # both 1x1 convs of all 22 blocks
    assert _n(m, "Transpose") == 22 and _n(m, "Reshape") == 44
    # a residual wherever c_in == c_out and stride 1: 16 of the 22 layers
    assert _n(m, "Add") == 16
    assert _n(m, "BatchNormalization") == 0  # folded for the surrogate


def test_runnable_and_text():
    arch = "1 5 8 8 8 8 3 0 4 2 6 7 8 1 5 0 3 2 4 6 7 8"
    model = SPACE.to_onnx(arch, weights="random", seed=1)
    check_runnable(model)
    check_runnable(SPACE.to_onnx(arch, weights="zeros", optimized=False))
    assert SPACE.to_onnx(arch, seed=1).SerializeToString() == model.SerializeToString()
    text = SPACE.to_text(arch)
    assert text == SPACE.to_text(SPACE.parse(arch)) and "\nin %0 float[N,3,32,32]\n" in text
    assert "Conv[g=2 k=1x1]" in text and "BatchNormalization" not in text
    # each block kind is stated once, as a function, and called per layer
    assert text.startswith("func MBRelu(") and text.count("func ") == 4
    assert "Conv[g=@group k=@kernel_shape p=@pads s=@strides]" in text
    assert text != SPACE.to_text(SPACE.mutate(arch, 0))


def test_text_is_one_to_one_on_sampled_archs():
    """Equal archs give equal text, distinct archs distinct text (200 archs + neighbours)."""
    rng = np.random.default_rng(0)
    archs = SPACE.sample(200, 0)
    archs += [SPACE.mutate(a, rng) for a in archs[:100]] + [SPACE.parse(ALL_SKIP)]
    texts = {}
    for a in archs:
        t = SPACE.to_text(a)
        assert texts.setdefault(t, a) == a, f"two archs share a text: {a} {texts[t]}"
    assert len(texts) == len(set(archs))
    assert SPACE.to_text(SPACE.to_string(archs[0])) == SPACE.to_text(archs[0])


def test_functions_compute_the_inline_network():
    """The function-based model is the folded network: same weights, same logits."""
    import onnxruntime as ort

    from nas_rlm.search_spaces.fbnet import build_network

    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    for a in [*SPACE.sample(2, 11), SPACE.parse(" ".join(["5"] * 22))]:
        outs = []
        for functions in (True, False):
            m = build_network(a, "random", 4, fold=True, functions=functions)
            assert bool(m.functions) == functions
            sess = ort.InferenceSession(m.SerializeToString(),
                                        providers=["CPUExecutionProvider"])
            outs.append(sess.run(None, {"input": x})[0])
        np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5 * np.abs(outs[1]).max())
    # the counting graph is never written with functions
    assert not SPACE.to_onnx(SAMPLE, weights="none", optimized=False).functions

"""NAS-Bench-201 search space: identity, encoding, sampling, params/FLOPs and the ONNX network.

params and FLOPs are checked against the official model code (xautodl ``TinyNetwork``), the
index order against the real benchmark tables.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import inliner

from nas_rlm.data import load_latency, load_nb201_accuracy
from nas_rlm.errors import ArchError
from nas_rlm.search_spaces.nb201 import (
    EDGES,
    NB201,
    OPS,
    converter_edges,
    live_edges,
    parse_arch_string,
    reaching_edges,
)
from nas_rlm.search_spaces.onnx_check import check_runnable

SPACE = NB201()
N_ARCHS = 5**6

ALL_CONV3 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
PURE_SKIP = "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"  # output is dead
SKIP_ONLY = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"  # output == input
# nodes 1 and 2 are computed but never reach node 3: a dead branch of 3 convs
DEAD_BRANCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
# node 1 has only a `none` input: the edges out of it are dead, and so is node 2
DEAD_SOURCE = "|none~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def all_archs() -> list[tuple[int, ...]]:
    return list(SPACE.enumerate())


# -- identity: strings, official order ----------------------------------------------------
def test_enumerate_is_the_official_order(all_archs, data_dir):
    assert SPACE.size() == N_ARCHS
    assert len(all_archs) == N_ARCHS
    assert len(set(all_archs)) == N_ARCHS
    assert all(len(a) == 6 and all(isinstance(o, int) and 0 <= o < 5 for o in a)
               for a in all_archs)
    strings = [SPACE.to_string(a) for a in all_archs]
    acc = load_nb201_accuracy(data_dir)
    lat = load_latency("nb201", data_dir)
    assert strings == list(acc.archs)
    assert strings == list(lat.archs)
    # enumerate() is a fresh iterator every time, in the same order
    assert list(SPACE.enumerate()) == all_archs


def test_index_inverts_enumerate(all_archs):
    assert [SPACE.index(a) for a in all_archs] == list(range(N_ARCHS))
    # index also accepts the string and the integer vector
    for i in (0, 1, 4_321, N_ARCHS - 1):
        a = all_archs[i]
        assert SPACE.index(SPACE.to_string(a)) == i
        assert SPACE.index(SPACE.encode(a)) == i
        assert SPACE.index(list(a)) == i


def test_string_round_trip_over_the_whole_space(all_archs):
    for a in all_archs:
        s = SPACE.to_string(a)
        assert SPACE.parse(s) == a
        assert parse_arch_string(s) == a
        assert SPACE.from_string(s) == a
        assert SPACE.to_string(s) == s


def test_string_format():
    assert SPACE.to_string((3,) * 6) == ALL_CONV3
    assert SPACE.to_string((0,) * 6) == ALL_NONE
    assert SPACE.parse(ALL_CONV3) == (3,) * 6
    # edge order in the string is (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2)
    assert EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    assert SPACE.to_string((0, 1, 2, 3, 4, 0)) == (
        "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|"
    )
    assert OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    # surrounding whitespace (e.g. from a CSV cell) is tolerated
    assert SPACE.parse(f"  {ALL_CONV3}\n") == (3,) * 6


_G3 = "|none~0|none~1|none~2|"


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        # unknown op: names it and lists the valid ones
        ("|conv_5x5~0|+|none~0|none~1|+" + _G3,
         ["unknown op 'conv_5x5'", "valid ops", "nor_conv_3x3"]),
        ("|none~0|+|none~0|NOR_CONV_3X3~1|+" + _G3, ["unknown op 'NOR_CONV_3X3'"]),
        ("|~0|+|none~0|none~1|+" + _G3, ["unknown op ''"]),
        # wrong number of edges into a node
        ("|none~0|+|none~0|+" + _G3, ["node 2 must have 2 incoming edge(s), found 1"]),
        ("|none~0|none~1|+|none~0|none~1|+" + _G3,
         ["node 1 must have 1 incoming edge(s), found 2"]),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|none~3|",
         ["node 3 must have 3 incoming edge(s), found 4"]),
        # missing '|'
        ("none~0|+|none~0|none~1|+" + _G3, ["must start and end with '|'"]),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2", ["must start and end with '|'"]),
        ("|none~0+|none~0|none~1|+" + _G3, ["node 1 group", "wrapped in '|'"]),
        ("|none~0|+none~0|none~1|+" + _G3, ["node 2 group", "wrapped in '|'"]),
        # wrong source index
        ("|none~3|+|none~0|none~1|+" + _G3, ["into node 1 must come from node 0", "'3'"]),
        ("|none~0|+|none~1|none~0|+" + _G3, ["into node 2 must come from node 0", "'1'"]),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~3|", ["must come from node 2", "'3'"]),
        ("|none~0|+|none~0|none~01|+" + _G3, ["must come from node 1"]),
        # missing '~'
        ("|none|+|none~0|none~1|+" + _G3, ["must look like 'op~0'"]),
        # 2 or 4 groups
        ("|none~0|+|none~0|none~1|", ["needs 3 '+'-separated node groups, found 2"]),
        ("|none~0|+|none~0|none~1|+" + _G3 + "+|none~0|", ["needs 3", "found 4"]),
        ("", ["must start and end with '|'"]),
    ],
)
def test_malformed_strings_raise_helpful_errors(text, needles):
    with pytest.raises(ArchError) as info:
        SPACE.parse(text)
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} not in error message {msg!r}"


@pytest.mark.parametrize("value", [None, 3.5, b"|none~0|", {"a": 1}])
def test_non_string_to_the_string_parser(value):
    with pytest.raises(ArchError, match="must be a str, got"):
        parse_arch_string(value)


@pytest.mark.parametrize(
    "value", [None, 7, "not an arch", object(), [0, 1], {"a": 1}],
)
def test_parse_rejects_garbage_with_arch_error(value):
    with pytest.raises(ArchError):
        SPACE.parse(value)
    with pytest.raises(ArchError):
        SPACE.to_string(value)


def test_arch_error_is_a_value_error():
    # callers that only know the standard library can still catch it
    with pytest.raises(ValueError):
        SPACE.parse("|bogus~0|")


# -- integer encoding -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("vector", "needle"),
    [
        ([0, 0, 0, 0, 0, 5], "must be in 0..4"),
        ([-1, 0, 0, 0, 0, 0], "must be in 0..4"),
        ([0, 0, 0, 0, 0, 100], "must be in 0..4"),
        ([0] * 5, "must have 6 entries"),
        ([0] * 7, "must have 6 entries"),
        ([], "must have 6 entries"),
        ([[0] * 6], "must have 6 entries"),
        (np.zeros((2, 3), int), "must have 6 entries"),
        ([0.5, 0, 0, 0, 0, 0], "must hold integers"),
        ([float("nan"), 0, 0, 0, 0, 0], "must hold integers"),
        ([float("inf"), 0, 0, 0, 0, 0], "must hold integers"),
        (["a", "b", "c", "d", "e", "f"], "must hold integers"),
        ([True, False, True, False, True, False], "must hold integers"),
        ([1 + 1j, 0, 0, 0, 0, 0], "must hold integers"),
    ],
)
def test_bad_vectors_raise_arch_error(vector, needle):
    with pytest.raises(ArchError, match=needle):
        SPACE.decode(vector)
    with pytest.raises(ArchError):
        SPACE.parse(vector)


def test_out_of_range_message_lists_the_ops():
    with pytest.raises(ArchError) as info:
        SPACE.decode([0, 1, 2, 3, 4, 9])
    msg = str(info.value)
    assert "[0, 1, 2, 3, 4, 9]" in msg
    for i, op in enumerate(OPS):
        assert f"{i}={op}" in msg


def test_encode_decode_round_trip():
    archs = [*SPACE.sample(300, 7), (0,) * 6, (4,) * 6]
    lo, hi = SPACE.bounds
    for a in archs:
        v = SPACE.encode(a)
        assert isinstance(v, np.ndarray) and v.dtype == np.int64 and v.shape == (6,)
        assert np.all(v >= lo) and np.all(v <= hi)
        assert SPACE.decode(v) == a
        assert SPACE.decode(list(v)) == a
        assert SPACE.encode(SPACE.to_string(a)).tolist() == list(a)
    # integral floats (as some optimisers hand them over) and other int dtypes decode
    a = SPACE.decode(np.array([1.0, 2.0, 3.0, 4.0, 0.0, 1.0]))
    assert a == (1, 2, 3, 4, 0, 1) and all(type(o) is int for o in a)
    assert SPACE.decode(np.array([1, 2, 3, 4, 0, 1], dtype=np.uint8)) == (1, 2, 3, 4, 0, 1)
    assert SPACE.decode((4, 3, 2, 1, 0, 4)) == (4, 3, 2, 1, 0, 4)


def test_bounds():
    lo, hi = SPACE.bounds
    assert lo.tolist() == [0] * 6
    assert hi.tolist() == [4] * 6
    assert lo.dtype.kind == "i" and hi.dtype.kind == "i"
    # the bounds are inclusive: both corners decode
    assert SPACE.decode(lo) == (0,) * 6
    assert SPACE.decode(hi) == (4,) * 6


# -- sampling and mutation -------------------------------------------------------------------
def test_sample_is_seeded_and_in_range():
    a = SPACE.sample(500, 123)
    assert a == SPACE.sample(500, 123)
    assert a == SPACE.sample(500, np.random.default_rng(123))
    assert a != SPACE.sample(500, 124)
    assert len(a) == 500
    assert all(isinstance(x, tuple) and len(x) == 6 for x in a)
    assert all(type(o) is int and 0 <= o < 5 for x in a for o in x)
    assert SPACE.sample(0, 1) == []
    # a Generator is advanced, not reseeded
    rng = np.random.default_rng(5)
    assert SPACE.sample(50, rng) != SPACE.sample(50, rng)
    # roughly uniform over ops and edges
    counts = np.zeros((6, 5))
    for x in SPACE.sample(5000, 0):
        counts[np.arange(6), list(x)] += 1
    assert np.all(np.abs(counts / 5000 - 0.2) < 0.04)


def test_mutate_changes_exactly_one_edge():
    rng = np.random.default_rng(0)
    edges_hit, ops_hit = set(), set()
    for a in SPACE.sample(400, 11):
        b = SPACE.mutate(a, rng)
        diff = [i for i in range(6) if a[i] != b[i]]
        assert len(diff) == 1
        assert all(type(o) is int and 0 <= o < 5 for o in b)
        edges_hit.add(diff[0])
        ops_hit.add(b[diff[0]])
    assert edges_hit == set(range(6))
    assert ops_hit == set(range(5))
    # seeded and reproducible; accepts the string form too
    assert SPACE.mutate(ALL_CONV3, 3) == SPACE.mutate((3,) * 6, 3)
    assert SPACE.mutate(ALL_CONV3, 3) == SPACE.mutate(ALL_CONV3, np.random.default_rng(3))
    with pytest.raises(ArchError):
        SPACE.mutate((0, 0, 0, 0, 0, 7), 0)


# -- params and FLOPs against the official model code ---------------------------------------
def _official(arch_str: str) -> tuple[int, float]:
    """(exact params, MFLOPs) of the official xautodl network."""
    from xautodl.config_utils import dict2config
    from xautodl.models import get_cell_based_tiny_net
    from xautodl.utils import get_model_infos

    cfg = {"name": "infer.tiny", "C": 16, "N": 5, "arch_str": arch_str, "num_classes": 10}
    net = get_cell_based_tiny_net(dict2config(cfg, None))
    net.eval()
    with torch.no_grad():
        mflops, params_mb = get_model_infos(net, (1, 3, 32, 32))
    params = sum(p.numel() for p in net.parameters())
    assert abs(params_mb - params / 1e6) < 1e-9
    return params, float(mflops)


_PF_ARCHS = [
    *sorted({SPACE.to_string(a) for a in SPACE.sample(12, 2024)}),
    ALL_CONV3, ALL_NONE, PURE_SKIP, SKIP_ONLY, DEAD_BRANCH, DEAD_SOURCE,
    SPACE.to_string((2,) * 6), SPACE.to_string((4,) * 6),
]


@pytest.mark.parametrize("arch_str", _PF_ARCHS)
def test_params_and_flops_match_xautodl(arch_str):
    params, mflops = _official(arch_str)
    assert SPACE.params(arch_str) == params
    ours = SPACE.flops(arch_str) / 1e6
    assert ours == pytest.approx(mflops, rel=1e-6, abs=0), (ours, mflops)
    assert isinstance(SPACE.params(arch_str), int)
    assert isinstance(SPACE.flops(arch_str), float)


def test_published_counts():
    assert SPACE.params(ALL_CONV3) == 1_531_546
    assert SPACE.flops(ALL_CONV3) / 1e6 == pytest.approx(220.12, abs=0.005)
    assert SPACE.params(ALL_NONE) == 73_306
    assert SPACE.flops(ALL_NONE) / 1e6 == pytest.approx(7.78, abs=0.005)
    # params/FLOPs follow the published (unpruned) convention: a dead branch still counts
    assert SPACE.params(DEAD_BRANCH) == SPACE.params(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    )
    assert SPACE.flops(DEAD_BRANCH) == SPACE.flops(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    )


def test_params_and_flops_accept_every_form():
    a = SPACE.sample(1, 99)[0]
    for form in (a, SPACE.to_string(a), SPACE.encode(a), list(a)):
        assert SPACE.params(form) == SPACE.params(a)
        assert SPACE.flops(form) == SPACE.flops(a)
    with pytest.raises(ArchError):
        SPACE.params("|nope~0|")
    with pytest.raises(ArchError):
        SPACE.flops([9] * 6)


# -- the ONNX network ------------------------------------------------------------------------
def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {"input": x})
    return out


def _n_convs(model: onnx.ModelProto) -> int:
    if model.functions:
        model = inliner.inline_local_functions(model)
    return sum(n.op_type == "Conv" for n in model.graph.node)


@pytest.mark.parametrize(
    "arch_str",
    [ALL_NONE, PURE_SKIP, SKIP_ONLY, DEAD_BRANCH, DEAD_SOURCE, ALL_CONV3,
     SPACE.to_string((4,) * 6), SPACE.to_string((1,) * 6), SPACE.to_string(SPACE.sample(1, 5)[0])],
)
def test_random_weight_models_are_runnable(arch_str):
    model = SPACE.to_onnx(arch_str, weights="random", seed=1)
    check_runnable(model)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    out = _run(model, x)
    assert out.shape == (2, 10) and np.all(np.isfinite(out))
    # seeded: same seed, same weights
    assert SPACE.to_onnx(arch_str, weights="random", seed=1).SerializeToString() == \
        model.SerializeToString()


@pytest.mark.parametrize("arch_str", [ALL_NONE, PURE_SKIP, DEAD_BRANCH, DEAD_SOURCE, ALL_CONV3])
def test_unoptimized_and_zero_weight_models_run(arch_str):
    check_runnable(SPACE.to_onnx(arch_str, weights="random", seed=0, optimized=False))
    check_runnable(SPACE.to_onnx(arch_str, weights="zeros"))


def test_network_semantics_on_special_cells():
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    # an all-none network zeroes its features: every logit is the (zero) head bias
    for optimized in (True, False):
        out = _run(SPACE.to_onnx(ALL_NONE, seed=3, optimized=optimized), x)
        assert np.all(out == 0), out
    # a pure-skip network does not
    assert np.any(_run(SPACE.to_onnx(SKIP_ONLY, seed=3), x) != 0)
    # a network with dead branches computes the same as the network without them
    # (same seed: the dead cell body adds no weights, so the live weights line up)
    live = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    a = _run(SPACE.to_onnx(DEAD_BRANCH, seed=4), x)
    b = _run(SPACE.to_onnx(live, seed=4), x)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_network_skeleton():
    model = SPACE.to_onnx(ALL_CONV3, weights="none")
    g = model.graph
    assert [i.name for i in g.input] == ["input"]
    dims = g.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [3, 32, 32]
    assert [o.name for o in g.output] == ["logits"]
    assert [d.dim_value for d in g.output[0].type.tensor_type.shape.dim][1:] == [10]
    # the cell is a function called 15 times
    assert [f.name for f in model.functions] == ["Cell"]
    assert sum(n.op_type == "Cell" for n in g.node) == 15
    # weight-free skeletons carry shapes only
    assert all(not t.raw_data and not t.float_data for t in g.initializer)


def test_optimized_model_drops_dead_branches():
    # stem 1 + reductions 2 x 3 + cell convs x 15
    assert _n_convs(SPACE.to_onnx(DEAD_BRANCH, weights="none", optimized=False)) == 7 + 3 * 15
    assert _n_convs(SPACE.to_onnx(DEAD_BRANCH, weights="none")) == 7
    assert _n_convs(SPACE.to_onnx(DEAD_SOURCE, weights="none", optimized=False)) == 7 + 3 * 15
    assert _n_convs(SPACE.to_onnx(DEAD_SOURCE, weights="none")) == 7
    # nothing is dead here: both have every conv
    assert _n_convs(SPACE.to_onnx(ALL_CONV3, weights="none")) == 7 + 6 * 15
    assert _n_convs(SPACE.to_onnx(ALL_CONV3, weights="none", optimized=False)) == 7 + 6 * 15
    # the optimized ALL_CONV3 cell shares one ReLU per source node (3), not one per edge (6)
    cell = SPACE.to_onnx(ALL_CONV3, weights="none").functions[0]
    assert sum(n.op_type == "Relu" for n in cell.node) == 3


def test_bad_weight_mode():
    with pytest.raises(ValueError):
        SPACE.to_onnx(ALL_CONV3, weights="ones")
    with pytest.raises(ArchError):
        SPACE.to_onnx("|nope~0|")


# -- live edges ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arch", "pruned"),
    [
        ((0, 0, 0, 0, 0, 0), []),
        ((3, 3, 3, 3, 3, 3), [0, 1, 2, 3, 4, 5]),
        # node 1 has only a `none` input: edges 2 (2<-1) and 4 (3<-1) read zero; node 2 then
        # has no live input either, so 5 (3<-2) is dead too
        ((0, 0, 3, 1, 3, 3), [3]),
        # same, but node 2 also has a live input from node 0
        ((0, 2, 3, 0, 3, 3), [1, 5]),
        # node 2 never reaches node 3 (edge 5 is none): edges into node 2 are dead
        ((3, 3, 3, 3, 3, 0), [0, 3, 4]),
        # node 1 reaches 3 only through node 2
        ((3, 0, 3, 0, 0, 3), [0, 2, 5]),
        # node 1 is a dead end and node 3 is unreachable: nothing is live
        ((3, 0, 0, 0, 0, 0), []),
        ((1, 1, 1, 0, 0, 0), []),
        # only the direct edge
        ((0, 0, 0, 1, 0, 0), [3]),
        # chain 0 -> 1 -> 2 -> 3
        ((4, 0, 2, 0, 0, 1), [0, 2, 5]),
    ],
)
def test_live_edges(arch, pruned):
    assert live_edges(arch, prune=True) == pruned
    assert live_edges(arch) == pruned
    assert live_edges(arch, prune=False) == [e for e in range(6) if arch[e] != 0]


# -- the converted graph (what the TFLite devices ran) ---------------------------------------
@pytest.mark.parametrize(
    ("arch", "kept"),
    [
        ((0, 0, 0, 0, 0, 0), []),
        ((3, 3, 3, 3, 3, 3), [0, 1, 2, 3, 4, 5]),
        # node 1 has only a `none` input, yet its edges reach the output: kept (x·0 is not
        # folded), where the pruned graph keeps edge 3 alone
        ((0, 0, 3, 1, 3, 3), [2, 3, 4, 5]),
        # node 2 reaches no output (edge 5 is none): the edges into it are dropped
        ((3, 3, 3, 3, 3, 0), [0, 3, 4]),
        ((3, 0, 0, 0, 0, 0), []),
    ],
)
def test_reaching_edges(arch, kept):
    assert reaching_edges(arch) == kept
    assert converter_edges(arch, 1) == kept


@pytest.mark.parametrize(
    ("arch", "rule_1", "rule_2"),
    [
        # node 2 with two op inputs and no way out: dropped by both rules
        ((3, 3, 3, 3, 3, 0), [0, 3, 4], [0, 3, 4]),
        # node 2 with one op input (1->2) and no way out: pixel3 ran it, and node 1 for it
        ((3, 0, 3, 3, 0, 0), [3], [0, 2, 3]),
        ((0, 3, 0, 3, 3, 0), [3, 4], [1, 3, 4]),
        # node 2 reaches the output and reads node 1 through `none` only: node 1 still runs
        ((3, 3, 0, 0, 0, 3), [1, 5], [0, 1, 5]),
        ((0, 0, 0, 0, 0, 0), [], []),
        ((3, 3, 3, 3, 3, 3), [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]),
    ],
)
def test_the_second_converter_rule_keeps_what_pixel3_ran(arch, rule_1, rule_2):
    assert converter_edges(arch, 1) == reaching_edges(arch) == rule_1
    assert converter_edges(arch) == converter_edges(arch, 2) == rule_2


def test_the_converted_graph_drops_dead_ends_and_folds_a_constant_network():
    conv = SPACE.converted_view()
    ex = SPACE.executed()

    def cell_convs(space, arch):
        return sum(n.op_type == "Conv" for n in space.to_onnx(arch, weights="none")
                   .functions[0].node)

    # DEAD_BRANCH: three convs that reach no output run in PyTorch, not after conversion
    assert cell_convs(ex, DEAD_BRANCH) == 3 and cell_convs(conv, DEAD_BRANCH) == 0
    # DEAD_SOURCE: convs on an all-zero node reach the output: kept (pruned: dropped)
    assert cell_convs(conv, DEAD_SOURCE) == 3 and cell_convs(SPACE, DEAD_SOURCE) == 0
    assert cell_convs(conv, ALL_CONV3) == cell_convs(ex, ALL_CONV3) == 6
    # an output that cannot depend on the input: the network is a constant, no conv left
    for arch in (ALL_NONE, PURE_SKIP):
        model = conv.to_onnx(arch, weights="none")
        assert _n_convs(model) == 0 and not model.functions
        assert len(conv.to_text(arch).splitlines()) < 10
    for arch in (ALL_NONE, PURE_SKIP, SKIP_ONLY, DEAD_BRANCH, DEAD_SOURCE, ALL_CONV3):
        model = conv.to_onnx(arch, weights="random", seed=1)
        check_runnable(model)
        out = _run(model, np.random.default_rng(0).standard_normal((2, 3, 32, 32))
                   .astype(np.float32))
        assert out.shape == (2, 10) and np.all(np.isfinite(out))
    # FLOPs and params keep their published conventions
    assert conv.flops(DEAD_BRANCH) == SPACE.flops(DEAD_BRANCH)


def test_converted_is_recorded_only_where_set():
    from nas_rlm.search_spaces import get_space

    assert "converted" not in SPACE.settings()  # run dirs and checkpoints keep their keys
    conv = SPACE.converted_view()
    assert conv.settings() == {"prune": False, "every_edge": True, "converted": True,
                               "converter": 2}
    again = get_space("nb201", conv.settings(), recorded=True)
    assert again.to_text(DEAD_BRANCH) == conv.to_text(DEAD_BRANCH) != \
        SPACE.executed().to_text(DEAD_BRANCH)
    with pytest.raises(ArchError, match="converted must be true or false"):
        NB201(converted="yes")
    with pytest.raises(ArchError, match="converter must be one of"):
        NB201(converter=3)


def test_a_checkpoint_made_before_the_second_converter_rule_reads_the_first():
    """A model records its space's settings; one recorded before ``converter`` existed was
    trained on the texts of rule 1, and keeps reading them."""
    from nas_rlm.search_spaces import get_space

    one_input_dead_node2 = (3, 0, 3, 3, 0, 0)  # rule 2 keeps two convs that rule 1 drops
    old = get_space("nb201", {"prune": True, "every_edge": True}, recorded=True)
    assert old.converter == 1 and old.converted_view().converter == 1
    assert SPACE.converter == 2 and SPACE.settings()["converter"] == 2

    def convs(space):
        return sum(n.op_type == "Conv" for n in space.converted_view().to_onnx(
            one_input_dead_node2, weights="none").functions[0].node)

    assert (convs(old), convs(SPACE)) == (1, 3)
    assert old.converted_view().to_text(DEAD_BRANCH) == SPACE.converted_view().to_text(
        DEAD_BRANCH)  # where the rules agree, so do the texts


def test_unpruned_texts_keep_the_dead_branches_the_devices_ran():
    keep = NB201(prune=False)
    # every cell conv the literal network runs is in the function body, read or not
    cell = keep.to_onnx(DEAD_BRANCH, weights="none").functions[0]
    assert sum(n.op_type == "Conv" for n in cell.node) == 3
    assert _n_convs(keep.to_onnx(DEAD_SOURCE, weights="none", optimized=False)) == 7 + 3 * 15
    check_runnable(keep.to_onnx(DEAD_BRANCH, weights="random", seed=2))
    check_runnable(keep.to_onnx(DEAD_SOURCE, weights="random", seed=2))
    # the texts differ exactly where something is dead; FLOPs conventions do not change
    assert keep.to_text(DEAD_BRANCH) != SPACE.to_text(DEAD_BRANCH)
    shared = NB201(prune=False, every_edge=False)  # ReLUs of one tensor shared, as pruned
    assert shared.to_text(ALL_CONV3) == SPACE.to_text(ALL_CONV3) != keep.to_text(ALL_CONV3)
    for arch in (DEAD_BRANCH, DEAD_SOURCE, ALL_CONV3):
        assert keep.pruned_flops(arch) == SPACE.pruned_flops(arch)
        assert keep.flops(arch) == SPACE.flops(arch) and keep.params(arch) == SPACE.params(arch)
    assert SPACE.pruned_flops(DEAD_BRANCH) < SPACE.flops(DEAD_BRANCH)


def test_space_settings_round_trip_through_get_space():
    from nas_rlm.errors import UnknownNameError
    from nas_rlm.search_spaces import get_space

    keep = get_space("nb201", NB201(prune=False).settings())
    assert keep.settings() == {"prune": False, "every_edge": True, "converter": 2}
    # a checkpoint from before every_edge existed reads the shared graph it was trained on
    old = get_space("nb201", {"prune": True}, recorded=True)
    assert old.settings() == {"prune": True, "every_edge": False, "converter": 1}
    assert old.executed().to_text(DEAD_BRANCH) == NB201(prune=False,
                                                        every_edge=False).to_text(DEAD_BRANCH)
    assert keep.to_text(DEAD_BRANCH) == NB201(prune=False).to_text(DEAD_BRANCH)
    with pytest.raises(UnknownNameError, match=r"no setting.*width.*valid: .*prune"):
        get_space("nb201", {"width": 8})
    with pytest.raises(ArchError, match="prune must be true or false"):
        NB201(prune="no")
    shared = get_space("nb201", NB201(every_edge=False).settings())
    assert shared.settings() == {"prune": True, "every_edge": False, "converter": 2}
    assert shared.executed().settings() == {"prune": False, "every_edge": False, "converter": 2}
    assert NB201().executed().settings() == {"prune": False, "every_edge": True, "converter": 2}
    with pytest.raises(ArchError, match="every_edge must be true or false"):
        NB201(every_edge=1)


def test_every_edge_writes_the_executed_cell_as_infercell_runs_it():
    """Two pools of one tensor, two ReLU-convs of one tensor and a ``none`` edge: the shared
    executed graph has one pool, one ReLU and no trace of the ``none``; edge by edge it has
    both pools, both ReLUs and the ``x·0``. The pruned graph and the network's outputs are
    the same either way."""
    arch = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+"
            "|none~0|avg_pool_3x3~1|nor_conv_1x1~2|")

    def cell_ops(space):
        return sorted(n.op_type for n in space.to_onnx(arch, weights="none").functions[0].node)

    shared, every = NB201(prune=False, every_edge=False), NB201(prune=False)
    assert cell_ops(shared).count("AveragePool") == 1 and cell_ops(every).count("AveragePool") == 2
    assert cell_ops(shared).count("Relu") == 2 and cell_ops(every).count("Relu") == 3
    assert "Mul" not in cell_ops(shared) and cell_ops(every).count("Mul") == 1
    assert NB201(every_edge=False).to_text(arch) == SPACE.to_text(arch)  # pruned: unchanged
    x = {"input": np.random.default_rng(0).standard_normal((2, 3, 32, 32), dtype=np.float32)}
    outs = [ort.InferenceSession(s.to_onnx(arch, seed=3).SerializeToString()).run(None, x)[0]
            for s in (shared, every)]
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)


def test_dead_branches_follow_the_return_and_leave_the_live_part_as_pruned():
    import re

    keep = NB201(prune=False, every_edge=False)  # shared, so the live part is the pruned one

    def cell(text: str) -> tuple[list[str], list[str]]:
        body = text.split("\nin ")[0].splitlines()[1:]
        ret = next(i for i, line in enumerate(body) if line.startswith("  return"))
        strip = [re.sub(r"%\d+", "%", line) for line in body]
        return strip[: ret + 1], strip[ret + 1:]

    branch = ("|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+"
              "|skip_connect~0|skip_connect~1|none~2|")
    for arch in (DEAD_BRANCH, ALL_CONV3, branch):
        live, dead = cell(keep.to_text(arch))
        pruned_live, pruned_dead = cell(SPACE.to_text(arch))
        assert live == pruned_live and pruned_dead == []
        n_dead = sum(n.op_type == "Conv" for n in keep.to_onnx(arch, weights="none")
                     .functions[0].node) - sum(n.op_type == "Conv" for n in SPACE.to_onnx(
                         arch, weights="none").functions[0].node)
        assert sum("Conv" in line for line in dead) == n_dead
    assert cell(keep.to_text(DEAD_BRANCH))[1]  # something is dead there
    # edges out of an all-zero node still run on a device and reach the output: not dead
    live, dead = cell(keep.to_text(DEAD_SOURCE))
    assert dead == [] and sum("Conv" in line for line in live) == 3


def test_path_stats_tell_a_chain_from_parallel_branches() -> None:
    """Two cells with the same ops (four 3x3 convs, 140 nodes in the network) wired
    differently: a chain of three beside a direct conv, and two parallel two-conv branches.
    Op counts cannot tell them apart; the path statistics can, cell by cell over 15 cells
    (one stem conv, two reduction blocks of two convs with a one-conv shortcut)."""
    from nas_rlm.search_spaces.onnx_stats import count_ops, path_stats

    chain = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_3x3~2|"
    branches = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    models = [SPACE.to_onnx(SPACE.parse(a), weights="none") for a in (chain, branches)]
    assert count_ops(models[0]) == count_ops(models[1])
    two_paths_each = np.log10(2 ** 17)  # two per cell, two per reduction block
    assert path_stats(models[0]) == pytest.approx(
        {"conv_depth": 1 + 15 * 3 + 4, "conv_shallowest": 1 + 15 * 1 + 2,
         "log10_paths": two_paths_each})
    assert path_stats(models[1]) == pytest.approx(
        {"conv_depth": 1 + 15 * 2 + 4, "conv_shallowest": 1 + 15 * 2 + 2,
         "log10_paths": two_paths_each})

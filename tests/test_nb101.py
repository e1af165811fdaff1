"""NAS-Bench-101 search space: identity, hash, encoding, sampling, params/FLOPs, the network.

The hash, the canonical (representative) spec and the params are checked against the 30 real
benchmark records in ``nb101_naslib_sample``.
"""

from __future__ import annotations

import contextlib
import itertools
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nas_rlm.errors import ArchError
from nas_rlm.search_spaces.nb101 import (
    CELLS_BY_VERTICES,
    EDGE_SLOTS,
    INPUT,
    N_UNIQUE,
    N_VARS,
    NB101,
    OPS,
    OUTPUT,
    NB101Arch,
    _orbit,
    compute_vertex_channels,
    full_dags,
    hash_module,
    parse_arch_string,
)
from nas_rlm.search_spaces.onnx_check import check_runnable

SPACE = NB101()
C3, C1, MP = OPS

# the input -> output-only cell: the smallest one
TRIVIAL = {"matrix": [[0, 1], [0, 0]], "ops": [INPUT, OUTPUT]}
# three vertices feed the output: 128/256/512 split as 43+43+42, 86+85+85, 171+171+170;
# vertices 1 and 2 both feed vertex 3, so their tensors are sliced to its width (2, 1 and 2
# slices per stack, of different sizes: one function per stack)
SLICED = {
    "matrix": [[0, 1, 1, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1],
               [0, 0, 0, 0, 0]],
    "ops": [INPUT, C3, C1, MP, OUTPUT],
}
# the same split, but only vertex 1 feeds vertex 2: sliced only at 256 channels (86 -> 85),
# so stacks 1 and 3 share one function body
SLICED_MID = {
    "matrix": [[0, 1, 1, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1],
               [0, 0, 0, 0, 0]],
    "ops": [INPUT, C3, C1, MP, OUTPUT],
}


@pytest.fixture(scope="module")
def records(data_dir) -> list[dict]:
    path = data_dir / "nb101_naslib_sample" / "nb101_30archs_108ep.json"
    recs = json.loads(path.read_text())
    assert len(recs) == 30
    return recs


def _interior_permutations(matrix, ops):
    """Every relabelling of the interior vertices that keeps the matrix upper triangular."""
    m = np.asarray(matrix)
    n = len(ops)
    for perm in itertools.permutations(range(1, n - 1)):
        p = [0, *perm, n - 1]
        pm = m[np.ix_(p, p)]
        if not np.tril(pm).any():
            yield pm, [ops[i] for i in p]


# -- the benchmark's hash, representative and params ----------------------------------------
def test_hash_matches_all_records(records):
    for r in records:
        assert SPACE.hash_spec(r) == r["hash"]
        labels = [-1] + [OPS.index(o) for o in r["module_operations"][1:-1]] + [-2]
        assert hash_module(r["module_adjacency"], labels) == r["hash"]


def test_canonical_arch_is_the_benchmark_representative(records):
    # the records store the spec generate_graphs.py kept for each hash; any relabelling of
    # it parses back to exactly that spec, with the same hash
    for r in records:
        a = SPACE.parse(r)
        assert [list(row) for row in a.matrix] == r["module_adjacency"]
        assert list(a.ops) == r["module_operations"]
    r = records[0]
    perms = list(_interior_permutations(r["module_adjacency"], r["module_operations"]))
    assert len(perms) > 1
    for m, ops in perms:
        assert SPACE.parse((m, ops)) == SPACE.parse(r)
        assert SPACE.hash_spec((m, ops)) == r["hash"]


def test_params_match_all_records(records):
    assert SPACE.params(records[0]) == 6_315_018
    for r in records:
        assert SPACE.params(r) == r["trainable_parameters"], r["hash"]
        assert isinstance(SPACE.params(r), int)


def test_hand_counted_params_and_flops_of_the_trivial_cell():
    # every cell is one 1x1 conv-BN-ReLU projection from the cell input to its output
    params = (3 * 9 * 128 + 2 * 128) + 3 * (128 * 128 + 256) \
        + (128 * 256 + 512) + 2 * (256 * 256 + 512) \
        + (256 * 512 + 1024) + 2 * (512 * 512 + 1024) + (512 * 10 + 10)
    assert SPACE.params(TRIVIAL) == params == 882_570
    macs = 32 * 32 * 128 * 27 + 3 * 32 * 32 * 128 * 128 \
        + 16 * 16 * 256 * (128 + 2 * 256) + 8 * 8 * 512 * (256 + 2 * 512) + 512 * 10 + 10
    assert SPACE.flops(TRIVIAL) == float(macs)


def test_equivalence_classes_match_the_hash_up_to_5_vertices():
    # over every spec nasbench enumerated with <= 5 vertices: canonical archs and hashes
    # partition the specs alike, and the form counts used by sample() add up
    assert [len(full_dags(v)) for v in range(2, 8)] == [1, 2, 10, 121, 1545, 4793]
    for n, classes in zip(range(2, 6), CELLS_BY_VERTICES, strict=False):
        archs, hashes, by_hash, inv = set(), set(), {}, 0.0
        for bits in full_dags(n).tolist():
            m = tuple(tuple(int(j > i and (bits >> (i + j * (j - 1) // 2)) & 1)
                            for j in range(n)) for i in range(n))
            for lab in itertools.product(range(3), repeat=n - 2):
                a, forms = _orbit(m, (INPUT, *(OPS[k] for k in lab), OUTPUT))
                h = hash_module(m, [-1, *lab, -2])
                archs.add(a)
                hashes.add(h)
                assert by_hash.setdefault(h, a) == a
                inv += 1 / forms
        assert len(archs) == len(hashes) == classes
        assert inv == pytest.approx(classes)


def test_size_is_the_published_count():
    assert SPACE.size() == N_UNIQUE == 423_624 == sum(CELLS_BY_VERTICES)
    with pytest.raises(NotImplementedError):
        SPACE.enumerate()


# -- strings -------------------------------------------------------------------------------
def test_string_format_and_round_trip(records):
    s = SPACE.to_string(TRIVIAL)
    assert s == '{"matrix":[[0,1],[0,0]],"ops":["input","output"]}'
    for r in records:
        s = SPACE.to_string(r)
        assert json.loads(s) == {"matrix": r["module_adjacency"], "ops": r["module_operations"]}
        assert SPACE.parse(s) == SPACE.parse(r)
        assert SPACE.from_string(s) == SPACE.parse(r)
        assert SPACE.to_string(s) == s
        assert parse_arch_string(f"  {s}\n") == SPACE.parse(r)
    for a in SPACE.sample(50, 3):
        assert SPACE.parse(SPACE.to_string(a)) == a


def test_every_input_form_parses_to_the_same_arch(records):
    r = records[5]
    a = SPACE.parse(r)
    assert isinstance(a, NB101Arch)
    spec = {"matrix": r["module_adjacency"], "ops": r["module_operations"]}
    forms = [
        r, spec, str(spec), json.dumps(spec),
        {"module_adjacency": r["module_adjacency"], "module_operations": r["module_operations"]},
        (r["module_adjacency"], r["module_operations"]),
        [np.array(r["module_adjacency"], dtype=np.int8), tuple(r["module_operations"])],
        (np.array(r["module_adjacency"], dtype=bool), r["module_operations"]),
        json.dumps([r["module_adjacency"], r["module_operations"]]),
        a, SPACE.encode(a), SPACE.encode(a).tolist(),
    ]
    for f in forms:
        assert SPACE.parse(f) == a
    # hashable and immutable: usable as a cache key
    assert {a: 1}[SPACE.parse(spec)] == 1


def test_pruning_follows_model_spec():
    # vertex 2 has no out-edge and vertex 3 no in-edge: both are removed, as nasbench does
    spec = {
        "matrix": [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1],
                   [0, 0, 0, 0, 0]],
        "ops": [INPUT, C3, MP, C1, OUTPUT],
    }
    pruned = {"matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "ops": [INPUT, C3, OUTPUT]}
    assert SPACE.parse(spec) == SPACE.parse(pruned)
    assert SPACE.to_string(spec) == SPACE.to_string(pruned)
    assert SPACE.to_text(spec) == SPACE.to_text(pruned)
    assert SPACE.params(spec) == SPACE.params(pruned)
    # the edge limit applies after pruning: 10 edges, but only 1 on an input->output path
    m = np.triu(np.ones((7, 7), int), 1)
    m[:, 6] = 0
    m[0, 6] = 1
    assert m.sum() > 9
    assert SPACE.parse((m, [INPUT, C3, C3, C3, C3, C3, OUTPUT])) == SPACE.parse(TRIVIAL)


# -- errors --------------------------------------------------------------------------------
_OPS7 = [INPUT, C3, C1, MP, C3, C1, OUTPUT]
_CHAIN7 = np.eye(7, k=1, dtype=int).tolist()


def _with(matrix, *edges, unset=()):
    m = np.array(matrix)
    for i, j in edges:
        m[i, j] = 1
    for i, j in unset:
        m[i, j] = 0
    return m.tolist()


@pytest.mark.parametrize(
    ("matrix", "ops", "needles"),
    [
        # shapes
        ([[0, 1, 0], [0, 0, 1]], [INPUT, C3, OUTPUT], ["must be square", "(2, 3)"]),
        ([0, 1, 0], [INPUT, C3, OUTPUT], ["must be square"]),
        ([[0, 1], [0, 0, 1]], [INPUT, OUTPUT], ["must be square"]),
        ([[0]], [INPUT], ["at least the input and output"]),
        (_CHAIN7, [*_OPS7[:-2], OUTPUT], ["6 entries but the matrix is 7x7"]),
        (_CHAIN7, "input", ["must be a list of op names"]),
        (_CHAIN7, [INPUT, 1, 2, 3, 4, 5, OUTPUT], ["must be op names (str)"]),
        # entries and triangularity
        ([[0, 2], [0, 0]], [INPUT, OUTPUT], ["entries must be 0 or 1"]),
        ([["a", "b"], ["c", "d"]], [INPUT, OUTPUT], ["entries must be 0 or 1"]),
        (_with(_CHAIN7, (3, 1)), _OPS7, ["strictly upper triangular", "[3][1]"]),
        (_with(_CHAIN7, (2, 2)), _OPS7, ["strictly upper triangular", "[2][2]"]),
        # ops
        (_CHAIN7, [INPUT, C3, "conv5x5-bn-relu", MP, C3, C1, OUTPUT],
         ["unknown op 'conv5x5-bn-relu' at vertex 2", "valid interior ops", C1]),
        (_CHAIN7, [INPUT, C3, C1, OUTPUT, C3, C1, OUTPUT], ["unknown op 'output' at vertex 3"]),
        (_CHAIN7, [C3, C3, C1, MP, C3, C1, OUTPUT], ["must start with 'input'"]),
        (_CHAIN7, [INPUT, C3, C1, MP, C3, C1, C1], ["end with 'output'"]),
        # validity of the pruned cell
        (_with(_CHAIN7, unset=[(3, 4)]), _OPS7, ["disconnected", "no path from the input"]),
        ([[0, 0], [0, 0]], [INPUT, OUTPUT], ["disconnected"]),
        (_with(_CHAIN7, (0, 2), (0, 3), (0, 4), (1, 6)), _OPS7,
         ["at most 9 edges, this one has 10"]),
        (np.eye(8, k=1, dtype=int).tolist(), [INPUT, C3, C3, C3, C3, C3, C3, OUTPUT],
         ["at most 7 vertices", "has 8"]),
    ],
)
def test_malformed_specs_raise_helpful_errors(matrix, ops, needles):
    for form in ((matrix, ops), {"matrix": matrix, "ops": ops}):
        with pytest.raises(ArchError) as info:
            SPACE.parse(form)
        msg = str(info.value)
        for needle in needles:
            assert needle in msg, f"{needle!r} not in error message {msg!r}"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "must be a spec like"),
        ("|nor_conv_3x3~0|+|", "must be a spec like"),
        ("[1, 2, 3]", "must be a spec like"),
        ('"matrix"', "must be a spec like"),
        ('{"adjacency": [[0, 1], [0, 0]], "ops": ["input", "output"]}',
         "needs keys 'matrix' and 'ops'"),
        ('{"matrix": [[0, 1], [0, 0]], "ops": ["input", "outptu"]}', "end with 'output'"),
        ("x" * 20_000, "20000 characters"),
    ],
)
def test_malformed_strings_raise_arch_error(text, needle):
    with pytest.raises(ArchError, match=needle):
        SPACE.parse(text)


@pytest.mark.parametrize("value", [None, 7, object(), b"{}", 3.5])
def test_parse_rejects_garbage_with_arch_error(value):
    with pytest.raises(ArchError):
        SPACE.parse(value)
    with pytest.raises(ArchError):
        SPACE.to_string(value)
    with pytest.raises(ArchError, match="must be a str"):
        parse_arch_string(value)


def test_arch_error_is_a_value_error():
    with pytest.raises(ValueError):
        SPACE.parse({"matrix": [[0, 0], [0, 0]], "ops": [INPUT, OUTPUT]})


# -- integer encoding -----------------------------------------------------------------------
def test_bounds():
    lo, hi = SPACE.bounds
    assert lo.tolist() == [0] * N_VARS
    assert hi.tolist() == [1] * 21 + [2] * 5
    assert lo.dtype.kind == "i" and hi.dtype.kind == "i"
    assert len(EDGE_SLOTS) == 21 and EDGE_SLOTS[:3] == ((0, 1), (0, 2), (0, 3))


def test_encode_decode_round_trip(records):
    archs = [*SPACE.sample(200, 7), *SPACE.sample(100, 7, method="spec"),
             *(SPACE.parse(r) for r in records), SPACE.parse(TRIVIAL), SPACE.parse(SLICED)]
    lo, hi = SPACE.bounds
    for a in archs:
        v = SPACE.encode(a)
        assert isinstance(v, np.ndarray) and v.dtype == np.int64 and v.shape == (N_VARS,)
        assert np.all(v >= lo) and np.all(v <= hi)
        assert SPACE.decode(v) == a
        assert SPACE.decode(v.astype(float)) == a
        assert SPACE.encode(SPACE.to_string(a)).tolist() == v.tolist()
    # the trivial cell: only the input -> output bit
    v = SPACE.encode(TRIVIAL)
    assert v[EDGE_SLOTS.index((0, 6))] == 1 and v.sum() == 1


def test_decoding_an_invalid_cell_raises():
    lo, hi = SPACE.bounds
    with pytest.raises(ArchError, match=r"is not a valid cell: .*disconnected"):
        SPACE.decode(lo)  # no edges
    with pytest.raises(ArchError, match=r"is not a valid cell: .*at most 9 edges"):
        SPACE.decode(hi)  # all 21 edges


@pytest.mark.parametrize(
    ("vector", "needle"),
    [
        ([0] * 25, "must have 26 entries"),
        ([0] * 27, "must have 26 entries"),
        ([[0] * 26], "must have 26 entries"),
        ([2] + [0] * 25, r"entry 0 \(edge bit 0->1\) must be in 0\.\.1, got 2"),
        ([0] * 21 + [3, 0, 0, 0, 0], r"entry 21 \(op of vertex 1: 0=conv3x3.*\) must be in 0\.\.2"),
        ([-1] + [0] * 25, r"entry 0 \(edge bit 0->1\) must be in 0\.\.1, got -1"),
        ([0.5] + [0] * 25, "must hold integers"),
        ([float("nan")] + [0] * 25, "must hold integers"),
        (["a"] * 26, "must hold integers"),
    ],
)
def test_bad_vectors_raise_arch_error(vector, needle):
    with pytest.raises(ArchError, match=needle):
        SPACE.decode(vector)


# -- sampling and mutation -------------------------------------------------------------------
def test_sample_is_seeded_and_valid():
    for method in ("unique", "spec"):
        a = SPACE.sample(200, 123, method=method)
        assert a == SPACE.sample(200, np.random.default_rng(123), method=method)
        assert a != SPACE.sample(200, 124, method=method)
        assert len(a) == 200
        assert all(isinstance(x, NB101Arch) and SPACE.parse(x) == x for x in a)
    assert SPACE.sample(0, 1) == []
    rng = np.random.default_rng(5)
    assert SPACE.sample(20, rng) != SPACE.sample(20, rng)
    with pytest.raises(ValueError, match="method"):
        SPACE.sample(1, 0, method="uniform")


def test_unique_sampling_looks_like_the_benchmark():
    # uniform over the 423,624 cells: almost all have 7 vertices and few repeat, while
    # nasbench's random_spec favours small pruned cells
    a = SPACE.sample(1000, 0)
    sizes = np.array([len(x.ops) for x in a])
    assert np.mean(sizes == 7) == pytest.approx(CELLS_BY_VERTICES[-1] / N_UNIQUE, abs=0.04)
    assert len(set(a)) > 990
    b = SPACE.sample(1000, 0, method="spec")
    assert np.mean([len(x.ops) for x in b]) < sizes.mean() - 1
    assert sum(x == SPACE.parse(TRIVIAL) for x in b) > 30


def test_mutate_changes_one_decision():
    rng = np.random.default_rng(0)
    lo, hi = SPACE.bounds
    for a in SPACE.sample(40, 11):
        b = SPACE.mutate(a, rng)
        assert isinstance(b, NB101Arch) and SPACE.parse(b) == b and b != a
        v = SPACE.encode(a)
        neighbours = set()
        for i in range(N_VARS):
            for x in range(lo[i], hi[i] + 1):
                w = v.copy()
                w[i] = x
                with contextlib.suppress(ArchError):
                    neighbours.add(SPACE.decode(w))
        assert b in neighbours
    # seeded, accepts every form; the trivial cell (no one-step neighbour) still mutates
    r = SPACE.sample(1, 2)[0]
    assert SPACE.mutate(r, 3) == SPACE.mutate(SPACE.to_string(r), np.random.default_rng(3))
    t = SPACE.mutate(TRIVIAL, 0)
    assert t != SPACE.parse(TRIVIAL) and len(t.ops) == 3
    with pytest.raises(ArchError):
        SPACE.mutate({"matrix": [[0, 0], [0, 0]], "ops": [INPUT, OUTPUT]}, 0)


# -- the network ------------------------------------------------------------------------------
def test_vertex_channels_follow_nasbench():
    for spec in (SLICED, SLICED_MID):
        m = SPACE.parse(spec).matrix
        assert m == tuple(map(tuple, spec["matrix"]))  # already the representative
        assert [compute_vertex_channels(128, c, m) for c in (128, 256, 512)] == [
            [128, 43, 43, 42, 128], [128, 86, 85, 85, 256], [128, 171, 171, 170, 512]]
    chain = ((0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0))
    assert compute_vertex_channels(64, 128, chain) == [64, 128, 128, 128]
    assert compute_vertex_channels(64, 128, ((0, 1), (0, 0))) == [64, 128]


def _run(model: onnx.ModelProto) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    (out,) = sess.run(None, {"input": x})
    return out


@pytest.mark.parametrize("which", ["record", "sliced", "sliced_mid", "trivial"])
def test_models_are_runnable(which, records):
    arch = {"record": records[0], "sliced": SLICED, "sliced_mid": SLICED_MID,
            "trivial": TRIVIAL}[which]
    model = SPACE.to_onnx(arch, weights="random", seed=1)
    check_runnable(model)
    out = _run(model)
    assert out.shape == (2, 10) and np.all(np.isfinite(out))
    assert SPACE.to_onnx(arch, seed=1).SerializeToString() == model.SerializeToString()
    # the folded, function-based graph computes the literal network: same seed, same conv
    # weights (BN starts as identity up to its epsilon, folded biases start at zero)
    literal = SPACE.to_onnx(arch, weights="random", seed=1, optimized=False)
    if which == "record":
        check_runnable(literal)
    np.testing.assert_allclose(out, _run(literal), rtol=1e-3, atol=1e-6 * np.abs(out).max())


def test_network_skeleton(records):
    model = SPACE.to_onnx(records[0], weights="none")
    g = model.graph
    assert [i.name for i in g.input] == ["input"]
    dims = g.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [3, 32, 32]
    assert [d.dim_value for d in g.output[0].type.tensor_type.shape.dim][1:] == [10]
    # a width-agnostic cell is one function called 9 times, between 2 max-pools
    assert [f.name for f in model.functions] == ["Cell"]
    assert sum(n.op_type == "Cell" for n in g.node) == 9
    assert sum(n.op_type == "MaxPool" for n in g.node) == 2
    assert all(not t.raw_data and not t.float_data for t in g.initializer)
    text = SPACE.to_text(records[0])
    assert "Cell*3(" in text and text.count("func ") == 1
    # slices differ per stack: one function per distinct body, called 3 times each
    for spec, names, slices in ((SLICED, ["Cell1", "Cell2", "Cell3"], [2, 1, 2]),
                                (SLICED_MID, ["Cell1", "Cell2"], [0, 1])):
        model = SPACE.to_onnx(spec, weights="none")
        assert [f.name for f in model.functions] == names
        assert [sum(n.op_type == "Slice" for n in f.node) for f in model.functions] == slices
        calls = [n.op_type for n in model.graph.node if n.op_type.startswith("Cell")]
        assert calls == [names[0]] * 3 + [names[1]] * 3 + [names[-1 if spec is SLICED else 0]] * 3
    # the literal network inlines the cells and keeps BatchNorm
    lit = SPACE.to_onnx(records[0], weights="none", optimized=False)
    assert not lit.functions
    assert sum(n.op_type == "BatchNormalization" for n in lit.graph.node) == \
        sum(n.op_type == "Conv" for n in lit.graph.node)


def test_text_is_canonical(records):
    r = records[0]
    texts = {SPACE.to_text((m, ops)) for m, ops in
             _interior_permutations(r["module_adjacency"], r["module_operations"])}
    assert texts == {SPACE.to_text(r)}
    # different cells, different texts
    assert len({SPACE.to_text(x) for x in records}) == len(records)
    # equal networks, equal flops; isomorphic relabellings count the same
    m, ops = next(_interior_permutations(r["module_adjacency"], r["module_operations"]))
    assert SPACE.flops((m, ops)) == SPACE.flops(r)
    assert isinstance(SPACE.flops(r), float) and SPACE.flops(r) > SPACE.flops(TRIVIAL)


def test_bad_weight_mode():
    with pytest.raises(ValueError):
        SPACE.to_onnx(TRIVIAL, weights="ones")
    with pytest.raises(ArchError):
        SPACE.to_onnx({"matrix": [[0, 0], [0, 0]], "ops": [INPUT, OUTPUT]})

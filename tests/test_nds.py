"""NDS cell spaces (Amoeba, DARTS, ENAS, NASNet, PNAS): genotype strings, encoding, sampling,
params/FLOPs and the ONNX network.

Reference counts come from the official model code, pycls ``NetworkCIFAR`` with
``auxiliary=False`` (facebookresearch/unnas ``pycls/models/nas/nas.py`` + ``operations.py``,
commit 2277ab75, run once with torch outside this repo: params are
``sum(p.numel() for p in net.parameters())``, FLOPs the conv + linear multiply-accumulates of
a forward hook on a 1x3x32x32 input). The same run checked that the literal ONNX network,
given the torch model's weights, computes its logits to 1e-6 relative, at 16x16 and 15x15.
"""

from __future__ import annotations

import inspect
from collections import namedtuple

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, inliner

from nas_rlm.errors import ArchError
from nas_rlm.search_spaces.nds import (
    AMOEBA_OPS,
    DARTS_OPS,
    ENAS_OPS,
    NASNET_OPS,
    PNAS_OPS,
    Genotype,
    NDSAmoeba,
    NDSDarts,
    NDSEnas,
    NDSNasnet,
    NDSPnas,
    NDSSpace,
    loose_ends,
    parse_genotype,
)
from nas_rlm.search_spaces.onnx_check import check_runnable

SPACES = [NDSAmoeba, NDSDarts, NDSEnas, NDSNasnet, NDSPnas]

# -- published genotypes, written as their files write them ----------------------------------
# pycls genotypes.py (facebookresearch/unnas pycls/models/nas/genotypes.py) and quark0/darts
# cnn/genotypes.py: NASNet-A, AmoebaNet-A, PNASNet-5, DARTS V1/V2.
NASNET_A = """Genotype(
    normal=[
        ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('sep_conv_5x5', 0), ('sep_conv_3x3', 0),
        ('avg_pool_3x3', 1), ('skip_connect', 0), ('avg_pool_3x3', 0), ('avg_pool_3x3', 0),
        ('sep_conv_3x3', 1), ('skip_connect', 1),
    ],
    normal_concat=[2, 3, 4, 5, 6],
    reduce=[
        ('sep_conv_5x5', 1), ('sep_conv_7x7', 0), ('max_pool_3x3', 1), ('sep_conv_7x7', 0),
        ('avg_pool_3x3', 1), ('sep_conv_5x5', 0), ('skip_connect', 3), ('avg_pool_3x3', 2),
        ('sep_conv_3x3', 2), ('max_pool_3x3', 1),
    ],
    reduce_concat=[4, 5, 6],
)"""
AMOEBA_A = """Genotype(
    normal=[
        ('avg_pool_3x3', 0), ('max_pool_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_5x5', 2),
        ('sep_conv_3x3', 0), ('avg_pool_3x3', 3), ('sep_conv_3x3', 1), ('skip_connect', 1),
        ('skip_connect', 0), ('avg_pool_3x3', 1),
    ],
    normal_concat=[4, 5, 6],
    reduce=[
        ('avg_pool_3x3', 0), ('sep_conv_3x3', 1), ('max_pool_3x3', 0), ('sep_conv_7x7', 2),
        ('sep_conv_7x7', 0), ('avg_pool_3x3', 1), ('max_pool_3x3', 0), ('max_pool_3x3', 1),
        ('conv_7x1_1x7', 0), ('sep_conv_3x3', 5),
    ],
    reduce_concat=[3, 4, 6]
)"""
_PNAS_CELL = """[
        ('sep_conv_5x5', 0), ('max_pool_3x3', 0), ('sep_conv_7x7', 1), ('max_pool_3x3', 1),
        ('sep_conv_5x5', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 4), ('max_pool_3x3', 1),
        ('sep_conv_3x3', 0), ('skip_connect', 1),
    ]"""
PNASNET = (f"Genotype(normal={_PNAS_CELL}, normal_concat=[2, 3, 4, 5, 6], "
           f"reduce={_PNAS_CELL}, reduce_concat=[2, 3, 4, 5, 6])")
# ENAS in DARTS form: ianwhale/nsga-net models/micro_genotypes.py (not in the pycls file)
ENAS = """Genotype(
    normal=[
        ('sep_conv_3x3', 1), ('skip_connect', 1), ('sep_conv_5x5', 1), ('skip_connect', 0),
        ('avg_pool_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('avg_pool_3x3', 0),
        ('sep_conv_5x5', 1), ('avg_pool_3x3', 0)
    ],
    normal_concat=[2, 3, 4, 5, 6],
    reduce=[
        ('sep_conv_5x5', 0), ('avg_pool_3x3', 1), ('sep_conv_3x3', 1), ('avg_pool_3x3', 1),
        ('avg_pool_3x3', 1), ('sep_conv_3x3', 1), ('sep_conv_5x5', 4), ('avg_pool_3x3', 1),
        ('sep_conv_3x3', 5), ('sep_conv_5x5', 0)
    ],
    reduce_concat=[2, 3, 6]
)"""
# DARTS V2 as the darts repo prints a genotype (train_search.py logs ``genotype = ...``)
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)
DARTS_V1 = (
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])"
)

#: (space, genotype, params, FLOPs) of pycls NetworkCIFAR(C=16, layers=8, auxiliary=False).
PUBLISHED = [
    (NDSNasnet, NASNET_A, 333_946, 56_224_906),
    (NDSAmoeba, AMOEBA_A, 326_330, 52_873_098),
    (NDSPnas, PNASNET, 408_762, 67_898_506),
    (NDSEnas, ENAS, 334_010, 55_921_802),
    (NDSDarts, DARTS_V2, 246_106, 43_444_746),
    (NDSDarts, DARTS_V1, 232_890, 41_355_786),
]


def _swap_pairs(g: Genotype, nodes: dict[str, list[int]]) -> Genotype:
    cells = {}
    for cell in ("normal", "reduce"):
        pairs = list(getattr(g, cell))
        for k in nodes.get(cell, []):
            pairs[2 * k], pairs[2 * k + 1] = pairs[2 * k + 1], pairs[2 * k]
        cells[cell] = tuple(pairs)
    return g._replace(**cells)


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


# -- the spaces' definitions ------------------------------------------------------------------
def test_space_definitions():
    table = {cls.name: (cls.ops, cls.n_nodes, cls.concat_rule) for cls in SPACES}
    assert table == {
        "nds_amoeba": (AMOEBA_OPS, 5, "loose"),
        "nds_darts": (DARTS_OPS, 4, "all"),
        "nds_enas": (ENAS_OPS, 5, "loose"),
        "nds_nasnet": (NASNET_OPS, 5, "loose"),
        "nds_pnas": (PNAS_OPS, 5, "all"),
    }
    assert [len(cls.ops) for cls in SPACES] == [8, 8, 5, 13, 8]
    assert DARTS_OPS[0] == "none" and "none" not in AMOEBA_OPS + ENAS_OPS + NASNET_OPS + PNAS_OPS
    for cls in SPACES:
        assert issubclass(cls, NDSSpace) and len(set(cls.ops)) == len(cls.ops)
        # full defaults are visible in the signature: CIFAR-10, 32x32, C=16, 8 cells
        sig = inspect.signature(cls)
        assert {k: p.default for k, p in sig.parameters.items()} == {
            "width": 16, "depth": 8, "num_classes": 10, "resolution": 32}


@pytest.mark.parametrize("kwargs", [{"width": 0}, {"depth": -1}, {"num_classes": 2.5},
                                    {"resolution": "32"}, {"width": True}])
def test_bad_constructor_args(kwargs):
    with pytest.raises(ValueError, match="must be a positive integer"):
        NDSDarts(**kwargs)


def test_published_genotypes_follow_the_space_rules():
    """NASNet-A, AmoebaNet-A and ENAS concatenate exactly their loose ends; PNASNet and the
    DARTS cells all their nodes (the rules the spaces enforce)."""
    for text in (NASNET_A, AMOEBA_A, ENAS):
        g = parse_genotype(text)
        assert g.normal_concat == loose_ends(g.normal) and g.reduce_concat == loose_ends(g.reduce)
    for text in (PNASNET, DARTS_V1, DARTS_V2):
        g = parse_genotype(text)
        n = len(g.normal) // 2
        assert g.normal_concat == g.reduce_concat == tuple(range(2, n + 2))
    assert loose_ends(parse_genotype(NASNET_A).reduce) == (4, 5, 6)


# -- genotype strings -------------------------------------------------------------------------
@pytest.mark.parametrize(("cls", "text", "params", "flops"), PUBLISHED)
def test_published_genotypes_parse_build_and_count(cls, text, params, flops):
    space = cls()
    g = space.parse(text)
    assert isinstance(g, Genotype)
    # canonical print: darts' namedtuple repr with lists; it parses back to the same genotype
    s = space.to_string(g)
    assert s.startswith("Genotype(normal=[('") and "range" not in s
    assert space.parse(s) == g and space.to_string(s) == s
    assert s == space.to_string(text)
    # the network is the official one: params and FLOPs equal pycls NetworkCIFAR's
    assert space.params(g) == params
    assert space.flops(g) == flops
    model = space.to_onnx(g, weights="none")
    assert [f.name for f in model.functions] == ["Normal", "Reduce"]
    calls = [n.op_type for n in model.graph.node if n.domain == "nas_rlm"]
    assert calls.count("Normal") == 6 and calls.count("Reduce") == 2


def test_darts_v2_published_params():
    """DARTS paper (Liu et al., ICLR 2019) Table 1: DARTS (second order) on CIFAR-10 has
    3.3 M params, at C=36 with 20 cells. The official model code (pycls / darts
    NetworkCIFAR(36, 10, 20, auxiliary=False)) has exactly 3,349,342; with the auxiliary head
    it has 3,825,768, so the 3.3 M excludes that head (as later darts ``count_parameters_in_MB``
    does: it skips parameters named ``auxiliary``)."""
    space = NDSDarts(width=36, depth=20)
    assert space.params(DARTS_V2) == 3_349_342
    assert abs(space.params(DARTS_V2) / 1e6 - 3.3) < 0.05
    assert space.flops(DARTS_V2) == 528_359_050  # 528 M MACs, as pycls code counts them


def test_range_list_and_layout_variants_parse_alike():
    g = parse_genotype(DARTS_V2)
    assert g.normal_concat == (2, 3, 4, 5) and g.reduce_concat == (2, 3, 4, 5)
    variants = [
        DARTS_V2.replace("range(2, 6)", "[2, 3, 4, 5]"),
        DARTS_V2.replace("range(2, 6)", "(2, 3, 4, 5)"),
        "  " + DARTS_V2.replace(", ", ",\n        ") + "\n",
        DARTS_V2.replace("[(", "((").replace(")]", "))"),  # tuples of pairs
    ]
    for v in variants:
        assert parse_genotype(v) == g
    # positional fields, as namedtuple allows
    positional = DARTS_V2.replace("normal=", "").replace("normal_concat=", "")
    positional = positional.replace("reduce=", "").replace("reduce_concat=", "")
    assert parse_genotype(positional) == g
    # keyword order does not matter
    assert parse_genotype(
        "Genotype(reduce_concat=range(2, 6), reduce=" + DARTS_V2.split("reduce=")[1]
        .split(", reduce_concat")[0] + ", normal_concat=[2, 3, 4, 5], normal="
        + DARTS_V2.split("normal=")[1].split(", normal_concat")[0] + ")"
    ) == g


def test_every_form_of_an_arch_is_accepted():
    space = NDSDarts()
    g = space.parse(DARTS_V2)
    darts_nt = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
    as_darts = darts_nt(list(g.normal), range(2, 6), list(g.reduce), range(2, 6))
    as_json = {"normal": [list(p) for p in g.normal], "normal_concat": [2, 3, 4, 5],
               "reduce": [list(p) for p in g.reduce], "reduce_concat": [2, 3, 4, 5]}
    for form in (g, DARTS_V2, as_darts, as_json, space.encode(g), list(space.encode(g))):
        assert space.parse(form) == g
        assert space.to_string(form) == space.to_string(g)
    assert space.from_string(DARTS_V2) == g


def _darts(normal: str, normal_concat: str = "[2, 3, 4, 5]") -> str:
    """A DARTS genotype string with the given normal cell and DARTS V2's reduction cell."""
    reduce = ("[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
              "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), "
              "('skip_connect', 2), ('max_pool_3x3', 1)]")
    return (f"Genotype(normal={normal}, normal_concat={normal_concat}, reduce={reduce}, "
            f"reduce_concat=[2, 3, 4, 5])")


_OK8 = ("[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
        "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)]")


@pytest.mark.parametrize(
    ("space", "text", "needles"),
    [
        # unknown op for this space (names it, the space and the valid ops)
        (NDSDarts(), _darts(_OK8.replace("dil_conv_3x3", "conv_7x1_1x7")),
         ["unknown op 'conv_7x1_1x7' for nds_darts", "normal node 5", "valid ops", "none"]),
        (NDSDarts(), NASNET_A, ["nds_darts: normal cell needs 8", "got 10"]),
        (NDSEnas(), AMOEBA_A, ["unknown op 'sep_conv_7x7' for nds_enas (reduce node 3)"]),
        (NDSPnas(), ENAS.replace("'avg_pool_3x3', 0)", "'none', 0)"),
         ["unknown op 'none' for nds_pnas (normal node 4)"]),
        # input index out of range for its node
        (NDSDarts(), _darts(_OK8.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)")),
         ["normal node 5 input index 5 out of range", "may read states 0..4"]),
        (NDSDarts(), _darts(_OK8.replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', 2)", 1)),
         ["normal node 2 input index 2 out of range", "states 0..1"]),
        (NDSDarts(), _darts(_OK8.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', -1)", 1)),
         ["input index -1 out of range"]),
        (NDSNasnet(), NASNET_A.replace("('skip_connect', 3)", "('skip_connect', 7)"),
         ["reduce node 5 input index 7 out of range"]),
        # odd number of entries, wrong number of nodes
        (NDSDarts(), _darts(_OK8.replace(", ('dil_conv_3x3', 2)", "")),
         ["normal cell has an odd number of (op, input) entries (7)"]),
        (NDSDarts(), _darts(_OK8.replace("('dil_conv_3x3', 2)",
                                         "('dil_conv_3x3', 2), ('none', 0), ('none', 1)")),
         ["normal cell needs 8 (op, input) entries (4 nodes x 2), got 10"]),
        (NDSAmoeba(), DARTS_V2, ["needs 10 (op, input) entries (5 nodes x 2), got 8"]),
        # bad concat: 'all' spaces concatenate every node, loose-end spaces their loose ends
        (NDSDarts(), _darts(_OK8, "[2, 3, 4]"), ["bad normal_concat [2, 3, 4]", "all nodes",
                                                 "[2, 3, 4, 5]"]),
        (NDSDarts(), _darts(_OK8, "range(2, 7)"), ["bad normal_concat [2, 3, 4, 5, 6]"]),
        (NDSDarts(), _darts(_OK8, "[3, 2, 4, 5]"), ["bad normal_concat [3, 2, 4, 5]"]),
        (NDSNasnet(), NASNET_A.replace("reduce_concat=[4, 5, 6]", "reduce_concat=[2, 3, 4, 5, 6]"),
         ["bad reduce_concat [2, 3, 4, 5, 6]", "loose ends", "[4, 5, 6]"]),
        (NDSPnas(), PNASNET.replace("reduce_concat=[2, 3, 4, 5, 6]", "reduce_concat=[5, 6]"),
         ["bad reduce_concat [5, 6]"]),
    ],
)
def test_malformed_genotypes_raise_helpful_errors(space, text, needles):
    with pytest.raises(ArchError) as info:
        space.parse(text)
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "not a Genotype(...) expression"),
        ("Genotype(normal=[('a', 0)", "not a Genotype(...) expression"),
        ("Genotype", "must look like 'Genotype(normal=[...], ...)'"),
        ("Genome(normal=[])", "must look like"),
        ("__import__('os').system('true')", "must look like"),
        ("Genotype(normal=[], normal_concat=[], reduce=[])", "missing field(s) reduce_concat"),
        ("Genotype(normal=[], normal_concat=[], reduce=[], reduce_concat=[], extra=1)",
         "unknown Genotype field 'extra'"),
        ("Genotype(normal=[], normal=[], normal_concat=[], reduce=[], reduce_concat=[])",
         "given twice"),
        ("Genotype([], [], [], [], [])", "at most 4 fields"),
        ("Genotype(normal=__import__('os'), normal_concat=[], reduce=[], reduce_concat=[])",
         "normal must be a literal list"),
        ("Genotype(normal=[('none', 0)] * 8, normal_concat=[], reduce=[], reduce_concat=[])",
         "normal must be a literal list"),
        ("Genotype(normal=[], normal_concat=range('a'), reduce=[], reduce_concat=[])",
         "range() needs 1 to 3 integer arguments"),
        ("Genotype(normal=[('sep_conv_3x3', 0, 1)], normal_concat=[], reduce=[], "
         "reduce_concat=[])", "normal entry 0 must be an (op, input) pair"),
        ("Genotype(normal=[3], normal_concat=[], reduce=[], reduce_concat=[])",
         "normal entry 0 must be an (op, input) pair"),
        ("Genotype(normal=[(3, 0)], normal_concat=[], reduce=[], reduce_concat=[])",
         "op must be a str"),
        ("Genotype(normal=[('none', True)], normal_concat=[], reduce=[], reduce_concat=[])",
         "input index must be an integer"),
        ("Genotype(normal=[('none', 0.5)], normal_concat=[], reduce=[], reduce_concat=[])",
         "input index must be an integer"),
        ("Genotype(normal='abc', normal_concat=[], reduce=[], reduce_concat=[])",
         "normal must be a list of (op, input) pairs"),
        ("Genotype(normal=[], normal_concat=['2'], reduce=[], reduce_concat=[])",
         "normal_concat must be a list of node indices"),
    ],
)
def test_malformed_strings(text, needle):
    with pytest.raises(ArchError) as info:
        NDSDarts().parse(text)
    assert needle in str(info.value), str(info.value)


@pytest.mark.parametrize("value", [None, 7, object(), [0, 1], {"normal": []}, b"Genotype()"])
def test_parse_rejects_garbage_with_arch_error(value):
    with pytest.raises(ArchError):
        NDSDarts().parse(value)
    with pytest.raises(ValueError):  # ArchError is a ValueError
        NDSEnas().to_string(value)


def test_parse_genotype_needs_a_str():
    with pytest.raises(ArchError, match="must be a str"):
        parse_genotype(None)


# -- integer encoding ---------------------------------------------------------------------
@pytest.mark.parametrize("cls", SPACES)
def test_bounds_and_round_trips(cls):
    space = cls()
    n, k = cls.n_nodes, len(cls.ops)
    lo, hi = space.bounds
    assert lo.shape == hi.shape == (8 * n,) and lo.dtype.kind == hi.dtype.kind == "i"
    assert lo.tolist() == [0] * (8 * n)
    per_cell = [v for node in range(n) for v in (node + 1, k - 1, node + 1, k - 1)]
    assert hi.tolist() == per_cell * 2  # the input bound grows with the node
    # size() is the number of encodings (ordered pairs, both cells)
    assert space.size() == int(np.prod((hi + 1).astype(object)))
    for corner in (lo, hi):
        assert (space.encode(space.decode(corner)) == corner).all()
    for g in space.sample(50, 1):
        v = space.encode(g)
        assert v.dtype == np.int64 and ((v >= lo) & (v <= hi)).all()
        assert space.decode(v) == g and space.decode(list(v)) == g
        assert space.parse(space.to_string(g)) == g
    g = space.sample(1, 2)[0]
    assert space.decode(space.encode(g).astype(float)) == g  # integral floats, as optimisers give


def test_size_formula():
    # per cell prod_k ((k+2)*|ops|)^2: DARTS 4 nodes x 8 ops -> (16*24*32*40)^2 per cell
    assert NDSDarts().size() == (16 * 24 * 32 * 40) ** 4
    assert NDSEnas().size() == (10 * 15 * 20 * 25 * 30) ** 4
    assert NDSNasnet().size() == (26 * 39 * 52 * 65 * 78) ** 4
    assert NDSAmoeba().size() == NDSPnas().size() == (16 * 24 * 32 * 40 * 48) ** 4


def test_encoding_layout():
    space = NDSDarts()
    v = space.encode(DARTS_V2)
    # per node: input, op of the first pair, then of the second; normal cell first
    assert v[:8].tolist() == [0, 4, 1, 4, 0, 4, 1, 4]
    assert v[-4:].tolist() == [2, 3, 1, 1]


@pytest.mark.parametrize(
    ("vector", "needle"),
    [
        ([0] * 31, "must have 32 entries"),
        ([0] * 33, "must have 32 entries"),
        (np.zeros((2, 16), int), "must have 32 entries"),
        ([0.5] + [0] * 31, "must hold integers"),
        ([float("nan")] + [0] * 31, "must hold integers"),
        (["a"] * 32, "must hold integers"),
        ([True] * 32, "must hold integers"),
        ([2] + [0] * 31, "entry 0 (normal node 2 pair 0 input) must be in 0..1, got 2"),
        ([0, 8] + [0] * 30, "entry 1 (normal node 2 pair 0 op, 0..7 = none, max_pool_3x3"),
        ([0] * 30 + [5, 0], "entry 30 (reduce node 5 pair 1 input) must be in 0..4, got 5"),
        ([-1] + [0] * 31, "must be in 0..1, got -1"),
    ],
)
def test_bad_vectors(vector, needle):
    with pytest.raises(ArchError) as info:
        NDSDarts().decode(vector)
    assert needle in str(info.value), str(info.value)


# -- sampling and mutation --------------------------------------------------------------------
@pytest.mark.parametrize("cls", SPACES)
def test_sample_and_mutate(cls):
    space = cls()
    a = space.sample(300, 123)
    assert a == space.sample(300, np.random.default_rng(123)) and a != space.sample(300, 124)
    assert space.sample(0, 1) == []
    ops_seen, inputs_seen = set(), set()
    for g in a:
        space.parse(g)  # valid, concat rule included
        for cell in (g.normal, g.reduce):
            ops_seen.update(op for op, _ in cell)
            inputs_seen.update((k // 2, j) for k, (_, j) in enumerate(cell))
    assert ops_seen == set(cls.ops)
    assert inputs_seen == {(k, j) for k in range(cls.n_nodes) for j in range(k + 2)}
    rng = np.random.default_rng(0)
    hit = set()
    for g in a[:150]:
        m = space.mutate(g, rng)
        diff = np.flatnonzero(space.encode(g) != space.encode(m))
        assert len(diff) == 1
        hit.add(int(diff[0]))
        space.parse(m)
    assert len(hit) > 0.8 * len(space.bounds[0])
    assert space.mutate(space.to_string(a[0]), 3) == space.mutate(a[0], 3)


# -- the ONNX network -------------------------------------------------------------------------
@pytest.mark.parametrize("cls", SPACES)
def test_runnable(cls):
    space = cls()
    g = space.sample(1, 7)[0]
    check_runnable(space.to_onnx(g, weights="zeros"))
    small = cls(width=8, depth=4, resolution=16)
    model = small.to_onnx(g, weights="random", seed=1)
    check_runnable(model)
    assert model.SerializeToString() == small.to_onnx(g, weights="random", seed=1) \
        .SerializeToString()


@pytest.mark.parametrize(("cls", "text"), [(c, t) for c, t, _, _ in PUBLISHED[:5]])
def test_optimized_graph_computes_the_literal_network(cls, text):
    """Folding BN, sharing ReLUs/pools, dropping ``none`` terms and calling cell functions
    change nothing: with one seed the three graphs hold the same conv weights (BNs are
    identity up to eps) and give the same logits."""
    space = cls(width=8, depth=5, resolution=15)  # odd sizes exercise FactorizedReduce's shift
    x = np.random.default_rng(0).standard_normal((2, 3, 15, 15)).astype(np.float32)
    literal = _run(space.to_onnx(text, seed=3, optimized=False), x)
    inline = _run(space.to_onnx(text, seed=3, cell_functions=False), x)
    called = _run(space.to_onnx(text, seed=3), x)
    np.testing.assert_array_equal(inline, called)
    np.testing.assert_allclose(called, literal, rtol=1e-3, atol=1e-3 * np.abs(literal).max())


def test_factorized_reduce_shift():
    """pycls FactorizedReduce's second path reads ``pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]``; the
    graph writes it as one Pad with negative begin pads, which onnxruntime must honour."""
    pads = helper.make_node("Constant", [], ["p"], value=helper.make_tensor(
        "v", TensorProto.INT64, [8], [0, 0, -1, -1, 0, 0, 1, 1]))
    graph = helper.make_graph(
        [pads, helper.make_node("Pad", ["input", "p"], ["y"])], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 2, 5, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 5, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    onnx.checker.check_model(model, full_check=True)
    x = np.arange(40, dtype=np.float32).reshape(1, 2, 5, 4)
    want = np.pad(x, [(0, 0), (0, 0), (0, 1), (0, 1)])[:, :, 1:, 1:]
    np.testing.assert_array_equal(_run(model, x), want)


def test_depth_and_width_are_honoured():
    g = parse_genotype(DARTS_V2)
    for depth in (1, 2, 3, 4):  # reductions at depth//3 and 2*depth//3 (they coincide at 1)
        space = NDSDarts(width=4, depth=depth, resolution=8, num_classes=3)
        model = space.to_onnx(g, weights="zeros")
        check_runnable(model)
        calls = [n.op_type for n in model.graph.node if n.domain == "nas_rlm"]
        reductions = {depth // 3, 2 * depth // 3}
        assert calls == ["Reduce" if i in reductions else "Normal" for i in range(depth)]
        out = model.graph.output[0].type.tensor_type.shape.dim
        assert out[1].dim_value == 3
    assert NDSDarts(width=32).params(g) > NDSDarts(width=16).params(g)


def test_special_cells():
    """A DARTS cell of zeros and a cell that never reads its older input still build and run;
    params count the literal network (its unused preprocessing included), the optimised
    graph drops what cannot matter."""
    space = NDSDarts(width=8, depth=4, resolution=16)
    zeros = [("none", 0), ("none", 1)] * 4
    only_prev = [("sep_conv_3x3", 1), ("skip_connect", 1), ("max_pool_3x3", 2),
                 ("none", 1), ("none", 2), ("none", 3), ("dil_conv_5x5", 4), ("none", 0)]
    g = Genotype(tuple(zeros), (2, 3, 4, 5), tuple(only_prev), (2, 3, 4, 5))
    for optimized in (True, False):
        check_runnable(space.to_onnx(g, weights="random", seed=2, optimized=optimized))
    optimized = space.to_onnx(g, weights="none")
    for f in optimized.functions:  # both cells read only the previous cell's output
        assert [x for x in f.input if x.startswith("s")] == ["s1"], f.name
    # so the older input's preprocessing is gone: 1x1 convs of cells 0 and 1, and the
    # FactorizedReduce (2 convs) of cells 2 and 3, which follow a reduction
    n_convs = [sum(n.op_type == "Conv" for n in inliner.inline_local_functions(m).graph.node)
               for m in (space.to_onnx(g, weights="none", optimized=False), optimized)]
    assert n_convs[0] - n_convs[1] == 6
    # the input index of a `none` pair changes nothing in the network, so nothing in the text
    moved = Genotype(tuple([("none", 1), ("none", 0)] * 4), (2, 3, 4, 5), tuple(only_prev),
                     (2, 3, 4, 5))
    assert space.to_text(moved) == space.to_text(g)
    assert space.params(moved) == space.params(g)


# -- the text ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", SPACES)
def test_text_ignores_the_order_of_a_nodes_two_pairs(cls):
    """A node adds its two terms, so swapping its (op, input) pairs gives the same network;
    the builder writes the terms in a fixed order, so also the same graph and text."""
    space = cls(width=8, depth=4)
    rng = np.random.default_rng(5)
    for g in space.sample(6, 9):
        swapped = _swap_pairs(g, {c: [k for k in range(cls.n_nodes) if rng.random() < 0.6]
                                  for c in ("normal", "reduce")})
        assert space.to_text(swapped) == space.to_text(g)
        assert space.to_string(swapped) != space.to_string(g) or swapped == g
        assert space.params(swapped) == space.params(g)
    # and distinct networks give distinct texts
    a, b = space.sample(2, 11)
    assert space.to_text(a) != space.to_text(b)


def test_text_shape():
    space = NDSDarts()
    text = space.to_text(DARTS_V2)
    assert text == space.to_text(parse_genotype(DARTS_V2))  # deterministic
    lines = text.splitlines()
    assert lines[0].startswith("func Normal(") and sum(ln.startswith("func ") for ln in lines) == 2
    assert sum(" = Normal[C=" in ln for ln in lines) == 6
    assert sum(" = Reduce[C=" in ln for ln in lines) == 2
    assert "BatchNormalization" not in text  # folded, as an inference export has it
    assert lines[1].startswith("in %0 float[N,3,32,32]") or "in %0 float[N,3,32,32]" in lines
    assert lines[-1].startswith("out %") and lines[-1].endswith(" float[N,10]")
    # DARTS V2's reduction cell holds only pools and skips: a call passes it its two inputs
    calls = [ln.split("(", 1)[1] for ln in lines if " = Reduce[C=" in ln]
    assert all(c.count(",") == 1 for c in calls)


def test_function_attribute_refs_are_rendered_as_refs():
    """Depthwise groups bound at the call site print as ``g=@C``, never as a literal 0."""
    sp = NDSDarts()
    text = sp.to_text(sp.sample(1, 0)[0])
    assert "g=@" in text
    assert "g=0" not in text


@pytest.mark.parametrize("concat, needle", [
    ("range(20000000)", "more than 64 entries"),
    ("range(10000000000000000000)", "more than 64 entries"),
    ("range(-10000000000000000000, 10000000000000000000, 3)", "more than 64 entries"),
    ("range(2, 6, 0)", "step must not be zero"),
    ("[" + "2, " * 100 + "]", "more than 64 entries"),
])
def test_sizes_in_a_genotype_are_bounded_before_anything_is_built(concat, needle) -> None:
    from nas_rlm.search_spaces import NDSDarts

    space = NDSDarts()
    text = space.to_string(space.sample(1, 0)[0])
    head, _, rest = text.partition("normal_concat=")
    bad = head + "normal_concat=" + concat + rest[rest.index("]") + 1:]
    with pytest.raises(ArchError, match=needle) as exc:
        space.parse(bad)
    assert len(str(exc.value)) < 400
    pairs = text.replace("normal=[", "normal=[" + "('none', 0), " * 100, 1)
    with pytest.raises(ArchError, match="no cell has more than 64"):
        space.parse(pairs)

"""The canonical, weight-free ONNX text (DESIGN §1.2), checked on NB201.

The central property: two NB201 cells get the same text exactly when their pruned, optimised
graphs are the same graph. "The same graph" is decided here by an independent canonical form
computed from the arch string alone (own parser, own dead-edge pruning, own value numbering),
never from the library's builder or renderer.
"""

from __future__ import annotations

import itertools
import re
import statistics
import zlib
from collections import defaultdict

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from nas_rlm.errors import ModelFormatError
from nas_rlm.search_spaces import get_space, onnx_text
from nas_rlm.search_spaces.nb201 import NB201, live_edges
from nas_rlm.search_spaces.onnx_text import relative_node_ids, simple_tokens, text_stats, to_text

SPACE = NB201()
OP_NAMES = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
SAMPLE_SEED, SAMPLE_N = 20240607, 1500

ALL_CONV3 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
DEAD_BRANCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
# one conv tensor read twice by node 3 vs. two convs of x summed there
ONE_CONV_TWICE = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|skip_connect~1|skip_connect~2|"
TWO_CONVS = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|"


# -- an independent canonical form of the pruned cell ----------------------------------------
def _parse(arch_str: str) -> list[tuple[int, int, str]]:
    """(dst, src, op) per edge, read straight off ``|op~src|+|...|...``."""
    edges = []
    for dst, group in enumerate(arch_str.strip().strip("|").split("|+|"), start=1):
        for item in group.split("|"):
            op, src = item.split("~")
            assert op in OP_NAMES
            edges.append((dst, int(src), op))
    assert len(edges) == 6
    return edges


def _live(edges: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Non-none edges on some path from node 0 to node 3 (fixpoints, in no particular order)."""
    real = [e for e in edges if e[2] != "none"]
    fwd, bwd = {0}, {3}
    changed = True
    while changed:
        changed = False
        for dst, src, _ in real:
            if src in fwd and dst not in fwd:
                fwd.add(dst)
                changed = True
            if dst in bwd and src not in bwd:
                bwd.add(src)
                changed = True
    return [e for e in real if e[1] in fwd and e[0] in bwd]


def canonical_form(arch_str: str) -> str:
    """The pruned cell's DAG as a string, the same for exactly the isomorphic DAGs.

    Node values are nested expressions: ``x`` the cell input, ``R(v)`` a ReLU, ``P(v)`` a 3x3
    average pool, ``C3#i(R(v))`` conv instance i, ``S(a,b,..)`` a sum of the sorted terms of a
    node with several inputs. A skip term is its source's value. Equal pool or ReLU
    expressions are one tensor (an optimiser shares them); convs are never merged (separate
    weights), so each conv edge is an instance with an id, and the same id appearing twice
    means one tensor read twice. Ids are then minimised over all relabellings per kernel.
    """
    live = _live(_parse(arch_str))
    if not any(dst == 3 for dst, _, _ in live):
        return "ZERO"
    convs: dict[str, list[int]] = defaultdict(list)
    for k, (_, _, op) in enumerate(live):
        if op.startswith("nor_conv"):
            convs[op[-3]].append(k)

    def render(label: dict[int, int]) -> str:
        val = {0: "x"}
        for node in (1, 2, 3):
            terms = []
            for k, (dst, src, op) in enumerate(live):
                if dst != node:
                    continue
                v = val[src]
                if op == "skip_connect":
                    terms.append(v)
                elif op == "avg_pool_3x3":
                    terms.append(f"P({v})")
                else:
                    terms.append(f"C{op[-3]}#{label[k]}(R({v}))")
            if terms:
                val[node] = terms[0] if len(terms) == 1 else f"S({','.join(sorted(terms))})"
        return val[3]

    groups = list(convs.values())
    best = None
    for perms in itertools.product(*(itertools.permutations(range(len(g))) for g in groups)):
        label = {k: p[j] for g, p in zip(groups, perms, strict=True) for j, k in enumerate(g)}
        s = render(label)
        if best is None or s < best:
            best = s
    return best


def test_canonical_form_helper_on_hand_made_cells():
    # the helper itself: sharing vs. separate instances, pool dedup, pruning, skip = identity
    assert canonical_form(ALL_NONE) == "ZERO"
    dead_out = "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
    assert canonical_form(dead_out) == "ZERO"
    assert canonical_form("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|") == "x"
    assert canonical_form(DEAD_BRANCH) == "x"
    assert canonical_form(ONE_CONV_TWICE) == "S(C3#0(R(x)),C3#0(R(x)))"
    assert canonical_form(TWO_CONVS) == "S(C3#0(R(x)),C3#1(R(x)))"
    # one pool of x, read through node 1 and directly
    assert canonical_form(
        "|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|avg_pool_3x3~1|none~2|"
    ) == "S(P(x),P(x))"


def test_independent_pruning_agrees_with_live_edges():
    # cheap cross-check over the whole space (the equivalence test relies on both)
    for a in SPACE.enumerate():
        edges = _parse(SPACE.to_string(a))
        mine = _live(edges)
        assert [k for k, e in enumerate(edges) if e in mine] == live_edges(a), a


# -- determinism and content -----------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_texts() -> dict[str, str]:
    archs = SPACE.sample(SAMPLE_N, SAMPLE_SEED)
    strings = sorted({SPACE.to_string(a) for a in archs})
    return {s: SPACE.to_text(s) for s in strings}


def test_text_is_deterministic_and_weight_independent():
    for a in [ALL_CONV3, ALL_NONE, DEAD_BRANCH, *map(SPACE.to_string, SPACE.sample(5, 3))]:
        t = SPACE.to_text(a)
        assert t == SPACE.to_text(a)
        assert t == SPACE.to_text(SPACE.parse(a)) == SPACE.to_text(list(SPACE.parse(a)))
        assert t == to_text(SPACE.to_onnx(a, weights="none"))
        # the text never depends on weight values
        assert t == to_text(SPACE.to_onnx(a, weights="random", seed=1))
        assert t == to_text(SPACE.to_onnx(a, weights="random", seed=2))
        assert t == to_text(SPACE.to_onnx(a, weights="zeros"))
        assert t.endswith("\n") and isinstance(t, str)


def test_text_hides_the_arch_string(sample_texts):
    for arch_str, t in sample_texts.items():
        assert arch_str not in t
        for op in OP_NAMES:
            assert op not in t
        assert "~" not in t and "|" not in t
        assert "nor_conv" not in t and "skip" not in t


def test_text_shape():
    t = SPACE.to_text(ALL_CONV3)
    lines = t.splitlines()
    assert lines[0].startswith("func Cell(")
    assert sum(line.startswith("func ") for line in lines) == 1
    assert sum("= Cell*5(" in line for line in lines) == 3  # one folded chain per stage
    assert re.fullmatch(r"out %\d+ float\[N,10\]", lines[-1])
    assert "in %0 float[N,3,32,32]" in lines
    # SSA: every id is defined once, before it is read (functions have their own numbering)
    defined: set[str] = set()
    for line in lines:
        ids = re.findall(r"%\d+", line)
        if line.startswith("func "):
            defined = set(ids)
        elif line.startswith(("  return", "out ")):
            assert set(ids) <= defined, line
        elif line.startswith("in "):
            if ids == ["%0"]:
                defined = set()
            defined.add(ids[0])
        else:
            lhs, sep, rhs = line.strip().partition(" = ")
            assert sep and re.fullmatch(r"%\d+", lhs), line
            assert lhs not in defined, line
            assert set(re.findall(r"%\d+", rhs)) <= defined, line
            defined.add(lhs)


# -- the central property: same text <=> same pruned graph ----------------------------------
def _groups(pairs):
    by_text, by_form = defaultdict(set), defaultdict(set)
    for _arch_str, form, text in pairs:
        by_text[text].add(form)
        by_form[form].add(text)
    return by_text, by_form


def test_equal_text_iff_equal_canonical_form(sample_texts):
    pairs = [(s, canonical_form(s), t) for s, t in sample_texts.items()]
    by_text, by_form = _groups(pairs)
    print(f"\n{len(pairs)} distinct archs in the sample: {len(by_text)} distinct texts, "
          f"{len(by_form)} distinct canonical forms")
    examples = defaultdict(list)
    for s, f, _t in pairs:
        examples[f].append(s)
    merged = [(sorted(forms), [examples[f][0] for f in sorted(forms)])
              for forms in by_text.values() if len(forms) > 1]
    split = [(f, examples[f][:4]) for f, texts in by_form.items() if len(texts) > 1]
    assert not merged, f"non-equivalent cells share a text: {merged[:3]}"
    assert not split, f"equivalent cells get different texts: {split[:3]}"
    assert len(by_text) == len(by_form)


def test_tricky_pairs():
    different = [
        (ALL_CONV3, SPACE.to_string((2,) * 6)),
        (ONE_CONV_TWICE, TWO_CONVS),  # one conv read twice vs. two convs
        ("|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|",
         "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"),
        ("|none~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|",
         "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"),
        # zero cell vs. identity cell
        (ALL_NONE, "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"),
        # conv then pool vs. pool then conv
        ("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|avg_pool_3x3~1|none~2|",
         "|avg_pool_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|"),
        # sum of (x, pool x) fed to a conv, vs. the same terms summed at the output
        ("|skip_connect~0|+|avg_pool_3x3~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|",
         "|skip_connect~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|none~1|skip_connect~2|"),
    ]
    for a, b in different:
        assert canonical_form(a) != canonical_form(b)
        assert SPACE.to_text(a) != SPACE.to_text(b), (a, b)
    same = [
        # dead branches are not in the graph
        (DEAD_BRANCH, "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"),
        (ALL_NONE, "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|"),
        # a skip is the tensor itself, so node 1 = x makes edges out of node 1 edges out of x
        ("|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|",
         "|skip_connect~0|+|none~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|none~2|"),
        # the two pools of x are one pool, summed at node 3 or at node 2
        ("|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|avg_pool_3x3~1|none~2|",
         "|skip_connect~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|"),
    ]
    for a, b in same:
        assert canonical_form(a) == canonical_form(b)
        assert SPACE.to_text(a) == SPACE.to_text(b), (a, b)


def test_text_length(sample_texts):
    stats = [text_stats(t) for t in sample_texts.values()]
    chars = [s["chars"] for s in stats]
    tokens = [s["tokens"] for s in stats]
    print(f"\ntext chars: median {statistics.median(chars)}, max {max(chars)}, min {min(chars)}; "
          f"simple tokens: median {statistics.median(tokens)}, max {max(tokens)}")
    assert statistics.median(chars) < 2000
    assert max(chars) < 4000


# -- invariance under reordering and renaming -----------------------------------------------
def _copy(m: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(m)
    return out


def _replace(field, items) -> None:
    items = [type(x).FromString(x.SerializeToString()) for x in items]
    del field[:]
    field.extend(items)


def scramble(model: onnx.ModelProto, rng: np.random.Generator, shuffle: bool = True,
             reverse_commutative: bool = False, permute_formals: bool = True) -> onnx.ModelProto:
    """An equivalent model: new tensor names, permuted function formals (call args to
    match), random node names and attribute order, and (``shuffle``) nodes in random order."""
    m = _copy(model)
    g = m.graph

    def fresh(names):
        # random, distinct, and sorting unlike the originals
        ids = rng.permutation(len(names))
        return {n: f"t{rng.integers(1 << 30):x}_{i}" for n, i in zip(names, ids, strict=True)}

    def rename_nodes(nodes, mapping):
        for n in nodes:
            n.input[:] = [mapping.get(x, x) for x in n.input]
            n.output[:] = [mapping.get(x, x) for x in n.output]
            n.name = f"n{rng.integers(1 << 30)}"
            attrs = list(n.attribute)
            order = rng.permutation(len(attrs))
            _replace(n.attribute, [attrs[i] for i in order])
            if reverse_commutative and n.op_type in onnx_text.COMMUTATIVE:
                n.input[:] = list(n.input)[::-1]

    perms = {}
    for f in m.functions:
        names = list(dict.fromkeys([*f.input, *f.output,
                                    *(x for n in f.node for x in (*n.input, *n.output) if x)]))
        mapping = fresh(names)
        rename_nodes(f.node, mapping)
        perm = rng.permutation(len(f.input)) if permute_formals else np.arange(len(f.input))
        perms[f.name] = perm
        old = [mapping[x] for x in f.input]
        f.input[:] = [old[p] for p in perm]
        f.output[:] = [mapping[x] for x in f.output]
        if shuffle:
            nodes = list(f.node)
            _replace(f.node, [nodes[i] for i in rng.permutation(len(nodes))])

    names = list(dict.fromkeys([*(v.name for v in g.input), *(v.name for v in g.output),
                                *(t.name for t in g.initializer),
                                *(x for n in g.node for x in (*n.input, *n.output) if x)]))
    mapping = fresh(names)
    rename_nodes(g.node, mapping)
    for n in g.node:
        if n.op_type in perms:
            args = list(n.input)
            n.input[:] = [args[p] for p in perms[n.op_type]]
    for v in (*g.input, *g.output, *g.value_info):
        v.name = mapping.get(v.name, v.name)
    for t in g.initializer:
        t.name = mapping[t.name]
    inits = list(g.initializer)
    _replace(g.initializer, [inits[i] for i in rng.permutation(len(inits))])
    if shuffle:
        nodes = list(g.node)
        _replace(g.node, [nodes[i] for i in rng.permutation(len(nodes))])
    return m


_SCRAMBLE_ARCHS = [ALL_CONV3, ALL_NONE, DEAD_BRANCH,
                   "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
                   TWO_CONVS, ONE_CONV_TWICE,
                   "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_1x1~2|",
                   *map(SPACE.to_string, SPACE.sample(25, 77))]


@pytest.mark.parametrize("arch_str", _SCRAMBLE_ARCHS)
def test_text_is_invariant_to_order_and_names(arch_str):
    # node order, tensor and node names, attribute order, initializer order, and the order
    # of a commutative op's inputs carry no meaning
    model = SPACE.to_onnx(arch_str, weights="none")
    base = to_text(model)
    rng = np.random.default_rng(zlib.crc32(arch_str.encode()))
    for _ in range(4):
        assert to_text(scramble(model, rng, permute_formals=False)) == base
    assert to_text(scramble(model, rng, permute_formals=False, reverse_commutative=True)) == base


def test_text_is_invariant_to_function_formal_order():
    # the order of the Cell function's formal inputs (with every call's arguments permuted to
    # match) carries no meaning either; the renderer renumbers formals by first use, and the
    # text must not depend on the order they were declared in
    rng = np.random.default_rng(0)
    changed = []
    for arch_str in _SCRAMBLE_ARCHS:
        model = SPACE.to_onnx(arch_str, weights="none")
        base = to_text(model)
        for _ in range(3):
            if to_text(scramble(model, rng, shuffle=False)) != base:
                changed.append(arch_str)
                break
            if to_text(scramble(model, rng)) != base:
                changed.append(arch_str)
                break
    assert not changed, (
        f"{len(changed)}/{len(_SCRAMBLE_ARCHS)} cells render differently once the Cell "
        f"function's formal inputs are permuted (calls permuted to match), e.g. {changed[:3]}"
    )


_SEMANTIC_ARCHS = [ALL_CONV3, _SCRAMBLE_ARCHS[4], _SCRAMBLE_ARCHS[7], _SCRAMBLE_ARCHS[9]]


@pytest.mark.parametrize("arch_str", _SEMANTIC_ARCHS)
def test_scramble_preserves_the_model(arch_str):
    # the scrambler itself is sound: without the node shuffle (ONNX wants topological order)
    # the model stays valid and computes the same function as the original
    model = SPACE.to_onnx(arch_str, weights="random", seed=0)
    other = scramble(model, np.random.default_rng(0), shuffle=False, reverse_commutative=True)
    onnx.checker.check_model(other, full_check=True)
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)

    def run(m):
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return sess.run(None, {m.graph.input[0].name: x})[0]

    ref = run(model)
    # reversed Sum inputs change the float summation order: compare at the output's scale
    np.testing.assert_allclose(run(other), ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["not a model", None, b"\x08\x01", onnx.GraphProto()])
def test_not_a_model(value):
    with pytest.raises(ModelFormatError, match="ModelProto"):
        to_text(value)


def _model(nodes, inputs=("x",), outputs=("y",)):
    g = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(i, TensorProto.FLOAT, [1, 4]) for i in inputs],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [1, 4]) for o in outputs],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


def test_dangling_tensor_is_named():
    m = _model([helper.make_node("Add", ["x", "ghost_tensor"], ["y"])])
    with pytest.raises(ModelFormatError, match="ghost_tensor"):
        to_text(m)
    m = _model([helper.make_node("Relu", ["x"], ["h"]),
                helper.make_node("Relu", ["phantom"], ["y"])])
    with pytest.raises(ModelFormatError, match="phantom"):
        to_text(m)


def test_unproduced_output_is_named():
    m = _model([helper.make_node("Relu", ["x"], ["h"])], outputs=("never_made",))
    with pytest.raises(ModelFormatError, match="never_made"):
        to_text(m)


def test_cycle_is_reported():
    m = _model([helper.make_node("Add", ["x", "b"], ["a"]),
                helper.make_node("Relu", ["a"], ["b"]),
                helper.make_node("Relu", ["a"], ["y"])])
    with pytest.raises(ModelFormatError, match="cycle"):
        to_text(m)


def test_small_hand_written_model():
    m = _model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Add", ["h", "x"], ["y"])])
    assert to_text(m) == "in %0 float[1,4]\n%1 = Relu(%0)\n%2 = Add(%0,%1)\nout %2 float[1,4]\n"


# -- relative node ids -------------------------------------------------------------------------
def _absolute_again(text: str) -> str:
    """An independent inverse of ``relative_node_ids``: ids are dense in line order, counted
    from a function's formal inputs or the graph inputs."""
    out, nxt = [], 0
    for line in text.split("\n"):
        head = re.match(r"^func \w+\((.*)\)$", line)
        if head:
            nxt = len(head.group(1).split(","))
        elif m := re.match(r"^in %(\d+) ", line):
            nxt = int(m.group(1)) + 1
        elif m := re.match(r"^(\s*)((?:%\+\d+,?)*) ?= (.*)$", line):
            k = max(1, m.group(2).count("%+"))
            ids = ",".join(f"%{nxt + j}" for j in range(k))
            rhs = re.sub(r"%-(\d+)", lambda r, n=nxt: f"%{n - int(r.group(1))}", m.group(3))
            line, nxt = f"{m.group(1)}{ids} = {rhs}", nxt + k
        out.append(line)
    return "\n".join(out)


def test_relative_node_ids_on_a_hand_written_model():
    m = _model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Add", ["h", "x"], ["y"])])
    assert relative_node_ids(to_text(m)) == (
        "in %0 float[1,4]\n= Relu(%-1)\n= Add(%-2,%-1)\nout %2 float[1,4]\n")
    split = "in %0 float[4]\n%1,%2 = Split(%0)\n%3 = Add(%1,%2)\nout %3 float[2]"
    assert relative_node_ids(split) == (
        "in %0 float[4]\n%+0,%+1 = Split(%-1)\n= Add(%-2,%-1)\nout %3 float[2]")
    assert _absolute_again(relative_node_ids(split)) == split
    # the same layer reads the same at any depth: a chain's lines become one line repeated
    chain = relative_node_ids(to_text(_relu_chain(["c", "b", "a"])))
    assert chain.split("\n").count("= Relu(%-1)") == 3, chain


@pytest.mark.parametrize("space", ["nb201", "fbnet", "ofa_mbv3"])
def test_relative_node_ids_keep_the_graph_and_drop_depth(space):
    s = get_space(space)
    for arch in s.sample(3, np.random.default_rng(1)):
        text = s.to_text(arch)
        rel = relative_node_ids(text)
        assert _absolute_again(rel) == text  # the graph is all there
        assert relative_node_ids(rel) == rel  # a rewritten text passes unchanged
        assert not re.search(r"^\s*%\d+ = ", rel, re.M)  # no line states its own id


# -- token counts ----------------------------------------------------------------------------
def test_simple_tokens_and_text_stats():
    s = "%3 = Conv[k=3x3](%0,w16x3x3x3)"
    toks = simple_tokens(s)
    assert toks == ["%", "3", "=", "Conv", "[", "k", "=", "3", "x", "3", "]", "(", "%", "0",
                    ",", "w", "16", "x", "3", "x", "3", "x", "3", ")"]
    assert text_stats(s) == {"chars": len(s), "tokens": len(toks)}
    assert text_stats("") == {"chars": 0, "tokens": 0}
    assert simple_tokens("  \n\t ") == []
    assert simple_tokens("func Cell_1(%0)\n  return %12") == [
        "func", "Cell_", "1", "(", "%", "0", ")", "return", "%", "12"]
    t = SPACE.to_text(ALL_CONV3)
    assert text_stats(t)["chars"] == len(t)
    assert text_stats(t)["tokens"] == len(simple_tokens(t)) > 100


def _relu_chain(outputs: list[str]) -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", [a], [b]) for a, b in (("x", "a"), ("a", "b"), ("b", "c"))]
    vi = [helper.make_tensor_value_info(o, TensorProto.FLOAT, [2]) for o in outputs]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [2])], vi)
    return helper.make_model(graph)


def test_repeated_chain_is_folded_once_with_dense_ids():
    assert to_text(_relu_chain(["c"])) == "in %0 float[2]\n%1 = Relu*3(%0)\nout %1 float[2]\n"


def test_chain_is_not_folded_over_a_visible_intermediate():
    text = to_text(_relu_chain(["c", "a"]))
    assert "Relu*" in text and "%1 = Relu(%0)" in text and "out %1 float[2]" in text


def test_path_stats_count_paths_not_shape_reads() -> None:
    """A residual block (conv, conv, add of the input) has two paths; a Shape node that
    reads the data feeds a Reshape without adding a path; a graph whose output no input
    reaches is refused by name."""
    from onnx import numpy_helper

    from nas_rlm.search_spaces.onnx_stats import path_stats

    w = numpy_helper.from_array(np.zeros((2, 2, 1, 1), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"]),
             helper.make_node("Conv", ["a", "w"], ["b"]),
             helper.make_node("Add", ["b", "x"], ["c"]),
             helper.make_node("Shape", ["c"], ["s"]),
             helper.make_node("Reshape", ["c", "s"], ["y"])]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 3, 3]) for n in "xy"]
    model = helper.make_model(helper.make_graph(nodes, "res", [io[0]], [io[1]], [w]))
    assert path_stats(model) == {"conv_depth": 2.0, "conv_shallowest": 0.0,
                                 "log10_paths": pytest.approx(np.log10(2))}
    cut = helper.make_model(helper.make_graph(
        [helper.make_node("Constant", [], ["y"], value=numpy_helper.from_array(
            np.zeros((1, 2, 3, 3), np.float32)))], "cut", [io[0]], [io[1]]))
    with pytest.raises(ModelFormatError, match="no path"):
        path_stats(cut)

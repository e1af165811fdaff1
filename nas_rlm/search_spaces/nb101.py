"""NAS-Bench-101: a DAG cell of up to 7 vertices and 9 edges, in a fixed 3-stack skeleton.

An arch is a spec in the nasbench sense: an upper-triangular 0/1 adjacency matrix (row =
source, column = destination; vertex 0 is the input, the last the output) and one op per
vertex (``input``, ``conv3x3-bn-relu``, ``conv1x1-bn-relu``, ``maxpool3x3``, ``output``).

Identity follows the benchmark's own code (google-research/nasbench), so that one arch here
is one row of the benchmark:

* **Pruning** as ``ModelSpec``: vertices not on an input->output path are removed; a spec
  whose input does not reach its output is invalid. The limits (7 vertices, 9 edges) apply
  to the pruned spec, as ``NASBench._check_spec`` does. (Op names are checked on every
  vertex, pruned ones too: a typo is an error, not silently dropped.)
* **Hash** as ``graph_util.hash_module`` (md5 Weisfeiler-Lehman labels): the dataset's key.
* **Canonical arch**: the pruned spec with its interior vertices renumbered to the
  representative that ``generate_graphs.py`` stored for the hash (the smallest adjacency bit
  string, then the smallest labelling, over all vertex orders). Isomorphic specs therefore
  parse to the same arch, and it is exactly the ``module_adjacency``/``module_operations`` of
  the benchmark's record -- which matters because channel counts (and hence params) depend on
  the vertex order.

The canonical string is the spec as compact JSON, the form nasbench's ``ModelSpec(matrix,
ops)`` and NASLib's ``get_spec()`` dict take::

    {"matrix":[[0,1,1],[0,0,1],[0,0,0]],"ops":["input","conv3x3-bn-relu","output"]}

Python-repr dicts (single quotes), ``(matrix, ops)`` pairs and dicts with nasbench's
``module_adjacency``/``module_operations`` keys are accepted too.

The network is ``model_builder.py``'s: a 3x3 conv-BN-ReLU stem of 128 channels, 3 stacks of 3
cells with a 2x2/2 max-pool and doubled channels between stacks, global average pooling and a
10-class dense layer, on 32x32x3 inputs. Inside a cell the output channels are split over the
vertices feeding the output (``compute_vertex_channels``), the input is projected by a 1x1
conv-BN-ReLU into each vertex it feeds, extra channels are sliced off where widths differ,
vertex inputs are summed, the output concatenates its in-vertices and adds the projected input
when the input feeds it. The ONNX graph folds BatchNorm into conv biases, as an inference
export would, and writes the cell once as a model-local function. The body takes its weights
as inputs, so one function usually serves all 9 cells; where the channel split slices
tensors, the slices differ between stack widths and each distinct body is its own function
(``Cell1``..``Cell3``). :meth:`NB101.params` and
:meth:`NB101.flops` count the literal, unfolded network instead (TF-style BN: gamma and beta
trainable, moving statistics not), which reproduces the benchmark's
``trainable_parameters`` exactly.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any, NamedTuple

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import ArchError, ConfigError
from .base import SearchSpace, as_rng, check_vector
from .onnx_builder import (
    FunctionBuilder,
    GraphBuilder,
    Weights,
    float_input,
    make_function,
    make_model,
)

INPUT, OUTPUT = "input", "output"
#: Interior ops in nasbench's ``available_ops`` order: the hash labels and the encoding use it.
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
MAX_VERTICES, MAX_EDGES = 7, 9
N_INTERIOR = MAX_VERTICES - 2
#: (source, destination) of each edge bit in the integer encoding: the upper triangle, by row.
EDGE_SLOTS: tuple[tuple[int, int], ...] = tuple(
    (i, j) for i in range(MAX_VERTICES) for j in range(i + 1, MAX_VERTICES)
)
N_VARS = len(EDGE_SLOTS) + N_INTERIOR  # 21 edge bits + 5 interior ops
_OP_LEGEND = ", ".join(f"{k}={o}" for k, o in enumerate(OPS))
#: Each encoding entry, as the out-of-range message names it.
_VAR_NAMES = (*(f"edge bit {i}->{j}" for i, j in EDGE_SLOTS),
              *(f"op of vertex {v}: {_OP_LEGEND}" for v in range(1, N_INTERIOR + 1)))
STEM_C, N_STACKS, N_MODULES, N_CLASSES, RESOLUTION = 128, 3, 3, 10, 32
#: Unique cells (up to isomorphism) with <= 7 vertices and <= 9 edges, as published.
N_UNIQUE = 423_624
#: Unique cells with 2, 3, ..., 7 vertices: this module's canonical forms over nasbench's whole
#: enumeration (counted once offline; they add up to the published total).
CELLS_BY_VERTICES = (1, 6, 84, 2_441, 62_010, 359_082)
_MAX_STRING = 10_000

Matrix = tuple[tuple[int, ...], ...]


class NB101Arch(NamedTuple):
    """A canonical (pruned, representative-ordered) NB101 cell."""

    matrix: Matrix
    ops: tuple[str, ...]


# -- the benchmark's graph code -----------------------------------------------------------
def prune(matrix: Matrix, ops: Sequence[str]) -> tuple[Matrix, tuple[str, ...]] | None:
    """nasbench ``ModelSpec._prune``: keep the vertices on an input->output path.

    Returns None where the input does not reach the output (nasbench's invalid spec).
    """
    n = len(matrix)
    fwd, stack = {0}, [0]
    while stack:
        top = stack.pop()
        for v in range(top + 1, n):
            if matrix[top][v] and v not in fwd:
                fwd.add(v)
                stack.append(v)
    bwd, stack = {n - 1}, [n - 1]
    while stack:
        top = stack.pop()
        for v in range(top):
            if matrix[v][top] and v not in bwd:
                bwd.add(v)
                stack.append(v)
    keep = sorted(fwd & bwd)
    if len(keep) < 2:
        return None
    return (tuple(tuple(matrix[i][j] for j in keep) for i in keep),
            tuple(ops[i] for i in keep))


def hash_module(matrix: Sequence[Sequence[int]], labeling: Sequence[int]) -> str:
    """nasbench ``graph_util.hash_module``: an isomorphism-invariant md5 of a labelled DAG."""
    m = np.asarray(matrix)
    n = m.shape[0]
    in_edges = np.sum(m, axis=0).tolist()
    out_edges = np.sum(m, axis=1).tolist()
    hashes = [hashlib.md5(str(h).encode("utf-8")).hexdigest()
              for h in zip(out_edges, in_edges, labeling, strict=True)]
    for _ in range(n):
        hashes = [
            hashlib.md5(
                ("".join(sorted(hashes[w] for w in range(n) if m[w, v])) + "|"
                 + "".join(sorted(hashes[w] for w in range(n) if m[v, w])) + "|"
                 + hashes[v]).encode("utf-8")
            ).hexdigest()
            for v in range(n)
        ]
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


def compute_vertex_channels(c_in: int, c_out: int, matrix: Matrix) -> list[int]:
    """nasbench ``model_builder.compute_vertex_channels`` (on a pruned matrix)."""
    n = len(matrix)
    ch = [0] * n
    ch[0], ch[n - 1] = c_in, c_out
    if n == 2:
        return ch
    fan_in = sum(matrix[v][n - 1] for v in range(1, n - 1))
    interior, correction = divmod(c_out, fan_in)
    for v in range(1, n - 1):
        if matrix[v][n - 1]:
            ch[v] = interior
            if correction:
                ch[v] += 1
                correction -= 1
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v][dst]:
                    ch[v] = max(ch[v], ch[dst])
    return ch


@lru_cache(maxsize=1 << 16)
def _orbit(matrix: Matrix, ops: tuple[str, ...]) -> tuple[NB101Arch, int]:
    """The representative of a pruned spec, and how many (matrix, labels) forms it has.

    ``generate_graphs.py`` enumerates adjacency bit strings upwards (edge (x, y) is bit
    ``y(y-1)/2 + x``) and, per matrix, labellings in ``itertools.product`` order, and keeps
    the first spec of each hash; so the representative minimises (bits, labels) over every
    topological order of the interior vertices. The number of distinct forms is the number
    of (matrix, labelling) pairs of that enumeration which show this same cell.
    """
    n = len(matrix)
    interior = range(1, n - 1)
    preds = {v: {u for u in interior if matrix[u][v]} for v in interior}
    edges = [(u, v) for u in range(n) for v in range(u + 1, n) if matrix[u][v]]
    labels = {v: OPS.index(ops[v]) for v in interior}
    forms: dict[tuple, list[int]] = {}

    def visit(order: list[int], placed: set[int]) -> None:
        if len(order) == n - 2:
            pos = {0: 0, n - 1: n - 1, **{v: k + 1 for k, v in enumerate(order)}}
            bits = sum(1 << (pos[v] * (pos[v] - 1) // 2 + pos[u]) for u, v in edges)
            forms.setdefault((bits, tuple(labels[v] for v in order)), list(order))
            return
        for v in interior:
            if v not in placed and preds[v] <= placed:
                order.append(v)
                placed.add(v)
                visit(order, placed)
                placed.discard(v)
                order.pop()

    visit([], set())
    perm = [0, *forms[min(forms)], n - 1]  # new vertex k is old vertex perm[k]
    arch = NB101Arch(
        tuple(tuple(matrix[perm[i]][perm[j]] for j in range(n)) for i in range(n)),
        tuple(ops[p] for p in perm),
    )
    return arch, len(forms)


@lru_cache(maxsize=1 << 16)
def _canonical(matrix: Matrix, ops: tuple[str, ...]) -> NB101Arch:
    """Validate, prune and reorder one spec (raw entries already checked to be 0/1)."""
    n = len(matrix)
    for i in range(n):
        for j in range(i + 1):
            if matrix[i][j]:
                raise ArchError(
                    f"NB101 matrix must be strictly upper triangular (edges go from a lower to "
                    f"a higher vertex): entry [{i}][{j}] is set"
                )
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ArchError(
            f"NB101 ops must start with {INPUT!r} and end with {OUTPUT!r}, got {list(ops)}"
        )
    for v, op in enumerate(ops[1:-1], start=1):
        if op not in OPS:
            raise ArchError(
                f"unknown op {op!r} at vertex {v}; valid interior ops: {', '.join(OPS)}"
            )
    pruned = prune(matrix, ops)
    if pruned is None:
        raise ArchError(
            f"NB101 cell is disconnected: no path from the input (vertex 0) to the output "
            f"(vertex {n - 1})"
        )
    pm, pops = pruned
    if len(pm) > MAX_VERTICES:
        raise ArchError(
            f"NB101 cells have at most {MAX_VERTICES} vertices on input->output paths, "
            f"this one has {len(pm)}"
        )
    n_edges = sum(map(sum, pm))
    if n_edges > MAX_EDGES:
        raise ArchError(
            f"NB101 cells have at most {MAX_EDGES} edges, this one has {n_edges} "
            f"(counted after removing vertices not on an input->output path)"
        )
    return _orbit(pm, pops)[0]


def make_arch(matrix: Any, ops: Any) -> NB101Arch:
    """Check the shapes and entries of a raw (matrix, ops) spec, then canonicalise it."""
    try:
        m = np.asarray(matrix)
    except (TypeError, ValueError) as e:
        raise ArchError(f"NB101 matrix must be square (V x V) with 0/1 entries: {matrix!r}") from e
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ArchError(f"NB101 matrix must be square (V x V), got shape {m.shape}")
    if m.shape[0] < 2:
        raise ArchError(f"NB101 matrix needs at least the input and output vertex, got {m.shape}")
    if m.dtype.kind not in "biuf" or not np.all((m == 0) | (m == 1)):
        raise ArchError(f"NB101 matrix entries must be 0 or 1, got {m.tolist()}")
    if isinstance(ops, str) or not isinstance(ops, Sequence | np.ndarray):
        raise ArchError(f"NB101 ops must be a list of op names, got {ops!r}")
    ops_t = tuple(ops)
    if not all(isinstance(o, str) for o in ops_t):
        raise ArchError(f"NB101 ops must be op names (str), got {list(ops_t)}")
    if len(ops_t) != m.shape[0]:
        raise ArchError(
            f"NB101 ops list has {len(ops_t)} entries but the matrix is "
            f"{m.shape[0]}x{m.shape[0]}: one op per vertex"
        )
    key = tuple(tuple(int(x) for x in row) for row in m.tolist())
    return _canonical(key, tuple(str(o) for o in ops_t))


def parse_arch_string(text: str) -> NB101Arch:
    """Parse the JSON spec (or a Python-repr dict / ``[matrix, ops]`` pair)."""
    if not isinstance(text, str):
        raise ArchError(f"NB101 arch string must be a str, got {type(text).__name__}")
    s = text.strip()
    hint = ('NB101 arch string must be a spec like '
            '{"matrix":[[0,1],[0,0]],"ops":["input","output"]}')
    if len(s) > _MAX_STRING:
        raise ArchError(f"{hint}; got {len(s)} characters")
    try:
        value = json.loads(s)
    except ValueError:
        try:
            value = ast.literal_eval(s)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
            raise ArchError(f"{hint}: {text!r}") from e
    if isinstance(value, dict):
        return _from_dict(value)
    if isinstance(value, list | tuple) and len(value) == 2:
        return make_arch(*value)
    raise ArchError(f"{hint}: {text!r}")


def _from_dict(d: dict) -> NB101Arch:
    for mk, ok in (("matrix", "ops"), ("module_adjacency", "module_operations")):
        if mk in d and ok in d:
            return make_arch(d[mk], d[ok])
    raise ArchError(
        "NB101 spec dict needs keys 'matrix' and 'ops' (or 'module_adjacency' and "
        f"'module_operations'), got {sorted(map(str, d))}"
    )


def arch_to_string(arch: NB101Arch) -> str:
    return json.dumps({"matrix": [list(r) for r in arch.matrix], "ops": list(arch.ops)},
                      separators=(",", ":"))


def _is_pair(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2 and not np.isscalar(value[0])


class NB101(SearchSpace):
    """The NAS-Bench-101 search space (423,624 unique cells)."""

    name = "nb101"
    ops = OPS

    # -- identity ------------------------------------------------------------------------
    def parse(self, arch: Any) -> NB101Arch:
        if isinstance(arch, str):
            return parse_arch_string(arch)
        if isinstance(arch, dict):
            return _from_dict(arch)
        if _is_pair(arch):
            return make_arch(*arch)
        return self.decode(arch)

    def to_string(self, arch: Any) -> str:
        return arch_to_string(self.parse(arch))

    def hash_spec(self, arch: Any) -> str:
        """The benchmark's module hash (``ModelSpec.hash_spec``): the key of its tables."""
        a = self.parse(arch)
        labels = [-1] + [OPS.index(o) for o in a.ops[1:-1]] + [-2]
        return hash_module(a.matrix, labels)

    # -- encoding ------------------------------------------------------------------------
    def encode(self, arch: Any) -> np.ndarray:
        """21 edge bits of a 7-vertex matrix, then the ops of vertices 1..5 (0..2, OPS order).

        A cell with fewer vertices keeps its interior vertices first and its output at 6;
        the unused vertices get no edges (and op 0), so they are pruned again on decode.
        """
        a = self.parse(arch)
        n = len(a.ops)
        pos = [*range(n - 1), MAX_VERTICES - 1]
        full = np.zeros((MAX_VERTICES, MAX_VERTICES), np.int64)
        for i in range(n):
            for j in range(i + 1, n):
                full[pos[i], pos[j]] = a.matrix[i][j]
        ops = [OPS.index(o) for o in a.ops[1:-1]] + [0] * (MAX_VERTICES - n)
        return np.array([full[i, j] for i, j in EDGE_SLOTS] + ops, dtype=np.int64)

    def decode(self, vector: Sequence[int] | np.ndarray) -> NB101Arch:
        """Integer vector -> canonical arch; raises ArchError for invalid cells too
        (disconnected, or more than 9 edges after pruning)."""
        ints = check_vector(vector, self.bounds[1], "NB101", names=_VAR_NAMES)
        full = [[0] * MAX_VERTICES for _ in range(MAX_VERTICES)]
        for (i, j), bit in zip(EDGE_SLOTS, ints[: len(EDGE_SLOTS)].tolist(), strict=True):
            full[i][j] = bit
        ops = (INPUT, *(OPS[k] for k in ints[len(EDGE_SLOTS):].tolist()), OUTPUT)
        try:
            return _canonical(tuple(map(tuple, full)), ops)
        except ArchError as e:
            raise ArchError(f"NB101 vector {ints.tolist()} is not a valid cell: {e}") from None

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo = np.zeros(N_VARS, np.int64)
        hi = np.array([1] * len(EDGE_SLOTS) + [len(OPS) - 1] * N_INTERIOR, np.int64)
        return lo, hi

    # -- sampling ------------------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator | int | None = None, *,
               method: str = "unique") -> list[NB101Arch]:
        """``n`` valid cells by rejection sampling.

        ``"unique"`` (default) is uniform over the 423,624 unique cells, as drawing rows of
        the benchmark table: a (matrix, labelling) pair of nasbench's enumeration is drawn
        uniformly and kept with probability 1/(number of pairs showing the same cell).
        ``"spec"`` is nasbench/NASLib's ``random_spec``: uniform edge bits and ops of a
        7-vertex spec, redrawn until valid; it favours small pruned cells (about 10% of its
        draws are the input->output-only cell).
        """
        rng = as_rng(rng)
        if method == "unique":
            return [_sample_unique(rng) for _ in range(n)]
        if method != "spec":
            raise ConfigError(f"method must be 'unique' or 'spec', got {method!r}")
        out: list[NB101Arch] = []
        while len(out) < n:
            bits = rng.integers(0, 2, size=(4 * (n - len(out)) + 8, len(EDGE_SLOTS)))
            ops = rng.integers(0, len(OPS), size=(len(bits), N_INTERIOR))
            for b, o in zip(bits, ops, strict=True):
                try:
                    out.append(self.decode(np.concatenate([b, o])))
                except ArchError:
                    continue
                if len(out) == n:
                    break
        return out

    def mutate(self, arch: Any, rng: np.random.Generator | int | None = None) -> NB101Arch:
        """A different valid cell one encoding decision away (one edge bit or one op).

        Only where no single change gives a different valid cell (the input->output-only
        cell) are two decisions changed.
        """
        rng = as_rng(rng)
        a = self.parse(arch)
        v = self.encode(a)
        lo, hi = self.bounds
        moves = [(i, x) for i in range(N_VARS) for x in range(lo[i], hi[i] + 1) if x != v[i]]
        for k in rng.permutation(len(moves)):
            b = self._try(v, [moves[k]])
            if b is not None and b != a:
                return b
        pairs = [(p, q) for p, q in itertools.combinations(moves, 2) if p[0] != q[0]]
        for k in rng.permutation(len(pairs)):
            b = self._try(v, list(pairs[k]))
            if b is not None and b != a:
                return b
        raise ArchError(f"NB101 cell has no valid neighbour: {arch_to_string(a)}")

    def _try(self, v: np.ndarray, changes: list[tuple[int, int]]) -> NB101Arch | None:
        w = v.copy()
        for i, x in changes:
            w[i] = x
        try:
            return self.decode(w)
        except ArchError:
            return None

    def size(self) -> int:
        """The published count of unique cells (nasbench ``generate_graphs.py``)."""
        return N_UNIQUE

    # -- network -------------------------------------------------------------------------
    def to_onnx(
        self, arch: Any, weights: Weights = "random", seed: int = 0, *, optimized: bool = True
    ) -> onnx.ModelProto:
        """The NB101 network. ``optimized=False`` gives the literal published network instead
        (BatchNorm unfolded, cells inlined), used for params/FLOPs."""
        return build_network(self.parse(arch), weights, seed, optimized)


# -- uniform sampling over unique cells -------------------------------------------------
@cache
def full_dags(n: int) -> np.ndarray:
    """Bit strings of the ``n``-vertex matrices nasbench enumerated: every vertex on an
    input->output path (``graph_util.is_full_dag``) and at most 9 edges."""
    e = n * (n - 1) // 2
    bits = np.arange(1 << e, dtype=np.int64)
    ok = np.ones(len(bits), bool)
    for x in range(n - 1):  # every vertex but the output has an out-edge
        ok &= (bits & sum(1 << (x + y * (y - 1) // 2) for y in range(x + 1, n))) != 0
    for y in range(1, n):  # every vertex but the input has an in-edge
        ok &= (bits & sum(1 << (x + y * (y - 1) // 2) for x in range(y))) != 0
    ok &= sum((bits >> i) & 1 for i in range(e)) <= MAX_EDGES
    return bits[ok]


@cache
def _size_weights() -> np.ndarray:
    """P(vertex count) of a uniformly drawn (matrix, labelling) pair."""
    w = np.array([len(full_dags(v)) * len(OPS) ** (v - 2)
                  for v in range(2, MAX_VERTICES + 1)], float)
    return w / w.sum()


def _sample_unique(rng: np.random.Generator) -> NB101Arch:
    while True:
        n = 2 + int(rng.choice(MAX_VERTICES - 1, p=_size_weights()))
        dags = full_dags(n)
        bits = int(dags[rng.integers(len(dags))])
        matrix = tuple(tuple(int(j > i and (bits >> (i + j * (j - 1) // 2)) & 1)
                             for j in range(n)) for i in range(n))
        ops = (INPUT, *(OPS[k] for k in rng.integers(0, len(OPS), size=n - 2)), OUTPUT)
        arch, forms = _orbit(matrix, ops)
        if rng.random() * forms < 1:
            return arch


# -- the network builder ----------------------------------------------------------------
def _conv_bn_relu(b: GraphBuilder, x: str, c_in: int, c_out: int, k: int, fold: bool) -> str:
    """nasbench ``conv_bn_relu`` (no conv bias); folded into one biased Conv when optimised."""
    y = b.conv(x, c_in, c_out, k, bias=fold)
    if not fold:
        y = b.batchnorm(y, c_out)
    return b.op("Relu", [y])


def _int_const(b: GraphBuilder, value: int, cache: dict[int, str]) -> str:
    """A 1-element int64 Constant (Slice's starts/ends/axes), one per value per cell."""
    if value not in cache:
        out = b.name("c")
        b.nodes.append(helper.make_node(
            "Constant", [], [out], value=helper.make_tensor("v", TensorProto.INT64, [1], [value])
        ))
        cache[value] = out
    return cache[value]


def _emit_cell(b: GraphBuilder, x: str, arch: NB101Arch, c_in: int, c_out: int,
               fold: bool) -> str:
    """nasbench ``build_module``: write one cell into ``b`` and return its output tensor."""
    m, ops = arch.matrix, arch.ops
    n = len(ops)
    ch = compute_vertex_channels(c_in, c_out, m)
    consts: dict[int, str] = {}
    slices: dict[tuple[str, int], str] = {}
    tensors = [x]
    concat: list[str] = []
    for t in range(1, n - 1):
        add_in = []
        for src in range(1, t):
            if not m[src][t]:
                continue
            y = tensors[src]
            if ch[src] > ch[t]:  # truncate: keep the first ch[t] channels (once per width)
                if (y, ch[t]) not in slices:
                    slices[y, ch[t]] = b.op("Slice", [
                        y, _int_const(b, 0, consts), _int_const(b, ch[t], consts),
                        _int_const(b, 1, consts)])
                y = slices[y, ch[t]]
            add_in.append(y)
        if m[0][t]:
            add_in.append(_conv_bn_relu(b, x, c_in, ch[t], 1, fold))
        y = add_in[0] if len(add_in) == 1 else b.op("Sum", add_in)
        if ops[t] == "maxpool3x3":
            y = b.op("MaxPool", [y], kernel_shape=[3, 3], pads=[1] * 4)
        else:
            y = _conv_bn_relu(b, y, ch[t], ch[t], 3 if ops[t] == "conv3x3-bn-relu" else 1, fold)
        tensors.append(y)
        if m[t][n - 1]:
            concat.append(y)
    if not concat:  # input -> output only
        return _conv_bn_relu(b, x, c_in, c_out, 1, fold)
    out = concat[0] if len(concat) == 1 else b.op("Concat", concat, axis=1)
    if m[0][n - 1]:
        out = b.op("Add", [out, _conv_bn_relu(b, x, c_in, c_out, 1, fold)])
    return out


def _module_widths() -> list[tuple[int, int]]:
    """(input channels, output channels) of the 9 cells in order."""
    widths, c = [], STEM_C
    for stack in range(N_STACKS):
        c_in = c
        if stack:
            c *= 2
        for _ in range(N_MODULES):
            widths.append((c_in, c))
            c_in = c
    return widths


def build_network(arch: NB101Arch, weights: Weights, seed: int,
                  optimized: bool) -> onnx.ModelProto:
    b = GraphBuilder(weights, seed)
    x = _conv_bn_relu(b, "input", 3, STEM_C, 3, fold=optimized)
    functions: dict[tuple, onnx.FunctionProto] = {}
    bodies = []
    if optimized:  # one body per distinct node list; weights are formal inputs
        for c_in, c_out in _module_widths():
            fb = FunctionBuilder()
            out = _emit_cell(fb, "x", arch, c_in, c_out, fold=True)
            key = (tuple(n.SerializeToString() for n in fb.nodes), out)
            bodies.append((key, fb, out))
        names = {k: None for k, _, _ in bodies}
        single = len(names) == 1
        for i, k in enumerate(names):
            names[k] = "Cell" if single else f"Cell{i + 1}"
        for key, fb, out in bodies:
            if key not in functions:
                functions[key] = make_function(
                    names[key], fb, ["x"] + [p[0] for p in fb.params], [out])
    c = STEM_C
    for i, (c_in, c) in enumerate(_module_widths()):
        if i and i % N_MODULES == 0:  # downsample between stacks
            x = b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
        if optimized:
            key, fb, _ = bodies[i]
            args = [b.weight(shape, kind) for _, shape, kind in fb.params]
            x = b.op(functions[key].name, [x, *args], domain="nas_rlm")
        else:
            x = _emit_cell(b, x, arch, c_in, c, fold=False)
    b.classifier(b.op("GlobalAveragePool", [x]), c, N_CLASSES)
    return make_model(
        "nb101", b,
        [float_input("input", ["N", 3, RESOLUTION, RESOLUTION])],
        [float_input("logits", ["N", N_CLASSES])],
        list(functions.values()),
    )

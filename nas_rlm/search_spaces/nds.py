"""NDS cell search spaces: Amoeba, DARTS, ENAS, NASNet and PNAS, as DARTS-style genotypes.

*On Network Design Spaces for Visual Recognition* (Radosavovic et al., ICCV 2019,
facebookresearch/nds) samples and trains cell networks from five NAS design spaces with one
model code, pycls ``pycls/models/nas/nas.py`` (a port of the DARTS ``NetworkCIFAR``; the copy
read here is facebookresearch/unnas ``pycls/models/nas/{nas,operations,genotypes}.py``,
commit 2277ab75). A cell is a DARTS ``Genotype``: every node takes two earlier states (the
two cell inputs are states 0 and 1), applies one op to each and **adds** the results; the
cell output concatenates some nodes. The spaces differ only in their op set, node count and
output rule:

======  =====================  ==============  ====================================
space   ops (pycls list)       nodes per cell  cell output (concatenated)
======  =====================  ==============  ====================================
Amoeba  ``AMOEBA_OPS`` (8)     5               loose ends (nodes no node reads)
DARTS   ``DARTS_OPS`` (8)      4               all nodes
ENAS    ``ENAS_OPS`` (5)       5               loose ends
NASNet  ``NASNET_OPS`` (13)    5               loose ends
PNAS    ``PNAS_OPS`` (8)       5               all nodes
======  =====================  ==============  ====================================

Op lists and their order (the integer encoding's op index) are pycls ``genotypes.py``; node
counts and output rules are NNI's NDS port (microsoft/nni
``nni/retiarii/hub/pytorch/nasnet.py``, classes ``NASNet``/``ENAS``/``AmoebaNet``/``PNAS``/
``DARTS``, "based on NDS"), which the published genotypes agree with (NASNet-A, AmoebaNet-A
and ENAS concatenate exactly their loose ends, PNASNet and DARTS all nodes). DARTS keeps
``none`` (a zero op), as pycls ``DARTS_OPS`` and NNI do and as loaders of the NDS data list
it. Normal and reduction cells are chosen independently in every space, as NNI samples them
(PNAS's own search tied the two, and PNASNet's published cells are equal; NDS's sampler
itself was not available to check this).

The network is pycls/DARTS ``NetworkCIFAR`` without its training-only parts (auxiliary head,
drop-path): a 3x3 stem conv to 3C channels + BN, ``depth`` cells with reduction cells (stride
2 on the ops reading the cell inputs, channels doubled) at cells ``depth//3`` and
``2*depth//3``, each cell's two inputs preprocessed by ReLU-Conv1x1-BN (FactorizedReduce for
the older input after a reduction), global average pooling and a linear classifier. Default:
CIFAR-10 (10 classes, 32x32), C=16, 8 cells. NDS also samples width and depth (NNI's NDS
defaults: width in {16, 24, 32}, depth in {4, 8, 12, 16, 20}); here they are constructor
arguments, not part of the arch.

The ONNX graph is written as an inference exporter and optimiser would leave it (like
:mod:`.nb201`): BatchNorm folded into conv biases, one ReLU/pool per tensor where ops share
it, ``skip_connect`` is the tensor itself, ``none`` terms dropped from sums, preprocessing of
an unread cell input removed. The normal and the reduction cell are model-local functions
(``Normal``/``Reduce``) rendered once each; a call's ``C`` attribute sets the depthwise-conv
groups. Consecutive calls cannot fold into ``Cell*k`` because every cell reads two earlier
cells. :meth:`NDSSpace.params` and :meth:`NDSSpace.flops` count the literal pycls network
instead (unfolded, inlined, nothing removed), which matches its ``parameters()`` exactly.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import ArchError
from .base import SearchSpace, as_rng, check_vector
from .onnx_builder import (
    FUNCTION_DOMAIN,
    OPSET,
    FunctionBuilder,
    GraphBuilder,
    Weights,
    float_input,
    make_model,
)

#: Op lists, in pycls ``genotypes.py`` order (= the op index of the integer encoding).
AMOEBA_OPS: tuple[str, ...] = (
    "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "avg_pool_3x3",
    "max_pool_3x3", "dil_sep_conv_3x3", "conv_7x1_1x7",
)
DARTS_OPS: tuple[str, ...] = (
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
    "dil_conv_3x3", "dil_conv_5x5",
)
ENAS_OPS: tuple[str, ...] = (
    "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3",
)
NASNET_OPS: tuple[str, ...] = (
    "skip_connect", "conv_3x1_1x3", "conv_7x1_1x7", "dil_conv_3x3", "avg_pool_3x3",
    "max_pool_3x3", "max_pool_5x5", "max_pool_7x7", "conv_1x1", "conv_3x3", "sep_conv_3x3",
    "sep_conv_5x5", "sep_conv_7x7",
)
PNAS_OPS: tuple[str, ...] = (
    "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "conv_7x1_1x7", "skip_connect",
    "avg_pool_3x3", "max_pool_3x3", "dil_conv_3x3",
)

FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
Pairs = tuple[tuple[str, int], ...]


class Genotype(NamedTuple):
    """A DARTS genotype: per cell, ``(op, input state)`` pairs (two per node) and the concat.

    States 0 and 1 are the cell inputs; node ``k`` (0-based) is state ``k + 2``. The order of
    a node's two pairs is kept as written (it is part of the community string); the network
    and its text do not depend on it, since a node adds its two terms.
    """

    normal: Pairs
    normal_concat: tuple[int, ...]
    reduce: Pairs
    reduce_concat: tuple[int, ...]


# -- the genotype string ----------------------------------------------------------------
def parse_genotype(text: str) -> Genotype:
    """Read ``Genotype(normal=[('op', 0), ...], normal_concat=range(2, 6), ...)`` safely.

    The darts/pycls repos print genotypes as Python expressions; this reads that form with
    :func:`ast.parse` and accepts only literals (lists/tuples of ``('op', int)`` pairs; int
    lists or ``range(a, b)`` for concats), so nothing is evaluated. Only the syntax is checked
    here: op names, input ranges and concat rules are the space's to check.
    """
    if not isinstance(text, str):
        raise ArchError(f"genotype string must be a str, got {type(text).__name__}")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise ArchError(f"not a Genotype(...) expression ({e}): {text[:200]!r}") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name)
            and tree.func.id == "Genotype"):
        raise ArchError(
            f"genotype must look like 'Genotype(normal=[...], ...)': {text[:200]!r}")
    if len(tree.args) > len(FIELDS):
        raise ArchError(f"Genotype takes at most 4 fields, got {len(tree.args)} positional")
    values: dict[str, ast.expr] = dict(zip(FIELDS, tree.args, strict=False))
    for kw in tree.keywords:
        if kw.arg not in FIELDS:
            raise ArchError(f"unknown Genotype field {kw.arg!r}; fields: {', '.join(FIELDS)}")
        if kw.arg in values:
            raise ArchError(f"Genotype field {kw.arg!r} given twice")
        values[kw.arg] = kw.value
    return genotype_from_fields({k: _literal(v, k) for k, v in values.items()})


#: No cell of any NDS space has more (op, input) pairs or concatenated nodes than this; a
#: longer list is refused before anything is built from it.
MAX_LIST = 64


def _short(value: Any) -> str:
    """``repr`` cut to about 200 characters, so an error never echoes a huge input."""
    text = repr(value)
    return text if len(text) <= 200 else f"{text[:200]}... ({len(text):,} characters)"


def _check_size(seq: Any, what: str) -> None:
    """Refuse a sequence longer than any cell's (a huge ``range`` has no ``len`` at all)."""
    try:
        n = len(seq)
    except OverflowError:
        n = MAX_LIST + 1
    if n > MAX_LIST:
        raise ArchError(f"{what} has more than {MAX_LIST} entries; no cell is that large")


def _literal(node: ast.expr, name: str) -> Any:
    """A Python value from literal syntax only (plus ``range`` with int arguments)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        args = [_literal(a, name) for a in node.args]
        if node.keywords or not 1 <= len(args) <= 3 or not all(_is_int(a) for a in args):
            raise ArchError(f"{name}: range() needs 1 to 3 integer arguments")
        if len(args) == 3 and args[2] == 0:
            raise ArchError(f"{name}: range() step must not be zero")
        r = range(*args)
        _check_size(r, f"{name}: {ast.unparse(node)[:200]}")
        return list(r)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        raise ArchError(
            f"{name} must be a literal list, not {ast.unparse(node)[:200]!r}") from None


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def genotype_from_fields(fields: Mapping[str, Any]) -> Genotype:
    """A syntactically valid Genotype from a mapping (e.g. an NDS JSON ``genotype`` dict)."""
    missing = [f for f in FIELDS if f not in fields]
    if missing:
        raise ArchError(f"Genotype is missing field(s) {', '.join(missing)}")
    out: dict[str, tuple] = {}
    for cell in ("normal", "reduce"):
        pairs = fields[cell]
        if isinstance(pairs, (str, bytes)) or not isinstance(pairs, (Sequence, np.ndarray)):
            raise ArchError(f"{cell} must be a list of (op, input) pairs, got {_short(pairs)}")
        if len(pairs) > MAX_LIST:
            raise ArchError(f"{cell} has {len(pairs):,} pairs; no cell has more than {MAX_LIST}")
        checked = []
        for k, pair in enumerate(pairs):
            if (isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence)
                    or len(pair) != 2):
                raise ArchError(f"{cell} entry {k} must be an (op, input) pair, got {_short(pair)}")
            op, idx = pair
            if not isinstance(op, str):
                raise ArchError(f"{cell} entry {k}: op must be a str, got {_short(op)}")
            if not _is_int(idx):
                raise ArchError(
                    f"{cell} entry {k}: input index must be an integer, got {_short(idx)}")
            checked.append((op, int(idx)))
        out[cell] = tuple(checked)
        concat = fields[f"{cell}_concat"]
        if isinstance(concat, (Sequence, np.ndarray)) and not isinstance(concat, (str, bytes)):
            _check_size(concat, f"{cell}_concat {_short(concat)}")
        if (isinstance(concat, (str, bytes)) or not isinstance(concat, (Sequence, np.ndarray))
                or not all(_is_int(c) for c in concat)):
            raise ArchError(f"{cell}_concat must be a list of node indices, got {_short(concat)}")
        concat = list(concat)
        out[f"{cell}_concat"] = tuple(int(c) for c in concat)
    return Genotype(**out)


def genotype_to_string(g: Genotype) -> str:
    """The darts repo's print form, with concats always as lists (one canonical spelling)."""
    return (f"Genotype(normal={list(g.normal)!r}, normal_concat={list(g.normal_concat)!r}, "
            f"reduce={list(g.reduce)!r}, reduce_concat={list(g.reduce_concat)!r})")


def loose_ends(pairs: Pairs) -> tuple[int, ...]:
    """Nodes that no node of the cell reads: NASNet/Amoeba/ENAS concatenate exactly these."""
    n = len(pairs) // 2
    read = {j for _, j in pairs}
    return tuple(k for k in range(2, n + 2) if k not in read)


# -- the spaces ---------------------------------------------------------------------------
class NDSSpace(SearchSpace):
    """One NDS cell space. Subclasses set ``name``, ``ops``, ``n_nodes`` and ``concat_rule``.

    The integer encoding lists, for the normal then the reduction cell, node by node,
    ``input, op`` of the first pair then of the second (4 integers per node); a node ``k``
    input is in ``0..k+1``, so the bounds vary by element. The concats are implied by the
    pairs and the space's output rule, so they are not encoded.
    """

    ops: ClassVar[tuple[str, ...]] = ()
    n_nodes: ClassVar[int] = 0
    concat_rule: ClassVar[Literal["all", "loose"]] = "all"

    def __init__(self, width: int = 16, depth: int = 8, num_classes: int = 10,
                 resolution: int = 32) -> None:
        for arg, v in (("width", width), ("depth", depth), ("num_classes", num_classes),
                       ("resolution", resolution)):
            if not _is_int(v) or v < 1:
                raise ArchError(f"{arg} must be a positive integer, got {_short(v)}")
        self.width, self.depth = int(width), int(depth)
        self.num_classes, self.resolution = int(num_classes), int(resolution)
        hi = []
        for _cell in ("normal", "reduce"):
            for k in range(self.n_nodes):
                hi += [k + 1, len(self.ops) - 1] * 2
        self._hi = np.asarray(hi, dtype=np.int64)
        self._names = tuple(self._describe(i) for i in range(len(hi)))

    # -- identity ------------------------------------------------------------------------
    def parse(self, arch: Any) -> Genotype:
        if isinstance(arch, str):
            g = parse_genotype(arch)
        elif isinstance(arch, Mapping):
            g = genotype_from_fields(arch)
        elif all(hasattr(arch, f) for f in FIELDS):  # ours, or a darts/pycls namedtuple
            g = genotype_from_fields({f: getattr(arch, f) for f in FIELDS})
        else:
            return self.decode(arch)
        self._check(g)
        return g

    def _check(self, g: Genotype) -> None:
        """The space's rules: node count, op set, input ranges, output concat."""
        n = self.n_nodes
        for cell in ("normal", "reduce"):
            pairs: Pairs = getattr(g, cell)
            if len(pairs) % 2:
                raise ArchError(
                    f"{self.name}: {cell} cell has an odd number of (op, input) entries "
                    f"({len(pairs)}); every node takes exactly 2"
                )
            if len(pairs) != 2 * n:
                raise ArchError(
                    f"{self.name}: {cell} cell needs {2 * n} (op, input) entries "
                    f"({n} nodes x 2), got {len(pairs)}"
                )
            for k, (op, j) in enumerate(pairs):
                node = k // 2 + 2
                if op not in self.ops:
                    raise ArchError(
                        f"unknown op {_short(op)} for {self.name} ({cell} node {node}); "
                        f"valid ops: {', '.join(self.ops)}"
                    )
                if not 0 <= j < node:
                    raise ArchError(
                        f"{self.name}: {cell} node {node} input index {j} out of range; "
                        f"node {node} may read states 0..{node - 1}"
                    )
            concat = getattr(g, f"{cell}_concat")
            want = self._concat(pairs)
            if concat != want:
                rule = ("all nodes" if self.concat_rule == "all"
                        else "the loose ends (nodes no node reads)")
                raise ArchError(
                    f"{self.name}: bad {cell}_concat {list(concat)}; this space concatenates "
                    f"{rule}, which for this cell is {list(want)}"
                )

    def _concat(self, pairs: Pairs) -> tuple[int, ...]:
        if self.concat_rule == "all":
            return tuple(range(2, self.n_nodes + 2))
        return loose_ends(pairs)

    def to_string(self, arch: Any) -> str:
        return genotype_to_string(self.parse(arch))

    # -- encoding ------------------------------------------------------------------------
    def encode(self, arch: Any) -> np.ndarray:
        g = self.parse(arch)
        vec = [v for cell in (g.normal, g.reduce) for op, j in cell
               for v in (j, self.ops.index(op))]
        return np.asarray(vec, dtype=np.int64)

    def decode(self, vector: Sequence[int] | np.ndarray) -> Genotype:
        ints = check_vector(vector, self._hi, self.name, names=self._names)
        cells = []
        for c in range(2):
            chunk = ints[c * 4 * self.n_nodes:(c + 1) * 4 * self.n_nodes]
            cells.append(tuple((self.ops[int(chunk[p + 1])], int(chunk[p]))
                               for p in range(0, len(chunk), 2)))
        return Genotype(cells[0], self._concat(cells[0]), cells[1], self._concat(cells[1]))

    def _describe(self, i: int) -> str:
        cell = "normal" if i < 4 * self.n_nodes else "reduce"
        r = i % (4 * self.n_nodes)
        what = "input" if r % 2 == 0 else f"op, 0..{len(self.ops) - 1} = {', '.join(self.ops)}"
        return f"{cell} node {r // 4 + 2} pair {(r % 4) // 2} {what}"

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros_like(self._hi), self._hi.copy()

    # -- sampling ------------------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> list[Genotype]:
        vals = as_rng(rng).integers(0, self._hi + 1, size=(n, len(self._hi)))
        return [self.decode(row) for row in vals]

    def mutate(self, arch: Any, rng: np.random.Generator | int | None = None) -> Genotype:
        rng = as_rng(rng)
        v = self.encode(arch)
        i = int(rng.integers(len(v)))
        v[i] = int(rng.choice([x for x in range(self._hi[i] + 1) if x != v[i]]))
        return self.decode(v)

    def size(self) -> int:
        """Number of genotypes: per cell, node ``k`` picks an ordered (input, op) pair twice
        from ``k + 2`` states and ``len(ops)`` ops, so a cell has prod_k ((k+2)·|ops|)^2
        choices, and the space is that squared (normal x reduction cell). Like the encoding,
        this counts ordered pairs, so most networks are counted twice per node."""
        per_cell = math.prod(((k + 2) * len(self.ops)) ** 2 for k in range(self.n_nodes))
        return per_cell ** 2

    # -- network -------------------------------------------------------------------------
    def to_onnx(
        self, arch: Any, weights: Weights = "random", seed: int = 0, *, optimized: bool = True,
        cell_functions: bool = True,
    ) -> onnx.ModelProto:
        """The network. ``optimized=False`` gives the literal pycls network instead (BN
        unfolded, cells inlined, ``none`` ops and unread preprocessing kept), used for
        params/FLOPs. ``cell_functions=False`` inlines the optimized cells (same weights in
        the same order, so the same function of the input for a given seed)."""
        return build_network(self, self.parse(arch), weights, seed, optimized, cell_functions)


class NDSAmoeba(NDSSpace):
    """NDS Amoeba: 8 ops, 5 nodes, loose ends concatenated."""

    name = "nds_amoeba"
    ops = AMOEBA_OPS
    n_nodes = 5
    concat_rule = "loose"


class NDSDarts(NDSSpace):
    """NDS DARTS: 8 ops (with ``none``), 4 nodes, all nodes concatenated."""

    name = "nds_darts"
    ops = DARTS_OPS
    n_nodes = 4
    concat_rule = "all"


class NDSEnas(NDSSpace):
    """NDS ENAS: 5 ops, 5 nodes, loose ends concatenated."""

    name = "nds_enas"
    ops = ENAS_OPS
    n_nodes = 5
    concat_rule = "loose"


class NDSNasnet(NDSSpace):
    """NDS NASNet: 13 ops, 5 nodes, loose ends concatenated (combination by addition)."""

    name = "nds_nasnet"
    ops = NASNET_OPS
    n_nodes = 5
    concat_rule = "loose"


class NDSPnas(NDSSpace):
    """NDS PNAS: 8 ops, 5 nodes, all nodes concatenated."""

    name = "nds_pnas"
    ops = PNAS_OPS
    n_nodes = 5
    concat_rule = "all"


# -- the network builder ----------------------------------------------------------------
#: Channel placeholders in function bodies: the call site substitutes C and C // 2.
_C, _HALF = 0, -1


@dataclass
class _Emit:
    """Where and how ops are written.

    ``optimized``: BN folded into conv biases, ReLUs and pools of one tensor shared, ``none``
    terms dropped. ``in_function``: channel counts are placeholders and depthwise groups
    refer to the function attribute ``C``.
    """

    b: GraphBuilder
    optimized: bool
    in_function: bool = False
    relu: dict[str, str] = field(default_factory=dict)
    pools: dict[tuple, str] = field(default_factory=dict)
    consts: dict[str, str] = field(default_factory=dict)

    def half(self, c: int) -> int:
        return _HALF if self.in_function else c // 2

    def const(self, key: str, dtype: int, dims: list[int], vals: list) -> str:
        if key not in self.consts:
            self.consts[key] = self.b.op(
                "Constant", [], value=helper.make_tensor("v", dtype, dims, vals))
        return self.consts[key]

    def relu_of(self, x: str) -> str:
        if not self.optimized:
            return self.b.op("Relu", [x])
        if x not in self.relu:
            self.relu[x] = self.b.op("Relu", [x])
        return self.relu[x]

    def pool(self, op_type: str, x: str, k: int, stride: int, **attrs) -> str:
        key = (op_type, x, k, stride)
        if self.optimized and key in self.pools:
            return self.pools[key]
        a = dict(kernel_shape=[k, k], **attrs)
        if k > 1:
            a["pads"] = [k // 2] * 4
        if stride != 1:
            a["strides"] = [stride, stride]
        out = self.b.op(op_type, [x], **a)
        self.pools[key] = out
        return out

    def conv(self, x: str, c_in: int, c_out: int, k: tuple[int, int], stride=(1, 1),
             pad=(0, 0), dilation: int = 1, depthwise: bool = False, bn: bool = True) -> str:
        """Conv (optionally followed by BN: a bias when folded, a BN node when literal)."""
        b = self.b
        inputs = [x, b.weight([c_out, 1 if depthwise else c_in, *k])]
        fold_bn = bn and self.optimized
        if fold_bn:
            inputs.append(b.weight([c_out], "zero"))
        attrs: dict[str, Any] = {"kernel_shape": list(k)}
        if any(pad):
            attrs["pads"] = [pad[0], pad[1], pad[0], pad[1]]
        if tuple(stride) != (1, 1):
            attrs["strides"] = list(stride)
        if dilation != 1:
            attrs["dilations"] = [dilation, dilation]
        out = b.name()
        node = helper.make_node("Conv", inputs, [out], **attrs)
        if depthwise:
            if self.in_function:
                ref = helper.make_attribute_ref("group", onnx.AttributeProto.INT)
                ref.ref_attr_name = "C"
                node.attribute.append(ref)
            else:
                node.attribute.append(helper.make_attribute("group", c_in))
        b.nodes.append(node)
        if bn and not self.optimized:
            out = b.batchnorm(out, c_out)
        return out

    def zero(self, x: str, stride: int) -> str:
        """pycls ``Zero``: ``x[:, :, ::s, ::s] * 0`` (a 1x1 max pool with stride s subsamples)."""
        if stride != 1:
            x = self.b.op("MaxPool", [x], kernel_shape=[1, 1], strides=[stride, stride])
        return self.b.op("Mul", [x, self.const("zero", TensorProto.FLOAT, [], [0.0])])

    def factorized_reduce(self, x: str, c_in: int, c_out: int) -> str:
        """ReLU, two stride-2 1x1 convs (the second on the input shifted by one pixel,
        ``pad(x, (0,1,0,1))[:, :, 1:, 1:]``, a Pad with negative begin pads), concat, BN."""
        r = self.relu_of(x)
        h = self.half(c_out)
        a = self.conv(r, c_in, h, (1, 1), (2, 2), bn=self.optimized)
        pads = self.const("shift", TensorProto.INT64, [8], [0, 0, -1, -1, 0, 0, 1, 1])
        shifted = self.b.op("Pad", [r, pads])
        b2 = self.conv(shifted, c_in, h, (1, 1), (2, 2), bn=self.optimized)
        out = self.b.op("Concat", [a, b2], axis=1)
        if not self.optimized:
            out = self.b.batchnorm(out, c_out)
        return out

    def op(self, name: str, x: str, c: int, stride: int) -> str:
        """One pycls op (``operations.py``) with C channels in and out."""
        if name == "none":
            return self.zero(x, stride)
        if name == "skip_connect":
            return x if stride == 1 else self.factorized_reduce(x, c, c)
        if name in ("conv_3x1_1x3", "conv_7x1_1x7"):  # 1xk then kx1 conv, one BN
            k = int(name[5])
            y = self.conv(self.relu_of(x), c, c, (1, k), (1, stride), (0, k // 2), bn=False)
            return self.conv(y, c, c, (k, 1), (stride, 1), (k // 2, 0))
        kind, _, size = name.rpartition("_")
        k = int(size.split("x")[0])
        s2 = (stride, stride)
        if kind == "avg_pool":
            return self.pool("AveragePool", x, k, stride, count_include_pad=0)
        if kind == "max_pool":
            return self.pool("MaxPool", x, k, stride)
        r = self.relu_of(x)
        if kind == "conv":
            return self.conv(r, c, c, (k, k), s2, (k // 2, k // 2))
        if kind in ("sep_conv", "dil_sep_conv"):
            d = 2 if kind == "dil_sep_conv" else 1
            p = (d * (k - 1) // 2,) * 2
            y = self.conv(r, c, c, (k, k), s2, p, d, depthwise=True, bn=False)
            y = self.conv(y, c, c, (1, 1))
            y = self.conv(self.relu_of(y), c, c, (k, k), (1, 1), p, d, depthwise=True, bn=False)
            return self.conv(y, c, c, (1, 1))
        if kind == "dil_conv":
            y = self.conv(r, c, c, (k, k), s2, (k - 1, k - 1), 2, depthwise=True, bn=False)
            return self.conv(y, c, c, (1, 1))
        raise ArchError(f"op {_short(name)} has no ONNX rendering")  # unreachable for valid archs

    def cell(self, states: dict[int, str], pairs: Pairs, concat: tuple[int, ...],
             reduction: bool, c: int) -> str:
        """A cell body on its preprocessed inputs; returns the concatenated output."""
        states = dict(states)
        for k in range(len(pairs) // 2):
            # a node's two terms are written in a fixed order: the sum does not depend on the
            # order of its pairs, so neither does the graph (nor its text, nor the weights)
            node = sorted(pairs[2 * k:2 * k + 2], key=lambda p: (p[1], p[0]))
            terms = []
            for op, j in node:
                if op == "none" and self.optimized:
                    continue  # adds zeros
                terms.append(self.op(op, states[j], c, 2 if reduction and j < 2 else 1))
            if not terms:  # a zero node: zeros shaped like the cell's nodes, read off state 1
                terms = [self.zero(states[1], 2 if reduction else 1)]
            states[k + 2] = terms[0] if len(terms) == 1 else self.b.op("Add", terms)
        parts = [states[k] for k in concat]
        return parts[0] if len(parts) == 1 else self.b.op("Concat", parts, axis=1)


def _reads(pairs: Pairs, optimized: bool) -> list[int]:
    """Cell inputs (0, 1) the cell body reads; the literal network always computes both."""
    if not optimized:
        return [0, 1]
    read = set()
    for k in range(len(pairs) // 2):
        node = pairs[2 * k:2 * k + 2]
        read.update([j for op, j in node if op != "none"] or [1])  # see _Emit.cell
    return sorted(j for j in read if j < 2)


def _cell_function(name: str, pairs: Pairs, concat: tuple[int, ...], reduction: bool
                   ) -> tuple[onnx.FunctionProto, list[int], list[tuple[str, list[int], str]]]:
    """The cell as a model-local function of its read inputs and its weights."""
    fb = FunctionBuilder()
    e = _Emit(fb, optimized=True, in_function=True)
    reads = _reads(pairs, optimized=True)
    out = e.cell({j: f"s{j}" for j in reads}, pairs, concat, reduction, _C)
    if out.startswith("s"):  # a function output must be produced by a node
        out = fb.op("Identity", [out])
    f = helper.make_function(
        FUNCTION_DOMAIN, name, [f"s{j}" for j in reads] + [p[0] for p in fb.params], [out],
        fb.nodes, opset_imports=[helper.make_opsetid("", OPSET)], attributes=["C"],
    )
    return f, reads, fb.params


def _resolve(shape: list[int], c: int) -> list[int]:
    return [c if d == _C else c // 2 if d == _HALF else d for d in shape]


def build_network(space: NDSSpace, g: Genotype, weights: Weights, seed: int,
                  optimized: bool, cell_functions: bool = True) -> onnx.ModelProto:
    b = GraphBuilder(weights, seed)
    e = _Emit(b, optimized)
    C, L = space.width, space.depth
    stem = e.conv("input", 3, 3 * C, (3, 3), pad=(1, 1))
    reductions = {L // 3, 2 * L // 3}
    functions: dict[bool, tuple] = {}
    s0 = s1 = stem
    c_pp = c_p = 3 * C
    c, reduction_prev = C, False
    for i in range(L):
        reduction = i in reductions
        if reduction:
            c *= 2
        pairs, concat = (g.reduce, g.reduce_concat) if reduction else (g.normal, g.normal_concat)
        pre = {}
        reads = _reads(pairs, optimized)
        if 0 in reads:
            pre[0] = (e.factorized_reduce(s0, c_pp, c) if reduction_prev
                      else e.conv(e.relu_of(s0), c_pp, c, (1, 1)))
        if 1 in reads:
            pre[1] = e.conv(e.relu_of(s1), c_p, c, (1, 1))
        if cell_functions and optimized:
            if reduction not in functions:
                functions[reduction] = _cell_function(
                    "Reduce" if reduction else "Normal", pairs, concat, reduction)
            f, f_reads, f_params = functions[reduction]
            args = [pre[j] for j in f_reads]
            args += [b.weight(_resolve(shape, c), kind) for _, shape, kind in f_params]
            out = b.op(f.name, args, domain=FUNCTION_DOMAIN, C=c)
        else:
            out = e.cell(pre, pairs, concat, reduction, c)
        s0, s1 = s1, out
        c_pp, c_p = c_p, len(concat) * c
        reduction_prev = reduction
    b.classifier(b.op("GlobalAveragePool", [s1]), c_p, space.num_classes)
    return make_model(
        space.name, b,
        [float_input("input", ["N", 3, space.resolution, space.resolution])],
        [float_input("logits", ["N", space.num_classes])],
        [functions[k][0] for k in sorted(functions)],
    )

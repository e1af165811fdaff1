"""Canonical, weight-free text of an ONNX model: what the RLM surrogate reads.

``onnx.printer`` prints every weight, so nas-rlm owns this renderer. The format, one line per
node, looks like::

    func Cell(%0,%1,%2)
      %3 = Relu(%0)
      %4 = Conv[k=3x3 p=1x1x1x1](%3,%1,%2)
      return %4
    in %0 float[N,3,32,32]
    %1 = Conv[k=3x3 p=1x1x1x1](%0,w16x3x3x3,w16)
    %2 = Cell(%1,w16x16x3x3,w16)
    ...
    out %9 float[N,10]

Why it looks like this:

* **Canonical.** Tensors get SSA ids in a topological order chosen by structural hashes
  (a Merkle hash up from the inputs, then one down from the outputs), not by the order the
  nodes were written in. Inputs of commutative ops are sorted. So equivalent graphs give
  byte-identical text, however they were built.
* **Weight-free.** An initializer used once is shown inline as its shape (``w16x3x3x3``);
  one used more than once gets an id on first use, so weight sharing stays visible.
* **Short.** Model-local functions are printed once and called by name; their formal inputs
  are renumbered by first use and every call's arguments are permuted to match. Frequent
  attribute names are abbreviated by the fixed table :data:`ATTR_ABBREV`.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections.abc import Sequence

import onnx
from onnx import AttributeProto, numpy_helper

from ..errors import ModelFormatError

#: Version of the text format. A model trained on one version must not read another, so
#: the RLM records it and refuses a mismatch.
TEXT_FORMAT = 2
#: Attribute names shortened in the text (a fixed, documented, reversible table).
ATTR_ABBREV = {
    "kernel_shape": "k", "strides": "s", "pads": "p", "dilations": "d", "group": "g",
    "count_include_pad": "cip", "epsilon": "eps", "transA": "tA", "transB": "tB",
    "axis": "ax", "keepdims": "kd", "value": "v",
}
#: Ops whose inputs can be reordered without changing the result.
COMMUTATIVE = frozenset({"Add", "Sum", "Mul", "Max", "Min", "Mean", "And", "Or", "Xor", "Equal"})
#: Constant tensors up to this many elements are printed with their values.
MAX_INLINE_VALUES = 8


def _h(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()


def _num(v: float) -> str:
    return f"{float(v):.6g}"


def _tensor_value(t: onnx.TensorProto) -> str:
    arr = numpy_helper.to_array(t)
    if arr.size > MAX_INLINE_VALUES:
        return "t" + "x".join(map(str, arr.shape))
    vals = [_num(v) if arr.dtype.kind == "f" else str(v) for v in arr.ravel().tolist()]
    return ",".join(vals) if arr.ndim else vals[0]


def _attr(a: AttributeProto) -> str:
    name = ATTR_ABBREV.get(a.name, a.name)
    if a.ref_attr_name:  # a function attribute bound at the call site (its type is set too)
        return f"{name}=@{a.ref_attr_name}"
    if a.type == AttributeProto.INT:
        val = str(a.i)
    elif a.type == AttributeProto.FLOAT:
        val = _num(a.f)
    elif a.type == AttributeProto.INTS:
        val = "x".join(map(str, a.ints))
    elif a.type == AttributeProto.FLOATS:
        val = "x".join(_num(f) for f in a.floats)
    elif a.type == AttributeProto.STRING:
        val = a.s.decode()
    elif a.type == AttributeProto.STRINGS:
        val = "x".join(s.decode() for s in a.strings)
    elif a.type == AttributeProto.TENSOR:
        val = _tensor_value(a.t)
    else:
        raise ModelFormatError(f"attribute {a.name!r} of type {a.type} is not supported")
    return f"{name}={val}"


def _node_head(node: onnx.NodeProto) -> str:
    attrs = sorted(_attr(a) for a in node.attribute)
    return node.op_type + (f"[{' '.join(attrs)}]" if attrs else "")


def _shape_str(vi: onnx.ValueInfoProto) -> str:
    tt = vi.type.tensor_type
    dtype = onnx.TensorProto.DataType.Name(tt.elem_type).lower()
    dims = [str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
            for d in tt.shape.dim]
    return f"{dtype}[{','.join(dims)}]"


def _canonical_order(
    nodes: Sequence[onnx.NodeProto], leaves: dict[str, str], outputs: Sequence[str],
    perms: dict[str, list[int]] | None = None,
) -> list[int]:
    """Topological order of ``nodes`` decided by structure only.

    ``leaves`` maps each graph input / initializer / formal parameter to its structural hash.
    ``perms`` gives, per local function, the canonical order of its call arguments: a call is
    hashed with its arguments in that order, since the order they were written in is arbitrary.
    """
    perms = perms or {}
    args = [[n.input[p] for p in perms[n.op_type]] if n.op_type in perms else list(n.input)
            for n in nodes]
    producer: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            producer[o] = i
    heads = [_node_head(n) for n in nodes]

    # Merkle hash from the inputs up; nodes are visited in a dependency-respecting order.
    up: dict[str, str] = dict(leaves)
    node_up = [""] * len(nodes)
    deps = [[producer[x] for x in a if x in producer] for a in args]
    order = _kahn(len(nodes), deps, key=lambda i: i)
    for i in order:
        n = nodes[i]
        try:
            ins = [up[x] if x else "-" for x in args[i]]
        except KeyError as e:
            raise ModelFormatError(f"tensor {e} is used by {n.op_type} but never produced") from e
        if n.op_type in COMMUTATIVE:
            ins.sort()
        node_up[i] = _h(n.domain, heads[i], *ins)
        for k, o in enumerate(n.output):
            up[o] = _h(node_up[i], str(k))

    # Hash down from the outputs, so structurally equal nodes used differently are told apart.
    consumers: dict[str, list[tuple[int, int]]] = {}
    for i, a in enumerate(args):
        for pos, x in enumerate(a):
            consumers.setdefault(x, []).append((i, pos))
    node_down = [""] * len(nodes)
    for i in reversed(order):
        uses = []
        for o_idx, o in enumerate(nodes[i].output):
            for c, pos in consumers.get(o, []):
                p = "c" if nodes[c].op_type in COMMUTATIVE else str(pos)
                uses.append(_h(node_up[c], node_down[c], p, str(o_idx)))
            if o in outputs:
                uses.append(_h("out", str(outputs.index(o)), str(o_idx)))
        node_down[i] = _h(*sorted(uses))
    keys = [node_up[i] + node_down[i] for i in range(len(nodes))]
    return _kahn(len(nodes), deps, key=lambda i: keys[i])


def _kahn(n: int, deps: list[list[int]], key) -> list[int]:
    indeg = [len(set(d)) for d in deps]
    users: list[list[int]] = [[] for _ in range(n)]
    for i, d in enumerate(deps):
        for j in set(d):
            users[j].append(i)
    heap = [(key(i), i) for i in range(n) if indeg[i] == 0]
    heapq.heapify(heap)
    out = []
    while heap:
        _, i = heapq.heappop(heap)
        out.append(i)
        for u in users[i]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, (key(u), u))
    if len(out) != n:
        raise ModelFormatError("the graph has a cycle")
    return out


class _Printer:
    """Renders one graph or function body with its own SSA numbering."""

    def __init__(self, functions: dict[str, tuple[list[int], str]]) -> None:
        self.functions = functions  # name -> (argument permutation, rendered body)
        self.ids: dict[str, str] = {}
        # one entry per line: [output ids, head, rendered args or None, repeat count]
        self.entries: list[list] = []

    def new_id(self, name: str) -> str:
        self.ids[name] = f"%{len(self.ids)}"
        return self.ids[name]

    def declare(self, name: str, text: str) -> None:
        """A line that binds an id to a value (a shared weight's shape)."""
        self.entries.append([self.new_id(name), text, None, 1])

    def render_nodes(self, nodes: Sequence[onnx.NodeProto], order: list[int],
                     inline: dict[str, str]) -> None:
        for i in order:
            n = nodes[i]
            args = list(n.input)
            if n.op_type in self.functions:
                perm = self.functions[n.op_type][0]
                args = [args[p] for p in perm]
            rendered = []
            for x in args:
                if x == "":
                    rendered.append("_")
                elif x in self.ids:
                    rendered.append(self.ids[x])
                elif x in inline:  # a weight used once: its shape stands in for it
                    rendered.append(inline[x])
                else:
                    raise ModelFormatError(f"tensor {x!r} is read by {n.op_type} before it exists")
            if n.op_type in COMMUTATIVE:
                rendered.sort(key=_sort_key)
            outs = ",".join(self.new_id(o) for o in n.output)
            self.entries.append([outs, _node_head(n), rendered, 1])

    def lines(self, outputs: Sequence[str], indent: str = "",
              tail: int | None = None) -> list[str | None]:
        """The rendered lines, with repeated chains folded and ids renumbered densely; with
        ``tail``, ``None`` marks where the entries from index ``tail`` on begin.

        ``%7 = Cell*5(%2,w16x16x3x3,w16)`` stands for five calls in a row, each feeding the
        next and each with its own weights of the listed shapes: the text states it once, as
        a model-local function states a repeated block once.
        """
        uses: dict[str, int] = {self.ids[o]: 1 for o in outputs if o in self.ids}
        for _, _, args, _ in self.entries:
            for a in args or ():
                uses[a] = uses.get(a, 0) + 1
        folded: list[list] = []
        for k, (outs, head, args, _) in enumerate(self.entries):
            if k == tail:
                folded.append(None)
            last = folded[-1] if folded else None
            if (last and args and last[2] and head == last[1]
                    and "," not in last[0] and args[0] == last[0] and uses[last[0]] == 1
                    and args[1:] == last[2][1:]):
                last[0] = outs
                last[3] += 1
            else:
                folded.append([outs, head, args, 1])
        renumber: dict[str, str] = {}
        for token in self.ids.values():  # formal inputs and graph inputs keep first ids
            if not any(token in e[0].split(",") for e in self.entries):
                renumber[token] = f"%{len(renumber)}"
        for entry in folded:
            for token in entry[0].split(",") if entry else ():
                renumber[token] = f"%{len(renumber)}"

        def sub(text: str) -> str:
            return re.sub(r"%\d+", lambda m: renumber.get(m.group(0), m.group(0)), text)

        out = []
        for entry in folded:
            if entry is None:
                out.append(None)
                continue
            outs, head, args, count = entry
            rep = f"*{count}" if count > 1 else ""
            rhs = head if args is None else f"{head}{rep}({','.join(args)})"
            out.append(sub(f"{indent}{outs} = {rhs}"))
        self.ids = {k: renumber.get(v, v) for k, v in self.ids.items()}
        return out


def _sort_key(token: str) -> tuple[int, str]:
    m = re.fullmatch(r"%(\d+)", token)
    return (int(m.group(1)), "") if m else (1 << 30, token)


def _weights(names: Sequence[str], shapes: dict[str, str], nodes: Sequence[onnx.NodeProto],
             leaves: dict[str, str]) -> dict[str, str]:
    """Inline text of single-use weights; shared ones get an id when first used."""
    uses: dict[str, int] = {}
    for n in nodes:
        for x in n.input:
            uses[x] = uses.get(x, 0) + 1
    inline = {}
    for name in names:
        leaves[name] = _h("w", shapes[name])
        if uses.get(name, 0) == 1:
            inline[name] = shapes[name]
    return inline


def _live(nodes: Sequence[onnx.NodeProto], outputs: Sequence[str]) -> list[bool]:
    """Per node, whether any of its outputs reaches ``outputs``."""
    producer = {o: i for i, n in enumerate(nodes) for o in n.output}
    live = [False] * len(nodes)
    stack = [producer[o] for o in outputs if o in producer]
    while stack:
        i = stack.pop()
        if not live[i]:
            live[i] = True
            stack += [producer[x] for x in nodes[i].input if x in producer]
    return live


def _render_function(f: onnx.FunctionProto, functions) -> tuple[list[int], str]:
    """A function body: the nodes that reach its outputs, ``return``, then the dead ones.

    Dead nodes (computed, never read: the unpruned NB201 cell keeps them, as the benchmark's
    devices ran them) follow the ``return`` like unreachable code, and the live part is
    ordered as if they were absent, so the live computation reads the same either way.
    """
    leaves = {x: _h("param") for x in f.input}
    nodes = list(f.node)
    perms = {name: perm for name, (perm, _) in functions.items()}
    live = _live(nodes, list(f.output))
    live_idx = [i for i in range(len(nodes)) if live[i]]
    order = [live_idx[k] for k in _canonical_order([nodes[i] for i in live_idx], leaves,
                                                   list(f.output), perms)]
    n_live = len(order)
    if n_live < len(nodes):
        order += [i for i in _canonical_order(nodes, leaves, list(f.output), perms)
                  if not live[i]]
    # Formals are numbered by first use in canonical order; unused ones keep their place last.
    first_use: list[int] = []
    pos = {x: k for k, x in enumerate(f.input)}
    for i in order:
        for x in nodes[i].input:
            if x in pos and pos[x] not in first_use:
                first_use.append(pos[x])
    perm = first_use + [k for k in range(len(f.input)) if k not in first_use]
    p = _Printer(functions)
    for k in perm:
        p.new_id(f.input[k])
    header = f"func {f.name}({','.join(p.ids[f.input[k]] for k in perm)})"
    p.render_nodes(nodes, order, {})
    body = p.lines(f.output, indent="  ", tail=n_live if n_live < len(nodes) else None)
    ret = f"  return {','.join(p.ids[o] for o in f.output)}"
    body = [ret if line is None else line for line in body]
    if ret not in body:
        body.append(ret)
    return perm, "\n".join([header, *body])


def to_text(model: onnx.ModelProto) -> str:
    """Canonical text of ``model``: same graph, same bytes; weights appear only as shapes."""
    if not isinstance(model, onnx.ModelProto):
        raise ModelFormatError(f"expected an onnx.ModelProto, got {type(model).__name__}")
    g = model.graph
    functions: dict[str, tuple[list[int], str]] = {}
    for f in sorted(model.functions, key=lambda f: f.name):
        functions[f.name] = _render_function(f, functions)

    init_names = [t.name for t in g.initializer]
    shapes = {t.name: "w" + "x".join(map(str, t.dims)) for t in g.initializer}
    graph_inputs = [vi for vi in g.input if vi.name not in shapes]
    leaves = {vi.name: _h("in", str(k), _shape_str(vi)) for k, vi in enumerate(graph_inputs)}
    p = _Printer(functions)
    nodes = list(g.node)
    inline = _weights(init_names, shapes, nodes, leaves)
    perms = {name: perm for name, (perm, _) in functions.items()}
    order = _canonical_order(nodes, leaves, [o.name for o in g.output], perms)

    lines = [body for _, body in functions.values()]
    for vi in graph_inputs:
        lines.append(f"in {p.new_id(vi.name)} {_shape_str(vi)}")
    shared = [n for n in init_names if n not in inline]
    first = {}
    for i in order:
        for x in nodes[i].input:
            if x in shared and x not in first:
                first[x] = i
    for i in order:
        for x, at in first.items():
            if at == i:
                p.declare(x, shapes[x])
        p.render_nodes(nodes, [i], inline)
    lines += p.lines([o.name for o in g.output])
    for o in g.output:
        if o.name not in p.ids:
            raise ModelFormatError(f"graph output {o.name!r} is never produced")
        lines.append(f"out {p.ids[o.name]} {_shape_str(o)}")
    return "\n".join(lines) + "\n"


_NODE_LINE = re.compile(r"^(\s*)(%\d+(?:,%\d+)*) = (.*)$")


def relative_node_ids(text: str) -> str:
    """``text`` with each node line's own id left out and its inputs named by how many ids
    back they are: ``%16 = Conv[k=1x1](%15,w32x16x1x1)`` reads ``= Conv[k=1x1](%-1,w32x16x1x1)``.

    Why: in the canonical text a layer's line carries its depth in its ids, and the BPE merges
    an input's id into the token of the op that reads it, so one layer kind is a different
    token at each depth. On FBNet a ridge on the token counts ranks pixel3 latency (an exact
    sum of a cost per layer kind) at τ 0.849 on the canonical text and 0.916 on this one
    (``experiments/fbnet_reading``). Ids are dense in line order, so the graph is kept; a line
    with several outputs names them ``%+0,%+1``. A rewritten text passes unchanged.
    """
    out = []
    for line in text.split("\n"):
        m = _NODE_LINE.match(line)
        if m is None:
            out.append(line)
            continue
        outs = m.group(2).split(",")
        first = int(outs[0][1:])
        lhs = "" if len(outs) == 1 else ",".join(f"%+{k}" for k in range(len(outs))) + " "
        rhs = re.sub(r"%(\d+)", lambda r, n=first: f"%-{n - int(r.group(1))}", m.group(3))
        out.append(f"{m.group(1)}{lhs}= {rhs}")
    return "\n".join(out)


def text_stats(text: str) -> dict[str, int]:
    """Length in characters and in tokens of a plain whitespace/punctuation split."""
    return {"chars": len(text), "tokens": len(simple_tokens(text))}


_TOKEN_RE = re.compile(r"[A-Za-z_]+|\d+|[^\sA-Za-z_\d]")


def simple_tokens(text: str) -> list[str]:
    """Words, digit runs and single punctuation marks: a tokenizer-free length measure."""
    return _TOKEN_RE.findall(text)

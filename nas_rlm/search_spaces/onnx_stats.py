"""Parameter and FLOP counts read off an ONNX graph, so every space is counted the same way.

Convention (the one NB201's official ``get_model_infos`` uses): FLOPs are the
multiply-accumulates of Conv, Gemm and MatMul for one input, plus one per output element for
a bias; pooling and element-wise ops are free. Params are initializer elements, except a
BatchNorm's running mean and variance, which are buffers rather than trained weights.
"""

from __future__ import annotations

import math

import onnx
from onnx import inliner, shape_inference

from ..errors import ModelFormatError


def inline_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with its local functions inlined (itself when it has none): every count
    here reads the flat graph. A caller that takes several counts of one graph inlines it
    once and passes the result, and each count's own call is then free."""
    return inliner.inline_local_functions(model) if model.functions else model


def count_params(model: onnx.ModelProto) -> int:
    model = inline_functions(model)
    buffers = {n for node in model.graph.node if node.op_type == "BatchNormalization"
               for n in node.input[3:5]}
    return sum(math.prod(t.dims) for t in model.graph.initializer if t.name not in buffers)


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as e:  # onnx raises several private types here
        raise ModelFormatError(f"shape inference failed: {e}") from e
    g = inferred.graph
    shapes: dict[str, list[int]] = {t.name: list(t.dims) for t in g.initializer}
    for vi in (*g.input, *g.value_info, *g.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else 1 for d in dims]
    return shapes


def count_flops(model: onnx.ModelProto, bias: bool = True) -> float:
    """Multiply-accumulates for a batch of one (symbolic batch dims count as 1).

    ``bias=False`` leaves out the bias adds: OFA's ``profile`` convention (conv and linear
    weights only), which the OFA spaces publish their FLOPs in.
    """
    model = inline_functions(model)
    shapes = _shapes(model)
    total = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        try:
            out = shapes[node.output[0]]
            w = shapes[node.input[1]]
        except KeyError as e:
            raise ModelFormatError(f"no shape for {e} in {node.op_type} node") from e
        out_elems = math.prod(out[1:])
        has_bias = len(node.input) > 2 and node.input[2] != ""
        if node.op_type == "Conv":
            total += out_elems * math.prod(w[1:])
        else:  # Gemm/MatMul: each output element sums over the reduced dimension
            trans_b = any(a.name == "transB" and a.i for a in node.attribute)
            total += out_elems * (w[1] if trans_b else w[0])
        if has_bias and bias:
            total += out_elems
    return float(total)


#: Op counts read off the inlined graph (the pretraining labels ``computed_labels`` uses).
OP_COUNT_NAMES: tuple[str, ...] = ("conv_k1", "conv_k3", "conv_k5", "conv_k7", "pool", "nodes")


def count_ops(model: onnx.ModelProto) -> dict[str, int]:
    """Convolutions by kernel size (1, 3, 5, 7; others are counted under the nearest), pooling
    nodes (average and max, not the global ones) and all nodes of the inlined graph."""
    model = inline_functions(model)
    out = dict.fromkeys(OP_COUNT_NAMES, 0)
    for node in model.graph.node:
        out["nodes"] += 1
        if node.op_type == "Conv":
            ks = next((list(a.ints) for a in node.attribute if a.name == "kernel_shape"), [1])
            k = min((1, 3, 5, 7), key=lambda c: abs(c - max(ks)))
            out[f"conv_k{k}"] += 1
        elif node.op_type in ("AveragePool", "MaxPool"):
            out["pool"] += 1
    return out


#: Path statistics read off the inlined graph (optional pretraining labels, ``path_stats``).
PATH_STAT_NAMES: tuple[str, ...] = ("conv_depth", "conv_shallowest", "log10_paths")
#: Ops whose outputs describe a tensor's shape, not its data: no path runs through them.
_SHAPE_OPS = frozenset({"Shape", "Size"})


def path_stats(model: onnx.ModelProto) -> dict[str, float]:
    """How the graph is wired, beyond what it holds: the most and the fewest convolutions on
    a path from the input to the output, and log10 of the number of such paths (a tensor
    read twice counts twice). Op counts cannot tell a chain from parallel branches; on
    NB201 an oracle that also knows these ranks CIFAR-10 at τ 0.828 instead of 0.801
    (docs/rlm_v2.md, "Two bars"), and DESIGN §1.3 names them as pretraining labels."""
    model = inline_functions(model)
    g = model.graph
    weights = {t.name for t in g.initializer}
    # per data tensor: (most convs, fewest convs, paths) from a graph input
    reach: dict[str, tuple[int, int, int]] = {
        i.name: (0, 0, 1) for i in g.input if i.name not in weights}
    for node in g.node:  # ONNX keeps nodes in topological order
        ins = [reach[n] for n in node.input if n in reach]
        if not ins or node.op_type in _SHAPE_OPS:
            continue
        conv = int(node.op_type == "Conv")
        val = (max(v[0] for v in ins) + conv, min(v[1] for v in ins) + conv,
               sum(v[2] for v in ins))
        for name in node.output:
            if name:
                reach[name] = val
    outs = [reach[o.name] for o in g.output if o.name in reach]
    if not outs:
        raise ModelFormatError("no path runs from a graph input to a graph output")
    return {"conv_depth": float(max(v[0] for v in outs)),
            "conv_shallowest": float(min(v[1] for v in outs)),
            "log10_paths": math.log10(sum(v[2] for v in outs))}


def count_activations(model: onnx.ModelProto) -> float:
    """Elements written by the nodes of the inlined graph for a batch of one: every node
    output, each counted once. Times four it is the float32 activation traffic, the memory
    term that FLOPs miss (depthwise and element-wise ops are cheap in FLOPs, not in bytes)."""
    model = inline_functions(model)
    shapes = _shapes(model)
    total = 0
    for node in model.graph.node:
        for name in node.output:
            if name and name in shapes:
                total += math.prod(shapes[name])
    return float(total)

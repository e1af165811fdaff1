"""A small helper for writing ONNX graphs by hand, shared by the search-space adapters.

Adapters build their networks node by node instead of exporting a PyTorch model: that is
fast (thousands of archs per minute), deterministic, and needs no framework at run time.

Weights come in three modes because the graph is used three ways:
``"random"`` for a runnable model (latency measurement, onnxruntime checks), ``"zeros"``
for a cheap runnable model, and ``"none"`` for a weight-free *skeleton* whose initializers
carry only name, type and shape -- enough for the text renderer and the param/FLOP
counters, and much faster to build. A skeleton is not a loadable model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import ConfigError

Weights = Literal["random", "zeros", "none"]
WEIGHT_MODES: tuple[str, ...] = ("random", "zeros", "none")

#: Opset used by every model nas-rlm writes; onnxruntime 1.20+ runs it.
OPSET = 18
#: Domain of the model-local functions (repeated cells are rendered once as functions).
FUNCTION_DOMAIN = "nas_rlm"


class GraphBuilder:
    """Collects nodes and initializers; hands out unique tensor names."""

    def __init__(self, weights: Weights = "random", seed: int = 0, prefix: str = "") -> None:
        if weights not in WEIGHT_MODES:
            raise ConfigError(f"weights must be one of {WEIGHT_MODES}, got {weights!r}")
        self.weights = weights
        self.rng = np.random.default_rng(seed)
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._count = 0

    def name(self, hint: str = "t") -> str:
        self._count += 1
        return f"{self.prefix}{hint}{self._count}"

    # -- tensors -------------------------------------------------------------------------
    def weight(self, shape: Sequence[int], kind: Literal["he", "one", "zero"] = "he") -> str:
        """Add an initializer and return its name. ``kind`` sets the random-mode values."""
        name = self.name("w")
        shape = [int(d) for d in shape]
        if self.weights == "none":
            t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=shape)
        else:
            if self.weights == "zeros" or kind == "zero":
                arr = np.zeros(shape, np.float32)
            elif kind == "one":
                arr = np.ones(shape, np.float32)
            else:  # He-normal on the fan-in, so activations stay finite through deep nets
                fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
                arr = (self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
            t = onnx.numpy_helper.from_array(arr, name)
        self.initializers.append(t)
        return name

    def const(self, value: float) -> str:
        """A scalar float constant (as a Constant node, so it is visible in the text)."""
        out = self.name("c")
        self.nodes.append(
            helper.make_node(
                "Constant", [], [out], value=helper.make_tensor("v", TensorProto.FLOAT, [], [value])
            )
        )
        return out

    # -- nodes ---------------------------------------------------------------------------
    def op(
        self, op_type: str, inputs: Sequence[str], domain: str = "", out: str | None = None,
        **attrs,
    ) -> str:
        out = out or self.name()
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], domain=domain, **attrs))
        return out

    def conv(
        self, x: str, c_in: int, c_out: int, k: int, stride: int = 1, bias: bool = False,
        group: int = 1,
    ) -> str:
        """A square Conv with 'same' padding for odd k (the layer every CNN space uses)."""
        w = self.weight([c_out, c_in // group, k, k])
        inputs = [x, w] + ([self.weight([c_out], "zero")] if bias else [])
        attrs: dict = {"kernel_shape": [k, k]}
        if k > 1:
            attrs["pads"] = [k // 2] * 4
        if stride != 1:
            attrs["strides"] = [stride, stride]
        if group != 1:
            attrs["group"] = group
        return self.op("Conv", inputs, **attrs)

    def batchnorm(self, x: str, c: int) -> str:
        """Inference-mode BatchNormalization: scale, bias, running mean, running var."""
        inputs = [x, self.weight([c], "one"), self.weight([c], "zero"),
                  self.weight([c], "zero"), self.weight([c], "one")]
        return self.op("BatchNormalization", inputs, epsilon=1e-5)


    def classifier(self, x: str, c: int, n_classes: int) -> str:
        """The linear head on a pooled ``[N, C, 1, 1]`` tensor: Flatten, Gemm (with bias),
        writing the graph output ``logits``."""
        x = self.op("Flatten", [x])
        w, bias = self.weight([n_classes, c]), self.weight([n_classes], "zero")
        return self.op("Gemm", [x, w, bias], out="logits", transB=1)


class FunctionBuilder(GraphBuilder):
    """Builds a function body: each ``weight()`` becomes a formal input, not an initializer.

    ``params`` records (shape, kind) per formal weight input so a call site can create the
    matching initializers with :meth:`GraphBuilder.weight`.
    """

    def __init__(self, prefix: str = "f") -> None:
        super().__init__(weights="none", prefix=prefix)
        self.params: list[tuple[str, list[int], str]] = []

    def weight(self, shape: Sequence[int], kind: Literal["he", "one", "zero"] = "he") -> str:
        name = self.name("p")
        self.params.append((name, [int(d) for d in shape], kind))
        return name


def float_input(name: str, shape: Sequence[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def make_model(
    graph_name: str,
    builder: GraphBuilder,
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    functions: Sequence[onnx.FunctionProto] = (),
    doc: str = "",
) -> onnx.ModelProto:
    graph = helper.make_graph(
        builder.nodes, graph_name, list(inputs), list(outputs), initializer=builder.initializers
    )
    opsets = [helper.make_opsetid("", OPSET)]
    if functions:
        opsets.append(helper.make_opsetid(FUNCTION_DOMAIN, 1))
    model = helper.make_model(
        graph, opset_imports=opsets, functions=list(functions), producer_name="nas-rlm",
        doc_string=doc,
    )
    model.ir_version = 10  # onnxruntime 1.20+ reads IR 10; keeps models portable
    return model


def make_function(
    name: str, builder: GraphBuilder, inputs: Sequence[str], outputs: Sequence[str]
) -> onnx.FunctionProto:
    """Wrap a builder's nodes (which must have no initializers) as a model-local function."""
    if builder.initializers:
        raise ValueError("function bodies take their weights as inputs, not initializers")
    return helper.make_function(
        FUNCTION_DOMAIN, name, list(inputs), list(outputs), builder.nodes,
        opset_imports=[helper.make_opsetid("", OPSET)],
    )

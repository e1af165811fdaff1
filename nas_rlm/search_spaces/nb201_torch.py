"""The NB201 network as a trainable torch module, with BatchNorm, as the benchmark trained it.

The ONNX export folds BatchNorm into the convs and drops dead edges: that is an inference
graph, not a training graph. Training a candidate (``search.training``) needs the official
model instead: xautodl's ``TinyNetwork`` with ``InferCell``, written here with the same module
names, so an xautodl state dict loads into it unchanged (the tests do exactly that).

``channels`` and ``cells`` shrink the skeleton (C=16, N=5 is the benchmark's); smaller
settings are the usual cheap proxy for ranking candidates, and what the tests train.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: One cell edge: (op name, destination node, source node), e.g. ("nor_conv_3x3", 2, 1).
Edge = tuple[str, int, int]


class ReLUConvBN(nn.Module):
    """ReLU -> Conv (no bias) -> BatchNorm, xautodl's ``ReLUConvBN``."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int) -> None:
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False),
                                nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False),
                                nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` op: a zero tensor that keeps the graph connected (``x.mul(0.)``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def edge_op(name: str, c: int) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    return ReLUConvBN(c, c, 3 if name == "nor_conv_3x3" else 1, 1)


class Cell(nn.Module):
    """xautodl ``InferCell``: node i is the sum of its incoming edges' ops; the last node is
    the output. Edges come in order of their destination, as xautodl lists them."""

    def __init__(self, edges: Sequence[Edge], c: int) -> None:
        super().__init__()
        self.edges = [(dst, src) for _, dst, src in edges]
        self.layers = nn.ModuleList(edge_op(op, c) for op, _, _ in edges)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for dst in range(1, max(d for d, _ in self.edges) + 1):
            nodes.append(sum(self.layers[e](nodes[src])
                             for e, (d, src) in enumerate(self.edges) if d == dst))
        return nodes[-1]


class ResidualReduction(nn.Module):
    """xautodl ``ResNetBasicblock`` with stride 2, between stages."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2),
                                        nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class TinyNetwork(nn.Module):
    """Stem, three stages of ``cells`` cells (``channels`` x 1, 2, 4), residual reductions,
    BN-ReLU, global pooling and a linear head. ``forward`` returns logits."""

    def __init__(self, edges: Sequence[Edge], channels: int = 16, cells: int = 5,
                 num_classes: int = 10) -> None:
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        for stage in range(3):
            if stage:
                layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            layers += [Cell(edges, c) for _ in range(cells)]
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.classifier(self.global_pooling(self.lastact(x)).flatten(1))


__all__ = ["Cell", "ResidualReduction", "TinyNetwork"]

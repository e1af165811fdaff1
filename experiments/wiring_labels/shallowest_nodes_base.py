"""A probe: pretrain the NB201 base with one more wiring label, the fewest nodes on an
input-output path (``nodes_shallowest``), beside ``PATH_OBJECTIVES``.

Why: on the 500 pool-validation archs the fine-tuned base ranks the true top 10 % of
CIFAR-10, CIFAR-100 and ImageNet16-120 worse than the one-hot MLP, and the archs it under-rates
there share one trait: a skip connection from the cell's input to its output (edge 0-3). Among
the true top 25 %, the mean signed rank error of those archs is -0.073 to -0.105 for the RLM
and -0.005 to -0.037 for the MLP (``docs/rlm_v2.md``, "Where the top goes wrong"). None of
``PATH_OBJECTIVES`` tells that edge apart: a skip is no node, so the convolution counts of the
shallowest path are the same whether the conv-free route is that skip or a pooling detour.
The node count of the shallowest path does tell (one ``Sum`` a cell through the skip, three
through skip-pool), and it is a property of any ONNX graph, not an NB201 feature.

Runs ``nas-rlm pretrain`` in process with the label added (the library is not changed), so
the base is the 3,000-step base's command (``base_paths3k``) plus one label per graph view::

    python experiments/wiring_labels/shallowest_nodes_base.py OUT [--steps 3000] [--threads 2]

Then score it as the other bases, on pool validation::

    python experiments/accuracy_columns/pool_val.py OUT COLUMN 0,1 nodes3k runs/acc
"""

from __future__ import annotations

import sys

import onnx

from nas_rlm import cli
from nas_rlm.search_spaces.onnx_stats import _SHAPE_OPS, inline_functions
from nas_rlm.surrogates import recipes

NAME = "nodes_shallowest"


def nodes_shallowest(model: onnx.ModelProto) -> float:
    """The fewest nodes (shape ops not counted) on a path from a graph input to an output."""
    g = inline_functions(model).graph
    weights = {t.name for t in g.initializer}
    reach = {i.name: 0 for i in g.input if i.name not in weights}
    for node in g.node:  # topological order
        ins = [reach[n] for n in node.input if n in reach]
        if not ins or node.op_type in _SHAPE_OPS:
            continue
        for name in node.output:
            if name:
                reach[name] = min(ins) + 1
    return float(min(reach[o.name] for o in g.output if o.name in reach))


def main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit(__doc__)
    out, rest = argv[0], argv[1:]
    steps = rest[rest.index("--steps") + 1] if "--steps" in rest else "3000"
    threads = rest[rest.index("--threads") + 1] if "--threads" in rest else "2"
    path_stats = recipes.path_stats

    def with_nodes(model: onnx.ModelProto) -> dict[str, float]:
        return {**path_stats(model), NAME: nodes_shallowest(model)}

    recipes.path_stats = with_nodes
    recipes.PATH_OBJECTIVES.append(NAME)  # the list pretrain_objectives reads
    return cli.main(["pretrain", "--space", "nb201", "--archs", "8000", "--steps", steps,
                     "--set", "train.val_fraction=0.02", "--set", "train.eval_every=250",
                     "--set", "train.labels_per_arch=8", "--set", "pretrain_paths=true",
                     "--threads", threads, "--out", out])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Does pixel3 rank better when its text also shows the branches the converter dropped?

The converted graph (``NB201.converted_view``) drops every branch that reaches the cell
output only through ``none`` edges, so archs that differ only in those branches get one text.
The table says they differ a little on the device: fitted on the N = 781 pool (seed 0), a
linear model with pairwise terms over counts of kept skip/conv1x1/conv3x3/pool edges ranks the
other 9,844 pool archs (never the held-out set) at Spearman ρ 0.968 (pixel3) / 0.967
(raspi4); adding counts of dropped conv1x1, conv3x3 and pool edges gives 0.969 / 0.970
(``python dead_branches.py linear``).

Importing this module re-renders the converted graph with the dropped edges kept as ops
after the cell's ``return``, each reading its source node as the converted graph has it
(a zero where that graph has none), their results read by nothing; computed labels of that
view still count only what the converter kept. A base pretrained on it and fine-tuned on
500 pool archs outside the 781 ranked worse than the same base on the plain converted
graph (``dead_branches_pool_val.jsonl``), so it is a recorded negative result, not a view
of the package::

    PYTHONPATH=experiments/nb201_heldout_base python -c "import sys, dead_branches; \\
        from nas_rlm.cli import main; sys.argv = ['nas-rlm'] + sys.argv[1:]; main()" \\
        pretrain ... --out runs/nb201_base_dangle       # as README.md's base, 2,000 steps
"""

from __future__ import annotations

import sys

from nas_rlm.search_spaces import nb201 as m
from nas_rlm.surrogates import recipes

_plain_emit_cell = m._emit_cell
_plain_graph_labels = recipes.graph_labels

#: The dropped ops written (None: every one). ``{"nor_conv_3x3"}`` is the session-19 variant:
#: a dropped 3×3 conv is the one dropped op that costs pixel3 and raspi4 time
#: (``tflite_errors.py pairs``).
SHOWN_OPS: set[str] | None = None


def _emit_cell_with_dropped(b, x, c, arch, fold, prune, every_edge=False, edges=None):
    """``_emit_cell``; where ``edges`` are given (the converted graph), every other
    non-``none`` edge is written too, its result unread."""
    if edges is None:
        return _plain_emit_cell(b, x, c, arch, fold, prune, every_edge, edges)
    keep = set(edges)
    nodes = {0: x}
    for dst in (1, 2, 3):
        terms = []
        for e in (e for e in range(m.N_EDGES) if arch[e] != 0 and m.EDGES[e][0] == dst
                  and (e in keep or SHOWN_OPS is None or m.OPS[arch[e]] in SHOWN_OPS)):
            src = nodes.get(m.EDGES[e][1])
            if src is None:
                src = nodes[m.EDGES[e][1]] = b.op("Mul", [x, b.const(0.0)])
            out = m._edge_op(b, src, m.OPS[arch[e]], c, fold, {}, {})  # its own op
            if e in keep:
                terms.append(out)
        if len(terms) == 1:
            nodes[dst] = terms[0]
        elif terms:
            nodes[dst] = b.op("Sum", terms)
    return nodes[3] if 3 in nodes else b.op("Mul", [x, b.const(0.0)])


def _graph_labels_of_kept(space, arch, model):
    """Computed labels of the converted view count what the converter kept."""
    if getattr(space, "converted", False):
        m._emit_cell = _plain_emit_cell
        try:
            model = space.to_onnx(arch, weights="none")
        finally:
            m._emit_cell = _emit_cell_with_dropped
    return _plain_graph_labels(space, arch, model)


m._emit_cell = _emit_cell_with_dropped
recipes.graph_labels = _graph_labels_of_kept


def linear() -> None:
    """The linear-model check of the module docstring."""
    import numpy as np
    from scipy.stats import spearmanr
    from sklearn.linear_model import LinearRegression
    from tflite_errors import kept_mask, kept_op_counts, pairwise  # this folder

    from nas_rlm.data import load_targets
    from nas_rlm.data.splits import heldout_indices, train_indices

    archs, Y = load_targets("nb201", ["pixel3", "raspi4"])
    space = m.NB201()
    grid = np.array([space.parse(a) for a in archs])
    kept = kept_mask(grid)
    live = kept_op_counts(grid, kept)
    dropped = np.stack([((grid == op) & ~kept).sum(1) for op in (2, 3, 4)], 1)
    tr = train_indices("nb201", 781, 0)
    te = np.setdiff1d(np.arange(len(grid)), np.concatenate([tr, heldout_indices("nb201")]))
    for name, F in (("kept", live), ("kept+dropped", np.hstack([live, dropped]))):
        X = pairwise(F)
        for j, col in enumerate(("pixel3", "raspi4")):
            pred = LinearRegression().fit(X[tr], Y[tr, j]).predict(X[te])
            print(f"{name:13s} {col}: rho {spearmanr(pred, Y[te, j]).statistic:.3f}")


if __name__ == "__main__" and sys.argv[1:] == ["linear"]:
    linear()

"""Rehearsing the TRUE counts instead of the base's decoded ones (a probe, not adopted): pool
validation only.

Why: a count-head fine-tune rehearses its head's counts labelled by its base's own decoded
values (``finetune_rlm``: ``R = decoded_medians(base, ...)``), so where the base misreads an
arch of the pool, the fine-tune learns the misread. Counts are computed labels, free for any
arch (DESIGN §1.3), so the fine-tune could learn the graph's true counts instead, and read
them more exactly.

Per COLUMN:BASE:SEED (``gate_pool_val.CELLS`` by default), the fine-tune of
``gate_pool_val.fine_tuned`` (N = 781, pool seed 0, a count head at weight 1, 12 passes) with
the rehearsal's labels computed from the graph; the library is unchanged: this script swaps
``finetune_rlm``'s first ``decoded_medians`` call (the rehearsal's labels) for the true
counts. Cached as ``gate_pool_val.readings`` caches (OUT/<COLUMN>_s<SEED>.npz, the same names:
give it an OUT of its own, not gate_pool_val's, or it reads those). Printed as one
JSON object: τ / ρ of the head and of the token on the 500 pool-validation archs, and per
count the share of those archs whose decoded value is exact (relative error ≤ 1e-3), beside
the committed recipe's head and token (``gate_pool_val.json``, the same cells).

    python experiments/count_head/true_rehearse.py DATA_DIR OUT [COLUMN:BASE:SEED ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gate_pool_val as gate
from count_reads import read_exactly, true_counts
from pool_val import N, score

import nas_rlm.surrogates.recipes as recipes
from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices
from nas_rlm.search_spaces import get_space

SPACE = get_space("nb201")
_decoded_medians = recipes.decoded_medians


class _TrueRehearsal:
    """``decoded_medians`` whose first call (``finetune_rlm``'s rehearsal labels) returns the
    true counts; every later call decodes as before."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, rlm, names, archs):
        if self.first:
            self.first = False
            return true_counts(list(names), [SPACE.parse(a) for a in archs])
        return _decoded_medians(rlm, names, archs)


def main(data_dir: str, out: str, cells: list[str]) -> None:
    committed = json.loads((Path(__file__).parent / "gate_pool_val.json").read_text())
    val = pool_validation_indices("nb201", N, 0)
    res = {}
    for cell in cells:
        col, base_dir, seed = cell.split(":")
        recipes.decoded_medians = _TrueRehearsal()
        try:
            z = gate.readings(data_dir, col, base_dir, int(seed), Path(out))
        finally:
            recipes.decoded_medians = _decoded_medians
        archs, _ = load_targets("nb201", [col], data_dir)
        srcs = recipes.count_head_sources(recipes.load_base(base_dir, "nb201", [col]),
                                          "executed")
        T = true_counts(srcs, [SPACE.parse(archs[i]) for i in val])
        ok = read_exactly(z["X_val"], T)
        key = f"{col}_s{seed}"
        res[key] = {"true_rehearsal": {"head": score(z["h_val"], z["y_val"]),
                                       "token": score(z["t_val"], z["y_val"])},
                    "decoded_rehearsal": {k: committed[key][k] for k in ("head", "token")}
                    if key in committed else None,
                    "exact_share": {s: round(float(ok[:, k].mean()), 3)
                                    for k, s in enumerate(srcs)},
                    "any_count_misread_share": round(float((~ok).any(1).mean()), 3),
                    "fine_tune_s": round(float(z["secs"]), 1)}
        print(cell, json.dumps(res[key]), file=sys.stderr, flush=True)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2],
         sys.argv[3:] or [c for c in gate.CELLS if not c.startswith("pixel3:")])

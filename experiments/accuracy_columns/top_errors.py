"""Which archs the fine-tuned RLM misranks, by the op on each edge of the NB201 cell, beside
the one-hot MLP: the mean signed rank error (predicted rank - true rank, ranks scaled to
[0, 1]) of the pool-validation archs with each op on each edge, all of them and those in the
true top 25 %. Reads the predictions ``pool_val.py`` kept (OUT/<column>_<TAG>_s<seed>.npy,
averaged over SEEDS, and OUT/<column>_mlp_s0.npy); pool validation only. One JSON line per
(column, edge, op)::

    python experiments/accuracy_columns/top_errors.py OUT TAG SEEDS COLUMN [COLUMN ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices
from nas_rlm.search_spaces.nb201 import EDGES, OPS, parse_arch_string

N = 781


def main(argv: list[str]) -> None:
    if len(argv) < 4:
        raise SystemExit(__doc__)
    out, tag, seeds, columns = Path(argv[0]), argv[1], argv[2].split(","), argv[3:]
    val = pool_validation_indices("nb201", N, 0)
    for col in columns:
        archs, Y = load_targets("nb201", [col])
        y = Y[val, 0]
        ops = np.array([[OPS[o] for o in parse_arch_string(archs[i])] for i in val])
        rlm = np.mean([np.load(out / f"{col}_{tag}_s{s}.npy") for s in seeds], axis=0)
        mlp = np.load(out / f"{col}_mlp_s0.npy")
        ry = rankdata(y) / len(y)
        err = {name: rankdata(p) / len(p) - ry for name, p in (("rlm", rlm), ("mlp", mlp))}
        top = ry > 0.75
        for e, (dst, src) in enumerate(EDGES):
            for op in sorted(set(ops[:, e])):
                k = ops[:, e] == op
                print(json.dumps({
                    "column": col, "tag": tag, "seeds": seeds, "edge": f"{src}-{dst}", "op": op,
                    "n": int(k.sum()), "n_top25": int((k & top).sum()),
                    **{f"{m}_signed_error": round(float(v[k].mean()), 4) for m, v in err.items()},
                    **{f"{m}_signed_error_top25": round(float(v[k & top].mean()), 4)
                       for m, v in err.items()}}))


if __name__ == "__main__":
    main(sys.argv[1:])

"""What a misread count is (a probe): pool validation only.

``count_reads.py`` found that a count head over the counts the base decodes ranks 1080ti_256
at τ 0.980 against 0.989 over the true counts. Here, per COLUMN (default 1080ti_256), the head
fitted on the true counts of the (N = 781, seed 0) pool is read on the 500 validation archs
twice, over decoded and over true counts; then:

- the archs whose two readings differ most, with each count the base misread there
  (decoded, true);
- τ / ρ when only the K archs that differ most are read over their true counts;
- how many of the head's counts the others determine: the rank of the pool's true counts,
  and per count the residual of a least-squares fit on the others (0: a misread of it alone
  could be told from the others).

    python experiments/count_head/misreads.py DATA_DIR [COLUMN ...] > misreads.json
"""

from __future__ import annotations

import json
import sys

import numpy as np
from count_reads import read_exactly, readings
from pool_val import score

from nas_rlm.surrogates.recipes import fit_count_head

WORST = 12
KS = (5, 10, 20, 40)


def main(data_dir: str, cols: list[str]) -> None:
    out = {}
    for c, srcs, X, T, y, ntr, _ in readings(data_dir, cols):
        head = fit_count_head(srcs, T[:ntr], y[:ntr])
        one = np.ones(len(y) - ntr)
        over_x, over_t = head.blend(X[ntr:], one), head.blend(T[ntr:], one)
        gap = np.log(over_x) - np.log(over_t)
        order = np.argsort(-np.abs(gap))
        worst = []
        for i in order[:WORST]:
            x, t = X[ntr + i], T[ntr + i]
            wrong = ~read_exactly(x, t)
            worst.append({"log_gap": round(float(gap[i]), 4),
                          "misread": {s: [round(float(x[k]), 3), round(float(t[k]), 3)]
                                      for k, s in enumerate(srcs) if wrong[k]}})
        partly = {}
        for k in KS:
            mixed = over_x.copy()
            mixed[order[:k]] = over_t[order[:k]]
            partly[str(k)] = score(mixed, y[ntr:])
        Tp = T[:ntr]
        Z = (Tp - Tp.mean(0)) / Tp.std(0)
        resid = {}
        for k, s in enumerate(srcs):
            A = np.column_stack([np.delete(Tp, k, 1), np.ones(ntr)])
            coef, *_ = np.linalg.lstsq(A, Tp[:, k], rcond=None)
            resid[s] = round(float((Tp[:, k] - A @ coef).std() / Tp[:, k].std()), 4)
        out[c] = {"head_true_fit_over_decoded": score(over_x, y[ntr:]),
                  "head_true_fit_over_true": score(over_t, y[ntr:]),
                  "worst_archs": worst, "true_for_the_k_worst": partly,
                  "rank_of_true_counts": int(np.linalg.matrix_rank(Z, tol=1e-6)),
                  "n_counts": len(srcs), "residual_from_the_others": resid}
        print(c, json.dumps(out[c])[:300], file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or ["1080ti_256"])

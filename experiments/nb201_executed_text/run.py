"""Which graph should a device column be read from? An A/B on a validation split of the
training pool (never the held-out set): the default RLM recipe trained from scratch on the
(N, pool seed) pool of device columns, scored on 500 other pool archs. One JSON line per run.

TEXT ``false``: the executed graph as shared before 2026-12-01 (identical ReLUs and pools of
one tensor shared, ``none`` edges dropped); ``true``: edge by edge (``NB201(every_edge=True)``),
each as the default recipe's device view (since the converted view, a ``CONVERTER_COLUMNS``
column reads that instead); ``executed`` / ``converted``: the executed graph or
the graph a constant-folding converter leaves (``NB201.converted_view``) as the one text
every column reads (the pixel3 runs before the converted view existed used ``true``).

    python experiments/nb201_executed_text/run.py TEXT COLUMNS N POOL_SEED [SEED]
    python experiments/nb201_executed_text/run.py true eyeriss,fpga 781 0
    python experiments/nb201_executed_text/run.py converted pixel3 781 0
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.search_spaces.nb201 import NB201
from nas_rlm.surrogates.recipes import DEFAULT_RECIPE, train_rlm


def main(argv: list[str]) -> None:
    if len(argv) not in (4, 5) or argv[0] not in ("false", "true", "executed", "converted"):
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    text, columns = argv[0], argv[1].split(",")
    n, pool_seed, seed = int(argv[2]), int(argv[3]), int(argv[4]) if len(argv) == 5 else 0
    archs, Y = load_targets("nb201", columns)
    tr, val = train_indices("nb201", n, pool_seed), pool_validation_indices("nb201", n, pool_seed)
    one_text = replace(DEFAULT_RECIPE, executed_text=False)
    space, recipe = {"false": (NB201(every_edge=False), DEFAULT_RECIPE),
                     "true": (NB201(every_edge=True), DEFAULT_RECIPE),
                     "executed": (NB201().executed(), one_text),
                     "converted": (NB201().converted_view(), one_text)}[text]
    t0 = time.time()
    rlm = train_rlm(space, [archs[i] for i in tr], Y[tr], columns, recipe=recipe, seed=seed,
                    progress=False)
    fit_s = time.time() - t0
    # the readout each set of runs was made with: the expected value for the every_edge A/B,
    # the exact median (predict_point, the default since) for the view A/B
    val_archs = [archs[i] for i in val]
    if text in ("true", "false"):
        pred = rlm.predict_expected(val_archs)
        out = {"every_edge": json.loads(text)}
    else:
        pred = rlm.predict_point(val_archs)
        out = {"view": text}
    out |= {"n": n, "pool_seed": pool_seed, "seed": seed, "seconds": round(fit_s, 1),
            "columns": {}}
    for j, col in enumerate(columns):
        out["columns"][col] = {
            "tau": round(float(kendalltau(pred[:, j], Y[val, j]).statistic), 4),
            "rho": round(float(spearmanr(pred[:, j], Y[val, j]).statistic), 4)}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Can a fine-tune keep reading the counts, so that one saved model carries its count head?
Pool validation only (never the held-out set); a probe, one fine-tuning seed.

Why: the count head of ``FinetunedRLM`` reads the *base's* decoded counts, because a device
fine-tune moves the decoder and its own counts then agree with the base's on 1-8 % of archs
(``why.py``). So ``nas-rlm finetune`` and the shipped default model, single fine-tuned RLMs,
have no count head. Rehearsal: fine-tune the device together with the count head's sources
(``count_head_sources``), labelled by the base's own decoded values, so the decoder keeps
writing them; then a linear :class:`MixHead` over the fine-tune's *own* counts is the
existing ``mix_heads`` readout of one checkpoint.

For COLUMN and SEED: the base fine-tuned on the N = 781 pool (pool seed 0) on COLUMN plus its
sources, with the steps of PASSES passes of the column alone (each arch of a step brings one
sequence per label, so 1 + sources times the decoder work); on the 500 pool-validation archs:
the token's τ, how often its counts equal the base's, and τ of the head over its own counts,
alone and blended half and half with the token (``pool_val.py``'s blend).

    python experiments/count_head/rehearse.py COLUMN SEED PASSES OUT [BASE] [--per-arch R]
    python experiments/count_head/rehearse.py titan_rtx_256 0 24 runs/s42/pv

``--per-arch R``: each arch of a step brings R of the sources, drawn anew per step, not all
of them (``TrainConfig.rehearsals_per_arch``): the decoder work of 1 + R labels, not
1 + sources (session 48).

OUT holds the base's readings (``pool_val.py``'s ``base_readings``; one OUT per base).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from pool_val import N, base_readings, blend, head, score

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.surrogates.recipes import (
    count_head_sources,
    finetune_budget,
    finetune_rlm,
    load_base,
    new_column_views,
)


def main(argv: list[str]) -> None:
    per_arch = 0
    if "--per-arch" in argv:
        at = argv.index("--per-arch")
        per_arch, argv = int(argv[at + 1]), argv[:at] + argv[at + 2 :]
    if len(argv) not in (4, 5):
        raise SystemExit(__doc__)
    col, seed, passes, out = argv[0], int(argv[1]), float(argv[2]), Path(argv[3])
    base_dir = argv[4] if len(argv) == 5 else "nas_rlm/pretrained/nb201-base"
    torch.set_num_threads(1)
    archs, Y = load_targets("nb201", [col])
    tr, val = train_indices("nb201", N, 0), pool_validation_indices("nb201", N, 0)
    objs, Btr, Bva = base_readings(base_dir, out, archs, tr, val)
    base = load_base(base_dir, "nb201", [col])
    sources = count_head_sources(base, new_column_views(base, [col], ())[col])
    src = [objs.index(s) for s in sources]
    columns = [col, *sources]
    Ytr = np.column_stack([Y[tr, 0], Btr[:, src]])
    budget = replace(finetune_budget([col], N, epochs=passes), rehearsals=tuple(sources),
                     rehearsals_per_arch=per_arch)
    t0 = time.time()
    rlm = finetune_rlm(base, [archs[i] for i in tr], Ytr, columns, budget, seed=seed,
                       progress=False)
    seconds = time.time() - t0
    own_tr = rlm.predict_median([archs[i] for i in tr])
    own_va = rlm.predict_median([archs[i] for i in val])
    tok, yv = own_va[:, 0], Y[val, 0]
    h = head(own_tr[:, 1:], Y[tr, 0], own_va[:, 1:])
    h_base = head(Btr[:, src], Y[tr, 0], Bva[:, src])
    print(json.dumps({
        "column": col, "seed": seed, "passes": passes, "steps": budget.steps,
        **({"rehearsals_per_arch": per_arch} if per_arch else {}),
        "sources": sources, "fit_seconds": round(seconds, 1),
        "token": score(tok, yv),
        "own_counts_equal_base": {s: round(float(np.mean(own_va[:, 1 + k] == Bva[:, j])), 3)
                                  for k, (s, j) in enumerate(zip(sources, src, strict=True))},
        "own_head_alone": score(h, yv), "own_head_half": score(blend(h, tok, 0.5), yv),
        "base_head_alone": score(h_base, yv),
        "base_head_on_this_token_half": score(blend(h_base, tok, 0.5), yv)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

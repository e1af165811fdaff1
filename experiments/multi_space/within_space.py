"""How well a multi-space base (``nas-rlm pretrain --corpus``) ranks each space's own computed
labels, on rows it trained on: the check that told a squeezed label scale from a model that
had not yet read a space (docs/fewshot.md, "A base for every space").

Per space, ``--rows`` training rows of the corpus (never its validation rows: the first
``round(n * val_fraction)`` of ``default_rng(seed).permutation(n)``, as ``train`` splits),
scored with the trainer's own validation readout. Prints one JSON line per space: mean
Kendall τ over the space's labels and τ of MFLOPs, kparams and nodes.

    python experiments/multi_space/within_space.py BASE_DIR CORPUS_DIR [--rows 150]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from nas_rlm.surrogates.corpus import corpus_dataset
from nas_rlm.surrogates.rlm import RLM, space_objective
from nas_rlm.surrogates.training import TrainConfig, _n_val, _validate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base")
    ap.add_argument("corpus")
    ap.add_argument("--rows", type=int, default=150)
    a = ap.parse_args()
    rlm = RLM.from_pretrained(a.base)
    cfg, spaces = rlm.training_info["config"], list(rlm.training_info["base"]["spaces"])
    views, Y, objectives, _, counts = corpus_dataset(a.corpus, spaces)
    if objectives != rlm.objectives:
        raise SystemExit(f"{a.corpus} does not hold the labels {a.base} was trained on")
    n = len(views)
    val = set(np.random.default_rng(cfg["seed"]).permutation(n)[:_n_val(n, TrainConfig(**cfg))])
    space_of = np.array([o.split(":", 1)[0] for o in objectives])
    rows_space = np.array([space_of[np.flatnonzero(np.isfinite(y))[0]] for y in Y])
    for space in counts:
        idx = [i for i in np.flatnonzero(rows_space == space) if i not in val][:a.rows]
        cols = np.flatnonzero(space_of == space)
        sub = rlm.objectives
        rlm.objectives = [objectives[j] for j in cols]
        try:
            out = _validate(rlm, rlm.model, [views[i] for i in idx], Y[np.ix_(idx, cols)])
        finally:
            rlm.objectives = sub
        print(json.dumps({"space": space, "rows": len(idx), "mean_tau": round(out["val_tau"], 3),
                          **{k: round(out.get(f"tau/{space_objective(space, k)}", np.nan), 3)
                             for k in ("mflops", "kparams", "nodes")}}), flush=True)


if __name__ == "__main__":
    main()

"""Seconds per optimizer step of a multi-space base on `nas-rlm corpus` rows; print JSON.

Three ways to batch the same rows, timed in one run with the same model and tokenizer:

* ``reference``: what the training loop did before 2026-12-01: every view of every arch
  encoded, even where an arch's two views are one text (every space but NB201 executes its
  optimised graph), and archs of all spaces mixed in a batch;
* ``distinct_texts``: each distinct text of a batch encoded once (the loop today);
* ``length_buckets``: that, plus ``train.length_buckets=16``: batches of like text length.

    python benchmarks/train_step.py [CORPUS_DIR] [--rows 2000] [--steps 8]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
from dataclasses import asdict, replace

import numpy as np
import torch

from nas_rlm.surrogates.corpus import corpus_dataset
from nas_rlm.surrogates.recipes import DEFAULT_RECIPE
from nas_rlm.surrogates.rlm import RLM, Views


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?",
                    default=os.path.expanduser("~/.cache/nas-rlm/corpus-seed0"))
    ap.add_argument("--rows", type=int, default=2000, help="corpus rows drawn (seed 0)")
    ap.add_argument("--steps", type=int, default=8, help="optimizer steps per variant")
    args = ap.parse_args()
    torch.set_num_threads(1)

    views, Y, objectives, executed, _ = corpus_dataset(args.corpus)
    pick = np.random.default_rng(0).choice(len(views), min(args.rows, len(views)), replace=False)
    views, Y = [views[i] for i in pick], Y[pick]
    # one trailing space makes a shared executed text distinct: the old loop's encoder work
    copies = [Views((a, b if b != a else b + " ")) for a, b in views]
    model = replace(DEFAULT_RECIPE.model, max_text_tokens=1024, text_vocab_size=4096)
    built = RLM(objectives, None, model, executed_objectives=executed)
    built.build([t for v in views for t in dict.fromkeys(v)], seed=0)
    train = replace(DEFAULT_RECIPE.train, steps=args.steps, val_fraction=0.0,
                    eval_every=args.steps, labels_per_arch=6, progress=False, threads=1)
    variants = {"reference": (copies, 0), "distinct_texts": (views, 0),
                "length_buckets": (views, 16)}
    out = {"benchmark": "train_step", "rows": len(views), "steps": args.steps,
           "shared_views": sum(a == b for a, b in views) / len(views), "s_per_step": {}}
    for name, (rows, buckets) in variants.items():
        rlm = copy.deepcopy(built)
        rlm.fit(rows, Y, missing_ok=True, **asdict(replace(train, length_buckets=buckets)))
        out["s_per_step"][name] = round(rlm.training_info["seconds"] / args.steps, 2)
    ref = out["s_per_step"]["reference"]
    out["speedup_vs_reference"] = {k: round(ref / v, 2) for k, v in out["s_per_step"].items()}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

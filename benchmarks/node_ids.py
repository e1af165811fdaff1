"""Cost of reading relative node ids (``RLMConfig.node_ids``) against absolute ones; prints JSON.

Why: a model that reads relative ids reads shorter texts (a node line loses its own id and the
BPE merges more), so it should train and read faster. The FBNet base reads them since session
54; this measures what they cost or save per space, both settings in one run.

Per space, two RLMs of the default model config differ only in ``node_ids``. Each learns its
BPE on the same ``--train`` sampled texts (``pretraining_archs``, seed 0), then:

- ``tokens_per_text``: BPE tokens of ``--n`` other sampled archs (mean);
- ``s_per_step``: seconds per optimizer step of ``fit`` on the space's computed labels,
  ``--steps`` steps with the FBNet base's batch settings (8 labels per arch, 16 length buckets);
- ``encoder_archs_per_s``: the encoder alone over the ``--n`` archs, batches of 64, the best
  of three passes.

``speedup`` is absolute / relative for the step and relative / absolute for the encoder, so
above 1 means relative ids are cheaper. One torch thread.

    python benchmarks/node_ids.py [--spaces fbnet,nb201,ofa_mbv3] [--n 256] [--steps 8]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace

import numpy as np
import torch

from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.recipes import (
    DEFAULT_RECIPE,
    PRETRAIN_OBJECTIVES,
    computed_labels,
    pretraining_archs,
)
from nas_rlm.surrogates.rlm import RLM


def measure(space_name: str, node_ids: str, args: argparse.Namespace) -> dict[str, float]:
    space = get_space(space_name)
    archs = pretraining_archs(space, args.train + args.n, 0)
    fit_archs, read_archs = archs[:args.train], archs[args.train:]
    objs = list(PRETRAIN_OBJECTIVES)
    rlm = RLM(objs, space, replace(DEFAULT_RECIPE.model, node_ids=node_ids),
              objective_vocab=objs)
    rlm.build(rlm.texts_for(fit_archs), seed=0)
    read_texts = rlm.texts_for(read_archs)
    tokens = [len(ids) for ids in rlm.encode_texts(read_texts)]
    train = replace(DEFAULT_RECIPE.train, steps=args.steps, val_fraction=0.0,
                    eval_every=args.steps, labels_per_arch=8, length_buckets=16,
                    progress=False, threads=1, seed=0)
    rlm.fit(fit_archs, computed_labels(space, fit_archs), **asdict(train))
    best = float("inf")
    for _ in range(3):  # the best of three passes
        t0 = time.perf_counter()
        with torch.no_grad():
            for s in range(0, len(read_texts), 64):
                rlm.encoder_output(read_texts[s:s + 64])
        best = min(best, time.perf_counter() - t0)
    return {"tokens_per_text": round(float(np.mean(tokens)), 1),
            "s_per_step": round(rlm.training_info["seconds"] / args.steps, 3),
            "encoder_archs_per_s": round(len(read_texts) / best, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spaces", default="fbnet,nb201,ofa_mbv3")
    ap.add_argument("--n", type=int, default=256, help="archs read (tokens, encoder speed)")
    ap.add_argument("--train", type=int, default=1000, help="archs the BPE and fit see")
    ap.add_argument("--steps", type=int, default=8, help="optimizer steps per model")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = {"benchmark": "node_ids", "n": args.n, "train": args.train, "steps": args.steps,
           "spaces": {}}
    for name in args.spaces.split(","):
        row = {ids: measure(name, ids, args) for ids in ("absolute", "relative")}
        a, r = row["absolute"], row["relative"]
        row["speedup"] = {
            "step": round(a["s_per_step"] / r["s_per_step"], 2),
            "encoder": round(r["encoder_archs_per_s"] / a["encoder_archs_per_s"], 2),
            "tokens": round(a["tokens_per_text"] / r["tokens_per_text"], 2)}
        out["spaces"][name] = row
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""Pretrain the NB201 few-shot base within a time budget, sized for an accelerator: all 37
labels per arch, 64 archs per step, as many steps as the budget holds (docs/fewshot.md).

Two steps, because an accelerator lease is short and the corpus (two ONNX texts and 37
labels per arch, about 5 minutes of one CPU core for NB201's 10,625 training-pool rows)
is not work for it:

    # here: the corpus, into OUT/ckpt/corpus.json.gz (no training step)
    python experiments/fewshot/gpu_base.py prepare --out runs/gpu_base/small
    # there, with OUT/ckpt/corpus.json.gz carried: time 10 and 40 steps, size the budget,
    # pretrain, and write OUT/model with its model card
    python experiments/fewshot/gpu_base.py train --out runs/gpu_base/small --budget-s 300

``--size large`` is a 5.5 M-parameter model (d_model 256, four encoder layers). Both steps
call ``base_corpus`` / ``load_or_pretrain_base`` with the same recipe, so ``train`` reads
the corpus ``prepare`` wrote (its key names every setting it depends on). The base sees
the DESIGN §3 source devices and the training pool only.

Status (2026-11-30): both steps ran end to end on the CPU (60 archs, batch 4); no
accelerator was lent that day, so no base made by it exists yet.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nas_rlm.data.splits import HELDOUT_DEVICES, source_devices
from nas_rlm.surrogates.recipes import (
    CORPUS,
    RLMRecipe,
    base_corpus,
    load_or_pretrain_base,
    pretrain_base,
)

#: NB201's 27 latency columns less the six DESIGN §3 held-out devices: ``source_devices``
#: reads them from the table, which the accelerator's machine does not hold (``prepare``
#: checks that they agree)
SOURCE = ["1080ti_1", "1080ti_256", "1080ti_32", "2080ti_1", "2080ti_256", "2080ti_32",
          "essential_ph_1", "gold_6240", "pixel3", "samsung_a50", "samsung_s7", "silver_4114",
          "silver_4210r", "titan_rtx_1", "titan_rtx_32", "titanx_1", "titanx_256", "titanx_32",
          "titanxp_1", "titanxp_256", "titanxp_32"]
SIZES = {"small": {}, "large": {"d_model": 256, "d_ff": 1024, "d_kv": 64,
                                "encoder_layers": 4}}


def recipe(size: str, steps: int, archs: int, batch_size: int = 64) -> RLMRecipe:
    r = RLMRecipe().with_overrides([
        "train.val_fraction=0.02", f"train.batch_size={batch_size}", "train.labels_per_arch=0",
        f"train.eval_every={max(1, steps // 5)}", "train.warmup_steps=200",
        "train.patience=100"])
    return replace(r, model=replace(r.model, **SIZES[size]), pretrain_archs=archs,
                   pretrain_steps=steps)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("stage", choices=("prepare", "train"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", choices=tuple(SIZES), default="small")
    ap.add_argument("--budget-s", type=float, default=360.0,
                    help="training seconds to size the step budget by")
    ap.add_argument("--max-steps", type=int, default=30000)
    ap.add_argument("--archs", type=int, default=20000,
                    help="training-pool rows (NB201's pool has 10,625: all of them)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64, help="archs per step")
    args = ap.parse_args()
    out, data = Path(args.out), os.environ.get("NAS_RLM_DATA")
    if args.stage == "prepare":  # steps do not enter the corpus's key
        assert source_devices("nb201", None, data) == SOURCE
        base_corpus("nb201", [], recipe(args.size, 1, args.archs), 0, source_columns=SOURCE,
                    data_dir=data, cache_dir=out / "ckpt", progress=True)
        return 0
    # time 10 and 40 steps (each with its 5 validations and checkpoints, so their
    # difference is 30 training steps), each in a scratch dir that links the corpus
    t = {}
    for n in (10, 40):
        probe = out.parent / f".probe_{out.name}_{n}"
        (probe / "ckpt").mkdir(parents=True, exist_ok=True)
        link = probe / "ckpt" / CORPUS
        if not link.exists():
            link.symlink_to((out / "ckpt" / CORPUS).resolve())
        t0 = time.perf_counter()
        pretrain_base("nb201", [], recipe(args.size, n, args.archs, args.batch_size),
                      out_dir=probe / "ckpt", progress=False, threads=args.threads,
                      source_columns=SOURCE,
                      data_dir=data)
        t[n] = time.perf_counter() - t0
    per_step = (t[40] - t[10]) / 30
    steps = max(100, int(min(args.max_steps, args.budget_s / per_step) // 100 * 100))
    print(json.dumps({"probe_s": t, "s_per_step": per_step, "steps": steps}), flush=True)
    rlm = load_or_pretrain_base(out, "nb201", [],
                                recipe(args.size, steps, args.archs, args.batch_size),
                                source_columns=SOURCE, data_dir=data, progress=True,
                                threads=args.threads)
    from nas_rlm.surrogates.base_card import write_base_card

    write_base_card(rlm, out / "model", list(HELDOUT_DEVICES["nb201"]))
    print(json.dumps({"steps": steps, "seconds": rlm.training_info.get("seconds"),
                      "best_val_tau": rlm.training_info.get("best_val_tau")}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

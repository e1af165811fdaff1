"""What a count head read by the model itself costs at inference; print JSON.

A count head kept in one checkpoint (``mix_heads``; its sources rehearsed during the
fine-tune, ``finetune_rlm(count_heads=)``) decodes its sources too: eight more numbers per
arch, in the token's pass (each text encoded once) for a point readout, in a second pass
for samples. This times that readout against the same model's token alone, in the same
run, alternated, median of ``--repeats``: the exact median (what search reads), the
expected value and k samples. ``sources_pass`` times the sources decoded alone, the second
pass a head cost before point readouts shared the first (``two_pass_slowdown``: token
plus sources, over the token). Each device of ``--heads`` gets a count head (``fit_count_head``)
over its graph's ``count_head_sources``. The model (``--model``) is the shipped NB201 base
by default, read for those devices alone (standing in for fine-tuned ones); a fine-tuned
model is read with all its objectives. Values are not scored, only timed.

    python benchmarks/count_head_cost.py [--archs 500] [--k 8] [--threads 2]
    python benchmarks/count_head_cost.py --model nas_rlm/pretrained/nb201-rlm \
        --heads pixel3,eyeriss,gold_6226,1080ti_1
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.pretrained import default_base_dir
from nas_rlm.surrogates.recipes import count_head_sources, decoded_medians, fit_count_head
from nas_rlm.surrogates.rlm import RLM


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(default_base_dir("nb201")),
                    help="an NB201 model dir (default: the shipped base)")
    ap.add_argument("--heads", default="2080ti_256",
                    help="device objectives of the model to put a count head on")
    ap.add_argument("--archs", type=int, default=500)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rlm = RLM.from_pretrained(args.model)
    heads = [c.strip() for c in args.heads.split(",") if c.strip()]
    # a fine-tuned model is read whole; the base, for the heads' devices alone
    objectives = list(rlm.objectives) if "finetune" in rlm.training_info else heads
    archs = get_space("nb201").sample(args.archs, 0)
    views = rlm.views_for(archs)  # rendered once: only the readouts are timed
    fitted = {}
    # the counts a fine-tune still decodes are in its vocabulary, not its objectives
    rlm.set_objectives([o for o in rlm.objective_vocab if o in rlm.scalers])
    for c in heads:
        src = count_head_sources(rlm, rlm.view_of_objective(c))
        if not src:
            raise SystemExit(f"{args.model} decodes no varied counts of the graph {c} reads")
        X, y = (decoded_medians(rlm, names, views[:100]) for names in (src, [c]))
        fitted[c] = fit_count_head(src, X, y[:, 0])
    sources = list(dict.fromkeys(s for h in fitted.values() for s in h.sources))

    def timed(variant: str, readout: str) -> float:
        rlm.mix_heads = fitted if variant == "with_head" else {}
        rlm.set_objectives(sources if variant == "sources_pass" else objectives)
        read = {"median": rlm.predict_median, "expected": rlm.predict_expected,
                "samples": lambda v: rlm.predict(v, k=args.k)}[
                    "median" if variant == "sources_pass" and readout == "samples" else readout]
        t0 = time.perf_counter()
        read(views)
        return time.perf_counter() - t0

    result = {"benchmark": "count_head_cost", "model": args.model, "objectives": objectives,
              "heads": {c: h.sources for c, h in fitted.items()},
              "archs": args.archs, "k": args.k, "threads": args.threads,
              "repeats": args.repeats}
    variants = ("token", "with_head", "sources_pass")
    for readout in ("median", "expected", "samples"):
        times: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(args.repeats):
            for v in variants:  # alternated, so drift hits them alike
                times[v].append(timed(v, readout))
        token, both, apart = (statistics.median(times[v]) for v in variants)
        result[readout] = {"token_archs_per_s": round(args.archs / token, 1),
                           "with_head_archs_per_s": round(args.archs / both, 1),
                           "slowdown": round(both / token, 2),
                           "two_pass_slowdown": round((token + apart) / token, 2)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""What a count head read by the model itself costs at inference; print JSON.

A count head kept in one checkpoint (``mix_heads``; its sources rehearsed during the
fine-tune, ``finetune_rlm(count_heads=)``) decodes its sources too: eight more numbers per
arch, in the token's pass (each text encoded once) for a point readout, in a second pass
for samples. This times that readout against the same model's token alone, in the same
run, alternated, median of ``--repeats``: the exact median (what search reads), the
expected value and k samples. ``sources_pass`` times the sources decoded alone, the second
pass a head cost before point readouts shared the first (``two_pass_slowdown``: token
plus sources, over the token). The model is the shipped NB201 base, its ``--column``
standing in for a fine-tuned device and a linear :class:`MixHead` over
``count_head_sources`` put on it; values are not scored, only timed (they are the base's,
not a fine-tune's).

    python benchmarks/count_head_cost.py [--archs 500] [--k 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.mix_head import MixHead
from nas_rlm.surrogates.pretrained import default_base_dir
from nas_rlm.surrogates.recipes import count_head_sources, load_base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--column", default="2080ti_256", help="a device the base decodes")
    ap.add_argument("--archs", type=int, default=500)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rlm = load_base(default_base_dir("nb201"), "nb201")
    sources = count_head_sources(rlm, "executed")
    archs = get_space("nb201").sample(args.archs, 0)
    views = rlm.views_for(archs)  # rendered once: only the readouts are timed
    rlm.set_objectives(sources)
    X = rlm.predict_median(views[:100])
    rlm.set_objectives([args.column])
    y = rlm.predict_median(views[:100])[:, 0]
    head = MixHead.fit(sources, X, y, 1.0, linear=True)

    def timed(variant: str, readout: str) -> float:
        rlm.mix_heads = {args.column: head} if variant == "with_head" else {}
        rlm.set_objectives(sources if variant == "sources_pass" else [args.column])
        read = {"median": rlm.predict_median, "expected": rlm.predict_expected,
                "samples": lambda v: rlm.predict(v, k=args.k)}[
                    "median" if variant == "sources_pass" and readout == "samples" else readout]
        t0 = time.perf_counter()
        read(views)
        return time.perf_counter() - t0

    result = {"benchmark": "count_head_cost", "column": args.column, "sources": sources,
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

"""Render all 15,625 NB201 cells to canonical ONNX text; print JSON.

Reports seconds, archs/s and the text length distribution (characters, simple tokens), plus a
same-run reference: ``onnx.printer.to_text`` (the stock ONNX printer) on the same weight-free
models for a sample, so speed and length are given as ratios as well as absolutes.

    python benchmarks/render_nb201.py [--workers 2] [--limit N] [--reference-sample 500]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time

import numpy as np
import onnx.printer

from nas_rlm.search_spaces import NB201
from nas_rlm.search_spaces.onnx_text import simple_tokens

SPACE = NB201()


def _render(arch) -> tuple[int, int, str]:
    text = SPACE.to_text(arch)
    return len(text), len(simple_tokens(text)), text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--reference-sample", type=int, default=500)
    args = ap.parse_args()
    archs = list(SPACE.enumerate())[: args.limit]

    t0 = time.perf_counter()
    if args.workers > 1:
        with mp.get_context("fork").Pool(args.workers) as pool:
            out = pool.map(_render, archs, chunksize=128)
    else:
        out = [_render(a) for a in archs]
    seconds = time.perf_counter() - t0
    chars = np.array([o[0] for o in out])
    tokens = np.array([o[1] for o in out])

    # Same-run reference on one core: ours vs the stock printer, both from the skeleton model.
    sample = archs[: args.reference_sample]
    models = [SPACE.to_onnx(a, weights="none") for a in sample]
    t0 = time.perf_counter()
    ours = [SPACE.to_text(a) for a in sample]
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    stock = [onnx.printer.to_text(m) for m in models]
    t_stock = time.perf_counter() - t0

    print(json.dumps({
        "benchmark": "render_nb201",
        "archs": len(archs),
        "workers": args.workers,
        "seconds": round(seconds, 2),
        "archs_per_s": round(len(archs) / seconds, 1),
        "distinct_texts": len({o[2] for o in out}),
        "chars": {"median": float(np.median(chars)), "max": int(chars.max()),
                  "min": int(chars.min())},
        "simple_tokens": {"median": float(np.median(tokens)), "max": int(tokens.max()),
                          "min": int(tokens.min())},
        "reference": {
            "what": "onnx.printer.to_text on the same weight-free models, one core",
            "sample": len(sample),
            "ours_ms_per_arch_incl_build": round(t_ours / len(sample) * 1e3, 3),
            "stock_printer_ms_per_arch": round(t_stock / len(sample) * 1e3, 3),
            "length_ratio_ours_over_stock": round(
                float(np.median([len(a) / len(b) for a, b in zip(ours, stock, strict=True)])), 3),
        },
    }, indent=2))


if __name__ == "__main__":
    main()

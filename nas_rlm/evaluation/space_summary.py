"""Render and measure every arch of a finite space: the space at a glance.

For each arch: params and FLOPs (published convention), FLOPs of the optimised (pruned) graph
that the surrogate actually reads, and the text's length. Where the data directory has labels
for the space, the zero-shot Kendall tau of each count against accuracy is reported too.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import time
from functools import partial
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import write_csv, write_json
from ..search_spaces.base import SearchSpace
from ..search_spaces.onnx_stats import count_flops, count_params
from ..search_spaces.onnx_text import text_stats, to_text

COLUMNS = (
    "index", "arch", "params", "mflops", "mflops_pruned", "text_chars", "text_tokens", "text_sha1",
)

def _row(space: SearchSpace, item: tuple[int, object]) -> tuple:
    i, arch = item
    ref = space.to_onnx(arch, weights="none", optimized=False)
    opt = space.to_onnx(arch, weights="none")
    text = to_text(opt)
    stats = text_stats(text)
    return (i, space.to_string(arch), count_params(ref), round(count_flops(ref) / 1e6, 5),
            round(space.pruned_flops(arch) / 1e6, 5), stats["chars"], stats["tokens"],
            hashlib.sha1(text.encode()).hexdigest()[:16])


#: Archs summarised (seed 0) for spaces too large to enumerate, unless ``limit`` says.
SAMPLE = 1000


def summarize_space(
    space: SearchSpace,
    out_dir: Path,
    limit: int | None = None,
    workers: int = 2,
    data_dir: str | None = None,
    progress: bool = True,
) -> dict:
    """Write ``summary.csv``, ``summary.json`` and plots into ``out_dir``; return the summary.

    Enumerable spaces (NB201) are summarised in full (or their first ``limit`` archs); the
    others on ``limit`` archs sampled with seed 0 (default :data:`SAMPLE`).
    """
    from tqdm import tqdm

    try:
        archs, sampled = list(space.enumerate()), False
        if limit is not None:
            archs = archs[:limit]
    except NotImplementedError:  # too large to list: a seeded uniform sample instead
        archs, sampled = space.sample(SAMPLE if limit is None else limit, 0), True
    items = list(enumerate(archs))
    t0 = time.perf_counter()
    if workers > 1:
        ctx = mp.get_context("fork")
        with ctx.Pool(workers) as pool:
            rows = list(tqdm(pool.imap(partial(_row, space), items, chunksize=64),
                             total=len(items),
                             desc=f"render {space.name}", unit="arch", disable=not progress))
    else:
        rows = [_row(space, it) for it in tqdm(items, desc=f"render {space.name}", unit="arch",
                                        disable=not progress)]
    seconds = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "summary.csv", COLUMNS, rows)

    cols = {c: np.array([r[k] for r in rows]) for k, c in enumerate(COLUMNS[2:7], start=2)}
    summary: dict = {
        "space": space.name, "archs": len(rows), "sampled": sampled,
        "seconds": round(seconds, 2),
        "archs_per_s": round(len(rows) / seconds, 1), "workers": workers,
        # archs whose optimised graphs coincide share a text; this counts the distinct graphs
        "distinct_texts": len({r[-1] for r in rows}),
    }
    for c in ("params", "mflops", "mflops_pruned", "text_chars", "text_tokens"):
        v = cols[c]
        summary[c] = {"min": float(v.min()), "median": float(np.median(v)), "max": float(v.max())}
    acc = _accuracy(space, data_dir, [r[1] for r in rows])
    if acc is not None:
        from scipy.stats import kendalltau

        summary["kendall_tau_vs_cifar10_200ep"] = {
            c: round(float(kendalltau(cols[c], acc).statistic), 4)
            for c in ("params", "mflops", "mflops_pruned")
        }
    from ..plots.space import plot_space_summary

    summary["plots"] = [str(p) for p in plot_space_summary(cols, acc, out_dir, space.name)]
    write_json(out_dir / "summary.json", summary)
    return summary


def _accuracy(space: SearchSpace, data_dir: str | None,
              archs: list[str]) -> np.ndarray | None:
    """CIFAR-10 200-epoch accuracy of ``archs`` (strings), or None when no table is at hand."""
    if space.name != "nb201":
        return None
    from ..data import load_nb201_accuracy, resolve_data_dir

    try:
        table = load_nb201_accuracy(resolve_data_dir(data_dir), epochs=200)
    except DataError:
        return None
    return table.column_for("cifar10", archs)

"""Pareto-front and hypervolume plots of a search run (DESIGN §1.5): arrays in, PNG+SVG out.

Values are in natural units (accuracy in %, latency in ms); the first column is drawn on the
y axis against each other column, so a 3-objective run gives two panels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from .figure import save, subplots


def _staircase(ax, x: np.ndarray, y: np.ndarray, **kw) -> None:
    order = np.argsort(x)
    ax.step(x[order], y[order], where="post", **kw)


def plot_pareto(
    out_dir: Path,
    labels: Sequence[str],
    predicted: np.ndarray,
    spread: np.ndarray | None = None,
    found_true: np.ndarray | None = None,
    true_front: np.ndarray | None = None,
    stem: str = "pareto",
    title: str | None = None,
) -> list[Path]:
    """The true front (if known), the found front at its true values, and the predicted front
    with the sample spread as error bars. Arrays are ``(n, m)`` with columns as ``labels``."""
    predicted = np.asarray(predicted, float).reshape(-1, len(labels))
    m = len(labels)
    fig, axes = subplots(1, m - 1, figsize=(5.5 * (m - 1), 4.2), squeeze=False)
    for j, ax in enumerate(axes[0], start=1):
        if true_front is not None and len(true_front):
            tf = np.asarray(true_front, float)
            if m == 2:
                _staircase(ax, tf[:, 1], tf[:, 0], color="k", lw=1, label="true front")
            ax.scatter(tf[:, j], tf[:, 0], s=10, color="k", marker="x",
                       label="true front" if m > 2 else None)
        if len(predicted):
            err = None if spread is None else np.nan_to_num(np.asarray(spread, float))
            ax.errorbar(predicted[:, j], predicted[:, 0],
                        xerr=None if err is None else err[:, j],
                        yerr=None if err is None else err[:, 0],
                        fmt="o", ms=4, alpha=0.7, color="tab:orange", ecolor="tab:orange",
                        elinewidth=0.8, capsize=2, label="found, predicted ± spread")
        if found_true is not None and len(found_true):
            ft = np.asarray(found_true, float)
            ax.scatter(ft[:, j], ft[:, 0], s=18, color="tab:blue", label="found, true values")
        ax.set(xlabel=labels[j], ylabel=labels[0])
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, Path(out_dir), stem)


def plot_hv(
    out_dir: Path,
    generations: Sequence[int],
    hv_predicted: Sequence[float],
    hv_ratio_true: Sequence[float | None] | None = None,
    stem: str = "hv",
) -> list[Path]:
    """Hypervolume of the predicted front per generation (and the true HV ratio if known)."""
    fig, ax = subplots(figsize=(5.5, 4))
    gens = np.asarray(generations)
    ax.plot(gens, np.asarray(hv_predicted, float), "o-", ms=3, label="HV, predicted values")
    ax.set(xlabel="generation", ylabel="hypervolume (normalised, ref 1.1)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if hv_ratio_true is not None:
        r = np.array([np.nan if v is None else v for v in hv_ratio_true], float)
        ax2 = ax.twinx()
        ax2.plot(gens, r, "s--", ms=3, color="tab:green", label="HV ratio, true values")
        ax2.set_ylabel("HV ratio vs. true front (true values)")
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [ln.get_label() for ln in lines], fontsize=8, loc="lower right")
    else:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, Path(out_dir), stem)


def plot_budget_curves(
    out_dir: Path,
    curves: dict[str, tuple[Sequence[float], Sequence[float]]],
    spread: dict[str, Sequence[float]] | None = None,
    stem: str = "hv",
    title: str | None = None,
    ylabel: str = "HV ratio vs. true front",
    log_x: bool = False,
) -> list[Path]:
    """A front metric (HV ratio by default) against the number of true evaluations, one
    line per method, with an optional ± band (e.g. the std over seeds). ``log_x`` spreads
    budgets that grow geometrically (50 ... 1,000)."""
    fig, ax = subplots(figsize=(5.5, 4))
    for label, (x, y) in curves.items():
        x, y = np.asarray(x, float), np.asarray(y, float)
        (line,) = ax.plot(x, y, "o-", ms=3, label=label)
        if spread and label in spread:
            s = np.asarray(spread[label], float)
            ax.fill_between(x, y - s, y + s, color=line.get_color(), alpha=0.15)
    ax.set(xlabel="true evaluations", ylabel=ylabel)
    if log_x:
        ax.set_xscale("log")
        ticks = sorted({float(v) for x, _ in curves.values() for v in x})
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return save(fig, Path(out_dir), stem)

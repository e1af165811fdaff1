"""Plots of a ranking evaluation (DESIGN §1.5): arrays in, PNG + SVG out.

Three questions a ranking run has to answer at a glance:

- :func:`plot_metric_vs_n`: does a surrogate earn its labels (τ against N, with the seed spread)?
- :func:`plot_pred_vs_true`: where does it go wrong (scatter, τ in the title, sample spread)?
- :func:`plot_calibration`: can its sample spread be trusted (observed vs. nominal coverage)?

Nothing here imports a model or the evaluation code; τ in the scatter titles comes from
``scipy.stats.kendalltau`` (tau-b), the same statistic as ``evaluation.metrics``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .figure import save, subplots


def _colors(names: Sequence[str]) -> dict[str, str]:
    """One colour per surrogate, the same in every panel."""
    return {n: f"C{i % 10}" for i, n in enumerate(dict.fromkeys(names))}


def _nan_stats(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, min and max over seeds (axis 1), ignoring undefined (NaN) entries quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(v, axis=1), np.nanmin(v, axis=1), np.nanmax(v, axis=1)


def plot_metric_vs_n(
    ns: Sequence[int],
    values: Mapping[str, Mapping[str, np.ndarray]],
    out_dir: Path,
    stem: str = "tau_vs_n",
    ylabel: str = "Kendall τ",
) -> list[Path]:
    """One panel per target, one line per surrogate: the mean over seeds, shaded min–max.

    ``values[target][surrogate]`` has shape ``(len(ns), n_seeds)``; NaN marks a missing or
    undefined score (e.g. τ of a constant prediction) and is left out of mean and band.
    """
    ns = [int(n) for n in ns]
    targets = list(values)
    colors = _colors([s for t in targets for s in values[t]])
    fig, axes = subplots(1, max(1, len(targets)), figsize=(4.2 * max(1, len(targets)), 3.8),
                             squeeze=False)
    for ax, target in zip(axes[0], targets, strict=False):
        for name, v in values[target].items():
            v = np.asarray(v, dtype=float).reshape(len(ns), -1)
            mean, lo, hi = _nan_stats(v)
            ax.plot(ns, mean, marker="o", color=colors[name], label=name)
            if v.shape[1] > 1:
                ax.fill_between(ns, lo, hi, color=colors[name], alpha=0.2, linewidth=0)
        ax.set_xscale("log")
        ax.set_xticks(ns)
        ax.set_xticklabels([str(n) for n in ns])
        ax.minorticks_off()
        ax.set(xlabel="training archs N", ylabel=ylabel, title=target)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, title="mean, min–max over seeds", title_fontsize=7)
    fig.tight_layout()
    return save(fig, Path(out_dir), stem)


def plot_pred_vs_true(
    true: np.ndarray,
    point: np.ndarray,
    names: Sequence[str],
    out_dir: Path,
    stem: str,
    lo: np.ndarray | None = None,
    hi: np.ndarray | None = None,
    title: str = "",
    max_points: int = 1000,
    seed: int = 0,
    diagonal: bool = True,
) -> list[Path]:
    """Predicted vs. true, one panel per target (columns of ``true``/``point``, ``(n, m)``).

    τ in each title is computed on all ``n`` points; at most ``max_points`` (a fixed random
    subset) are drawn, so the SVG of a 5,000-arch test set stays small. ``lo``/``hi`` (the
    predicted interval, ``(n, m)``) are drawn as error bars where they have any width.
    The y range is the central 98 % of the predictions (and the true range), so a few wild
    samples of an undertrained model cannot hide the rest. ``diagonal=False`` drops the
    y = x line, which means nothing for a zero-shot proxy (a FLOPs count is on another scale
    than the target).
    """
    from scipy.stats import kendalltau

    true = np.asarray(true, dtype=float).reshape(len(true), -1)
    point = np.asarray(point, dtype=float).reshape(true.shape)
    m = true.shape[1]
    show = np.arange(len(true))
    if len(show) > max_points:
        show = np.sort(np.random.default_rng(seed).choice(len(true), max_points, replace=False))
    fig, axes = subplots(1, m, figsize=(4.2 * m, 4.0), squeeze=False)
    for j, ax in enumerate(axes[0]):
        tau = kendalltau(point[:, j], true[:, j]).statistic
        x, y = true[show, j], point[show, j]
        if lo is not None and hi is not None and np.any(hi[:, j] > lo[:, j]):
            yerr = np.stack([y - lo[show, j], hi[show, j] - y]).clip(min=0)
            ax.errorbar(x, y, yerr=yerr, fmt="none", ecolor="tab:gray", alpha=0.25, lw=0.6)
        ax.scatter(x, y, s=4, alpha=0.5, color="tab:blue")
        if diagonal:
            lims = (np.nanmin(x), np.nanmax(x))
            ax.plot(lims, lims, color="k", lw=0.8, ls="--")
        # an undertrained model's odd wild sample must not squash the panel to a dot
        lo_y, hi_y = np.nanpercentile(point[:, j], [1, 99])
        if diagonal:
            lo_y, hi_y = min(lo_y, np.nanmin(x)), max(hi_y, np.nanmax(x))
        pad = 0.05 * (hi_y - lo_y) or 1.0
        ax.set_ylim(lo_y - pad, hi_y + pad)
        off = int(np.sum((y < lo_y - pad) | (y > hi_y + pad)))
        if off:
            ax.text(0.02, 0.98, f"{off} drawn points off-scale", transform=ax.transAxes,
                    va="top", fontsize=7)
        label = f"τ = {tau:.3f}" if np.isfinite(tau) else "τ undefined (ties)"
        ax.set(xlabel=f"true {names[j]}", ylabel=f"predicted {names[j]}",
               title=f"{names[j]}: {label}")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, Path(out_dir), stem)


def plot_calibration(
    surrogates: Sequence[str],
    targets: Sequence[str],
    coverage: np.ndarray,
    out_dir: Path,
    stem: str = "calibration",
    levels: Sequence[float] = (0.5, 0.9),
    title: str = "",
) -> list[Path]:
    """Observed coverage of the predicted intervals vs. nominal, one panel per target.

    ``coverage`` has shape ``(len(surrogates), len(targets), len(levels))``: the share of
    true values inside the central ``level`` interval of the samples. A well-calibrated model
    reaches the dashed nominal lines; a deterministic one (zero-width intervals) sits near 0.
    """
    cov = np.asarray(coverage, dtype=float).reshape(len(surrogates), len(targets), len(levels))
    fig, axes = subplots(1, max(1, len(targets)),
                             figsize=(max(3.5, 1.1 * len(surrogates) + 1.5) * max(1, len(targets)),
                                      3.8), squeeze=False)
    x = np.arange(len(surrogates))
    width = 0.8 / len(levels)
    for j, ax in enumerate(axes[0][: len(targets)]):
        for li, level in enumerate(levels):
            color = f"C{li}"
            bars = ax.bar(x + (li - (len(levels) - 1) / 2) * width, cov[:, j, li], width,
                          color=color, label=f"{level:.0%} interval")
            ax.bar_label(bars, fmt="%.2f", fontsize=6)  # a 0 bar is invisible otherwise
            ax.axhline(level, color=color, ls="--", lw=1)
        ax.set_xticks(x)
        ax.set_xticklabels(list(surrogates), rotation=30, ha="right")
        ax.set(ylim=(0, 1.02), ylabel="observed coverage", title=targets[j])
    axes[0, 0].legend(fontsize=8, title="dashed: nominal", title_fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, Path(out_dir), stem)

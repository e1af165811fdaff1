"""Plots of a space summary: text length, and how cheap counts relate to accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .figure import save, subplots


def plot_space_summary(
    cols: dict[str, np.ndarray], acc: np.ndarray | None, out_dir: Path, name: str
) -> list[Path]:
    ncols = 3 if acc is not None else 1
    fig, axes = subplots(1, ncols, figsize=(5 * ncols, 4), squeeze=False)
    ax = axes[0, 0]
    ax.hist(cols["text_chars"], bins=50, color="tab:blue")
    ax.axvline(np.median(cols["text_chars"]), color="k", ls="--",
               label=f"median {np.median(cols['text_chars']):.0f}")
    ax.set(xlabel="ONNX text length (characters)", ylabel="archs", title=f"{name}: text length")
    ax.legend()
    if acc is not None:
        from scipy.stats import kendalltau

        for ax, c, label in ((axes[0, 1], "mflops", "MFLOPs (published convention)"),
                             (axes[0, 2], "mflops_pruned", "MFLOPs of the pruned graph")):
            tau = kendalltau(cols[c], acc).statistic
            ax.scatter(cols[c], acc, s=2, alpha=0.3)
            ax.set(xlabel=label, ylabel="CIFAR-10 accuracy, 200 ep (%)",
                   title=f"Kendall τ = {tau:.3f}", ylim=(max(acc.min(), 80), acc.max() + 0.5))
    fig.tight_layout()
    return save(fig, out_dir, f"{name}_summary")

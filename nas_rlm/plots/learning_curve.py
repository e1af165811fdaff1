"""The RLM's learning curve: validation Kendall τ and prediction spread against steps.

The spread panel is there so that a collapse to the mean (the failure regress-lm's
maintainers describe as "the model is having a hard time reading the input") is seen while
training, not discovered in the final table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .figure import save, subplots

#: Above this many objectives the curves are drawn thin, unlabelled, with their mean.
MAX_LEGEND = 10


def plot_learning_curve(history: Sequence[dict], out_dir: Path,
                        objectives: Sequence[str]) -> list[Path]:
    """``learning_curve.png/.svg`` in ``out_dir`` from the trainer's history rows."""
    fig, (ax_tau, ax_spread, ax_loss) = subplots(1, 3, figsize=(13, 3.6))
    steps = [h["step"] for h in history]
    shown = [o for o in objectives if any(f"tau/{o}" in h for h in history)]
    many = len(shown) > MAX_LEGEND  # a pretrained base: thin lines, no legend, and the mean
    for o in shown:
        style = {"lw": 0.6, "alpha": 0.5, "label": f"_{o}"} if many else {"label": o}
        ax_tau.plot(steps, [h.get(f"tau/{o}") for h in history], **style)
        ax_spread.plot(steps, [h.get(f"spread/{o}") for h in history], **style)
    if many:
        ax_tau.plot(steps, [h.get("val_tau") for h in history], color="black", lw=2,
                    label=f"mean of {len(shown)} objectives")
    ax_tau.set(xlabel="optimizer step", ylabel="validation Kendall τ (EMA, expected value)")
    ax_spread.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax_spread.set(xlabel="optimizer step", ylabel="std(pred) / std(true) on validation")
    for key in ("loss", "ce", "rank"):
        ax_loss.plot(steps, [h.get(key) for h in history], label=key)
    ax_loss.set(xlabel="optimizer step", ylabel="training loss (window mean)")
    for ax in (ax_tau, ax_spread, ax_loss):
        if any(not line.get_label().startswith("_") for line in ax.lines):
            ax.legend(fontsize=7)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    return save(fig, out_dir, "learning_curve")

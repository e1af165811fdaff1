"""Figures made with matplotlib's object API: no pyplot, no backend switch, no global state.

A ``Figure`` created directly is never registered with pyplot, so nothing needs closing and an
importing program keeps whatever backend it chose (``matplotlib.use`` at import would change it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure


def subplots(*args: Any, figsize: tuple[float, float], **kw: Any) -> tuple[Figure, Any]:
    """Like ``pyplot.subplots``, for a figure that only :func:`save` ever sees."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kw)


def save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write ``fig`` as PNG and SVG (the formats every nas-rlm plot comes in)."""
    paths = []
    for ext in ("png", "svg"):
        p = out_dir / f"{stem}.{ext}"
        fig.savefig(p, dpi=120, bbox_inches="tight")
        paths.append(p)
    return paths

"""Read back any surrogate that :meth:`Surrogate.save` wrote, whatever its kind."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelFormatError
from .base import Surrogate
from .baselines import load_baseline
from .rlm import RLM


def load_surrogate(path: str | os.PathLike) -> Surrogate:
    """Any surrogate :meth:`Surrogate.save` wrote: an RLM checkpoint or a baseline."""
    if (Path(path) / "rlm.json").is_file():
        return RLM.from_pretrained(path)
    if (Path(path) / "surrogate.json").is_file():
        return load_baseline(path)
    raise ModelFormatError(f"{path} holds no saved surrogate (no rlm.json or surrogate.json)")

"""Surrogates shipped with the package, so a fresh machine can predict with no data at all."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import UnknownNameError
from .rlm import RLM

#: Shipped models by space; each folder has a MODEL_CARD.md with its data, command and τ.
DEFAULTS = {"nb201": "nb201-rlm"}
#: Shipped pretrained bases by space (``nas-rlm finetune``'s default ``--base``); each never
#: saw the space's DESIGN §3 held-out devices nor any accuracy (see its MODEL_CARD.md). The
#: FBNet and OFA-MBv3 bases saw no table column at all, only the computed labels of sampled
#: archs: on FBNet that reads the text better than a base sharing its steps with 24 devices.
BASES = {"nb201": "nb201-base", "fbnet": "fbnet-base", "ofa_mbv3": "ofa_mbv3-base"}


def default_model_dir(space: str = "nb201") -> Path:
    if space not in DEFAULTS:
        raise UnknownNameError(
            f"no shipped surrogate for {space!r}; shipped: {', '.join(DEFAULTS)}"
        )
    return Path(str(resources.files("nas_rlm") / "pretrained" / DEFAULTS[space]))


def load_default(space: str = "nb201") -> RLM:
    """The shipped default RLM for ``space`` (see its MODEL_CARD.md)."""
    return RLM.from_pretrained(default_model_dir(space))


def default_base_dir(space: str = "nb201") -> Path:
    """The shipped pretrained base for ``space`` (``nas-rlm pretrain`` made it)."""
    if space not in BASES:
        raise UnknownNameError(f"no shipped base for {space!r}; shipped: {', '.join(BASES)}; "
                               "make one with `nas-rlm pretrain` and pass --base")
    return Path(str(resources.files("nas_rlm") / "pretrained" / BASES[space]))

"""Datasets a candidate is trained on: a user's own, by entry point, or the offline example.

A real NAS "true evaluation" trains the candidate on the user's data (DESIGN §1.4). The user
names a Python function ``module:function`` that returns ``(train, val)`` torch datasets of
``(image, label)`` pairs, or ``(train, val, num_classes)``. Images are float tensors
``(3, H, W)``; NB201 networks pool globally, so any size works (32x32 is the benchmark's).

``digits`` is scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download),
upsampled to 32x32 and repeated to 3 channels: small enough to train NB201 candidates on two
cores in seconds per epoch, real enough that architectures differ.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

#: Built-in dataset names; anything else must be ``module:function``.
BUILTIN = ("digits",)


@dataclass
class Splits:
    train: Any          # torch Dataset of (image, label)
    val: Any
    num_classes: int


def digits(size: int = 32, val_fraction: float = 0.2, seed: int = 0,
           limit: int | None = None) -> tuple[Any, Any, int]:
    """scikit-learn's digits as ``(train, val, 10)``: a stratified split fixed by ``seed``,
    pixels scaled to [0, 1] and normalised by the training mean/std. ``limit`` keeps the
    first ``limit`` images of each split's shuffled order (quick tests)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from torch.utils.data import TensorDataset

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = x.repeat(1, 3, 1, 1)
    y = torch.tensor(data.target, dtype=torch.long)
    tr, va = train_test_split(np.arange(len(y)), test_size=val_fraction, random_state=seed,
                              stratify=data.target)
    if limit is not None:
        tr, va = tr[:limit], va[:limit]
    # statistics in float64 numpy: a float32 torch reduction rounds differently with the
    # thread count, and training amplifies a last-bit difference into another accuracy
    xt = x[tr].numpy().astype(np.float64)
    x = (x - float(xt.mean())) / float(xt.std(ddof=1))
    return TensorDataset(x[tr], y[tr]), TensorDataset(x[va], y[va]), 10


def resolve(spec: str) -> Callable[[], Any]:
    """The function a dataset spec names: a built-in, or ``module:function`` importable from
    the current directory or the installed packages."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("empty dataset name; use 'digits' or 'module:function'")
    spec = spec.strip()
    if spec in BUILTIN:
        return digits
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ConfigError(f"unknown dataset {spec!r}; use one of {', '.join(BUILTIN)} or "
                          "'module:function' (a function returning (train, val) datasets)")
    if os.getcwd() not in sys.path:  # as `python -m` would: the user's own module first
        sys.path.insert(0, os.getcwd())
    try:
        fn = getattr(importlib.import_module(module), name)
    except ImportError as e:
        raise ConfigError(f"dataset {spec!r}: cannot import {module!r} ({e})") from e
    except AttributeError:
        raise ConfigError(f"dataset {spec!r}: module {module!r} has no {name!r}") from None
    if not callable(fn):
        raise ConfigError(f"dataset {spec!r}: {name!r} is not a function")
    return fn


def load(spec: str) -> Splits:
    """Call the dataset function and check what it returned."""
    out = resolve(spec)()
    if not isinstance(out, tuple) or len(out) not in (2, 3):
        raise ConfigError(f"dataset {spec!r} must return (train, val) or (train, val, "
                          f"num_classes), got {type(out).__name__}")
    train, val = out[:2]
    for part, ds in (("train", train), ("val", val)):
        try:
            n = len(ds)
        except TypeError:
            raise ConfigError(f"dataset {spec!r}: its {part} split has no length") from None
        if n == 0:
            raise ConfigError(f"dataset {spec!r}: its {part} split is empty")
    num_classes = out[2] if len(out) == 3 else 1 + max(int(ds_y) for _, ds_y in train)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(f"dataset {spec!r}: num_classes must be an int >= 2, got "
                          f"{num_classes!r}")
    return Splits(train, val, num_classes)


__all__ = ["BUILTIN", "Splits", "digits", "load", "resolve"]

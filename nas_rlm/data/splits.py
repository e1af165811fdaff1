"""The fixed splits of DESIGN §3, so every result in the project is on the same archs.

The NB201 test set is 5,000 archs drawn with seed 12345 from all 15,625; training pools of
size N are drawn uniformly, with seed ``s``, from the remaining 10,625. FBNet and OFA-MBv3 use
a 2,000-arch test set from their 5,000 rows, drawn the same way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError, UnknownNameError

TEST_SEED = 12345
TEST_SIZES = {"nb201": 5000, "fbnet": 2000, "ofa_mbv3": 2000}
TABLE_SIZES = {"nb201": 15625, "fbnet": 5000, "ofa_mbv3": 5000}


def heldout_indices(space: str) -> np.ndarray:
    """Row indices of the held-out test set (sorted)."""
    if space not in TABLE_SIZES:
        raise UnknownNameError(
            f"no ranking protocol for space {space!r}; spaces with a table: "
            f"{', '.join(TABLE_SIZES)}"
        )
    rng = np.random.default_rng(TEST_SEED)
    return np.sort(rng.choice(TABLE_SIZES[space], TEST_SIZES[space], replace=False))


def train_indices(space: str, n: int, seed: int) -> np.ndarray:
    """``n`` row indices from the pool (everything outside the test set), by ``seed``."""
    pool = np.setdiff1d(np.arange(TABLE_SIZES[space]), heldout_indices(space))
    if n > len(pool):
        raise ConfigError(f"N={n} exceeds the {space} training pool of {len(pool)} archs")
    return np.sort(np.random.default_rng(seed).choice(pool, n, replace=False))


def pool_validation_indices(space: str, n: int, seed: int, size: int = 500) -> np.ndarray:
    """``size`` pool archs outside the (``n``, ``seed``) training pool: where choices of a
    recipe or a shipped model are made, never on the held-out set."""
    pool = np.setdiff1d(np.arange(TABLE_SIZES[space]), heldout_indices(space))
    rest = np.setdiff1d(pool, train_indices(space, n, seed))
    return np.random.default_rng([seed, 99]).choice(rest, size, replace=False)


#: DESIGN §3 "Few-shot on a new device": devices no pretrained base sees, not even on
#: training-pool archs; every other latency column of the space is a source device.
HELDOUT_DEVICES = {
    "nb201": ("titan_rtx_256", "gold_6226", "pixel2", "raspi4", "eyeriss", "fpga"),
    "fbnet": ("raspi4", "eyeriss", "fpga"),
}


def source_devices(space: str, exclude: Sequence[str] | None = None,
                   data_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The latency columns a base may learn: the table's devices less ``exclude`` (default:
    :data:`HELDOUT_DEVICES`). Unknown names in ``exclude`` are an error, so a typo cannot
    leave a held-out device in the corpus."""
    from .tables import load_latency

    devices = list(load_latency(space, data_dir).device_names)
    exclude = list(HELDOUT_DEVICES.get(space, ()) if exclude is None else exclude)
    unknown = [c for c in exclude if c not in devices]
    if unknown:
        raise UnknownNameError(f"cannot exclude {unknown}: not {space} latency columns; "
                               f"columns: {', '.join(devices)}")
    return [d for d in devices if d not in exclude]

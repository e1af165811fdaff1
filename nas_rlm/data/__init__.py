"""The data layer: where the tables are, whether they are intact, and typed loaders.

Plain data only (no models): everything above it reads labels through here, so
resolution, pinning and validation live in one place.
"""

from nas_rlm.data.paths import DATA_ENV_VAR, default_data_dir, resolve_data_dir
from nas_rlm.data.registry import (
    DATA_URL_ENV_VAR,
    PINNED_FILES,
    FileCheck,
    PinnedFile,
    pull,
    sha256_file,
    verify,
)
from nas_rlm.data.tables import (
    LATENCY_FILES,
    LATENCY_SPACES,
    NB201_ACCURACY_FILES,
    AccuracyTable,
    LatencyTable,
    clear_cache,
    load_latency,
    load_nb201_accuracy,
    ofa_arch_str,
)
from nas_rlm.data.targets import load_targets, target_names

__all__ = [
    "DATA_ENV_VAR",
    "DATA_URL_ENV_VAR",
    "LATENCY_FILES",
    "LATENCY_SPACES",
    "NB201_ACCURACY_FILES",
    "PINNED_FILES",
    "AccuracyTable",
    "FileCheck",
    "LatencyTable",
    "PinnedFile",
    "clear_cache",
    "default_data_dir",
    "load_latency",
    "load_nb201_accuracy",
    "load_targets",
    "ofa_arch_str",
    "pull",
    "resolve_data_dir",
    "sha256_file",
    "target_names",
    "verify",
]

"""Shared fixtures and setup.

``data_dir`` points at the real tables: ``$NAS_RLM_DATA`` if set, else the shared
checkout next to the repo.  A missing directory is an error, never a skip, so a
broken setup cannot pass as green. ``tiny_config`` and ``tiny_recipe`` are the one
definition of the small RLM every test trains (the "tiny" model size).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from nas_rlm.surrogates.recipes import RLMRecipe
from nas_rlm.surrogates.rlm import RLMConfig

REPO_ROOT = Path(__file__).resolve().parent.parent

# One torch thread per test process: the models here are tiny, and CI has two cores.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    env = os.environ.get("NAS_RLM_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    if not path.is_dir():
        pytest.fail(
            f"test data directory {path} does not exist (from "
            f"{'$NAS_RLM_DATA' if env else '<repo>/../shared/data'}); set NAS_RLM_DATA",
            pytrace=False,
        )
    return path.resolve()


@pytest.fixture(scope="session")
def tiny_config():
    """``tiny_config(**overrides)``: the "tiny" model size as an ``RLMConfig``."""
    base = RLMRecipe.sized("tiny").model

    def make(**overrides) -> RLMConfig:
        return RLMConfig(**{**vars(base), **overrides})
    return make


@pytest.fixture(scope="session")
def tiny_recipe() -> RLMRecipe:
    """The "tiny" model trained for 4 steps: enough to exercise every stage of a fit."""
    return RLMRecipe.sized("tiny").with_overrides(["train.steps=4", "train.eval_every=2",
                                                   "train.batch_size=16"])

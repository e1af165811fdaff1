"""The standard RLM recipe: pretrain on computed labels, then fine-tune on table labels.

Computed labels (FLOPs of the optimised graph, params) exist for every arch, so pretraining
may use any arch; table labels are used only for the training pool (DESIGN §1.3 leakage
rule). The caller passes the pool; nothing here reads a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..search_spaces import get_space
from ..search_spaces.onnx_stats import count_flops
from .rlm import RLM, RLMConfig

PRETRAIN_OBJECTIVES = ["mflops", "kparams"]


def computed_labels(space_name: str, archs: Sequence) -> np.ndarray:
    """MFLOPs of the graph the model reads, and thousands of params, per arch."""
    space = get_space(space_name)
    return np.array([[count_flops(space.to_onnx(a, weights="none")) / 1e6,
                      space.params(a) / 1e3] for a in archs])


def pretraining_archs(space_name: str, n: int, seed: int = 0) -> list:
    """The ``n`` sampled archs the recipe pretrains on for ``seed`` (no table label is read),
    so experiments that run the pretraining stage themselves use the very same archs."""
    return get_space(space_name).sample(n, np.random.default_rng([seed, 7])) if n else []


def train_rlm(
    space: str,
    archs: Sequence,
    Y: np.ndarray,
    objectives: Sequence[str],
    config: RLMConfig | None = None,
    pretrain_archs: int = 0,
    pretrain_epochs: int = 2,
    seed: int = 0,
    out_dir: Path | None = None,
    progress: bool = True,
    **train_kwargs,
) -> RLM:
    """Build (BPE + model), optionally pretrain, then fine-tune; checkpoints under ``out_dir``."""
    get_space(space)  # an unknown space fails here, before any work
    pre = pretraining_archs(space, pretrain_archs, seed)
    rlm = RLM(list(PRETRAIN_OBJECTIVES) if pre else list(objectives), space, config)
    rlm.build(rlm.texts_for(list(pre) + list(archs)), seed=seed)
    ckpt = (lambda name: str(out_dir / name)) if out_dir else (lambda name: None)
    if pre:
        rlm.fit(pre, computed_labels(space, pre), epochs=pretrain_epochs, seed=seed,
                progress=progress, checkpoint_dir=ckpt("pretrain_ckpt"), patience=pretrain_epochs)
        pre_info = rlm.training_info
        rlm.objectives = list(objectives)
    rlm.fit(archs, Y, seed=seed, progress=progress, checkpoint_dir=ckpt("finetune_ckpt"),
            **train_kwargs)
    if pre:
        rlm.training_info["pretrain"] = {k: v for k, v in pre_info.items() if k != "history"}
    return rlm


class RLMRefitter:
    """The RLM for a surrogate-assisted loop: trained once, then warm-started every round.

    Retraining from scratch each round would cost the full recipe again for a few hundred new
    labels. Instead the first call builds the BPE on the texts of ``tokenizer_archs`` sampled
    archs (texts are computed, not labels, so any arch may be used) and trains for
    ``first_epochs``; later calls continue from the current weights on all labels so far for
    ``refit_epochs``. Early stopping keeps the best-validation weights each time.
    """

    def __init__(self, space: str, objectives: Sequence[str], config: RLMConfig | None = None,
                 first_epochs: int = 15, refit_epochs: int = 4, tokenizer_archs: int = 1000,
                 seed: int = 0, batch_size: int = 16, lr: float = 5e-4,
                 threads: int = 1) -> None:
        self.space, self.objectives, self.config = space, list(objectives), config
        self.first_epochs, self.refit_epochs = first_epochs, refit_epochs
        self.tokenizer_archs, self.seed = tokenizer_archs, seed
        self.train_kwargs = dict(batch_size=batch_size, lr=lr, threads=threads,
                                 progress=False)
        self.rlm: RLM | None = None

    def __call__(self, archs: Sequence, Y: np.ndarray, round_: int = 0) -> RLM:
        if self.rlm is None:
            sp = get_space(self.space)
            extra = sp.sample(self.tokenizer_archs, np.random.default_rng([self.seed, 11]))
            self.rlm = RLM(self.objectives, self.space, self.config)
            self.rlm.build(self.rlm.texts_for(list(extra) + list(archs)), seed=self.seed)
            epochs = self.first_epochs
        else:
            epochs = self.refit_epochs
        self.rlm.fit(archs, Y, epochs=epochs, patience=epochs, seed=self.seed + round_,
                     **self.train_kwargs)
        return self.rlm

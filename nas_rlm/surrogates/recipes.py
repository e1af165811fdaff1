"""The RLM recipe, defined once: model size and format, training budget, pretraining.

``nas-rlm train``, ``nas-rlm evaluate``, ``nas-rlm assisted``, the experiments and the shipped
model all train through :func:`train_rlm` with a :class:`RLMRecipe` (``DEFAULT_RECIPE``
unless told otherwise), so "the RLM" means the same thing in every table.

Computed labels (FLOPs of the optimised graph, params) exist for every arch, so pretraining
may use any arch; table labels are used only for the training pool (DESIGN §1.3 leakage
rule). The caller passes the pool; nothing here reads a table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NasRlmError
from ..search_spaces import SearchSpace, as_space
from ..search_spaces.onnx_stats import OP_COUNT_NAMES, count_flops, count_ops
from .model_sizes import MODEL_SIZES
from .rlm import RLM, RLMConfig
from .training import TrainConfig

#: Computed labels the pretraining stage learns: a model cannot predict them without reading
#: its input, and none is a table label, so any arch may carry them (DESIGN §1.3).
PRETRAIN_OBJECTIVES = ["mflops", "kparams", *OP_COUNT_NAMES]



@dataclass
class RLMRecipe:
    """Everything that decides what an RLM learns, besides its data and seed."""

    model: RLMConfig = field(default_factory=RLMConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    pretrain_archs: int = 0      # sampled archs with computed labels (0: no pretraining)
    pretrain_steps: int = 2000   # optimizer steps of the pretraining stage
    executed_text: bool = True   # device objectives read the graph the device ran (NB201:
                                 # dead branches kept); accuracies the optimised graph

    def __post_init__(self) -> None:
        for name in ("pretrain_archs", "pretrain_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise NasRlmError(f"RLMRecipe.{name} must be an int >= 0, got {v!r}")
        if not isinstance(self.executed_text, bool):
            raise NasRlmError(f"RLMRecipe.executed_text must be true or false, got "
                              f"{self.executed_text!r}")
        if self.pretrain_archs and not self.pretrain_steps:
            raise NasRlmError("RLMRecipe: pretrain_archs > 0 needs pretrain_steps > 0")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "train": self.train.settings()}

    def with_overrides(self, items: Sequence[str]) -> RLMRecipe:
        """A copy with ``section.field=value`` items applied (``train.steps=2000``,
        ``model.chained=true``, ``pretrain_archs=5000``); values are JSON or bare words."""
        model, train, top = asdict(self.model), asdict(self.train), {}
        for item in items:
            key, sep, raw = item.partition("=")
            if not sep:
                raise NasRlmError(f"recipe override {item!r} is not key=value")
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
            section, _, name = key.strip().rpartition(".")
            target = {"model": model, "train": train, "": top}.get(section)
            names = ({f.name for f in fields(RLMConfig)} if section == "model" else
                     {f.name for f in fields(TrainConfig)} if section == "train" else
                     {"pretrain_archs", "pretrain_steps", "executed_text"} if section == ""
                     else set())
            if target is None or name not in names:
                model_f = ", ".join(f.name for f in fields(RLMConfig))
                train_f = ", ".join(f.name for f in fields(TrainConfig))
                raise NasRlmError(f"unknown recipe field {key!r}; fields: model.<{model_f}>, "
                                  f"train.<{train_f}>, pretrain_archs, pretrain_steps, "
                                  "executed_text")
            if isinstance(target.get(name), float) and isinstance(value, int):
                value = float(value)
            target[name] = value
        return replace(self, model=RLMConfig(**model), train=TrainConfig(**train), **top)

    @classmethod
    def sized(cls, size: str) -> RLMRecipe:
        if size not in MODEL_SIZES:
            raise NasRlmError(f"unknown model size {size!r}; sizes: {', '.join(MODEL_SIZES)}")
        return cls(model=RLMConfig(**MODEL_SIZES[size]))


#: The recipe every command uses unless told otherwise (see docs/rlm_v2.md).
DEFAULT_RECIPE = RLMRecipe()


def computed_labels(space: SearchSpace | str, archs: Sequence,
                    progress: bool = False) -> np.ndarray:
    """Per arch, the ``PRETRAIN_OBJECTIVES``: MFLOPs of the graph the model reads, thousands
    of params, and op counts of that graph (``count_ops``)."""
    from tqdm import tqdm

    space = as_space(space)
    rows = []
    for a in tqdm(archs, desc="computed labels", unit="arch", disable=not progress):
        model = space.to_onnx(a, weights="none")
        ops = count_ops(model)
        rows.append([count_flops(model) / 1e6, space.params(a) / 1e3,
                     *(ops[k] for k in OP_COUNT_NAMES)])
    return np.array(rows, dtype=np.float64)


def pretraining_archs(space: SearchSpace | str, n: int, seed: int = 0) -> list:
    """The ``n`` sampled archs the recipe pretrains on for ``seed`` (no table label is read),
    so experiments that run the pretraining stage themselves use the very same archs."""
    return as_space(space).sample(n, np.random.default_rng([seed, 7])) if n else []


def train_rlm(
    space: SearchSpace | str,
    archs: Sequence,
    Y: np.ndarray,
    objectives: Sequence[str],
    recipe: RLMRecipe | None = None,
    seed: int = 0,
    out_dir: Path | None = None,
    progress: bool = True,
    threads: int = 1,
    accuracy: Sequence[str] | None = None,
) -> RLM:
    """Build (BPE + model), optionally pretrain, then fine-tune; checkpoints under ``out_dir``
    (``pretrain_ckpt/``, ``finetune_ckpt/``, each with its learning curve).

    ``accuracy`` names the objectives that are accuracies (default: those in
    ``ACCURACY_NAMES``); with ``recipe.executed_text`` every other one reads the text of the
    program the device ran (:meth:`SearchSpace.executed`)."""
    recipe = recipe or DEFAULT_RECIPE
    space = as_space(space)  # an unknown space fails here, before any work
    pre = pretraining_archs(space, recipe.pretrain_archs, seed)
    vocab = [*PRETRAIN_OBJECTIVES, *objectives] if pre else list(objectives)
    rlm = RLM(list(objectives), space, recipe.model, objective_vocab=vocab,
              executed_objectives=executed_objectives(space, objectives, recipe, accuracy))
    rlm.build([t for views in rlm.views_for(list(pre) + list(archs)) for t in views],
              seed=seed)

    def cfg(name: str, **kw) -> TrainConfig:
        return replace(recipe.train, seed=seed, progress=progress, threads=threads,
                       checkpoint_dir=str(out_dir / name) if out_dir else None, **kw)

    pre_info = None
    if pre:
        rlm.set_objectives(PRETRAIN_OBJECTIVES)
        rlm.fit(pre, computed_labels(space, pre, progress), **asdict(cfg(
            "pretrain_ckpt", steps=recipe.pretrain_steps)))
        pre_info = rlm.training_info
        rlm.set_objectives(objectives)
    rlm.fit(archs, Y, **asdict(cfg("finetune_ckpt")))
    rlm.training_info["recipe"] = recipe.to_dict()
    if pre_info is not None:
        rlm.training_info["pretrain"] = {k: v for k, v in pre_info.items() if k != "history"}
    return rlm


def executed_objectives(space: SearchSpace, objectives: Sequence[str], recipe: RLMRecipe,
                        accuracy: Sequence[str] | None = None) -> list[str]:
    """The objectives that read the executed graph: every non-accuracy one, where the recipe
    asks for it and the space's executed graphs differ from its optimised ones at all."""
    from ..data.tables import ACCURACY_NAMES

    ex = space.executed()
    if (not recipe.executed_text or recipe.model.chained or ex is space
            or ex.settings() == space.settings()):
        return []
    acc = set(ACCURACY_NAMES if accuracy is None else accuracy)
    return [o for o in objectives if o not in acc]


class RLMRefitter:
    """The RLM for a surrogate-assisted loop: trained once, then warm-started every round.

    Retraining from scratch each round would cost the full recipe again for a few hundred new
    labels. Instead the first call builds the BPE on the texts of ``tokenizer_archs`` sampled
    archs (texts are computed, not labels, so any arch may be used) and trains with the
    recipe; later calls continue from the current weights on all labels so far for
    ``refit_fraction`` of the recipe's steps. Early stopping keeps the best weights each time.
    """

    def __init__(self, space: SearchSpace | str, objectives: Sequence[str],
                 recipe: RLMRecipe | None = None, refit_fraction: float = 0.25,
                 tokenizer_archs: int = 1000, seed: int = 0, threads: int = 1) -> None:
        self.space, self.objectives = as_space(space), list(objectives)
        self.recipe = recipe or DEFAULT_RECIPE
        self.refit_fraction, self.tokenizer_archs = refit_fraction, tokenizer_archs
        self.seed, self.threads = seed, threads
        self.rlm: RLM | None = None

    def __call__(self, archs: Sequence, Y: np.ndarray, round_: int = 0) -> RLM:
        steps = self.recipe.train.steps
        if self.rlm is None:
            extra = self.space.sample(self.tokenizer_archs, np.random.default_rng([self.seed, 11]))
            self.rlm = RLM(self.objectives, self.space, self.recipe.model,
                           executed_objectives=executed_objectives(
                               self.space, self.objectives, self.recipe, self.objectives[:1]))
            self.rlm.build([t for views in self.rlm.views_for(list(extra) + list(archs))
                            for t in views], seed=self.seed)
        else:
            steps = max(1, round(steps * self.refit_fraction))
        cfg = replace(self.recipe.train, steps=steps, seed=self.seed + round_,
                      threads=self.threads, progress=False)
        self.rlm.fit(archs, Y, **asdict(cfg))
        return self.rlm

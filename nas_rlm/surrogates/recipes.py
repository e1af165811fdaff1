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
import math
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data.tables import ACCURACY_NAMES, CONVERTER_COLUMNS
from ..errors import NasRlmError
from ..search_spaces import SearchSpace, as_space, get_space
from ..search_spaces.onnx_stats import (
    OP_COUNT_NAMES,
    PATH_STAT_NAMES,
    count_flops,
    count_ops,
    inline_functions,
    path_stats,
)
from ..search_spaces.onnx_text import TEXT_FORMAT
from .base import Surrogate
from .mix_head import MixHead
from .model_sizes import MODEL_SIZES
from .rlm import RLM, RLMConfig, view_space
from .training import TrainConfig

#: Computed labels the pretraining stage learns: a model cannot predict them without reading
#: its input, and none is a table label, so any arch may carry them (DESIGN §1.3).
PRETRAIN_OBJECTIVES = ["mflops", "kparams", *OP_COUNT_NAMES]
#: Wiring labels a base may learn beside them (``RLMRecipe.pretrain_paths``): convolutions on
#: the deepest and the shallowest input-output path, and how many paths (``path_stats``).
PATH_OBJECTIVES = list(PATH_STAT_NAMES)
#: Prefix of the same labels computed on the executed graph (``space.executed()``) and on
#: the converted one (``space.converted_view()``).
EXECUTED, CONVERTED = "executed_", "converted_"


def pretrain_objectives(executed_view: bool, converted_view: bool = False,
                        paths: bool = False) -> list[str]:
    """The pretraining objectives: the labels of the optimised graph (with ``paths``, its
    ``PATH_OBJECTIVES`` too) and, where device objectives read the executed (or converted)
    graph, the same labels of that graph, read from that text. Without them that text would
    reach fine-tuning untrained, and its op counts are what device latency follows
    (docs/rlm_v2.md, "What the devices ran")."""
    labels = [*PRETRAIN_OBJECTIVES, *(PATH_OBJECTIVES if paths else ())]
    return [*labels, *((EXECUTED + o for o in labels) if executed_view else ()),
            *((CONVERTED + o for o in labels) if converted_view else ())]



@dataclass
class RLMRecipe:
    """Everything that decides what an RLM learns, besides its data and seed."""

    model: RLMConfig = field(default_factory=RLMConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    pretrain_archs: int = 0      # sampled archs with computed labels (0: no pretraining)
    pretrain_steps: int = 2000   # optimizer steps of the pretraining stage
    pretrain_sampled: int = 0    # more sampled archs, computed labels only: a base with
                                 # source columns reads more texts than its table has rows
    executed_text: bool = True   # device objectives read the graph the device ran (NB201:
                                 # dead branches kept); accuracies the optimised graph
    pretrain_paths: bool = False  # pretraining learns PATH_OBJECTIVES too: wiring, not
                                  # just op counts (with 3,000 steps, CIFAR-10 tau +0.009 /
                                  # +0.016 held out at N = 781 / 390; the shipped NB201
                                  # base since 2026-12-05; docs/rlm_v2.md, "A longer base
                                  # with wiring labels")

    def __post_init__(self) -> None:
        for name in ("pretrain_archs", "pretrain_steps", "pretrain_sampled"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise NasRlmError(f"RLMRecipe.{name} must be an int >= 0, got {v!r}")
        for name in ("executed_text", "pretrain_paths"):
            if not isinstance(getattr(self, name), bool):
                raise NasRlmError(f"RLMRecipe.{name} must be true or false, got "
                                  f"{getattr(self, name)!r}")
        if self.pretrain_archs and not self.pretrain_steps:
            raise NasRlmError("RLMRecipe: pretrain_archs > 0 needs pretrain_steps > 0")

    def to_dict(self) -> dict[str, Any]:
        d = {**asdict(self), "train": self.train.settings()}
        for name in ("pretrain_sampled", "pretrain_paths"):
            if not d[name]:  # recipes recorded before the field stay equal
                del d[name]
        return d

    def with_overrides(self, items: Sequence[str]) -> RLMRecipe:
        """A copy with ``section.field=value`` items applied (``train.steps=2000``,
        ``model.chained=true``, ``pretrain_archs=5000``); values are JSON or bare words."""
        model, train, top = asdict(self.model), asdict(self.train), {}
        fields_of = {"model": [f.name for f in fields(RLMConfig)],
                     "train": [f.name for f in fields(TrainConfig)],
                     "": [f.name for f in fields(self) if f.name not in ("model", "train")]}
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
            if target is None or name not in fields_of[section]:
                raise NasRlmError(f"unknown recipe field {key!r}; fields: model.<"
                                  f"{', '.join(fields_of['model'])}>, train.<"
                                  f"{', '.join(fields_of['train'])}>, "
                                  f"{', '.join(fields_of[''])}")
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


def computed_labels(space: SearchSpace | str, archs: Sequence, progress: bool = False,
                    paths: bool = False) -> np.ndarray:
    """Per arch, the ``PRETRAIN_OBJECTIVES``: MFLOPs of the graph the model reads, thousands
    of params, and op counts of that graph (``count_ops``); with ``paths``, then the
    ``PATH_OBJECTIVES`` of that graph."""
    from tqdm import tqdm

    space = as_space(space)
    rows = [graph_labels(space, a, space.to_onnx(a, weights="none"), paths)
            for a in tqdm(archs, desc="computed labels", unit="arch", disable=not progress)]
    width = len(pretrain_objectives(False, paths=paths))
    return np.array(rows, dtype=np.float64).reshape(len(rows), width)


def graph_labels(space: SearchSpace, arch: Any, model: Any, paths: bool = False) -> list[float]:
    """The ``PRETRAIN_OBJECTIVES`` of one arch (and with ``paths`` its ``PATH_OBJECTIVES``),
    read off ``model``, its weight-free graph in ``space`` (params always count the literal
    network, :meth:`SearchSpace.params`)."""
    model = inline_functions(model)  # once, not once per statistic
    ops = count_ops(model)
    wiring = path_stats(model) if paths else {}
    return [count_flops(model) / 1e6, space.params(arch) / 1e3,
            *(float(ops[k]) for k in OP_COUNT_NAMES), *wiring.values()]


def pretraining_archs(space: SearchSpace | str, n: int, seed: int = 0) -> list:
    """The ``n`` sampled archs the recipe pretrains on for ``seed`` (no table label is read),
    so experiments that run the pretraining stage themselves use the very same archs."""
    return as_space(space).sample(n, np.random.default_rng([seed, 7])) if n else []


def tokenizer_archs_for(space: SearchSpace, n: int, seed: int = 0) -> list:
    """The ``n`` sampled archs whose texts join the BPE's corpus for ``seed``
    (``tokenizer_archs``): computed texts, no labels."""
    return space.sample(n, np.random.default_rng([seed, 11])) if n else []


def pretrain_base(
    space: SearchSpace | str,
    objectives: Sequence[str],
    recipe: RLMRecipe | None = None,
    seed: int = 0,
    accuracy: Sequence[str] | None = None,
    tokenizer_archs: int = 0,
    out_dir: Path | None = None,
    progress: bool = True,
    threads: int = 1,
    source_columns: Sequence[str] = (),
    data_dir: str | os.PathLike | None = None,
) -> RLM:
    """The recipe's pretraining stage alone: BPE on the texts of the pretraining (and
    tokenizer) archs, a model with a token for every pretraining label and for
    ``objectives``, trained on computed labels. It reads no training pool, so one base
    serves every pool of a seed (``train_rlm(base_dir=...)``).

    ``source_columns`` (latency columns of the space's table; never an accuracy) are
    learnt beside the computed labels: the pretraining archs are then drawn from the
    table's rows. A base that has seen many devices can learn a new one from a few
    measurements (:func:`finetune_rlm`). With ``out_dir`` the stage checkpoints there and
    resumes, and keeps its corpus there (:func:`base_corpus`)."""
    recipe = recipe or DEFAULT_RECIPE
    if not recipe.pretrain_archs:
        raise NasRlmError("the recipe has no pretraining stage (pretrain_archs=0)")
    rlm, (views, extra, labels, _) = base_corpus(space, objectives, recipe, seed, accuracy,
                                                 tokenizer_archs, source_columns, data_dir,
                                                 out_dir, progress)
    rlm.build([t for v in [*views, *extra] for t in v], seed=seed)
    rlm.fit(views, labels, missing_ok=bool(source_columns), **asdict(replace(
        recipe.train, steps=recipe.pretrain_steps, seed=seed, progress=progress,
        threads=threads, checkpoint_dir=str(out_dir) if out_dir else None)))
    rlm.training_info["base"] = _base_settings(as_space(space), objectives, recipe, seed,
                                               accuracy, tokenizer_archs, source_columns)
    return rlm


def base_corpus(
    space: SearchSpace | str,
    objectives: Sequence[str],
    recipe: RLMRecipe,
    seed: int = 0,
    accuracy: Sequence[str] | None = None,
    tokenizer_archs: int = 0,
    source_columns: Sequence[str] = (),
    data_dir: str | os.PathLike | None = None,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> tuple[RLM, tuple[list, list, np.ndarray, list[str]]]:
    """The base of :func:`pretrain_base` before training (no tokenizer, no weights) and its
    corpus ``(views, extra_views, labels, archs)``: the texts of the pretraining archs, of
    the BPE's extra archs, their labels in ``rlm.objectives``' order, and the archs. With
    ``cache_dir`` the corpus is read from, or written to, ``cache_dir/corpus.json.gz``: it
    takes minutes to compute and is the same on resume, or on another machine."""
    space = as_space(space)  # an unknown space fails here, before any work
    source_columns = list(source_columns)
    executed, converted = device_views(space, [*objectives, *source_columns], recipe, accuracy)
    # a base that reads devices learns every graph its space's devices may have run, the
    # converted one too where no source device was a converter: a new device it meets
    # (raspi4, or a user's `finetune --converted`) may be one
    devices = bool(executed or converted)
    executed_view, converted_view = graph_views(space, recipe)
    pre_objs = pretrain_objectives(devices and executed_view, devices and converted_view,
                                   recipe.pretrain_paths)
    rlm = RLM([*pre_objs, *source_columns], space, recipe.model,
              objective_vocab=[*pre_objs, *source_columns, *objectives],
              executed_objectives=[*executed, *(o for o in pre_objs if o.startswith(EXECUTED))],
              converted_objectives=[*converted,
                                    *(o for o in pre_objs if o.startswith(CONVERTED))])
    key = {"text_format": TEXT_FORMAT, "space": space.name,
           "space_settings": space.settings(), "seed": seed,
           "archs": recipe.pretrain_archs, "tokenizer_archs": tokenizer_archs,
           **({"sampled": recipe.pretrain_sampled} if recipe.pretrain_sampled else {}),
           "objectives": rlm.objectives, "executed": rlm.executed_objectives,
           **({"converted": rlm.converted_objectives} if rlm.converted_objectives else {})}
    cache = Path(cache_dir) / CORPUS if cache_dir else None
    corpus = _read_corpus(cache, key) if cache else None
    if corpus is None:
        corpus = _compute_corpus(rlm, space, recipe.pretrain_archs, seed, tokenizer_archs,
                                 source_columns, data_dir, progress, recipe.pretrain_sampled,
                                 recipe.pretrain_paths)
        if cache:
            _write_corpus(cache, key, corpus)
    return rlm, corpus


#: The file of a base's corpus in its checkpoint dir (:func:`base_corpus`).
CORPUS = "corpus.json.gz"


def _compute_corpus(rlm: RLM, space: SearchSpace, n: int, seed: int, tokenizer_archs: int,
                    source_columns: list[str], data_dir, progress: bool, sampled: int = 0,
                    paths: bool = False):
    """The ``n`` pretraining archs are table rows of the training pool where there are
    ``source_columns``; labels are computed ones, then the source columns. ``sampled`` more
    archs follow them with computed labels only (their source labels missing), so a base
    can read more texts than its table has pool rows (FBNet: 3,000). Measured on FBNet,
    20,000 of them did not lift the base's own count reading (docs/fewshot.md)."""
    if source_columns:
        pre, source = source_table(space, source_columns, n, seed, data_dir)
        if sampled:
            pre = [*pre, *(space.to_string(a) for a in pretraining_archs(space, sampled, seed))]
            source = np.vstack([source, np.full((sampled, source.shape[1]), np.nan)])
    else:
        pre, source = pretraining_archs(space, n + sampled, seed), None
    labels = computed_labels(space, pre, progress, paths)
    # each device view's text learns its own labels, in pretrain_objectives' order
    for view in rlm.view_names[1:]:
        labels = np.hstack([labels, computed_labels(view_space(space, view), pre, progress,
                                                    paths)])
    if source is not None:
        labels = np.hstack([labels, source])
    return (rlm.views_for(pre), rlm.views_for(tokenizer_archs_for(space, tokenizer_archs, seed)),
            labels, [space.to_string(a) for a in pre])


def _write_corpus(path: Path, key: dict, corpus) -> None:
    import gzip

    from ..io import atomic_write_bytes

    views, extra, labels, archs = corpus
    doc = {"key": key, "archs": archs, "views": [list(v) for v in views],
           "extra": [list(v) for v in extra],
           "labels": [[None if np.isnan(x) else float(x) for x in row] for row in labels]}
    atomic_write_bytes(path, gzip.compress(json.dumps(doc).encode(), mtime=0))


def _read_corpus(path: Path, key: dict):
    """The cached corpus, or None where there is none or it was made for other settings;
    a damaged file is an error that names it."""
    import gzip

    from .rlm import Views

    if not path.is_file():
        return None
    try:
        doc = json.loads(gzip.decompress(path.read_bytes()))
        if doc["key"] != json.loads(json.dumps(key)):
            return None
        labels = np.array([[np.nan if x is None else x for x in row] for row in doc["labels"]],
                          dtype=np.float64).reshape(len(doc["views"]), -1)
        return ([Views(v) for v in doc["views"]], [Views(v) for v in doc["extra"]], labels,
                doc["archs"])
    except (OSError, EOFError, ValueError, KeyError, TypeError) as e:
        raise NasRlmError(f"{path} is damaged ({e}); delete it to rebuild the corpus") from e


def source_table(space: SearchSpace, columns: Sequence[str], n: int, seed: int = 0,
                 data_dir: str | os.PathLike | None = None) -> tuple[list[str], np.ndarray]:
    """``(archs, Y)``: ``n`` rows of the space's DESIGN §3 training pool (seeded; every row
    if it has fewer) with the source ``columns``. Table labels are used for training-pool
    archs only (DESIGN §1.3): no held-out test arch is ever drawn. Accuracies are refused:
    a base that saw them could not be fine-tuned on accuracy honestly."""
    from ..data import load_targets

    acc = [c for c in columns if c in ACCURACY_NAMES]
    if acc:
        raise NasRlmError(f"accuracy column(s) {acc} cannot be pretraining labels; a base "
                          "sees latency columns and computed labels only")
    archs, Y = load_targets(space.name, columns, data_dir)
    rows = source_rows(space.name, len(archs), n, seed)
    # canonical strings: OFA-MBv3 rows spell unused slots arbitrarily (``canonical_archs``)
    archs = [space.to_string(space.parse(archs[i])) for i in rows]
    return archs, Y[rows]


def source_rows(space: str, n_rows: int, n: int, seed: int = 0) -> np.ndarray:
    """The ``n`` table rows (sorted; every row if fewer) a base draws with ``seed``: rows of
    the DESIGN §3 training pool only, so no held-out test arch ever carries a table label."""
    from ..data.splits import TABLE_SIZES, heldout_indices

    pool = np.arange(n_rows)
    if space in TABLE_SIZES:
        pool = np.setdiff1d(pool, heldout_indices(space))
    return np.sort(np.random.default_rng([seed, 7]).choice(
        pool, min(n, len(pool)), replace=False))


def _base_settings(space: SearchSpace, objectives: Sequence[str], recipe: RLMRecipe,
                   seed: int, accuracy: Sequence[str] | None, tokenizer_archs: int,
                   source_columns: Sequence[str] = ()) -> dict:
    """What a pretrained base depends on; a saved base of other settings is refused."""
    r = recipe.to_dict()
    return {"space": space.name, "space_settings": space.settings(), "seed": seed,
            "objectives": list(objectives), "accuracy": None if accuracy is None
            else list(accuracy), "tokenizer_archs": tokenizer_archs, "model": r["model"],
            "train": {k: v for k, v in r["train"].items() if k != "steps"},
            # only where there are some: bases saved before source columns stay valid
            **({"source_columns": list(source_columns)} if source_columns else {}),
            **{k: r[k] for k in ("pretrain_sampled", "pretrain_paths") if k in r},
            **{k: r[k] for k in ("pretrain_archs", "pretrain_steps", "executed_text")}}


def load_or_pretrain_base(base_dir: Path, space: SearchSpace | str, objectives: Sequence[str],
                          recipe: RLMRecipe | None = None, seed: int = 0,
                          accuracy: Sequence[str] | None = None, tokenizer_archs: int = 0,
                          progress: bool = True, threads: int = 1,
                          source_columns: Sequence[str] = (),
                          data_dir: str | os.PathLike | None = None) -> RLM:
    """The base saved in ``base_dir/model``, or pretrain it (checkpointing in
    ``base_dir/ckpt``, so a killed run resumes) and save it there first. A lock file makes
    a second process that needs the same base (two workers filling one run directory) wait
    for it rather than pretrain it again."""
    recipe, space = recipe or DEFAULT_RECIPE, as_space(space)
    with base_lock(base_dir):
        return _load_or_pretrain(Path(base_dir), space, objectives, recipe, seed, accuracy,
                                 tokenizer_archs, progress, threads, list(source_columns),
                                 data_dir)


@contextmanager
def base_lock(base_dir: str | os.PathLike):
    """Hold ``base_dir/.lock`` (creating the dir): a second process that needs the same base
    waits for the first to save it rather than pretrain it again."""
    import fcntl

    Path(base_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(base_dir) / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def _load_or_pretrain(base_dir: Path, space: SearchSpace, objectives: Sequence[str],
                      recipe: RLMRecipe, seed: int, accuracy: Sequence[str] | None,
                      tokenizer_archs: int, progress: bool, threads: int,
                      source_columns: list[str], data_dir) -> RLM:
    model_dir = base_dir / "model"
    rlm = saved_base(model_dir, _base_settings(space, objectives, recipe, seed, accuracy,
                                               tokenizer_archs, source_columns))
    if rlm is not None:
        return rlm
    rlm = pretrain_base(space, objectives, recipe, seed, accuracy, tokenizer_archs,
                        base_dir / "ckpt", progress, threads, source_columns, data_dir)
    rlm.save_pretrained(model_dir)
    return rlm


def saved_base(model_dir: Path, want: dict) -> RLM | None:
    """The base saved in ``model_dir``, or None where there is none yet; one pretrained with
    settings other than ``want`` is refused, naming them."""
    if not (model_dir / "rlm.json").is_file():
        return None
    rlm = RLM.from_pretrained(model_dir)
    want = json.loads(json.dumps(want))
    have = rlm.training_info.get("base", {})
    diff = sorted(k for k in want.keys() | have.keys() if want.get(k) != have.get(k))
    if diff:
        raise NasRlmError(f"{model_dir} holds a base pretrained with other settings "
                          f"({', '.join(diff)}); remove it or use another directory")
    return rlm


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
    tokenizer_archs: int = 0,
    base_dir: Path | None = None,
) -> RLM:
    """Build (BPE + model) or start from the pretrained base, then fine-tune; checkpoints
    under ``out_dir`` (``pretrain_ckpt/``, ``finetune_ckpt/``, each with its learning curve).

    ``accuracy`` names the objectives that are accuracies (default: those in
    ``ACCURACY_NAMES``); with ``recipe.executed_text`` every other one reads the text of the
    program the device ran (:meth:`SearchSpace.executed`). ``tokenizer_archs`` sampled archs
    add their texts (computed, not labels) to the BPE's corpus: a pool of a few dozen archs
    alone would give a tokenizer that splits unseen texts badly. With pretraining
    (``recipe.pretrain_archs``) the base comes from :func:`pretrain_base`, or is shared
    through ``base_dir`` (:func:`load_or_pretrain_base`) by every pool of the same seed."""
    recipe = recipe or DEFAULT_RECIPE
    space = as_space(space)  # an unknown space fails here, before any work
    base_args = (space, objectives, recipe, seed, accuracy, tokenizer_archs)
    pre_info = None
    if recipe.pretrain_archs:
        if base_dir is not None:
            rlm = load_or_pretrain_base(Path(base_dir), *base_args, progress=progress,
                                        threads=threads)
        else:
            rlm = pretrain_base(*base_args, out_dir=out_dir / "pretrain_ckpt" if out_dir
                                else None, progress=progress, threads=threads)
        pre_info = rlm.training_info
        rlm.set_objectives(objectives)
    else:
        extra = tokenizer_archs_for(space, tokenizer_archs, seed)
        executed, converted = device_views(space, objectives, recipe, accuracy)
        rlm = RLM(list(objectives), space, recipe.model, executed_objectives=executed,
                  converted_objectives=converted)
        rlm.build([t for views in rlm.views_for([*extra, *archs]) for t in views], seed=seed)
    rlm.fit(archs, Y, **asdict(replace(
        recipe.train, seed=seed, progress=progress, threads=threads,
        checkpoint_dir=str(out_dir / "finetune_ckpt") if out_dir else None)))
    rlm.training_info["recipe"] = recipe.to_dict()
    if pre_info is not None:
        rlm.training_info["pretrain"] = {k: v for k, v in pre_info.items() if k != "history"}
    return rlm


#: A count head's counts (``finetune_rlm``'s ``count_heads``) are rehearsed four per arch
#: and step, drawn anew each step, not all eight or nine, and their loss is kept apart from
#: the labels' (``training._losses``). Pool validation (500 pool archs, N = 781, fine-tune
#: seeds 0-1; ``experiments/count_head/rehearse.py --per-arch``): the head alone within
#: 0.0015 τ of rehearsing every count (pixel3 on its blind base 0.8920 / 0.8916 against
#: 0.8931 / 0.893; titan_rtx_256 0.9892 / 0.9893 against 0.9899 / 0.9897), the token above
#: (0.8783 / 0.8785 against 0.874 / 0.876; 0.9812 against 0.9775), in 0.6 of the time on
#: pixel3 (docs/rlm_v2.md, "Rehearsing a few counts per step, their loss apart").
REHEARSALS_PER_ARCH = 4

#: Fine-tuning a pretrained base on a few measurements (``nas-rlm finetune``): a handful of
#: archs leaves no validation split to stop on, so the budget is short and fixed and the
#: weights with the lowest training loss at a readout are kept. 30 steps, chosen on 500
#: validation archs of the training pool (S = 10, titan_rtx_256 and eyeriss: ρ 0.974 /
#: 0.637 after 30 steps, 0.939 / 0.536 after 100, 0.947 after 300; docs/fewshot.md): more
#: steps on ten labels move the new device away from where the base put it.
FINETUNE_TRAIN = TrainConfig(steps=30, warmup_steps=10, val_fraction=0.0, eval_every=10,
                             patience=100, rehearsals_per_arch=REHEARSALS_PER_ARCH)


#: The fine-tuning budget for an accuracy column. Accuracy is no quantity the base learnt, so
#: its new token has further to move than a new device's: on the pool validation split
#: (CIFAR-10, N = 78, 500 pool archs) 30 steps gave ρ 0.855, 100 steps 0.898, 300 steps 0.889.
FINETUNE_ACCURACY_TRAIN = replace(FINETUNE_TRAIN, steps=100)

#: Passes over the labels fine-tuning makes at least: past about 80 labels the fixed budgets
#: above stop short. Pool validation at N = 781 (seed 0, 500 pool archs): eyeriss ρ 0.913 /
#: 0.939 / 0.948 after 30 / 100 / 300 steps, CIFAR-10 0.898 / 0.917 / 0.905 after 100 / 300
#: / 1000; early stopping on a fifth of the pool instead, 0.941 on eyeriss. 12 passes are
#: about 300 steps at N = 781 and leave every N ≤ 80 at the fixed budget.
FINETUNE_EPOCHS = 12

#: Passes (counted as ``FINETUNE_EPOCHS`` counts them) a fine-tune of accuracies alone makes
#: once it is past the fixed budget: as many as a device's. Twice as many (24: 586 steps at N
#: = 781) looked level or better on pool validation (the shipped base, pool seed 0, its 500
#: pool-validation archs, fine-tuning seeds 0 + 1 averaged, exact median;
#: experiments/accuracy_columns/pool_val.jsonl, tag 4k_st2x): CIFAR-10 τ 0.798 -> 0.799,
#: CIFAR-100 0.789 -> 0.788, ImageNet16-120 0.780 -> 0.792; CIFAR-10 at N = 390 0.769 ->
#: 0.774, ρ 0.919 -> 0.917. Held out it did not hold (N = 781, seeds 0 / 1, 5,000 archs, two
#: fine-tunes averaged, baselines in the same runs; experiments/accuracy_columns/heldout_*):
#: CIFAR-100 τ 0.791 / 0.785 -> 0.787 / 0.783, ρ 0.931 / 0.928 -> 0.927 / 0.924;
#: ImageNet16-120 τ 0.794 / 0.791 -> 0.793 / 0.782, ρ 0.931 / 0.926 -> 0.928 / 0.920, for
#: 1.7x the fit. Set to 24 to reproduce (``evaluate`` then records it in its cells).
FINETUNE_ACCURACY_EPOCHS = FINETUNE_EPOCHS


#: Devices fine-tuned past the fixed budget train the decoder alone (``freeze_encoder``): the
#: encoder keeps what pretraining taught it. Pool validation (500 pool archs, ρ unfrozen →
#: frozen; tune_freeze.jsonl): at N = 781 raspi4 0.910 → 0.927 and 0.911 → 0.913 (seeds 0,
#: 1), pixel2 0.895 → 0.909 and 0.896 → 0.909, eyeriss 0.948 → 0.947 and 0.959 → 0.961; at N
#: = 390 raspi4 0.876 → 0.875, eyeriss 0.923 → 0.939, pixel2 0.865 → 0.877; at half the
#: time. Not for an accuracy (CIFAR-10, N = 781: 0.917 → 0.907), nor at S = 20 (six devices,
#: mean 0.940 → 0.938; eyeriss 0.921 → 0.907). On the wiring base (2026-12-05, exact-median
#: τ, frozen → unfrozen): titan_rtx_256 at 24 passes 0.973 → 0.975 and 0.973 → 0.974 (seeds
#: 0, 1), gold_6226 at 12 passes 0.916 → 0.905, at twice the time.
FREEZE_DEVICE_ENCODER = True


#: Soft first-digit targets for fine-tunes past the fixed budget (``TrainConfig.digit_sigma``,
#: on objectives with continuous labels, ``training.SOFT_MIN_DISTINCT``). The one-hot target
#: leaves the model unable to fit its own training labels (titan_rtx_256, N = 781: training
#: τ 0.964 where a ridge over the one-hot edges ranks other archs at 0.990). Pool validation
#: (N = 781, pool seed 0, 500 pool archs, exact-median τ, one-hot → σ 0.4; soft_pool_val.py):
#: titan_rtx_256 0.962 → 0.971, CIFAR-10 0.757 → 0.759 and 0.756 → 0.761 (seeds 0, 1),
#: gold_6226 0.914 → 0.916. Lattice columns keep one-hot digits: eyeriss with soft digits
#: 0.983 → 0.979. Default since 2026-12-03, once the expected value branched over the first
#: digit (``RLM._expected_value``) and the targets stopped teaching a leading 0.
FINETUNE_DIGIT_SIGMA = 0.4


#: Archs per step of a fine-tune of accuracies alone past the fixed budget: the same steps as
#: with 32, each drawing four times the archs (48 passes at N = 781 instead of 12). Pool validation
#: (CIFAR-10, pool seed 0, its 500 pool-validation archs, exact-median tau;
#: experiments/rlm_accuracy_batch/): at N = 781, fine-tuning seeds 0-4, 32 archs 0.762,
#: 64 archs 0.768, 128 archs 0.780 (ahead of 32 in every seed; rho 0.918 -> 0.925). Seeds
#: 0-1: 32 archs 0.762, 32 for twice the steps 0.772, 128 for half the steps 0.751. More
#: passes help while the steps do not drop, and more archs per step is the cheaper way to
#: them (a step of 128 archs costs about 3.2x one of 32). At N = 390 (147 steps, seeds 0-2)
#: 0.734 -> 0.746; N = 78 stays at the fixed budget (all 78 archs per step there: 0.699
#: against 0.706, seeds 0-2). Beside devices the accuracies draw their 128 archs apart
#: (``TrainConfig.accuracy_batch``), the devices keep 32 and their loss its weight: the
#: default model's five columns, on its 500 pool-validation archs (session 33, same CPU):
#: 32 archs CIFAR-10 / pixel3 / eyeriss / gold_6226 / 1080ti_1 0.754 / 0.881 / 0.989 /
#: 0.914 / 0.912, a draw of their own 0.770 / 0.880 / 0.992 / 0.913 / 0.914; without the
#: loss weight 0.775 / 0.881 / 0.985 / 0.912 / 0.913; every column at 128 archs (session
#: 32) 0.779 / 0.874 / 0.989 / 0.911 / 0.909.
FINETUNE_ACCURACY_BATCH = 128


#: A fine-tune of accuracies alone at the fixed budget (few labels: N = 78 of the protocol)
#: trains the decoder alone, and (whatever this says) learns soft first digits
#: (``FINETUNE_DIGIT_SIGMA``), as devices past their budget do. Pool validation (CIFAR-10,
#: N = 78, pool seeds 0-4 each fine-tuned with its seed, 1,000 pool-validation archs each,
#: exact-median tau; experiments/rlm_n78/): as before 0.692 (the held-out 0.693 of the same
#: five pools), frozen encoder 0.704, soft digits 0.701, both 0.706; 50 / 200 steps 0.685 /
#: 0.683, lr 5e-4 / 2e-3 0.697 / 0.681. Past the fixed budget accuracies keep training the
#: encoder (N = 781: rho 0.917, frozen 0.907; ``FREEZE_DEVICE_ENCODER``).
FREEZE_FEW_ACCURACIES = True


#: Passes over the labels a device's fine-tune of many labels chooses between
#: (``select_epochs``): how long a device needs differs by device, and its labels can tell.
#: Accuracies do not choose: they make more passes by drawing ``FINETUNE_ACCURACY_BATCH``
#: archs per step (measured on the current defaults; an earlier base was worse after 1,000
#: steps of 32 than after 300, ρ 0.905 against 0.917). Pool validation (N = 781,
#: pool seed 0, 500 pool archs, exact-median τ, 12 → 24 passes; budget_pool_val.py):
#: titan_rtx_256 0.971 / 0.974 → 0.980 / 0.980 (seeds 0, 1), eyeriss 0.984 → 0.987, pixel3
#: 0.851 → 0.854, while gold_6226 0.916 / 0.918 → 0.913 / 0.914, pixel2 0.796 → 0.786,
#: 1080ti_1 0.916 → 0.914, fpga 0.995 → 0.994 and raspi4 0.855 → 0.854 (docs/rlm_v2.md).
FINETUNE_EPOCH_CHOICES = (FINETUNE_EPOCHS, 2 * FINETUNE_EPOCHS)
#: From this many labels (the N = 781 of the protocol; fewer leave too small a validation
#: fifth to choose on, and were not measured) a fine-tune chooses its passes, holding out
#: ``SELECT_VAL_FRACTION`` of the labels to score each choice.
SELECT_EPOCHS_MIN_LABELS = 500
SELECT_VAL_FRACTION = 0.2
#: Blend weights of a device's count head that its fine-tune chooses between, with its
#: passes, on the same fifth of its labels (``select_epochs``; 0: the token alone, 1: the
#: head alone). The count head is a linear :class:`MixHead` over the *base's* decoded
#: computed labels of the graph the device ran (``count_head_sources``): latency is a sum
#: over what runs, the base reads those counts almost exactly (executed conv_k1 / conv_k3 /
#: pool 99.8 / 100 / 99.8 % exact on pool archs it never pretrained on), and a fine-tuned
#: token does not write a linear function of them as well (titan_rtx_256, R² 0.9997 linear
#: in the edges' ops: token τ 0.980, head alone 0.989, one-hot MLP 0.982 on pool
#: validation; docs/rlm_v2.md, "A count head for devices"). The choice weighs a head over
#: the base's counts; the chosen fine-tune rehearses them and carries a head over its own
#: (``finetune_rlm``'s ``count_heads``): unrehearsed, a fine-tune's counts agree with the
#: base's on 1-8 % of archs. Where a device's latency has ties the token reproduces
#: (eyeriss), the head breaks them and the fifth keeps the token. Held out (seeds 0-1,
#: heads over the base's counts): titan_rtx_256 0.975 / 0.980 -> 0.989 / 0.988 (MLP
#: 0.981), pixel3 +0.008, gold_6226 +0.004; pixel2 -0.008 and 1080ti_1 seed 1 -0.0035,
#: where a fifth of the labels chose the head wrongly. The head's weights are non-negative
#: (``fit_count_head``): more of any count never makes a network faster, and an
#: unsigned ridge split the collinear MFLOPs and conv_k3 into a large cancelling pair, so one
#: misread count on a rare cell sent its latency to a tenth (gold_6226 seed 1 held out: ρ
#: 0.9844 against 0.9890 for seed 0, four archs carrying a third of the squared rank error).
#: Pool validation (8 devices x pool seeds 0-4, the head alone): +0.0007 τ, +0.0002 ρ,
#: raspi4 seed 0 +0.013 τ (``experiments/count_head/positive_pool_val.py``).
COUNT_HEAD_WEIGHTS = (0.0, 0.5, 1.0)
#: With a guard above 0, a count head's weight is a choice only where it ranks the fifth
#: above the token of the same passes in at least that share of ``COUNT_HEAD_BOOTSTRAP``
#: paired bootstrap resamples of the fifth (``head_win_share``; every fit records the
#: shares). 0 (the first best, as before) is kept: a guard of 0.9 looked safer on pool
#: validation (16 cells: +0.0028 τ over the token, none below it, against +0.0026 and one
#: loss), but held out (N = 781, seeds 0-1, 5,000 archs) it changed two of 16 choices and
#: both for the worse (gold_6226 seed 0 -0.005 τ, pixel3 seed 1 -0.007). pixel2 kept its
#: heads through the 24-pass token, which was worse and which the head beat surely, and
#: 1080ti_1 seed 1's head won 98 % of the resamples yet lost held out (docs/rlm_v2.md, "A
#: guarded count head, held out").
COUNT_HEAD_GUARD, COUNT_HEAD_BOOTSTRAP = 0.0, 500
#: A count head is refitted without the labelled archs whose residual is beyond this many
#: (normal-scaled) median absolute deviations (``fit_count_head``): the counts it is fitted
#: on are decoded, and the 2-5 % of archs with a misread count pull a least-squares ridge
#: off every other arch. Pool validation (the N = 781, seed-0 pool's heads over each blind
#: base's counts, scored on its 500 validation archs, all 27 NB201 device columns;
#: ``experiments/count_head/trim_pool_val.py``): mean τ 0.9145 -> 0.9166, above on 23
#: columns and below on 2 (at most -0.0018); level at 4-6 (0.9166), 0.9164 at 3 and 8. A
#: head fitted on the *true* counts scores 0.9163 over the same decoded counts: the refit
#: takes back what misreads cost the fit. Held out (14 cells of seven columns, seeds 0-1):
#: +0.0011 τ, higher in 11, ρ level (docs/rlm_v2.md, "A count head refitted without the archs
#: it fits worst"). 0 fits once.
COUNT_HEAD_TRIM = 5.0


#: Fine-tunes averaged per accuracy objective (``FinetunedRLM``): each from the base with a
#: seed of its own (``MEMBER_SEED_STRIDE`` apart), their point estimates averaged and their
#: samples pooled. A CIFAR-10 fine-tune's rank depends on its seed as much as on most recipe
#: choices (0.770 to 0.790 τ on one pool), and the mean of two is steadier and better. Pool
#: validation (CIFAR-10, pool seed 0, 500 pool archs, exact-median τ, fine-tuning seeds 0-3;
#: experiments/wiring_labels/ensemble_pairs_pool_val.jsonl): each of the six pairs against
#: the mean of its two alone, at N = 781 +0.0057 on average (6 of 6 pairs ahead; the
#: 4,000-step base: +0.0077, 6 of 6), at N = 390 +0.0034 (6 of 6), at N = 78 +0.0010 (5 of
#: 6). Held out (seeds 0-4): 0.796 -> 0.803 at N = 781, 0.757 -> 0.760 at 390, 0.704 -> 0.707
#: at 78. Devices keep one: gold_6226 +0.0007 τ, ρ 0.9871 -> 0.9872; titan_rtx_256 0.971 /
#: 0.974 / 0.976 alone, 0.976 for three averaged (docs/rlm_v2.md).
#: Three since 2026-12-06: pool validation of the current recipe (pool seed 0, every set of k
#: of fine-tuning seeds 0-3; experiments/accuracy_columns/members_pool_val.jsonl), 2 -> 3,
#: exact-median τ CIFAR-10 0.8002 -> 0.8022, CIFAR-100 0.7847 -> 0.7883, ImageNet16-120
#: 0.7871 -> 0.7879 (ρ up on all three). It triples the fit of one fine-tune.
FINETUNE_ACCURACY_MEMBERS = 3
MEMBER_SEED_STRIDE = 1000


#: A new device gets a mix head (``finetune_rlm``) from up to this many labels: the range
#: it was chosen on (S = 10-100, ``experiments/fewshot/stack_pool_val.py``). At N = 781 it
#: buys nothing overall: on 500 pool archs, the best blend weight moved ρ by +0.0003
#: (gold_6226), +0.0014 (pixel2) and +0.0013 (titan_rtx_256), while any weight lowered
#: raspi4 (-0.005 ρ, -0.017 τ at 0.5) (``experiments/fewshot/mix_large_n_pool.py``).
MIX_HEAD_MAX_LABELS = 100


def finetune_budget(columns: Sequence[str], n: int, accuracy: Sequence[str] | None = None,
                    epochs: float = FINETUNE_EPOCHS, train: TrainConfig = FINETUNE_TRAIN,
                    accuracy_train: TrainConfig = FINETUNE_ACCURACY_TRAIN,
                    freeze_devices: bool = FREEZE_DEVICE_ENCODER,
                    digit_sigma: float = FINETUNE_DIGIT_SIGMA,
                    accuracy_batch: int = FINETUNE_ACCURACY_BATCH,
                    freeze_few_accuracies: bool = FREEZE_FEW_ACCURACIES,
                    accuracy_epochs: float = FINETUNE_ACCURACY_EPOCHS) -> TrainConfig:
    """The fine-tuning budget for ``n`` labels of ``columns``: ``accuracy_train`` if one is
    an accuracy, else ``train``, with at least ``epochs`` passes over the labels. Past the
    fixed budget, device columns freeze the encoder (``freeze_devices``), steps of
    accuracies draw ``accuracy_batch`` archs each (same steps, more passes; 0: the
    config's batch; beside devices from a draw of their own, the devices keeping the
    config's batch), and columns with continuous labels learn soft first digits of width
    ``digit_sigma`` (0: one-hot); a ``cfg`` that sets its own ``digit_sigma`` keeps it.
    Accuracies alone learn soft first digits at the fixed budget too, and freeze the
    encoder there (``freeze_few_accuracies``). Accuracies alone past the fixed budget make
    ``accuracy_epochs`` passes instead of ``epochs`` (0: ``epochs``); whether they are past
    it is still decided by ``epochs``."""
    acc = set(ACCURACY_NAMES if accuracy is None else accuracy)
    cfg = accuracy_train if acc & set(columns) else train
    steps = max(cfg.steps, math.ceil(epochs * n / cfg.batch_size))
    longer = steps > cfg.steps
    alone = set(columns) <= acc  # accuracies only
    if alone and longer and accuracy_epochs:
        steps = max(cfg.steps, math.ceil(accuracy_epochs * n / cfg.batch_size))
    few = alone and not longer and freeze_few_accuracies
    freeze = cfg.freeze_encoder or (freeze_devices and cfg is train and longer) or few
    sigma = cfg.digit_sigma or (digit_sigma if longer or alone else 0.0)
    batch = accuracy_batch if (alone and longer and accuracy_batch) else cfg.batch_size
    beside = sorted(acc & set(columns)) if (longer and accuracy_batch and not alone) else []
    return replace(cfg, steps=steps, batch_size=batch, freeze_encoder=freeze,
                   digit_sigma=sigma, **({"accuracy_batch": accuracy_batch,
                                          "accuracies": tuple(beside)} if beside else {}))


def select_epochs(base_dir: str | os.PathLike, space: str, archs: Sequence, Y: np.ndarray,
                  columns: Sequence[str], budget: Callable[[int, float], TrainConfig],
                  choices: Sequence[float] = FINETUNE_EPOCH_CHOICES, seed: int = 0,
                  accuracy: Sequence[str] | None = None, threads: int = 1,
                  head: tuple[Sequence[str], np.ndarray] | None = None,
                  weights: Sequence[float] = (0.0,), guard: float = COUNT_HEAD_GUARD,
                  ) -> tuple[float, float, dict[str, Any]]:
    """The passes over the labels (of ``choices``) to fine-tune the base in ``base_dir`` on
    ``Y`` for, and the blend weight (of ``weights``) of a count head: each choice fine-tunes
    a fresh base on a random ``1 - SELECT_VAL_FRACTION`` of the archs (``budget(n,
    passes)`` gives its :class:`TrainConfig`) and is scored by the mean Kendall τ of its
    exact median on the rest, blended with a linear :class:`MixHead` fitted on the same
    archs where ``head`` gives its sources and their values on ``archs`` (one column of
    ``Y``; the token alone, weight 0, is always a choice). A weight is a choice only where
    it ranks the fifth above the token of the same passes in at least ``guard`` of the
    paired bootstrap resamples (:func:`head_win_share`). The first best wins, so a tie
    keeps the shorter budget and the lighter head.
    Returns the passes, the weight and the scores: ``{"val_tau": {passes: τ}}`` for the
    token alone, and with a head ``"head_val_tau"`` and ``"head_win_share"``, both
    ``{passes: {weight: value}}`` (keys as ``str``, for JSON).

    Why by validation: titan_rtx_256 under-fits at 12 passes and gains 0.009 τ at 24, while
    gold_6226 loses 0.003 there (``FINETUNE_EPOCH_CHOICES``); a count head lifts
    titan_rtx_256 and breaks eyeriss's ties (``COUNT_HEAD_WEIGHTS``). The labels are the
    caller's training pool; nothing else is read."""
    from scipy.stats import kendalltau

    if not choices:
        raise NasRlmError("select_epochs needs at least one choice of passes")
    Y = np.asarray(Y, dtype=np.float64).reshape(len(archs), len(columns))
    if head is not None and len(columns) != 1:
        raise NasRlmError("select_epochs weighs a count head for one column at a time")
    weights = (0.0, *(float(w) for w in weights if w and head is not None))
    n_val = round(SELECT_VAL_FRACTION * len(archs))
    if n_val < 2 or len(archs) - n_val < 2:
        raise NasRlmError(f"select_epochs needs more labels than {len(archs)}")
    perm = np.random.default_rng([seed, 13]).permutation(len(archs))
    val, fit = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    val_archs = [archs[i] for i in val]
    mix = None
    if head is not None:
        X = np.asarray(head[1], dtype=np.float64)
        mix = fit_count_head(head[0], X[fit], Y[fit, 0])
    scores: dict[tuple[float, float], float] = {}
    wins: dict[tuple[float, float], float] = {}
    for passes in choices:
        rlm = finetune_rlm(load_base(base_dir, space, columns), [archs[i] for i in fit],
                           Y[fit], columns, budget(len(fit), passes), seed=seed,
                           accuracy=accuracy, progress=False, threads=threads)
        pred = rlm.predict_point(val_archs)
        for w in weights:
            p = pred if not w else replace(mix, weight=w).blend(X[val], pred[:, 0])[:, None]
            taus = [kendalltau(p[:, j], Y[val, j]).statistic for j in range(len(columns))]
            scores[passes, w] = (float(np.nanmean(taus)) if np.isfinite(taus).any()
                                 else -1.0)
            if w:
                wins[passes, w] = head_win_share(p[:, 0], pred[:, 0], Y[val, 0], seed)
    best = max((k for k in scores if not k[1] or wins[k] >= guard), key=scores.__getitem__)
    out: dict[str, Any] = {"val_tau": {f"{p:g}": scores[p, 0.0] for p in choices}}
    if head is not None:
        for key, values in (("head_val_tau", scores), ("head_win_share", wins)):
            out[key] = {f"{p:g}": {f"{w:g}": values[p, w] for w in weights if w}
                        for p in choices}
    return float(best[0]), float(best[1]), out


def head_win_share(pred: np.ndarray, ref: np.ndarray, y: np.ndarray, seed: int = 0,
                   draws: int = COUNT_HEAD_BOOTSTRAP) -> float:
    """Of ``draws`` paired bootstrap resamples of ``y``, the share in which ``pred`` ranks it
    above ``ref`` (Kendall τ, strictly; a tie or an undefined τ is no win): how sure a
    small validation split is that a count head beats the token, rather than lucky."""
    from scipy.stats import kendalltau

    rng = np.random.default_rng([seed, 29])
    won = 0
    for _ in range(draws):
        i = rng.integers(0, len(y), len(y))
        won += bool(kendalltau(pred[i], y[i]).statistic > kendalltau(ref[i], y[i]).statistic)
    return round(won / draws, 3)


def count_head_sources(base: RLM, view: str) -> list[str]:
    """The base objectives a count head for a column reading ``view`` blends: the base's
    computed labels of that graph (op counts, FLOPs, params, wiring) whose pretraining labels
    varied. Not its source devices: where those ranked a device of many labels, they bought
    +0.0013 ρ or less (``MIX_HEAD_MAX_LABELS``)."""
    computed = set(pretrain_objectives(True, True, paths=True))
    return [o for o in start_candidates(base, view) if o in computed]


def fit_count_head(sources: Sequence[str], X: np.ndarray, y: np.ndarray,
                   weight: float = 1.0, trim: float = COUNT_HEAD_TRIM) -> MixHead:
    """The count head of a device: a linear :class:`MixHead` of its latency on decoded
    ``sources`` (:func:`count_head_sources`) with no weight below zero, since more of any
    count never makes a network faster and an unsigned ridge can split collinear counts
    (MFLOPs and conv_k3) into a cancelling pair that one misread count turns into a
    collapse (``COUNT_HEAD_WEIGHTS``). It is refitted without the archs whose residual is
    beyond ``trim`` median absolute deviations, whose counts are likely misread
    (``COUNT_HEAD_TRIM``). Every count head, chosen or saved, is fitted here."""
    from scipy.stats import median_abs_deviation

    head = MixHead.fit(sources, X, y, weight, linear=True, positive=True)
    if not trim:
        return head
    y = np.asarray(y, dtype=np.float64)
    resid = y - np.exp(head.log_predict(X))
    off = np.abs(resid - np.median(resid))
    spread = median_abs_deviation(resid, scale="normal")
    keep = off <= trim * spread
    if spread <= 0 or keep.all() or keep.sum() < len(sources) + 2:
        return head
    return MixHead.fit(sources, np.asarray(X)[keep], y[keep], weight, linear=True,
                       positive=True)


def load_base(base_dir: str | os.PathLike, space: str | None = None,
              unseen: Sequence[str] = ()) -> RLM:
    """The pretrained base in ``base_dir``, checked: made by ``nas-rlm pretrain``, for
    ``space``, and (for a ranking or few-shot figure) never trained on a column of ``unseen``.
    Every way of fine-tuning a base loads it here, so they refuse the same things."""
    base = RLM.from_pretrained(base_dir)
    info = base.training_info.get("base")
    if info is None:
        raise NasRlmError(f"{base_dir} is not a pretrained base (made by `nas-rlm pretrain`)")
    tuned = base.training_info.get("finetune")
    if tuned is not None:  # it has seen its fine-tuning columns, which no base check covers
        raise NasRlmError(f"{base_dir} is not a pretrained base: it was fine-tuned on "
                          f"{', '.join(tuned['columns'])}; pass the base it came from")
    if base.space is None:  # pretrained on the multi-space corpus: bound to ``space`` here
        if space is None:
            raise NasRlmError(f"{base_dir} is a base for every space; name the space of "
                              "the archs to fine-tune it on (--space)")
        settings = info.get("space_settings", {}).get(space)
        base.bind_space(get_space(space, settings, recorded=True) if settings is not None
                        else space)
    elif space is not None and base.space != space:
        raise NasRlmError(f"{base_dir} is a base for {base.space}, not {space}")
    seen = sorted(set(unseen) & set(info.get("source_columns", [])))
    if seen:
        raise NasRlmError(f"the base in {base_dir} was pretrained on {', '.join(seen)}; a "
                          "figure for a column needs a base that never saw it (make one with "
                          f"`nas-rlm pretrain --exclude-columns {','.join(seen)}`)")
    return base


def new_column_views(base: RLM, new: Sequence[str], accuracy: Collection[str],
                     converted: Collection[str] | None = None) -> dict[str, str]:
    """The graph view each new column of a fine-tune reads (``finetune_rlm``): an accuracy
    the optimised graph; where the base reads device graphs, a device the graph it ran, the
    converted one for a device measured through a converter (``converted``; ``None`` means
    ``CONVERTER_COLUMNS`` where the base has that view), else the executed one.

    By the device's runtime, not by which objective its few labels follow: eyeriss, which
    runs every edge, ranks with pixel3 on 10-20 labels, and read pixel3's converted graph
    lost 0.02-0.04 ρ (docs/fewshot.md). ``converted`` named by the caller must be new device
    columns, and a base that reads device graphs must have a converted view (a base of a
    space with one graph per arch, such as FBNet, reads that one)."""
    acc = set(accuracy)
    device = bool(base.executed_objectives or base.converted_objectives)
    if converted is None:
        converted = CONVERTER_COLUMNS if base.converted_objectives else frozenset()
    else:
        converted = frozenset(converted)
        wrong = sorted(converted - {c for c in new if c not in acc})
        if wrong:
            raise NasRlmError(f"converted column(s) {', '.join(wrong)} are not new device "
                              f"columns of this fine-tune (new: {', '.join(new) or 'none'})")
        if converted and device and not base.converted_objectives:
            raise NasRlmError("this base reads no converted graph (it has no converted "
                              "objectives); it cannot read converted column(s) "
                              f"{', '.join(sorted(converted))}")
    return {c: "optimised" if c in acc or not device else
            "converted" if c in converted else "executed" for c in new}


def varied_objectives(base: RLM) -> list[str]:
    """The base objectives it was pretrained on whose labels varied: only these can start
    or feed a new column's ranking (a constant label ranks nothing)."""
    return [o for o in base.objectives if o in base.scalers and not base.scalers[o].constant]


def start_candidates(base: RLM, view: str) -> list[str]:
    """The base objectives a new column reading ``view`` may start from: those of that view
    whose pretraining labels varied (a constant one cannot start a ranking)."""
    return [o for o in varied_objectives(base) if base.view_of_objective(o) == view]


def start_similarity(pred: np.ndarray, y: np.ndarray, magnitudes: bool = True) -> float:
    """How closely a base objective's predictions ``pred`` follow a new column's labels ``y``
    on the fine-tuning archs, -1 where either is constant; ``finetune_rlm`` starts a new
    column's token from the objective that scores highest. ``magnitudes``: Pearson r of
    their logs (values ≤ 0 floored at the smallest positive one), else Spearman ρ.

    Why magnitudes for a device from few labels: a rank correlation of 10 labels is noisy,
    while latencies and costs are near proportional. Simulated on pool archs
    (``experiments/fewshot/start_rule_pool.py``, 400 draws per device and S; the start's ρ
    on the rest of the pool), over NB201's six and FBNet's three held-out devices: mean
    0.931 → 0.942 at S = 10 and 0.950 → 0.952 at S = 20, the 5th percentile 0.833 → 0.895
    at S = 10 (FBNet raspi4 started from ``kparams`` in 9 % of draws, 4 % now). Held out
    (docs/fewshot.md), it lifted FBNet's one changed cell from ρ 0.666 to 0.923 but moved
    NB201's S = 10 mean from 0.954 to 0.948 (S = 20 level, 0.963). Ranks stay
    the rule for an accuracy, which no cost is proportional to, and past
    ``MIX_HEAD_MAX_LABELS`` labels, where a rank correlation is no longer noisy (and the
    figures measured with it stand)."""
    import warnings

    from scipy.stats import ConstantInputWarning, pearsonr, spearmanr

    def log(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float64)
        pos = v[v > 0]
        return np.log(np.maximum(v, pos.min())) if pos.size else np.zeros_like(v)

    with warnings.catch_warnings():  # a constant input: NaN, ranked last
        warnings.simplefilter("ignore", ConstantInputWarning)
        r = (pearsonr(log(pred), log(y)) if magnitudes else spearmanr(pred, y)).statistic
    return float(r) if np.isfinite(r) else -1.0


def finetune_rlm(base: RLM, archs: Sequence, Y: np.ndarray, columns: Sequence[str],
                 train: TrainConfig | None = None, seed: int = 0,
                 accuracy: Sequence[str] | None = None, out_dir: Path | None = None,
                 progress: bool = True, threads: int = 1, mix_head: bool = True,
                 converted: Collection[str] | None = None,
                 count_heads: Mapping[str, float] | None = None) -> RLM:
    """Fine-tune a pretrained base (``nas-rlm pretrain``) on ``Y`` for ``columns``, in place.

    A column the base has no token for gets one, started from the base objective whose
    predictions on ``archs`` follow the labels best (:func:`start_similarity`; objectives
    whose pretraining labels were constant are never chosen): a new device starts as the
    most similar device the base knows, and fine-tuning moves it from there. A column the
    base learnt in pretraining is warned about: its figures are not few-shot figures.

    ``mix_head``: each new device column also gets a :class:`~.mix_head.MixHead`, a ridge
    over the fine-tuned model's own values of the base's source devices, fitted on ``Y``;
    its value blends the two. Chosen on pool archs for 10-100 labels (see :mod:`.mix_head`);
    with more than ``MIX_HEAD_MAX_LABELS`` the token alone is kept, as it was measured.

    ``converted``: the new device columns measured through a graph converter (TFLite and
    the like), which read the converted graph. ``None`` means the table devices known to be
    (``CONVERTER_COLUMNS``) where the base has that view; a collection the caller names
    must be new device columns, and a base that reads device graphs must have a converted
    view (a base of a space with one graph per arch, such as FBNet, reads that one).

    ``count_heads``: device columns, each with the blend weight of its count head, a
    linear :class:`~.mix_head.MixHead` over the model's *own* decoded counts of the graph
    the column reads (:func:`count_head_sources`), saved with the model (``mix_heads``) so
    every readout of the one checkpoint applies it. The counts are rehearsed: the fine-tune
    also learns them, labelled by the base's own decoded values on ``archs``, so that its
    decoder keeps writing them: without, a device fine-tune's counts agree with the base's
    on 1-8 % of archs; with, on 94-100 %, and a head over them ranks as one over the base's
    (pool validation, docs/rlm_v2.md, "A count head in one checkpoint"). Each arch of a
    step brings ``train.rehearsals_per_arch`` of the counts, drawn anew per step
    (``REHEARSALS_PER_ARCH``; 0: all, which made the same steps about three times as long
    for eight counts). A chained base writes all of them in its one sequence per arch, so
    it draws none apart."""
    import warnings

    columns = list(columns)
    Y = np.asarray(Y, dtype=np.float64).reshape(len(archs), len(columns))
    seen = [c for c in columns if c in base.scalers]
    if seen:
        warnings.warn(f"column(s) {', '.join(seen)} were pretraining labels of this base; "
                      "fine-tuning on them is not a few-shot result", stacklevel=2)
    acc = set(ACCURACY_NAMES if accuracy is None else accuracy)
    known = varied_objectives(base)
    new = [c for c in columns if c not in base.objective_vocab]
    views = new_column_views(base, new, acc, converted)
    like: dict[str, str] = {}
    if new and known:
        pred = base.predict_point(archs)  # every objective the base was trained on
        for c in new:
            cand = [base.objectives.index(o) for o in start_candidates(base, views[c])]
            if not cand:
                continue
            y, few = Y[:, columns.index(c)], len(archs) <= MIX_HEAD_MAX_LABELS
            score = [start_similarity(pred[:, k], y, few and c not in acc) for k in cand]
            like[c] = base.objectives[cand[int(np.argmax(score))]]
    for view in dict.fromkeys(views.values()):
        base.add_objectives([c for c in new if views[c] == view], like, view)
    base_info = base.training_info
    counted = _count_head_sources(base, columns, acc, count_heads or {})
    rehearsed = [s for s in dict.fromkeys(s for v in counted.values() for s in v)
                 if s not in columns]
    R = decoded_medians(base, rehearsed, archs)  # the base's counts: the rehearsal's labels
    base.set_objectives([*columns, *rehearsed])
    cfg = replace(train or FINETUNE_TRAIN, seed=seed, progress=progress, threads=threads,
                  checkpoint_dir=str(out_dir) if out_dir else None)
    if rehearsed:  # the draw of ``rehearsals_per_arch`` is among these
        cfg = replace(cfg, rehearsals=tuple(rehearsed))
        if base.config.chained:  # one sequence per arch writes every count: nothing to draw
            cfg = replace(cfg, rehearsals_per_arch=0)
    elif not cfg.rehearsals:  # nothing rehearsed: nothing drawn, and the settings say so
        cfg = replace(cfg, rehearsals_per_arch=0)
    base.fit(archs, np.column_stack([Y, R]), **asdict(cfg))
    base.set_objectives(columns)
    for c, srcs in counted.items():  # over the fine-tune's own counts, as it reads them
        X = decoded_medians(base, srcs, archs)
        base.mix_heads[c] = fit_count_head(srcs, X, Y[:, columns.index(c)], count_heads[c])
    sources = [o for o in base_info.get("base", {}).get("source_columns", []) if o in known]
    mixed = ([c for c in new if c not in acc and c not in counted] if mix_head and sources
             and 3 <= len(archs) <= MIX_HEAD_MAX_LABELS else [])
    if mixed:
        X = decoded_medians(base, sources, archs)
        for c in mixed:
            base.mix_heads[c] = MixHead.fit(sources, X, Y[:, columns.index(c)])
    base.training_info["finetune"] = {"columns": columns, "started_from": like,
                                      "seen_in_pretraining": seen, "n": len(archs),
                                      "mix_heads": mixed,
                                      **({"count_heads": list(counted),
                                          "rehearsed": rehearsed} if counted else {})}
    base.training_info["base"] = base_info.get("base", {})
    return base


def _count_head_sources(base: RLM, columns: Sequence[str], accuracy: Collection[str],
                        weights: Mapping[str, float]) -> dict[str, list[str]]:
    """Per column of ``weights`` (checked: a device column of this fine-tune, a weight in
    (0, 1]), the sources of its count head: the counts of the graph it reads."""
    wrong = sorted(set(weights) - set(columns) | (set(weights) & set(accuracy)))
    if wrong:
        raise NasRlmError(f"count heads are for device columns of the fine-tune; "
                          f"{', '.join(wrong)} is not one (columns: {', '.join(columns)})")
    bad = {c: w for c, w in weights.items() if not 0.0 < float(w) <= 1.0}
    if bad:
        raise NasRlmError(f"a count head's weight is in (0, 1], got {bad}")
    out = {c: count_head_sources(base, base.view_of_objective(c)) for c in weights}
    none = sorted(c for c, v in out.items() if not v)
    if none:
        raise NasRlmError(f"this base decodes no varied counts of the graph "
                          f"{', '.join(none)} reads, so it has no count head to give")
    return out


def decoded_medians(rlm: RLM, names: Sequence[str], archs: Sequence) -> np.ndarray:
    """``rlm``'s exact medians of its objectives ``names`` on ``archs``, ``(n, len(names))``;
    its current objectives are restored after."""
    if not names:
        return np.empty((len(archs), 0))
    current = rlm.objectives
    rlm.set_objectives(list(names))
    try:
        return rlm.predict_median(archs)
    finally:
        rlm.set_objectives(current)


def graph_views(space: SearchSpace, recipe: RLMRecipe) -> tuple[bool, bool]:
    """Whether device objectives of this space read its executed graph (the recipe asks for
    it, and the space's executed graphs differ from its optimised ones at all), and whether
    a converter device then reads a converted graph of the space's own."""
    ex = space.executed()
    if (not recipe.executed_text or recipe.model.chained or ex is space
            or ex.settings() == space.settings()):
        return False, False
    return True, space.converted_view().settings() != ex.settings()


def device_views(space: SearchSpace, objectives: Sequence[str], recipe: RLMRecipe,
                 accuracy: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """The objectives that read the executed graph, and those that read the converted one:
    every non-accuracy one reads the graph its device ran (:func:`graph_views`); a
    ``CONVERTER_COLUMNS`` device reads the converted graph where the space has one of its
    own."""
    executed_view, converted_view = graph_views(space, recipe)
    if not executed_view:
        return [], []
    acc = set(ACCURACY_NAMES if accuracy is None else accuracy)
    devices = [o for o in objectives if o not in acc]
    if not converted_view:
        return devices, []
    return ([o for o in devices if o not in CONVERTER_COLUMNS],
            [o for o in devices if o in CONVERTER_COLUMNS])


class RecipeRLM(Surrogate):
    """An RLM trained by a recipe, behind the common :class:`Surrogate` contract: what
    ``nas-rlm evaluate`` fits per cell and the assisted loop refits per round.

    :meth:`fit` runs :func:`train_rlm` from scratch (BPE, optional pretraining, fine-tuning),
    accuracies first (a chained model conditions later values on them, DESIGN §1.3); the
    predictions come back in the caller's column order. :meth:`refit` continues from the
    current weights for ``refit_fraction`` of the recipe's steps: retraining from scratch
    every round would cost the full recipe again for a few hundred new labels. With
    pretraining, ``base_dir`` keeps the pretrained base for every fit of the same seed.
    """

    def __init__(self, space: SearchSpace | str, objectives: Sequence[str] = (),
                 recipe: RLMRecipe | None = None, seed: int = 0,
                 accuracy: Sequence[str] | None = None, threads: int = 1,
                 tokenizer_archs: int = 0, refit_fraction: float = 0.25,
                 base_dir: str | os.PathLike | None = None) -> None:
        self.space, self.recipe = as_space(space), recipe or DEFAULT_RECIPE
        self.base_dir = None if base_dir is None else Path(base_dir)
        self.objectives: list[str] = list(objectives)
        self.seed, self.threads, self.tokenizer_archs = seed, threads, tokenizer_archs
        self.accuracy = None if accuracy is None else list(accuracy)
        self.refit_fraction = refit_fraction
        self.rlm: RLM | None = None

    def fit(self, archs: Sequence, Y: np.ndarray, seed: int | None = None) -> RecipeRLM:
        Y = np.asarray(Y, dtype=np.float64).reshape(len(archs), -1)
        self.objectives = self.objectives or [f"y{j}" for j in range(Y.shape[1])]
        first = set(ACCURACY_NAMES if self.accuracy is None else self.accuracy)
        order = sorted(range(len(self.objectives)),
                       key=lambda j: self.objectives[j] not in first)  # stable
        self._order, self._back = order, np.argsort(order)
        self.rlm = train_rlm(self.space, archs, Y[:, order],
                             [self.objectives[j] for j in order], self.recipe,
                             seed=self.seed if seed is None else seed, progress=False,
                             threads=self.threads, accuracy=self.accuracy,
                             tokenizer_archs=self.tokenizer_archs, base_dir=self.base_dir)
        return self

    def refit(self, archs: Sequence, Y: np.ndarray, round_: int = 0) -> RecipeRLM:
        """The assisted loop's :data:`~nas_rlm.search.budgeted.Fitter`: the full recipe the
        first time (seeded by the round, so a resumed loop trains as a fresh one would), then
        warm-started on all labels so far. Early stopping keeps the best weights each time."""
        if self.rlm is None:
            return self.fit(archs, Y, seed=self.seed + round_)
        Y = np.asarray(Y, dtype=np.float64).reshape(len(archs), -1)
        cfg = replace(self.recipe.train, seed=self.seed + round_, threads=self.threads,
                      progress=False,
                      steps=max(1, round(self.recipe.train.steps * self.refit_fraction)))
        self.rlm.fit(archs, Y[:, self._order], **asdict(cfg))
        return self

    def predict(self, archs: Sequence, k: int = 8) -> np.ndarray:
        return self._fitted().predict(archs, k=k, seed=self.seed)[:, :, self._back]

    def predict_point(self, archs: Sequence) -> np.ndarray:
        return self._fitted().predict_point(archs)[:, self._back]

    def predict_expected(self, archs: Sequence) -> np.ndarray:
        return self._fitted().predict_expected(archs)[:, self._back]

    def predict_median(self, archs: Sequence) -> np.ndarray:
        return self._fitted().predict_median(archs)[:, self._back]

    def save(self, path: str | os.PathLike) -> Path:
        """The trained RLM (its objectives in its own decoding order)."""
        return self._fitted().save_pretrained(path)

    def _fitted(self) -> RLM:
        if self.rlm is None:
            raise NasRlmError("this RLM is not trained yet: call fit first")
        return self.rlm


class FinetunedRLM(Surrogate):
    """A pretrained base fine-tuned on each objective alone, behind the :class:`Surrogate`
    contract: ``nas-rlm evaluate --surrogates rlm_base``.

    One fine-tune per objective, each with the budget :func:`finetune_budget` gives its kind
    and ``N`` (as ``nas-rlm finetune`` does); from ``SELECT_EPOCHS_MIN_LABELS`` labels on, a
    device's passes over the labels are chosen among ``epoch_choices`` on a fifth of them
    (:func:`select_epochs`), with the weight of its count head (``count_head_weights``, a
    linear :class:`MixHead` over decoded counts of the graph the device ran; with
    ``count_head_guard`` a weight must beat the token in that share of bootstrap resamples
    of the fifth), and recorded in the model's ``training_info["finetune"]``. The choice
    reads the base's counts; the final fine-tune rehearses them and carries its head over
    its own (``finetune_rlm``'s ``count_heads``), so a saved fine-tune is the whole model.
    An accuracy is fine-tuned ``accuracy_members`` times, with seeds ``MEMBER_SEED_STRIDE``
    apart, and read out as their mean (``FINETUNE_ACCURACY_MEMBERS``). The base is reloaded
    for every fine-tune (fine-tuning changes it in place). A base that saw an objective in
    pretraining is refused by :meth:`fit` before any fine-tuning (``evaluate`` refuses it
    before any cell): its figure would not be one from ``N`` labels.
    """

    def __init__(self, space: SearchSpace | str, objectives: Sequence[str] = (),
                 base_dir: str | os.PathLike | None = None, seed: int = 0,
                 accuracy: Sequence[str] | None = None, threads: int = 1,
                 train: TrainConfig = FINETUNE_TRAIN,
                 accuracy_train: TrainConfig = FINETUNE_ACCURACY_TRAIN,
                 epochs: float = FINETUNE_EPOCHS,
                 freeze_devices: bool = FREEZE_DEVICE_ENCODER,
                 digit_sigma: float = FINETUNE_DIGIT_SIGMA,
                 epoch_choices: Sequence[float] = FINETUNE_EPOCH_CHOICES,
                 accuracy_batch: int = FINETUNE_ACCURACY_BATCH,
                 freeze_few_accuracies: bool = FREEZE_FEW_ACCURACIES,
                 accuracy_members: int = FINETUNE_ACCURACY_MEMBERS,
                 accuracy_epochs: float = FINETUNE_ACCURACY_EPOCHS,
                 count_head_weights: Sequence[float] = COUNT_HEAD_WEIGHTS,
                 count_head_guard: float = COUNT_HEAD_GUARD) -> None:
        from .pretrained import default_base_dir

        self.space = as_space(space)
        self.objectives: list[str] = list(objectives)
        self.base_dir = Path(base_dir) if base_dir is not None else default_base_dir(
            self.space.name)
        self.seed, self.threads = seed, threads
        self.accuracy = sorted(ACCURACY_NAMES if accuracy is None else accuracy)
        self.train, self.accuracy_train, self.epochs = train, accuracy_train, epochs
        self.freeze_devices, self.digit_sigma = freeze_devices, digit_sigma
        self.epoch_choices, self.accuracy_batch = tuple(epoch_choices), accuracy_batch
        self.freeze_few_accuracies, self.accuracy_epochs = freeze_few_accuracies, accuracy_epochs
        if isinstance(accuracy_members, bool) or int(accuracy_members) < 1:
            raise NasRlmError(f"accuracy_members must be >= 1 fine-tune, got "
                              f"{accuracy_members!r}")
        self.accuracy_members = int(accuracy_members)
        self.count_head_weights = tuple(float(w) for w in count_head_weights)
        self.count_head_guard = float(count_head_guard)
        self.models: list[list[RLM]] = []  # per objective, its fine-tunes (averaged)
        self._reader: RLM | None = None  # the base, reading the counts a choice weighs

    def fit(self, archs: Sequence, Y: np.ndarray) -> FinetunedRLM:
        Y = np.asarray(Y, dtype=np.float64).reshape(len(archs), -1)
        self.objectives = self.objectives or [f"y{j}" for j in range(Y.shape[1])]
        if Y.shape[1] != len(self.objectives):
            raise NasRlmError(f"labels have {Y.shape[1]} columns for objectives "
                              f"{self.objectives}")
        # a fresh base per objective (fine-tuning changes it in place); the first load checks
        # every objective, so a base that saw one is refused before any fine-tuning
        load_base(self.base_dir, self.space.name, self.objectives)
        self.models = []
        for j, o in enumerate(self.objectives):
            epochs, weight, scores, head = self.epochs, 0.0, None, None
            choose = len(archs) >= SELECT_EPOCHS_MIN_LABELS and o not in self.accuracy
            if choose and any(self.count_head_weights):
                reader = self._base_reader()
                view = new_column_views(reader, [o], self.accuracy)[o]
                sources = count_head_sources(reader, view)
                head = ((sources, decoded_medians(reader, sources, archs)) if sources
                        else None)
            if choose and (len(self.epoch_choices) > 1 or head is not None):
                epochs, weight, scores = select_epochs(
                    self.base_dir, self.space.name, archs, Y[:, [j]], [o],
                    lambda n, passes, o=o: self.budget(o, n, passes), self.epoch_choices,
                    self.seed, self.accuracy, self.threads, head, self.count_head_weights,
                    self.count_head_guard)
            members = [finetune_rlm(load_base(self.base_dir, self.space.name, self.objectives),
                                    archs, Y[:, [j]], [o], self.budget(o, len(archs), epochs),
                                    seed=self.seed + MEMBER_SEED_STRIDE * i,
                                    accuracy=self.accuracy, progress=False,
                                    threads=self.threads,
                                    count_heads={o: weight} if weight else None)
                       for i in range(self.accuracy_members if o in self.accuracy else 1)]
            if scores is not None:
                members[0].training_info["finetune"]["epochs_chosen"] = {
                    "epochs": epochs, **scores, **({"head_weight": weight} if head else {})}
            self.models.append(members)
        self._reader = None  # the fine-tunes carry their heads: the base is not read again
        return self

    def _base_reader(self) -> RLM:
        """The base, loaded once, whose decoded counts a choice of count head weighs."""
        if self._reader is None:
            self._reader = load_base(self.base_dir, self.space.name, self.objectives)
        return self._reader

    def fit_info(self) -> dict[str, dict]:
        """Per objective, the passes and count-head weight :func:`select_epochs` chose and
        the validation τ of each (empty where no choice was made): ``nas-rlm evaluate``
        records it in the cell."""
        return {o: g[0].training_info["finetune"]["epochs_chosen"]
                for o, g in zip(self.objectives, self._fitted(), strict=True)
                if "epochs_chosen" in g[0].training_info.get("finetune", {})}

    def budget(self, objective: str, n: int, epochs: float | None = None) -> TrainConfig:
        """The budget for ``n`` labels of ``objective``, at ``epochs`` passes (default: this
        surrogate's ``epochs``)."""
        return finetune_budget([objective], n, self.accuracy,
                               self.epochs if epochs is None else epochs, self.train,
                               self.accuracy_train, self.freeze_devices, self.digit_sigma,
                               self.accuracy_batch, self.freeze_few_accuracies,
                               self.accuracy_epochs)

    def predict(self, archs: Sequence, k: int = 8) -> np.ndarray:
        """``k`` samples per objective; an objective's fine-tunes share them out (the first
        ones one more where ``k`` does not divide), so its samples are their mixture."""
        def pooled(members: list[RLM]) -> np.ndarray:
            ks = [k // len(members) + (i < k % len(members)) for i in range(len(members))]
            return np.concatenate([m.predict(archs, k=ki, seed=self.seed)
                                   for m, ki in zip(members, ks, strict=True) if ki], axis=1)

        return np.concatenate([pooled(g) for g in self._fitted()], axis=2)

    def predict_point(self, archs: Sequence) -> np.ndarray:
        return self._mean("predict_point", archs)

    def predict_expected(self, archs: Sequence) -> np.ndarray:
        return self._mean("predict_expected", archs)

    def predict_median(self, archs: Sequence) -> np.ndarray:
        return self._mean("predict_median", archs)

    def _mean(self, readout: str, archs: Sequence) -> np.ndarray:
        """Per objective, the mean of its fine-tunes' ``readout``."""
        return np.concatenate([np.mean([getattr(m, readout)(archs) for m in g], axis=0)
                               for g in self._fitted()], axis=1)

    def save(self, path: str | os.PathLike) -> Path:
        """One model dir per fine-tune: ``path/<objective>``, or ``path/<objective>/<i>``
        where an objective has several."""
        path = Path(path)
        for o, g in zip(self.objectives, self._fitted(), strict=True):
            for i, m in enumerate(g):
                m.save_pretrained(path / o / str(i) if len(g) > 1 else path / o)
        return path

    def _fitted(self) -> list[list[RLM]]:
        if not self.models:
            raise NasRlmError("this RLM is not fine-tuned yet: call fit first")
        return self.models

"""The multi-space pretraining corpus (DESIGN §3 few-shot): one text per arch, many labels.

A base that must serve every space has to read every space's texts, so the corpus holds
sampled archs of each space with what can be known about them without training them:

- computed labels of the graph the text shows (``CORPUS_LABELS``: MFLOPs, thousands of
  params, op counts, activation elements); where a space's devices ran another graph (NB201's
  dead branches), the same labels of that graph under ``executed_`` and, where it differs,
  its text as ``executed_text``;
- onnxruntime latency on this machine (``cpu_ms``) for the first ``latency_archs`` of each
  space, the one label here that costs real time;
- the table latency columns of the *source* devices (NB201, FBNet, OFA-MBv3), never an
  excluded column (by default every DESIGN §3 held-out device, in every table that has it)
  and never a held-out test arch: table spaces draw their archs from the DESIGN §3 training
  pool, so no label of any column reaches a test arch.

It is built by :func:`build_corpus` (``nas-rlm corpus``) into a cache directory, in parts of
``chunk`` archs per space, each written atomically: a killed build resumes at the first
missing part, and a rebuild with other settings is refused (:func:`nas_rlm.run_dir.claim`).
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data.splits import HELDOUT_DEVICES, TABLE_SIZES
from ..errors import ConfigError, NasRlmError, UnknownNameError
from ..io import atomic_write_bytes, write_json
from ..search_spaces import SPACES, SearchSpace, get_space
from ..search_spaces.latency import measure_latency
from ..search_spaces.onnx_stats import count_activations
from ..search_spaces.onnx_text import TEXT_FORMAT, to_text
from .recipes import EXECUTED, PRETRAIN_OBJECTIVES, graph_labels, pretraining_archs

#: Labels computed from the graph each text shows (``executed_`` + these for the executed
#: text where a space has one): the pretraining labels, plus activation elements in millions.
CORPUS_LABELS: tuple[str, ...] = (*PRETRAIN_OBJECTIVES, "mact")
#: onnxruntime latency of the optimised graph on this machine, ms (batch 1, one thread).
CPU_LATENCY = "cpu_ms"
#: Where each build records its per-part build seconds and the summary.
TIMINGS, SUMMARY = "timings.json", "summary.json"


@dataclass(frozen=True)
class CorpusConfig:
    """What a corpus holds; a build resumes only a directory made with the same config."""

    spaces: tuple[str, ...] = tuple(SPACES)  # every space by default
    archs: int = 1000            # archs per space (table spaces: training-pool rows, at most)
    latency_archs: int = 50      # of those, the first ones (at most) timed here
    exclude_columns: tuple[str, ...] | None = None  # None: the DESIGN §3 held-out devices
    seed: int = 0
    chunk: int = 100             # archs per part file, the unit of resume
    warmup: int = 2              # onnxruntime runs discarded before timing
    repeats: int = 5             # timed runs; the median is the label

    def __post_init__(self) -> None:
        unknown = [s for s in self.spaces if s not in SPACES]
        if unknown or not self.spaces:
            raise UnknownNameError(f"unknown space(s) {unknown or '(none given)'}; spaces: "
                                   f"{', '.join(SPACES)}")
        if self.archs < 1 or self.latency_archs < 0 or self.chunk < 1:
            raise ConfigError("CorpusConfig needs archs >= 1, latency_archs >= 0 and "
                              "chunk >= 1")
        if self.repeats < 1 or self.warmup < 0:
            raise ConfigError("CorpusConfig needs repeats >= 1 and warmup >= 0")


def excluded_columns(config: CorpusConfig, data_dir: str | os.PathLike | None = None
                     ) -> dict[str, list[str]]:
    """Per table space of ``config``, the latency columns the corpus must never hold. A
    device is the same device in every space, so a name is excluded from every table that
    has it: by default every DESIGN §3 held-out device of any space (FBNet's table has
    NB201's held-out gold_6226 and pixel2 as ordinary columns; a base that learnt them there
    would have seen the device). A name no chosen table has is an error, so a typo cannot
    leave a held-out device in."""
    from ..data.tables import load_latency

    tables = [s for s in config.spaces if s in TABLE_SIZES]
    columns = {s: list(load_latency(s, data_dir).device_names) for s in tables}
    if config.exclude_columns is None:
        held = list(dict.fromkeys(c for cols in HELDOUT_DEVICES.values() for c in cols))
        return {s: [c for c in held if c in columns[s]] for s in tables}
    unknown = [c for c in config.exclude_columns
               if not any(c in cols for cols in columns.values())]
    if unknown:
        raise UnknownNameError(f"cannot exclude {unknown}: no latency column of "
                               f"{', '.join(tables) or 'the chosen spaces'} has that name")
    return {s: [c for c in config.exclude_columns if c in columns[s]] for s in tables}


def corpus_archs(space: SearchSpace, config: CorpusConfig, sources: Sequence[str],
                 data_dir: str | os.PathLike | None = None) -> tuple[list, np.ndarray | None]:
    """``(archs, Y)``: the space's corpus archs in build order and, for a table space, its
    ``sources`` columns on them. Table spaces draw training-pool rows only (the same rows a
    single-space base draws, :func:`~nas_rlm.surrogates.recipes.source_table`); other spaces
    sample, without repeats."""
    from ..data.tables import load_latency
    from .recipes import source_rows, source_table

    if space.name in TABLE_SIZES:
        if sources:
            archs, Y = source_table(space, sources, config.archs, config.seed, data_dir)
            return [space.parse(a) for a in archs], Y
        table = load_latency(space.name, data_dir).archs
        rows = source_rows(space.name, len(table), config.archs, config.seed)
        return [space.parse(table[i]) for i in rows], np.empty((len(rows), 0))
    seen, archs = set(), []
    for a in pretraining_archs(space, config.archs, config.seed):
        key = space.to_string(a)
        if key not in seen:
            seen.add(key)
            archs.append(a)
    return archs, None


def _graph_row(space: SearchSpace, arch, prefix: str) -> tuple[str, dict[str, float]]:
    model = space.to_onnx(arch, weights="none")
    labels = [*graph_labels(space, arch, model), count_activations(model) / 1e6]
    named = zip(CORPUS_LABELS, labels, strict=True)
    return to_text(model), {prefix + k: float(v) for k, v in named}


def corpus_row(space: SearchSpace, arch, timed: bool, config: CorpusConfig,
               table: dict[str, float] | None = None) -> dict:
    """One corpus row: the arch, its text(s) and labels (``table``: source columns)."""
    text, labels = _graph_row(space, arch, "")
    row = {"arch": space.to_string(arch), "text": text}
    executed = space.executed()
    if executed.settings() != space.settings():
        executed_text, more = _graph_row(executed, arch, EXECUTED)
        labels.update(more)
        if executed_text != text:  # kept only where it differs; labels are always there
            row["executed_text"] = executed_text
    if timed:
        labels[CPU_LATENCY] = measure_latency(
            space.to_onnx(arch, weights="random"), warmup=config.warmup,
            repeats=config.repeats, threads=1).median_ms
    labels.update(table or {})
    row["labels"] = labels
    return row


def _part(out: Path, space: str, i: int) -> Path:
    return out / space / f"part-{i:05d}.jsonl.gz"


def build_corpus(out: str | os.PathLike, config: CorpusConfig | None = None,
                 data_dir: str | os.PathLike | None = None, progress: bool = True,
                 force_restart: bool = False) -> dict:
    """Build (or resume) the corpus in ``out`` and return its summary (also written to
    ``out/summary.json``): rows, parts, bytes and build seconds per space, the columns
    each table space gave and those it withheld."""
    from tqdm import tqdm

    from ..run_dir import claim, data_fingerprint

    config = config or CorpusConfig()
    out = Path(out)
    excluded = excluded_columns(config, data_dir)  # validates before the directory is taken
    claim(out, {"corpus": asdict(config), "text_format": TEXT_FORMAT, "excluded": excluded,
                "tables": {s: data_fingerprint(s) for s in excluded}}, force_restart)
    timings_path = out / TIMINGS
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    plans = []
    for name in config.spaces:
        space = get_space(name)
        sources = []
        if name in excluded:
            from ..data.splits import source_devices
            sources = source_devices(name, excluded[name], data_dir)
        archs, Y = corpus_archs(space, config, sources, data_dir)
        plans.append((space, sources, archs, Y))
    total = sum(len(p[2]) for p in plans)
    bar = tqdm(total=total, desc="corpus", unit="arch", disable=not progress)
    for space, sources, archs, Y in plans:
        for i, start in enumerate(range(0, len(archs), config.chunk)):
            part = _part(out, space.name, i)
            stop = min(start + config.chunk, len(archs))
            if part.is_file():
                bar.update(stop - start)
                continue
            bar.set_postfix_str(space.name)
            t0, rows = time.perf_counter(), []
            for j in range(start, stop):
                table = None if Y is None else {
                    c: float(Y[j, k]) for k, c in enumerate(sources) if np.isfinite(Y[j, k])}
                rows.append(corpus_row(space, archs[j], j < config.latency_archs, config,
                                       table))
                bar.update()
            data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()
            atomic_write_bytes(part, gzip.compress(data, mtime=0))
            timings[part.relative_to(out).as_posix()] = round(time.perf_counter() - t0, 3)
            write_json(timings_path, timings)
    bar.close()
    summary = {"out": str(out), "config": asdict(config), "spaces": {}}
    for space, sources, archs, _ in plans:
        parts = sorted((out / space.name).glob("part-*.jsonl.gz"))
        summary["spaces"][space.name] = {
            "rows": len(archs), "parts": len(parts),
            "bytes": sum(p.stat().st_size for p in parts),
            "seconds": round(sum(timings.get(p.relative_to(out).as_posix(), 0.0)
                                 for p in parts), 1),
            "timed_rows": min(config.latency_archs, len(archs)),
            "source_columns": list(sources), "excluded_columns": excluded.get(space.name, []),
        }
    summary["rows"] = sum(s["rows"] for s in summary["spaces"].values())
    summary["bytes"] = sum(s["bytes"] for s in summary["spaces"].values())
    summary["seconds"] = round(sum(s["seconds"] for s in summary["spaces"].values()), 1)
    write_json(out / SUMMARY, summary)
    return summary


def read_corpus(out: str | os.PathLike, spaces: Sequence[str] | None = None
                ) -> Iterator[dict]:
    """The rows of a built corpus, space by space in build order, each with its ``space``.
    An unfinished build or a damaged part is an error naming the file."""
    out = Path(out)
    path = out / SUMMARY
    if not path.is_file():
        raise NasRlmError(f"{out} holds no finished corpus (no {SUMMARY}); run "
                          "`nas-rlm corpus --out` on it to build or resume it")
    summary = json.loads(path.read_text())
    for name in spaces or list(summary["spaces"]):
        if name not in summary["spaces"]:
            raise UnknownNameError(f"the corpus in {out} has no space {name!r}; it has "
                                   f"{', '.join(summary['spaces'])}")
        for i in range(summary["spaces"][name]["parts"]):
            part = _part(out, name, i)
            try:
                lines = gzip.decompress(part.read_bytes()).decode().splitlines()
                rows = [json.loads(line) for line in lines]
            except (OSError, EOFError, ValueError) as e:
                raise NasRlmError(f"{part} is missing or damaged ({e}); rerun `nas-rlm "
                                  "corpus` on the same --out after deleting it") from None
            for row in rows:
                yield {"space": name, **row}


def corpus_dataset(out: str | os.PathLike, spaces: Sequence[str] | None = None):
    """What a multi-space base trains on: ``(views, Y, objectives, executed, rows)``. Per
    row its two texts (optimised, executed); ``Y`` has one column per label of each space
    (named by :func:`~.rlm.space_objective`), NaN where a row lacks it; ``executed`` names
    the labels read from the executed text (its computed labels and every device column);
    ``rows`` counts rows per space."""
    from .rlm import Views, space_objective

    rows = list(read_corpus(out, spaces))
    if not rows:
        raise NasRlmError(f"the corpus in {out} has no rows for {spaces or 'any space'}")
    present: dict[str, dict[str, None]] = {}  # per space, its labels in first-seen order
    for r in rows:
        present.setdefault(r["space"], {}).update(dict.fromkeys(r["labels"]))
    computed = [*CORPUS_LABELS, *(EXECUTED + k for k in CORPUS_LABELS), CPU_LATENCY]
    objectives, executed = [], []
    for space, labels in present.items():  # computed labels, then table columns
        columns = [k for k in labels if k not in computed]
        for k in [*(k for k in computed if k in labels), *columns]:
            objectives.append(space_objective(space, k))
            if k.startswith(EXECUTED) or k in columns:
                executed.append(objectives[-1])
    col = {o: j for j, o in enumerate(objectives)}
    Y = np.full((len(rows), len(objectives)), np.nan)
    for i, r in enumerate(rows):
        for k, v in r["labels"].items():
            Y[i, col[space_objective(r["space"], k)]] = v
    views = [Views((r["text"], r.get("executed_text", r["text"]))) for r in rows]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["space"]] = counts.get(r["space"], 0) + 1
    return views, Y, objectives, executed, counts


def pretrain_on_corpus(corpus_dir: str | os.PathLike, recipe=None, seed: int = 0,
                       spaces: Sequence[str] | None = None, out_dir: Path | None = None,
                       progress: bool = True, threads: int = 1):
    """A base for every space: BPE on all the corpus's texts, one token per label, trained
    on every label each row has (``recipe.pretrain_steps`` steps; checkpoints in
    ``out_dir``, from which a killed run resumes). It reads no space until it is fine-tuned
    on one (:meth:`RLM.bind_space`, done by ``load_base``)."""
    from dataclasses import replace

    from .recipes import DEFAULT_RECIPE

    recipe = recipe or DEFAULT_RECIPE
    rlm, views, Y, counts = _corpus_rlm(corpus_dir, recipe, seed, spaces)
    rlm.fit(views, Y, missing_ok=True, **asdict(replace(
        recipe.train, steps=recipe.pretrain_steps, seed=seed, progress=progress,
        threads=threads, checkpoint_dir=str(out_dir) if out_dir else None)))
    summary = json.loads((Path(corpus_dir) / SUMMARY).read_text())
    rlm.training_info["base"] = corpus_base_settings(summary, counts, rlm.objectives, recipe,
                                                     seed)
    return rlm


def snapshot_corpus_base(base_dir: str | os.PathLike, corpus_dir: str | os.PathLike,
                         recipe=None, seed: int = 0, spaces: Sequence[str] | None = None,
                         readout: str = "best"):
    """The best (or ``readout="latest"``) readout so far of the ``pretrain_on_corpus`` run
    checkpointed in ``base_dir/ckpt`` (same corpus, recipe and seed, or it is refused), as a
    base, while that run goes on: its ``training_info["snapshot"]`` and card name the step
    it was read at."""
    from dataclasses import replace

    from .recipes import DEFAULT_RECIPE
    from .training import TrainConfig, checkpoint_readout

    recipe = recipe or DEFAULT_RECIPE
    rlm, views, Y, counts = _corpus_rlm(corpus_dir, recipe, seed, spaces)
    cfg = TrainConfig(**asdict(replace(recipe.train, steps=recipe.pretrain_steps, seed=seed,
                                       checkpoint_dir=str(Path(base_dir) / "ckpt"))))
    checkpoint_readout(rlm, len(views), Y, cfg, missing_ok=True, readout=readout)
    summary = json.loads((Path(corpus_dir) / SUMMARY).read_text())
    rlm.training_info["base"] = corpus_base_settings(summary, counts, rlm.objectives, recipe,
                                                     seed)
    return rlm


def _corpus_rlm(corpus_dir, recipe, seed: int, spaces):
    """An untrained base for the corpus (its BPE learnt on every text), and what it trains on."""
    from .rlm import RLM

    if not recipe.model.objective_tokens:
        raise NasRlmError("a base of the multi-space corpus needs objective tokens (each "
                          "space's labels have their own): drop model.objective_tokens=false")
    views, Y, objectives, executed, counts = corpus_dataset(corpus_dir, spaces)
    rlm = RLM(objectives, None, recipe.model, executed_objectives=executed)
    rlm.build([t for v in views for t in dict.fromkeys(v)], seed=seed)
    return rlm, views, Y, counts


def corpus_base_settings(summary: dict, counts: dict[str, int], objectives: Sequence[str],
                         recipe, seed: int) -> dict:
    """What a multi-space base depends on (a saved base of other settings is refused)."""
    r = recipe.to_dict()
    sources = sorted({c for s in counts for c in summary["spaces"][s]["source_columns"]})
    return {"space": None, "spaces": dict(counts), "seed": seed,
            "space_settings": {s: get_space(s).settings() for s in counts},
            "corpus": summary["config"], "objectives": list(objectives),
            "source_columns": sources,
            "excluded_columns": {s: summary["spaces"][s]["excluded_columns"] for s in counts
                                 if summary["spaces"][s]["excluded_columns"]},
            "model": r["model"], "train": {k: v for k, v in r["train"].items() if k != "steps"},
            "pretrain_archs": sum(counts.values()), "pretrain_steps": recipe.pretrain_steps}


def load_or_pretrain_on_corpus(base_dir: str | os.PathLike, corpus_dir: str | os.PathLike,
                               recipe=None, seed: int = 0,
                               spaces: Sequence[str] | None = None, progress: bool = True,
                               threads: int = 1):
    """The multi-space base saved in ``base_dir/model``, or pretrain it (checkpoints in
    ``base_dir/ckpt``) and save it there; a saved base of other settings is refused. A lock
    file makes a second process that needs the same base wait for it."""
    from .recipes import DEFAULT_RECIPE, base_lock, saved_base

    recipe = recipe or DEFAULT_RECIPE
    model_dir = Path(base_dir) / "model"
    with base_lock(base_dir):
        if (model_dir / "rlm.json").is_file():
            _, _, objectives, _, counts = corpus_dataset(corpus_dir, spaces)
            summary = json.loads((Path(corpus_dir) / SUMMARY).read_text())
            return saved_base(model_dir, corpus_base_settings(summary, counts, objectives,
                                                              recipe, seed))
        rlm = pretrain_on_corpus(corpus_dir, recipe, seed, spaces, Path(base_dir) / "ckpt",
                                 progress, threads)
        rlm.save_pretrained(model_dir)
        return rlm


__all__ = ["CORPUS_LABELS", "CPU_LATENCY", "CorpusConfig", "build_corpus", "corpus_archs",
           "corpus_base_settings", "corpus_dataset", "corpus_row", "excluded_columns",
           "load_or_pretrain_on_corpus", "pretrain_on_corpus", "read_corpus",
           "snapshot_corpus_base"]

"""The ``nas-rlm`` command line: parses flags, calls the Python API, prints.

Errors that nas-rlm raises on purpose (bad arch strings, unknown devices, a missing data
directory, ...) are printed as one line and exit with status 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .errors import ArchError, NasRlmError
from .evaluation.fewshot import FewShotConfig
from .evaluation.ranking import EvaluationConfig
from .search.assisted import AssistedConfig
from .search.executors import EXECUTORS
from .search.run import SearchConfig
from .surrogates.model_sizes import MODEL_SIZES


# -- data ---------------------------------------------------------------------------------
def _cmd_data_verify(args: argparse.Namespace) -> int:
    from .data import resolve_data_dir, verify

    data_dir = resolve_data_dir(args.data_dir)
    checks = verify(data_dir)
    for c in checks:
        print(c)
    bad = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(bad)}/{len(checks)} files ok in {data_dir}")
    return 1 if bad else 0


def _cmd_data_pull(args: argparse.Namespace) -> int:
    from .data import pull, resolve_data_dir

    dest = resolve_data_dir(args.data_dir, must_exist=False)
    paths = pull(dest, base_url=args.url, progress=not args.quiet)
    print(f"{len(paths)} pinned files present and verified in {dest}")
    return 0


# -- space ----------------------------------------------------------------------------------
def _cmd_space_show(args: argparse.Namespace) -> int:
    from .search_spaces import get_space
    from .search_spaces.onnx_text import text_stats

    space = get_space(args.space)
    arch = space.parse(args.arch)
    info = {
        "space": space.name,
        "arch": space.to_string(arch),
        "vector": space.encode(arch).tolist(),
        "params": space.params(arch),
        "mflops": round(space.flops(arch) / 1e6, 5),
        "text": text_stats(space.to_text(arch)),
    }
    if hasattr(space, "index"):
        info["index"] = space.index(arch)
    print(json.dumps(info, indent=2))
    return 0


def _cmd_space_text(args: argparse.Namespace) -> int:
    from .search_spaces import get_space

    sys.stdout.write(get_space(args.space).to_text(args.arch))
    return 0


def _cmd_space_onnx(args: argparse.Namespace) -> int:
    from .io import atomic_write_bytes
    from .search_spaces import get_space
    from .search_spaces.onnx_check import check_runnable

    _out_file(args.output)
    model = get_space(args.space).to_onnx(args.arch, weights=args.weights, seed=args.seed)
    check_runnable(model)
    atomic_write_bytes(Path(args.output), model.SerializeToString())
    print(f"wrote {args.output} ({Path(args.output).stat().st_size:,} bytes; checked and run)")
    return 0


def _cmd_space_summary(args: argparse.Namespace) -> int:
    from .evaluation.space_summary import summarize_space
    from .search_spaces import get_space

    space = get_space(args.space)
    result = summarize_space(
        space, out_dir=Path(args.out or f"runs/{args.space}-summary"), limit=args.limit,
        workers=args.workers,
        data_dir=args.data_dir, progress=not args.quiet,
    )
    print(json.dumps(result, indent=2))
    return 0


def _out_file(path: str | None) -> None:
    """An ``--out`` that names a file: checked before any work, not after it."""
    if path and Path(path).is_dir():
        raise NasRlmError(f"--out {path} is a directory; give a file name")


def _arch_args(args: argparse.Namespace, space=None) -> list[str]:
    """Arch strings from the positional arguments, then from ``--file`` (one per line; with
    ``space``, a bad line is reported with its line number)."""
    archs = list(args.archs)
    if args.file:
        try:
            text = Path(args.file).read_text(encoding="utf-8-sig")
        except OSError as e:
            raise NasRlmError(f"cannot read the arch file {args.file}: {e.strerror}") from e
        except UnicodeDecodeError as e:
            raise NasRlmError(f"the arch file {args.file} is not UTF-8 text ({e.reason} at "
                              f"byte {e.start})") from e
        for no, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if space is not None:
                try:
                    space.parse(line.strip())
                except ArchError as e:
                    raise ArchError(f"{args.file}:{no}: {e}") from None
            archs.append(line.strip())
    return archs


# -- measure --------------------------------------------------------------------------------
def _cmd_measure(args: argparse.Namespace) -> int:
    from .search_spaces import get_space
    from .search_spaces.latency import measure_archs

    _out_file(args.out)
    space = get_space(args.space)
    archs = _arch_args(args, space)
    if args.sample:
        archs += [space.to_string(a) for a in space.sample(args.sample, args.seed)]
    if not archs:
        raise NasRlmError("nothing to measure: give arch strings, --file or --sample N")
    rows = measure_archs(
        space, archs, out=Path(args.out) if args.out else None, batch_size=args.batch_size,
        warmup=args.warmup, repeats=args.repeats, threads=args.threads,
        progress=not args.quiet,
    )
    if not args.out:
        print(json.dumps(rows, indent=2))
    else:
        print(f"wrote {len(rows)} rows to {args.out}")
    return 0


# -- argument types -------------------------------------------------------------------------
def _int_in(lo: int, hi: int | None = None):
    """An argparse type: an integer in ``lo..hi``; anything else is a one-line usage error."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}") from None
        if v < lo or (hi is not None and v > hi):
            bound = f">= {lo}" if hi is None else f"between {lo} and {hi:,}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {v}")
        return v
    parse.__name__ = "integer"
    return parse


SEED, THREADS, SAMPLES, POSITIVE = (_int_in(0, 2**32 - 1), _int_in(1, 256), _int_in(1, 1024),
                                    _int_in(1))
#: Two jobs side by side on 2 cores do most work at one thread each; a lone training job runs
#: about 1.7x faster on two (docs/rlm_v2.md, "The default model on 2 cores").
TORCH_THREADS_HELP = ("torch threads (1 per job beside another; 2 speed up a lone job, "
                      "~1.7x in training)")


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
    if not (0 < v < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return v


def _column_weights(text: str) -> dict[str, float]:
    """``COLUMN=WEIGHT,...`` with each weight in (0, 1]: ``finetune --count-heads``."""
    out: dict[str, float] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, eq, value = item.partition("=")
        try:
            w = float(value)
        except ValueError:
            w = float("nan")
        if not eq or not name.strip() or not 0.0 < w <= 1.0:
            raise argparse.ArgumentTypeError(f"expected COLUMN=WEIGHT with a weight in "
                                             f"(0, 1], got {item[:40]!r}")
        out[name.strip()] = w
    if not out:
        raise argparse.ArgumentTypeError("name at least one COLUMN=WEIGHT")
    return out


# -- surrogate ------------------------------------------------------------------------------
def _recipe(size: str, overrides: Sequence[str], **fields):
    """The one RLM recipe at ``size``, with ``--set`` overrides and the named flags (None:
    keep the recipe's value)."""
    from .surrogates.recipes import RLMRecipe

    items = [*overrides, *(f"{k}={json.dumps(v)}" for k, v in fields.items() if v is not None)]
    return RLMRecipe.sized(size).with_overrides(items)


def _cmd_train(args: argparse.Namespace) -> int:
    from .data import load_targets
    from .data.splits import train_indices
    from .io import write_json
    from .run_dir import claim, data_fingerprint
    from .surrogates.recipes import train_rlm

    objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    recipe = _recipe(args.size, args.set, **{
        "train.steps": args.steps, "train.batch_size": args.batch_size, "train.lr": args.lr,
        "train.patience": args.patience, "pretrain_archs": args.pretrain_archs,
        "pretrain_steps": args.pretrain_steps})
    archs, Y = load_targets(args.space, objectives, args.data_dir)
    idx = train_indices(args.space, args.n_train, args.seed)
    out = Path(args.out)
    claim(out, {"space": args.space, "objectives": objectives, "n_train": args.n_train,
                "seed": args.seed, "recipe": recipe.to_dict(),
                "data": data_fingerprint(args.space)}, args.force_restart)
    rlm = train_rlm(args.space, [archs[i] for i in idx], Y[idx], objectives, recipe,
                    seed=args.seed, out_dir=out, progress=not args.quiet, threads=args.threads)
    rlm.training_info["train_indices"] = idx.tolist()
    rlm.save_pretrained(out / "model")
    info = {k: v for k, v in rlm.training_info.items() if k not in ("history", "train_indices")}
    write_json(out / "train.json", {"objectives": objectives, "n_params": rlm.n_params, **info})
    print(json.dumps({"model": str(out / "model"), "n_params": rlm.n_params,
                      "best_step": info["best_step"], "best_val_tau": info["best_val_tau"],
                      "seconds": info["seconds"],
                      "learning_curve": str(out / "finetune_ckpt" / "learning_curve.png")},
                     indent=2))
    return 0


def _cmd_corpus(args: argparse.Namespace) -> int:
    import platformdirs

    from .surrogates.corpus import CorpusConfig, build_corpus

    spaces = None if args.spaces == "all" else tuple(
        s.strip() for s in args.spaces.split(",") if s.strip())
    exclude = None if args.exclude_columns is None else tuple(
        c.strip() for c in args.exclude_columns.split(",") if c.strip())
    config = CorpusConfig(**({"spaces": spaces} if spaces is not None else {}),
                          archs=args.archs, latency_archs=args.latency_archs,
                          exclude_columns=exclude, seed=args.seed)
    out = Path(args.out) if args.out else (
        Path(platformdirs.user_cache_dir("nas-rlm")) / f"corpus-seed{args.seed}")
    summary = build_corpus(out, config, args.data_dir, progress=not args.quiet,
                           force_restart=args.force_restart)
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    import torch

    from .data import load_latency
    from .data.splits import source_devices
    from .surrogates.base_card import write_base_card
    from .surrogates.recipes import load_or_pretrain_base

    torch.set_num_threads(args.threads)
    if args.corpus:
        return _pretrain_on_corpus(args)
    if args.snapshot:
        raise NasRlmError("--snapshot reads a `pretrain --corpus` run: pass --corpus")
    exclude = None if args.exclude_columns is None else [
        c.strip() for c in args.exclude_columns.split(",") if c.strip()]
    columns = source_devices(args.space, exclude, args.data_dir)
    excluded = [d for d in load_latency(args.space, args.data_dir).device_names
                if d not in columns]
    recipe = _recipe(args.size, args.set, pretrain_archs=args.archs,
                     pretrain_steps=args.steps, pretrain_sampled=args.sampled_archs)
    out = Path(args.out)
    if not args.quiet:
        print(f"pretraining on {len(columns)} source column(s) of {args.space}: "
              f"{', '.join(columns)}", file=sys.stderr)
    rlm = load_or_pretrain_base(out, args.space, [], recipe, seed=args.seed,
                                progress=not args.quiet, threads=args.threads,
                                source_columns=columns, data_dir=args.data_dir)
    card = write_base_card(rlm, out / "model", excluded)
    print(json.dumps({"model": str(out / "model"), "model_card": str(card),
                      "n_params": rlm.n_params, "source_columns": columns,
                      "excluded": excluded,
                      "learning_curve": str(out / "ckpt" / "learning_curve.png")}, indent=2))
    return 0


def _pretrain_on_corpus(args: argparse.Namespace) -> int:
    """``pretrain --corpus``: one base for every space of a ``nas-rlm corpus``."""
    from .surrogates.base_card import write_base_card
    from .surrogates.corpus import load_or_pretrain_on_corpus, snapshot_corpus_base

    if args.exclude_columns is not None:
        raise NasRlmError("--exclude-columns is a corpus setting with --corpus: build the "
                          "corpus with `nas-rlm corpus --exclude-columns ...`")
    if args.sampled_archs is not None:
        raise NasRlmError("--sampled-archs does not apply with --corpus: build the corpus "
                          "with `nas-rlm corpus --archs ...`")
    spaces = None if args.spaces is None else [
        s.strip() for s in args.spaces.split(",") if s.strip()]
    recipe = _recipe(args.size, args.set, pretrain_steps=args.steps)
    out = Path(args.out)
    if args.snapshot_readout != "best" and not args.snapshot:
        raise NasRlmError("--snapshot-readout chooses what --snapshot saves: pass --snapshot")
    if args.snapshot:  # the run goes on (or stays killed); its best or latest readout is saved
        rlm = snapshot_corpus_base(out, args.corpus, recipe, seed=args.seed, spaces=spaces,
                                   readout=args.snapshot_readout)
        model_dir = Path(args.snapshot)
        rlm.save_pretrained(model_dir)
    else:
        rlm = load_or_pretrain_on_corpus(out, args.corpus, recipe, seed=args.seed,
                                         spaces=spaces, progress=not args.quiet,
                                         threads=args.threads)
        model_dir = out / "model"
    info = rlm.training_info["base"]
    card = write_base_card(rlm, model_dir, info["excluded_columns"])
    print(json.dumps({"model": str(model_dir), "model_card": str(card),
                      "snapshot": rlm.training_info.get("snapshot"),
                      "n_params": rlm.n_params, "spaces": info["spaces"],
                      "source_columns": info["source_columns"],
                      "excluded": info["excluded_columns"],
                      "learning_curve": str(out / "ckpt" / "learning_curve.png")}, indent=2))
    return 0


def _cmd_finetune(args: argparse.Namespace) -> int:
    import torch

    from .io import write_json
    from .run_dir import claim
    from .search.evaluators import TableEvaluator
    from .search_spaces import get_space
    from .surrogates.recipes import finetune_budget, finetune_rlm, load_base

    torch.set_num_threads(args.threads)
    if args.base is None:
        from .surrogates.pretrained import default_base_dir

        args.base = str(default_base_dir(args.space))
    base = load_base(args.base, args.space)
    space = base.search_space or get_space(args.space)
    table = TableEvaluator.from_csv(space, args.csv).table
    archs = [space.to_string(a) for a in table.row]
    Y = table.lookup(list(table.row), table.columns)
    out = Path(args.out)
    train = replace(finetune_budget(table.columns, len(archs)), **{k: v for k, v in
                                       (("steps", args.steps), ("lr", args.lr)) if v})
    converted = (None if args.converted is None else
                 [c.strip() for c in args.converted.split(",") if c.strip()])
    inputs = {"base": str(Path(args.base).resolve()), "csv": str(Path(args.csv).resolve()),
              "columns": table.columns, "n": len(archs), "seed": args.seed,
              "train": train.settings(), "mix_head": args.mix_head}
    if converted is not None:  # recorded only where named, so older run dirs resume
        inputs["converted"] = converted
    if args.count_heads:  # as --converted
        inputs["count_heads"] = args.count_heads
    claim(out, inputs, args.force_restart)
    rlm = finetune_rlm(base, archs, Y, table.columns, train, seed=args.seed,
                       out_dir=out / "finetune_ckpt", progress=not args.quiet,
                       threads=args.threads, mix_head=args.mix_head, converted=converted,
                       count_heads=args.count_heads)
    rlm.save_pretrained(out / "model")
    info = rlm.training_info
    write_json(out / "finetune.json", {k: v for k, v in info.items() if k != "history"})
    print(json.dumps({"model": str(out / "model"), "columns": table.columns, "n": len(archs),
                      "started_from": info["finetune"]["started_from"],
                      "mix_heads": info["finetune"]["mix_heads"],
                      "count_heads": info["finetune"].get("count_heads", []),
                      "seconds": info["seconds"]}, indent=2))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from .io import atomic_write_text, write_csv
    from .surrogates.base import point_estimate, uncertainty
    from .surrogates.rlm import RLM

    _out_file(args.out)
    if args.model:
        rlm = RLM.from_pretrained(args.model)
    else:
        from .surrogates.pretrained import load_default

        rlm = load_default("nb201")
    archs = _arch_args(args, rlm.search_space)
    if not archs:
        raise NasRlmError("nothing to predict: give arch strings or --file")
    samples = rlm.predict(archs, k=args.k, seed=args.seed, progress=not args.quiet)
    ev = rlm.predict_expected(archs)
    med, spread = point_estimate(samples), uncertainty(samples)
    rows = []
    for i, a in enumerate(archs):
        row = {"arch": a}
        for j, o in enumerate(rlm.objectives):
            row[o] = float(med[i, j])
            row[f"{o}_expected"] = float(ev[i, j])
            row[f"{o}_spread"] = float(spread[i, j])
        rows.append(row)
    if args.out and args.out.lower().endswith(".csv"):
        write_csv(args.out, list(rows[0]), (list(r.values()) for r in rows))
    elif args.out:
        atomic_write_text(args.out, json.dumps(rows, indent=2) + "\n")
    else:
        print(json.dumps(rows, indent=2))
    return 0


# -- search ---------------------------------------------------------------------------------
def _cmd_search(args: argparse.Namespace) -> int:
    import torch

    from .search import run_search
    from .search_spaces import get_space
    from .surrogates.rlm import RLM

    torch.set_num_threads(args.threads)
    space = get_space(args.space)
    if args.model:
        rlm, name = RLM.from_pretrained(args.model), str(Path(args.model).resolve())
    else:
        from .surrogates.pretrained import default_model_dir, load_default

        rlm, name = load_default(args.space), str(default_model_dir(args.space))
    config = SearchConfig(args.objectives or SearchConfig.objectives, args.constraint,
                          algorithm=args.algorithm, pop_size=args.pop_size,
                          generations=args.generations, seed=args.seed, k=args.k)
    result = run_search(space, rlm, config, out_dir=args.out, data_dir=args.data_dir,
                        surrogate_name=name, progress=not args.quiet,
                        force_restart=args.force_restart)
    s = result.summary
    keys = ("status", "n_front", "hv_ratio", "igd_plus", "archs_scored", "surrogate_calls",
            "seconds")
    brief = {"out": str(result.out_dir), **{k: s[k] for k in keys if k in s}}
    print(json.dumps(brief, indent=2))
    if not result.feasible:
        print(f"nas-rlm: {result.message}", file=sys.stderr)
        return 1
    return 0


def _cmd_assisted(args: argparse.Namespace) -> int:
    import torch

    from .search.assisted import run_assisted
    from .search_spaces import get_space

    torch.set_num_threads(args.threads)
    space = get_space(args.space)
    default = ("accuracy,latency:local_cpu" if args.evaluator == "train"
               else AssistedConfig.objectives)
    config = AssistedConfig(args.objectives or default, args.constraint,
                            surrogate=args.surrogate, budget=args.budget, n_init=args.init,
                            batch=args.batch, pop_size=args.pop_size,
                            generations=args.generations, seed=args.seed)
    trainer = None
    if args.evaluator == "train":
        from .search.candidate_training import TrainingEvaluator, TrainingJob
        from .search.executors import make_executor

        job = TrainingJob(space.name, args.dataset, epochs=args.epochs,
                          batch_size=args.train_batch_size, seed=args.seed,
                          size={"channels": args.train_channels, "cells": args.train_cells},
                          space_settings=space.settings())
        trainer = TrainingEvaluator(space, job, make_executor(args.executor, args.jobs,
                                                              args.address),
                                    store_dir=Path(args.out) / "evaluations")
    elif args.executor != "processes" or args.address or args.jobs != 1:
        raise NasRlmError("--executor, --address and --jobs run trainings: they need "
                          "--evaluator train (table lookups run in this process)")
    s = run_assisted(space, config, accuracy_csv=args.accuracy_csv,
                     accuracy_column=args.accuracy_column,
                     measure_latency=args.measure_latency, accuracy_evaluator=trainer,
                     out_dir=args.out, data_dir=args.data_dir, progress=not args.quiet,
                     force_restart=args.force_restart)
    keys = ("status", "n_evals", "n_front", "hv_ratio", "igd_plus", "seconds")
    print(json.dumps({"out": args.out, **{k: s[k] for k in keys if k in s}}, indent=2))
    if "note" in s:
        print(f"nas-rlm: note: {s['note']}", file=sys.stderr)
    if s["status"] != "ok":
        print(f"nas-rlm: {s['message']}", file=sys.stderr)
        return 1
    return 0


# -- evaluate -------------------------------------------------------------------------------
def _int_list(text: str, flag: str) -> list[int]:
    """``"78,390,781"``, ``"0-4"`` or a mix (``"0-2,4"``; ranges are inclusive)."""
    out: list[int] = []
    for part in (x.strip() for x in text.split(",") if x.strip()):
        lo, dash, hi = part.partition("-")
        try:
            out += list(range(int(lo), int(hi) + 1)) if dash else [int(part)]
        except ValueError:
            raise NasRlmError(f"bad {flag} {text!r}: use e.g. 0-4 or 78,390,781") from None
    if not out:
        raise NasRlmError(f"{flag} is empty")
    return out


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from .evaluation.ranking import evaluate

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    recipe = _recipe(args.rlm_size, args.rlm_set, **{
        "train.steps": args.rlm_steps, "pretrain_archs": args.rlm_pretrain_archs,
        "pretrain_steps": args.rlm_pretrain_steps})
    config = EvaluationConfig(
        args.space, [t.strip() for t in args.targets.split(",") if t.strip()],
        [s.strip() for s in args.surrogates.split(",") if s.strip()],
        _int_list(args.ns, "--ns"), _int_list(args.seeds, "--seeds"),
        test_limit=args.test_limit, rlm_recipe=recipe, rlm_base=args.rlm_base)
    res = evaluate(config, out_dir=out, data_dir=args.data_dir, progress=not args.quiet,
                   save_models=args.save_models, threads=args.threads,
                   force_restart=args.force_restart)
    if args.quiet:  # evaluate printed nothing
        print((out / "table.md").read_text().rstrip())
    print(f"{res['cells_run']} cells run, {res['cells_resumed']} resumed; results in "
          f"{out / 'results.json'} and {out / 'results.csv'}, plots in {out / 'plots'}")
    return 0


def _cmd_fewshot(args: argparse.Namespace) -> int:
    import torch

    from .evaluation.fewshot import FewShotConfig, fewshot

    torch.set_num_threads(args.threads)
    config = FewShotConfig(
        args.space, tuple(c.strip() for c in (args.devices or "").split(",") if c.strip()),
        tuple(_int_list(args.sizes, "--sizes")), tuple(_int_list(args.seeds, "--seeds")),
        tuple(m.strip() for m in args.methods.split(",") if m.strip()),
        test_limit=args.test_limit, finetune_steps=args.finetune_steps)
    if args.base is None and "rlm_base" in config.methods:
        from .surrogates.pretrained import default_base_dir

        args.base = str(default_base_dir(args.space))  # as `finetune` and `evaluate` do
    res = fewshot(config, base_dir=args.base, out_dir=args.out, data_dir=args.data_dir,
                  progress=not args.quiet, threads=args.threads,
                  force_restart=args.force_restart)
    if args.quiet:
        print((Path(args.out) / "table.md").read_text().rstrip())
    print(f"{res['cells_run']} cells run, {res['cells_resumed']} resumed; results in "
          f"{Path(args.out) / 'results.json'}")
    return 0


# -- parser ---------------------------------------------------------------------------------
def _search_spec_args(p: argparse.ArgumentParser) -> None:
    """What to search for, spelled the same way by `search` and `assisted`."""
    p.add_argument("--space", default="nb201")
    p.add_argument("--objectives",
                   help="comma-separated: accuracy (maximised), latency:DEVICE (minimised); "
                   "default accuracy,latency:pixel3 (with --evaluator train: "
                   "accuracy,latency:local_cpu)")
    p.add_argument("--constraint", action="append",
                   help="a budget such as 'latency:pixel3<=4.5' (repeatable; also >=)")


def _run_dir_args(p: argparse.ArgumentParser, default: str,
                  help: str = "run dir; rerun to resume") -> None:
    """``--out`` and ``--force-restart``, spelled the same by every command that writes a
    run dir (``run_dir.claim`` refuses a dir made with other inputs unless told)."""
    p.add_argument("--out", default=default, help=help)
    p.add_argument("--force-restart", action="store_true",
                   help="empty the run dir first, even if it holds a run of other inputs")


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, like every other error of the CLI."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="nas-rlm",
        description="Hardware-aware NAS with a Regression Language Model surrogate.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    data_dir_help = "data directory (default: $NAS_RLM_DATA, then the per-user data dir)"

    d = sub.add_parser("data", help="verify or download the pinned benchmark tables")
    dsub = d.add_subparsers(dest="data_command", required=True)
    v = dsub.add_parser("verify", help="check the tables against their pinned sha256 sums")
    v.add_argument("--data-dir", help=data_dir_help)
    v.set_defaults(func=_cmd_data_verify)
    pl = dsub.add_parser("pull", help="download the tables (pinned by sha256) into the data dir")
    pl.add_argument("--data-dir", help=data_dir_help)
    pl.add_argument("--url", help="base URL to fetch from (default: $NAS_RLM_DATA_URL)")
    pl.add_argument("--quiet", action="store_true", help="no progress bars")
    pl.set_defaults(func=_cmd_data_pull)

    s = sub.add_parser("space", help="inspect a search space: arch -> ONNX -> text")
    s.add_argument("space", help="search space name, e.g. nb201")
    ssub = s.add_subparsers(dest="space_command", required=True)
    sh = ssub.add_parser("show", help="canonical string, vector, params, FLOPs, text length")
    sh.add_argument("arch")
    sh.set_defaults(func=_cmd_space_show)
    t = ssub.add_parser("text", help="print the canonical ONNX text")
    t.add_argument("arch")
    t.set_defaults(func=_cmd_space_text)
    o = ssub.add_parser("onnx", help="write the runnable ONNX model (checked and run once)")
    o.add_argument("arch")
    o.add_argument("-o", "--output", required=True, help="output .onnx path")
    o.add_argument("--weights", choices=["random", "zeros"], default="random")
    o.add_argument("--seed", type=SEED, default=0)
    o.set_defaults(func=_cmd_space_onnx)
    sm = ssub.add_parser("summary", help="render and summarise every arch of the space "
                         "(a seeded sample where it is too large to list)")
    sm.add_argument("--out", help="run directory (default runs/<space>-summary)")
    sm.add_argument("--limit", type=POSITIVE, help="only the first N archs in index order (NB201), "
                    "or N sampled archs (other spaces; default 1000)")
    sm.add_argument("--workers", type=THREADS, default=2, help="processes (default 2)")
    sm.add_argument("--data-dir", help=data_dir_help + "; labels are joined when present")
    sm.add_argument("--quiet", action="store_true", help="no progress bar")
    sm.set_defaults(func=_cmd_space_summary)

    m = sub.add_parser("measure", help="time archs with onnxruntime on this machine (ms)")
    m.add_argument("space", help="search space name, e.g. nb201")
    m.add_argument("archs", nargs="*", help="arch strings")
    m.add_argument("--file", help="a file with one arch string per line")
    m.add_argument("--sample", type=_int_in(0, 100_000), default=0,
                   help="also measure N sampled archs")
    m.add_argument("--seed", type=SEED, default=0, help="seed for --sample")
    m.add_argument("--out", help="write a CSV (arch, latency columns) instead of JSON")
    m.add_argument("--batch-size", type=_int_in(1, 4096), default=1)
    m.add_argument("--warmup", type=_int_in(0, 100_000), default=10)
    m.add_argument("--repeats", type=_int_in(1, 100_000), default=50)
    m.add_argument("--threads", type=THREADS, default=1, help="onnxruntime intra-op threads")
    m.add_argument("--quiet", action="store_true", help="no progress bar")
    m.set_defaults(func=_cmd_measure)

    tr = sub.add_parser("train", help="train an RLM on a space's training pool (DESIGN §3)")
    tr.add_argument("--space", default="nb201")
    tr.add_argument("--objectives", default="cifar10,pixel3,eyeriss,gold_6226,1080ti_1",
                    help="comma-separated, decoded in this order (accuracy first)")
    tr.add_argument("--n-train", type=_int_in(2), default=781, help="training pool size N")
    tr.add_argument("--seed", type=SEED, default=0)
    tr.add_argument("--size", choices=sorted(MODEL_SIZES), default="small")
    tr.add_argument("--pretrain-archs", type=_int_in(0, 10_000_000),
                    help="archs to pretrain on computed FLOPs/params (default: the recipe's)")
    tr.add_argument("--pretrain-steps", type=POSITIVE, help="default: the recipe's")
    tr.add_argument("--steps", type=POSITIVE, help="optimizer steps (default: the recipe's)")
    tr.add_argument("--batch-size", type=_int_in(1, 4096), help="default: the recipe's")
    tr.add_argument("--lr", type=_positive_float, help="default: the recipe's")
    tr.add_argument("--patience", type=POSITIVE, help="validation readouts without a better τ "
                    "before stopping (default: the recipe's)")
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override any recipe field, e.g. train.rank_weight=0 or "
                    "model.chained=true (repeatable)")
    tr.add_argument("--threads", type=THREADS, default=1, help=TORCH_THREADS_HELP)
    _run_dir_args(tr, "runs/rlm")
    tr.add_argument("--data-dir", help=data_dir_help)
    tr.add_argument("--quiet", action="store_true")
    tr.set_defaults(func=_cmd_train)

    co = sub.add_parser("corpus", help="build the multi-space pretraining corpus: texts, "
                        "computed labels, CPU latency, source-device columns (resumable)")
    co.add_argument("--spaces", default="all", help="comma-separated spaces, or all")
    co.add_argument("--archs", type=_int_in(1, 10_000_000), default=1000,
                    help="archs per space (table spaces: training-pool rows only)")
    co.add_argument("--latency-archs", type=_int_in(0, 10_000_000), default=50,
                    help="of those, how many to time with onnxruntime on this CPU")
    co.add_argument("--exclude-columns", help="latency columns the corpus must never hold, "
                    "in any table (default: the DESIGN §3 held-out devices of each space)")
    co.add_argument("--seed", type=SEED, default=0)
    co.add_argument("--out", help="corpus dir; rerun to resume (default: the per-user "
                    "cache dir, never the repository)")
    co.add_argument("--force-restart", action="store_true",
                    help="empty --out first, even if it holds a corpus of other settings")
    co.add_argument("--data-dir", help=data_dir_help)
    co.add_argument("--quiet", action="store_true")
    co.set_defaults(func=_cmd_corpus)

    pt = sub.add_parser("pretrain", help="pretrain a base RLM on computed labels and the "
                        "source devices' latencies (DESIGN §3 few-shot)")
    pt.add_argument("--space", default="nb201", help="nb201, fbnet or ofa_mbv3")
    pt.add_argument("--corpus", help="a `nas-rlm corpus` dir: one base for all its spaces "
                    "(then --space, --archs, --sampled-archs and --exclude-columns do not apply)")
    pt.add_argument("--spaces", help="with --corpus: only these of its spaces")
    pt.add_argument("--exclude-columns", help="latency columns the base must never see "
                    "(default: the DESIGN §3 held-out devices of the space)")
    pt.add_argument("--archs", type=_int_in(1, 10_000_000), default=6000,
                    help="table rows to pretrain on")
    pt.add_argument("--sampled-archs", type=_int_in(0, 10_000_000), default=None,
                    help="more sampled archs beside the rows, computed labels only "
                         "(default 0)")
    pt.add_argument("--steps", type=POSITIVE, default=2000, help="optimizer steps")
    pt.add_argument("--seed", type=SEED, default=0)
    pt.add_argument("--size", choices=sorted(MODEL_SIZES), default="small")
    pt.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override any recipe field, e.g. train.lr=5e-4 (repeatable)")
    pt.add_argument("--threads", type=THREADS, default=1, help=TORCH_THREADS_HELP)
    pt.add_argument("--out", default="runs/base", help="base dir (model/ and ckpt/); "
                    "rerun to resume")
    pt.add_argument("--snapshot", metavar="DIR", help="with --corpus: save the best readout "
                    "so far of the run in --out as a base in DIR, and train nothing (the run "
                    "may go on beside it)")
    # training.READOUTS, written out: the parser stays importable without torch
    pt.add_argument("--snapshot-readout", choices=("best", "latest"), default="best",
                    help="with --snapshot: the best readout so far, or that of the latest "
                    "evaluation (a learning curve at equal steps)")
    pt.add_argument("--data-dir", help=data_dir_help)
    pt.add_argument("--quiet", action="store_true")
    pt.set_defaults(func=_cmd_pretrain)

    ft = sub.add_parser("finetune", help="fine-tune a pretrained base on a CSV of "
                        "measurements (arch,<column>..., as `measure` writes)")
    ft.add_argument("--base", help="OUT/model of `nas-rlm pretrain` (default: the shipped "
                    "base of --space: nas_rlm/pretrained/<space>-base, for nb201, fbnet and "
                    "ofa_mbv3)")
    ft.add_argument("--space", default="nb201")
    ft.add_argument("--csv", required=True)
    ft.add_argument("--steps", type=POSITIVE, help="default: finetune_budget's (30 for a "
                    "device, 100 for an accuracy, at least 12 passes over the CSV; devices past 30 "
                    "steps train the decoder alone; accuracies past 100 draw 128 archs a step, "
                    "beside devices from a draw of their own; accuracies alone at 100 train "
                    "the decoder alone)")
    ft.add_argument("--lr", type=_positive_float, help="default: FINETUNE_TRAIN's")
    ft.add_argument("--seed", type=SEED, default=0)
    ft.add_argument("--no-mix-head", dest="mix_head", action="store_false",
                    help="a new device is its own token alone, without the ridge over the "
                    "base's source devices it is blended with by default (up to 100 rows)")
    ft.add_argument("--count-heads", type=_column_weights, metavar="COLUMN=WEIGHT,...",
                    help="device columns that get a count head: a linear ridge over the "
                    "model's own decoded counts of the graph the device ran (op counts, "
                    "FLOPs, params, wiring), which it rehearses while fine-tuning (four per "
                    "arch and step: 0.6x the time of all), blended with the token at WEIGHT "
                    "(1: the head alone). For "
                    "hundreds of rows of a latency that is a sum over what runs "
                    "(titan_rtx_256); it breaks the ties of a device like eyeriss. "
                    "`evaluate --surrogates rlm_base` chooses the weight on a fifth of the rows")
    ft.add_argument("--converted", metavar="COLUMNS", help="new device columns measured "
                    "through a graph converter (TFLite and the like, which drops branches "
                    "that reach no output): they read the converted graph. Default: the "
                    "table's TFLite devices (pixel3, raspi4) among the CSV's columns; '' for "
                    "none")
    ft.add_argument("--threads", type=THREADS, default=1, help=TORCH_THREADS_HELP)
    _run_dir_args(ft, "runs/finetune", "run dir; the model is OUT/model")
    ft.add_argument("--quiet", action="store_true")
    ft.set_defaults(func=_cmd_finetune)

    fs = sub.add_parser("fewshot", help="rank a new device from S measurements: the base "
                        "fine-tuned against baselines in one run (DESIGN §3)")
    fs.add_argument("--space", default=FewShotConfig.space, help="nb201 or fbnet")
    fs.add_argument("--base", help="a `nas-rlm pretrain` model dir for rlm_base (default: "
                    "the shipped base of --space, for nb201 and fbnet)")
    fs.add_argument("--devices", help="held-out devices (default: the space's DESIGN §3 six "
                    "or three)")
    fs.add_argument("--sizes", default=",".join(map(str, FewShotConfig.sizes)),
                    help="target samples S")
    fs.add_argument("--seeds", default=",".join(map(str, FewShotConfig.seeds)))
    fs.add_argument("--methods", default=",".join(FewShotConfig.methods),
                    help="comma-separated: " + ", ".join(FewShotConfig.methods))
    fs.add_argument("--test-limit", type=POSITIVE,
                    help="score only the first N held-out archs (smoke runs, not the protocol)")
    fs.add_argument("--finetune-steps", type=POSITIVE, help="default: FINETUNE_TRAIN's")
    fs.add_argument("--threads", type=THREADS, default=1, help=TORCH_THREADS_HELP)
    _run_dir_args(fs, "runs/fewshot")
    fs.add_argument("--data-dir", help=data_dir_help)
    fs.add_argument("--quiet", action="store_true")
    fs.set_defaults(func=_cmd_fewshot)

    pr = sub.add_parser("predict", help="predict objectives for archs with a trained RLM")
    pr.add_argument("--model", help="directory written by `nas-rlm train` "
                    "(default: the shipped NB201 surrogate)")
    pr.add_argument("archs", nargs="*", help="arch strings")
    pr.add_argument("--file", help="a file with one arch string per line")
    pr.add_argument("-k", type=SAMPLES, default=8, help="samples per arch (median = estimate)")
    pr.add_argument("--seed", type=SEED, default=0)
    pr.add_argument("--out", help="write .csv or .json instead of printing JSON")
    pr.add_argument("--quiet", action="store_true")
    pr.set_defaults(func=_cmd_predict)

    se = sub.add_parser("search", help="multi-objective NAS on the surrogate with pymoo")
    _search_spec_args(se)
    se.add_argument("--algorithm", default=SearchConfig.algorithm,
                    help="nsga2, nsga3, agemoea or moead")
    se.add_argument("--pop-size", type=_int_in(1, 100_000), default=SearchConfig.pop_size)
    se.add_argument("--generations", type=POSITIVE, default=SearchConfig.generations)
    se.add_argument("--seed", type=SEED, default=SearchConfig.seed)
    se.add_argument("--model", help="directory written by `nas-rlm train` "
                    "(default: the shipped surrogate of --space)")
    se.add_argument("-k", type=SAMPLES, default=SearchConfig.k,
                    help="samples per arch for the reported spread")
    se.add_argument("--threads", type=THREADS, default=1, help=TORCH_THREADS_HELP)
    _run_dir_args(se, "runs/search")
    se.add_argument("--data-dir", help=data_dir_help + "; true values and metrics need it")
    se.add_argument("--quiet", action="store_true", help="no progress bar")
    se.set_defaults(func=_cmd_search)

    sa = sub.add_parser(
        "assisted", help="surrogate-assisted NAS within a budget of true evaluations",
        description="Fit a surrogate on true values, search on it, evaluate the most "
        "promising unseen archs, refit, repeat until --budget true evaluations are spent. "
        "True values come from the space's benchmark table, a CSV of your own "
        "(--accuracy-csv: header 'arch,<column>...'), and/or onnxruntime latency measured "
        "here (--measure-latency, objective 'latency:local_cpu').")
    _search_spec_args(sa)
    sa.add_argument("--surrogate", default=AssistedConfig.surrogate, help="rlm, gbdt or mlp")
    sa.add_argument("--budget", type=POSITIVE, default=AssistedConfig.budget,
                    help="true evaluations in total")
    sa.add_argument("--init", type=POSITIVE, help="random archs evaluated first "
                    "(default: a fifth of --budget)")
    sa.add_argument("--batch", type=POSITIVE, help="true evaluations per round "
                    "(default: a fifth of --budget)")
    sa.add_argument("--pop-size", type=_int_in(1, 100_000), default=AssistedConfig.pop_size)
    sa.add_argument("--generations", type=POSITIVE, default=AssistedConfig.generations,
                    help="per round, on the surrogate")
    sa.add_argument("--seed", type=SEED, default=AssistedConfig.seed)
    sa.add_argument("--accuracy-csv", help="your own table: arch,<column>[,...]")
    sa.add_argument("--accuracy-column",
                    help="the accuracy column of --accuracy-csv (default: the one called "
                    "'accuracy', or its only column)")
    sa.add_argument("--measure-latency", action="store_true",
                    help="add latency:local_cpu, measured with onnxruntime on this machine "
                    "(implied when an objective names it)")
    tr = sa.add_argument_group(
        "true accuracy by training", "--evaluator train trains every candidate (its torch "
        "network with BatchNorm) and takes its validation accuracy; each finished training "
        "is kept under OUT/evaluations, so a rerun never repeats one")
    tr.add_argument("--evaluator", choices=("table", "train"), default="table",
                    help="table: benchmark table / --accuracy-csv; train: train candidates")
    tr.add_argument("--dataset", default="digits", help="'digits' (scikit-learn's, offline) "
                    "or module:function returning (train, val) torch datasets")
    tr.add_argument("--epochs", type=POSITIVE, default=2)
    tr.add_argument("--train-batch-size", type=_int_in(1, 1_000_000), default=32)
    tr.add_argument("--train-channels", type=_int_in(1, 1024), default=16,
                    help="network width C (the benchmark's 16; smaller trains faster)")
    tr.add_argument("--train-cells", type=_int_in(1, 100), default=5,
                    help="cells per stage N (the benchmark's 5)")
    tr.add_argument("--executor", choices=EXECUTORS, default="processes",
                    help="where trainings run: local processes, or Ray")
    tr.add_argument("--jobs", type=_int_in(1, 4096), default=1,
                    help="trainings at once (local processes, or a local Ray's CPUs)")
    tr.add_argument("--address", help="an existing Ray cluster (ray://HOST:10001 or auto); "
                    "default: start a local Ray")
    sa.add_argument("--threads", type=THREADS, default=1, help=TORCH_THREADS_HELP)
    _run_dir_args(sa, "runs/assisted")
    sa.add_argument("--data-dir", help=data_dir_help)
    sa.add_argument("--quiet", action="store_true", help="no progress bar")
    sa.set_defaults(func=_cmd_assisted)

    ev = sub.add_parser("evaluate", help="rank surrogates on the held-out archs (DESIGN §3)")
    ev.add_argument("--space", default=EvaluationConfig.space,
                    help="a space with a table: nb201, fbnet, ofa_mbv3")
    ev.add_argument("--targets", default=",".join(EvaluationConfig.targets),
                    help="comma-separated table columns (accuracies and device latencies)")
    ev.add_argument("--surrogates", default=",".join(EvaluationConfig.surrogates),
                    help="comma-separated: flops, flops_pruned, params, mlp, gbdt, rlm, "
                    "rlm_base")
    ev.add_argument("--ns", default=",".join(map(str, EvaluationConfig.ns)),
                    help="training pool sizes N")
    ev.add_argument("--seeds", default=",".join(map(str, EvaluationConfig.seeds)),
                    help="pool seeds: a range (0-4) or a list (0,2)")
    _run_dir_args(ev, "runs/eval")
    ev.add_argument("--rlm-size", choices=sorted(MODEL_SIZES), default="small")
    ev.add_argument("--rlm-steps", type=POSITIVE,
                    help="RLM optimizer steps (default: the recipe's)")
    ev.add_argument("--rlm-pretrain-archs", type=_int_in(0, 10_000_000),
                    help="first pretrain the RLM on computed FLOPs/params of this many sampled "
                    "archs (no table label; default: the recipe's)")
    ev.add_argument("--rlm-pretrain-steps", type=POSITIVE, help="default: the recipe's")
    ev.add_argument("--rlm-set", action="append", default=[], metavar="KEY=VALUE",
                    help="override any RLM recipe field, e.g. train.rank_weight=0 "
                    "(repeatable; recorded in the cells)")
    ev.add_argument("--rlm-base", help="the `nas-rlm pretrain` model that rlm_base fine-tunes "
                    "(default: the space's shipped base); it must never have seen a target")
    ev.add_argument("--test-limit", type=POSITIVE,
                    help="score only the first N held-out archs (smoke runs, not the protocol)")
    ev.add_argument("--threads", type=THREADS, default=1, help=TORCH_THREADS_HELP)
    ev.add_argument("--save-models", action="store_true",
                    help="keep each trained RLM in OUT/models/<surrogate>_n<N>_s<seed> "
                         "(rlm_base: one dir per target below it, and one per fine-tune "
                         "of an accuracy below that)")
    ev.add_argument("--data-dir", help=data_dir_help)
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(func=_cmd_evaluate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand. Errors from the user's input, files or environment end in one
    line on stderr (exit 2); Ctrl-C in one line (exit 130, run dirs resume); a closed pipe
    (``| head``) quietly. Anything else is a bug, and keeps its traceback."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed in one line
        return int(e.code or 0)
    try:
        return args.func(args)
    except NasRlmError as e:
        print(f"nas-rlm: error: {e}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as e:
        print(f"nas-rlm: error: a file is not UTF-8 text ({e.reason} at byte {e.start})",
              file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away: stop quietly, as cat and grep do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as e:  # a path the user gave: missing, a directory, unwritable, disk full
        where = f": {e.filename}" if e.filename else ""
        print(f"nas-rlm: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nas-rlm: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

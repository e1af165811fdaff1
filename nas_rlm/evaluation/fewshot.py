"""The few-shot benchmark of DESIGN §3: a new device from S measurements.

For each held-out device, S target samples are drawn (seeded) from the §3 training pool and
every method ranks the §3 test archs; Spearman ρ and Kendall τ per cell, means over seeds and
devices. In the same run:

* ``rlm_base``: the pretrained base (``nas-rlm pretrain``, which never saw the device)
  fine-tuned on the S samples (:func:`~nas_rlm.surrogates.recipes.finetune_rlm`), ranking
  by its ``predict_point`` (the exact median of its distribution);
* ``rlm_scratch``: the same RLM recipe trained from scratch on the S samples;
* ``mlp``, ``gbdt``: the one-hot baselines on the S samples;
* ``flops``: FLOPs of the executed graph, zero-shot;
* ``ridge_ref``: the reference-device transfer baseline, a ridge regression from the source
  devices' latencies of the same arch (log ms, standardised; alpha by leave-one-out) to the
  target, fitted on the S samples. Source devices are the table's columns less the held-out
  ones and the devices under test.

Cells are written one file each (atomically) and a rerun resumes; HELP's and NASFLAT's
published figures are printed beside ours.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_targets
from ..data.splits import HELDOUT_DEVICES, heldout_indices, source_devices, train_indices
from ..errors import ConfigError, UnknownNameError
from ..io import atomic_write_text, write_json
from ..run_dir import claim, data_fingerprint
from ..search_spaces import get_space
from .metrics import ranking_scores

#: ``rlm_scratch``: the default recipe's 800 steps from nothing; S ≤ 100 archs leave no
#: validation split, so the lowest training loss at a readout is kept (as in fine-tuning).
#: ``TrainConfig`` fields (a dict: importing torch here would slow every CLI command).
SCRATCH_TRAIN = {"steps": 800, "warmup_steps": 30, "val_fraction": 0.0, "eval_every": 50,
                 "patience": 100}

METHODS = ("rlm_base", "rlm_scratch", "mlp", "gbdt", "flops", "ridge_ref")

#: Published Spearman ρ with 10 target samples (HELP, NeurIPS 2021, Table 2 / 3), DESIGN §3.
HELP_10 = {
    "nb201": {"titan_rtx_256": 0.987, "gold_6226": 0.989, "pixel2": 0.802, "raspi4": 0.890,
              "eyeriss": 0.940, "fpga": 0.985},
    "fbnet": {"raspi4": 0.887, "eyeriss": 0.943, "fpga": 0.892},
}
#: NASFLAT (about 20 samples, its own task splits): the range over devices, DESIGN §3.
NASFLAT_RANGE = {"nb201": (0.857, 0.967), "fbnet": (0.577, 0.961)}


@dataclass(frozen=True)
class FewShotConfig:
    """Every setting of one few-shot run, with its default (``nas-rlm fewshot``)."""

    space: str = "nb201"
    devices: tuple[str, ...] = ()          # () -> the space's DESIGN §3 held-out devices
    sizes: tuple[int, ...] = (10, 20, 50, 100)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    methods: tuple[str, ...] = METHODS
    test_limit: int | None = None          # first N test archs only (smoke runs)
    finetune_steps: int | None = None      # None: FINETUNE_TRAIN's

    def __post_init__(self) -> None:
        if self.space not in HELDOUT_DEVICES:
            raise UnknownNameError(f"no few-shot protocol for {self.space!r}; spaces: "
                                   f"{', '.join(HELDOUT_DEVICES)}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise UnknownNameError(f"unknown method(s) {unknown}; methods: {', '.join(METHODS)}")
        if not self.sizes or any(s < 2 for s in self.sizes):
            raise ConfigError(f"sample sizes must be >= 2, got {list(self.sizes)}")
        if not self.seeds or any(s < 0 for s in self.seeds):
            raise ConfigError(f"seeds must be >= 0, got {list(self.seeds)}")

    @property
    def targets(self) -> tuple[str, ...]:
        return self.devices or HELDOUT_DEVICES[self.space]


def _ridge_ref(X_tr: np.ndarray, y_tr: np.ndarray, X_te: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    model.fit(np.log(X_tr), np.log(y_tr))
    return model.predict(np.log(X_te))


class _Run:
    """The data of one run, loaded once: table archs, target and source columns, the test
    split, and the base (loaded afresh per cell, since fine-tuning changes it in place)."""

    def __init__(self, config: FewShotConfig, base_dir: Path | None, data_dir,
                 threads: int) -> None:
        c = self.config = config
        self.space = get_space(c.space)
        # the ridge baseline reads source devices only: never a device under test, nor
        # another held-out one (no method may know those)
        self.sources = source_devices(c.space, sorted({*HELDOUT_DEVICES[c.space],
                                                       *c.targets}), data_dir)
        archs, Y = load_targets(c.space, [*c.targets, *self.sources], data_dir)
        self.archs, self.Y = archs, Y
        self.test = heldout_indices(c.space)[: c.test_limit]
        self.base_dir, self.threads = base_dir, threads
        from ..surrogates.baselines import FlopsProxy

        # one proxy for every cell: its per-arch FLOPs cache is then computed once
        self._flops = FlopsProxy(self.space, ["latency"], pruned=False)
        if "rlm_base" in c.methods:
            if base_dir is None:
                raise ConfigError("method rlm_base needs --base (a `nas-rlm pretrain` model)")
            from ..surrogates.recipes import load_base

            load_base(base_dir, c.space, c.targets)  # a base that never saw the devices

    def cell(self, method: str, device: str, n: int, seed: int) -> dict[str, Any]:
        c = self.config
        j = c.targets.index(device)
        tr = train_indices(c.space, n, seed)
        a_tr, a_te = [self.archs[i] for i in tr], [self.archs[i] for i in self.test]
        y_tr, y_te = self.Y[tr, j], self.Y[self.test, j]
        t0 = time.perf_counter()
        extra: dict[str, Any] = {}
        if method == "ridge_ref":
            k = len(c.targets)
            pred = _ridge_ref(self.Y[tr, k:], y_tr, self.Y[self.test, k:])
        elif method in ("mlp", "gbdt", "flops"):
            from ..surrogates.baselines import OneHotGBDT, OneHotMLP

            make = {"mlp": lambda: OneHotMLP(self.space, [device], seed=seed),
                    "gbdt": lambda: OneHotGBDT(self.space, [device], seed=seed),
                    "flops": lambda: self._flops}[method]
            pred = make().fit(a_tr, y_tr[:, None]).predict_point(a_te)[:, 0]
        else:
            from dataclasses import replace

            from ..surrogates.recipes import DEFAULT_RECIPE, FINETUNE_TRAIN, finetune_rlm, train_rlm
            from ..surrogates.training import TrainConfig

            train = FINETUNE_TRAIN if c.finetune_steps is None else replace(
                FINETUNE_TRAIN, steps=c.finetune_steps)
            if method == "rlm_base":
                from ..surrogates.recipes import load_base

                # loaded afresh per cell (fine-tuning changes it in place); a base of every
                # space is bound to this one
                rlm = finetune_rlm(load_base(self.base_dir, c.space), a_tr, y_tr[:, None],
                                   [device], train, seed=seed, progress=False,
                                   threads=self.threads)
                start = rlm.training_info["finetune"]["started_from"][device]
                zero = load_base(self.base_dir, c.space)  # what fine-tuning starts from
                zero.set_objectives([start])
                extra.update(started_from=start, start_spearman=ranking_scores(
                    zero.predict_point(a_te)[:, 0], y_te, False)["spearman"])
                if rlm.mix_heads:  # the device's own number alone, without its mix head
                    heads, rlm.mix_heads = rlm.mix_heads, {}
                    extra["token_spearman"] = ranking_scores(
                        rlm.predict_point(a_te)[:, 0], y_te, False)["spearman"]
                    rlm.mix_heads = heads
            else:  # the same recipe, from scratch, on the S samples alone
                recipe = replace(DEFAULT_RECIPE, train=TrainConfig(**SCRATCH_TRAIN))
                rlm = train_rlm(self.space, a_tr, y_tr[:, None], [device], recipe, seed=seed,
                                progress=False, threads=self.threads, tokenizer_archs=1000)
            pred = rlm.predict_point(a_te)[:, 0]  # the exact median
        scores = ranking_scores(pred, y_te, larger_is_better=False)
        return {"method": method, "device": device, "n": n, "seed": seed,
                "spearman": scores["spearman"], "kendall_tau": scores["kendall_tau"],
                "seconds": round(time.perf_counter() - t0, 2), **extra}


def summarize(cells: Sequence[dict], config: FewShotConfig) -> dict[str, Any]:
    """Mean (and std) ρ and τ over seeds per (method, device, S), and over devices."""
    out: dict[str, Any] = {}
    for m in config.methods:
        for n in config.sizes:
            per_dev = {}
            for d in config.targets:
                got = [c for c in cells if (c["method"], c["device"], c["n"]) == (m, d, n)]
                if got:
                    rho = [c["spearman"] for c in got]
                    per_dev[d] = {"spearman": float(np.mean(rho)), "spearman_std":
                                  float(np.std(rho)), "kendall_tau":
                                  float(np.mean([c["kendall_tau"] for c in got])),
                                  "seeds": len(got)}
            if per_dev:
                out.setdefault(m, {})[str(n)] = {
                    "devices": per_dev,
                    "mean_spearman": float(np.mean([v["spearman"] for v in per_dev.values()])),
                    "complete": len(per_dev) == len(config.targets)}
    return out


def format_table(summary: dict, config: FewShotConfig) -> str:
    """Markdown: one row per (method, S), Spearman ρ per device and the mean; HELP below."""
    devs = config.targets
    lines = ["| method | S | " + " | ".join(devs) + " | mean |",
             "|---|---|" + "---|" * (len(devs) + 1)]
    for m, by_n in summary.items():
        for n, row in by_n.items():
            cells = [f"{row['devices'][d]['spearman']:.3f}" if d in row["devices"] else "–"
                     for d in devs]
            mean = f"{row['mean_spearman']:.3f}" + ("" if row["complete"] else " (partial)")
            lines.append(f"| {m} | {n} | " + " | ".join(cells) + f" | {mean} |")
    help10 = HELP_10.get(config.space, {})
    if help10:
        cells = [f"{help10[d]:.3f}" if d in help10 else "–" for d in devs]
        mean = np.mean([help10[d] for d in devs if d in help10]) if any(
            d in help10 for d in devs) else float("nan")
        lines.append("| HELP (published) | 10 | " + " | ".join(cells) + f" | {mean:.3f} |")
    lo, hi = NASFLAT_RANGE.get(config.space, (float("nan"),) * 2)
    lines.append(f"\nNASFLAT (published, ~20 samples, its own splits): ρ {lo:.3f}–{hi:.3f}.")
    return "\n".join(lines)


def fewshot(config: FewShotConfig, *, base_dir: str | os.PathLike | None = None,
            out_dir: str | os.PathLike = "runs/fewshot", data_dir=None, progress: bool = True,
            threads: int = 1, force_restart: bool = False) -> dict[str, Any]:
    """Run (or resume) every cell; write ``cells/``, ``results.json`` and ``table.md``."""
    from tqdm import tqdm

    out = Path(out_dir)
    base = None if base_dir is None else Path(base_dir)
    claim(out, {**{k: list(v) if isinstance(v, tuple) else v
                   for k, v in asdict(config).items()},
                "base": None if base is None else str(base.resolve()),
                # RLM cells rank by predict_point; it was the expected value before
                "rlm_readout": "exact median", "mix_head": True,
                "data": data_fingerprint(config.space)}, force_restart)
    run = _Run(config, base, data_dir, threads)
    (out / "cells").mkdir(parents=True, exist_ok=True)
    todo = [(m, d, n, s) for m in config.methods for d in config.targets
            for n in config.sizes for s in config.seeds]
    cells, ran = [], 0
    for m, d, n, s in tqdm(todo, desc="few-shot cells", unit="cell", disable=not progress):
        path = out / "cells" / f"{m}_{d}_n{n}_s{s}.json"
        if path.is_file():
            cells.append(json.loads(path.read_text()))
            continue
        cell = run.cell(m, d, n, s)
        atomic_write_text(path, json.dumps(cell) + "\n")
        cells.append(cell)
        ran += 1
    summary = summarize(cells, config)
    table = format_table(summary, config)
    write_json(out / "results.json", {"config": asdict(config), "sources": run.sources,
                                      "summary": summary, "cells": cells})
    atomic_write_text(out / "table.md", table + "\n")
    if progress:
        print(table)
    return {"summary": summary, "cells_run": ran, "cells_resumed": len(cells) - ran}

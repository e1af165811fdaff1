"""The DESIGN §3 ranking protocol as one function: surrogates × N × seeds × targets.

:func:`evaluate` trains every named surrogate on each training pool (``train_indices``),
scores it on the fixed held-out set (``heldout_indices``) and writes a run directory::

    out_dir/config.json               what was asked for (a snapshot, rewritten each run)
    out_dir/cells/<s>_n<N>_s<seed>.json   one finished (surrogate, N, seed) cell: scores
    out_dir/cells/<s>_n<N>_s<seed>.npz    its test predictions (point, 50 % / 90 % intervals)
    out_dir/results.json, results.csv     mean ± std over seeds per surrogate/N/target/metric
    out_dir/table.md                      the printed Kendall τ table
    out_dir/plots/                        τ vs. N, predicted vs. true, calibration (PNG + SVG)
    out_dir/pretrained/s<seed>/           with a pretraining recipe: the RLM base of a seed,
                                          pretrained once and shared by its cells

Each cell is written atomically when it finishes (the ``.json`` last: it marks the cell done),
so an interrupted run restarts where it stopped, and two processes may fill disjoint cells of
the same directory (``experiments/nb201_ranking/run.sh``). A finished cell computed with other
settings (targets, test set, RLM recipe) is an error, never silently mixed in.

Scores are on the median of ``K`` samples (``surrogates.base``). The RLM has two finer
readouts, each its own row, because ties from sampled digits cost τ (DESIGN §1.3.1):
``rlm_median``, the exact median of its distribution (``RLM.predict_median``, its
``predict_point``: what searches rank by), and ``rlm_ev``, its expected value
(``RLM.predict_expected``). Calibration is the share of true values inside the central 50 %
and 90 % intervals of the samples.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_nb201_accuracy, load_targets, resolve_data_dir
from ..data.splits import TABLE_SIZES, TEST_SIZES, heldout_indices, train_indices
from ..errors import NasRlmError, UnknownNameError
from ..io import atomic_write_bytes, atomic_write_text, write_csv, write_json
from ..run_dir import RunDirError, claim, data_fingerprint, differences, machine
from ..search_spaces import get_space
from ..surrogates.base import Surrogate, point_estimate
from .metrics import ranking_scores

#: Surrogates by name, with what each one is (the CLI's ``--surrogates`` choices).
SURROGATES: dict[str, str] = {
    "flops": "published FLOPs count (space.flops), zero-shot",
    "flops_pruned": "FLOPs of the dead-node-pruned graph the RLM reads, zero-shot",
    "params": "parameter count, zero-shot",
    "mlp": "torch MLP on the one-hot encoding (OneHotMLP defaults)",
    "gbdt": "gradient-boosted trees on the one-hot encoding (OneHotGBDT defaults)",
    "rlm": "RLM trained per cell with its recipe (RecipeRLM), all targets jointly",
    "rlm_base": "a pretrained base (--rlm-base; default the space's shipped one) fine-tuned "
                "per cell on each target alone, an accuracy's fine-tunes averaged, a "
                "device of many labels blended with a count head where it ranks better "
                "(FinetunedRLM); refuses targets it saw",
}
#: Zero-shot rankers: their labels are only validated, never learned.
ZERO_SHOT: frozenset[str] = frozenset({"flops", "flops_pruned", "params"})
#: Every surrogate above reads archs through a search-space adapter (ONNX graph, encoding).
NEEDS_ADAPTER: frozenset[str] = frozenset(SURROGATES)
#: Samples per arch: the point estimate is their median, the intervals their quantiles.
K: int = 8
#: Central sample intervals whose observed coverage is reported.
LEVELS: tuple[float, ...] = (0.5, 0.9)
METRICS: tuple[str, ...] = ("kendall_tau", "spearman", "precision_top5",
                            *(f"coverage{round(lv * 100)}" for lv in LEVELS))


# -- small pieces the benchmarks can share ---------------------------------------------------
def accuracy_names(space: str, data_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Targets where larger is better (accuracies); everything else is a latency."""
    return list(load_nb201_accuracy(data_dir).aliases) if space == "nb201" else []


def canonical_archs(space: str, archs: Sequence[str]) -> list[str]:
    """The table's arch strings read through ``space.parse`` and written back canonically.

    OFA-MBv3 rows carry arbitrary values in the ks/e slots beyond each stage's depth; parsing
    resets them, so every surrogate sees (and caches on) the arch, not the row's spelling.
    NB201 and FBNet table strings are canonical already and come back unchanged. Two rows
    that parse to one arch could put a held-out arch into a training pool: an error.
    """

    sp = get_space(space)
    canon = [sp.to_string(sp.parse(a)) for a in archs]
    if len(set(canon)) != len(canon):
        first: dict[str, int] = {}
        i, j = next((first[c], k) for k, c in enumerate(canon) if first.setdefault(c, k) != k)
        raise NasRlmError(f"{space} table rows {i} and {j} are the same arch ({canon[i]}); "
                          f"the ranking protocol needs distinct archs")
    return canon


def protocol_split(space: str, n: int, seed: int,
                   test_limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` row indices of DESIGN §3; raises if they ever overlap."""
    tr, te = train_indices(space, n, seed), heldout_indices(space)[:test_limit]
    if np.intersect1d(tr, te).size:  # the protocol forbids it; guard against a future edit
        raise NasRlmError(f"{space} N={n} seed={seed}: held-out archs in the training pool")
    return tr, te


def interval_coverage(samples: np.ndarray, true: np.ndarray, level: float) -> np.ndarray:
    """Per objective, the share of ``true`` inside the central ``level`` sample interval.

    ``samples`` ``(n, k, m)``, ``true`` ``(n, m)``. A deterministic model (identical samples)
    has zero-width intervals and so covers almost nothing: it claims no uncertainty.
    """
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)], axis=1)
    return ((true >= lo) & (true <= hi)).mean(axis=0)


def score_readout(point: np.ndarray, true: np.ndarray, targets: Sequence[str],
                  larger: Sequence[bool], samples: np.ndarray | None = None) -> dict[str, dict]:
    """``{target: {metric: value}}``: ranking scores, plus coverage when there are samples."""
    cov = {f"coverage{round(lv * 100)}": interval_coverage(samples, true, lv)
           for lv in LEVELS} if samples is not None else {}
    from scipy.stats import ConstantInputWarning

    out = {}
    for j, name in enumerate(targets):
        with warnings.catch_warnings():  # a constant prediction: τ undefined, stored as None
            warnings.simplefilter("ignore", ConstantInputWarning)
            s = ranking_scores(point[:, j], true[:, j], larger[j])
        s.update({k: float(v[j]) for k, v in cov.items()})
        out[name] = {k: (None if not math.isfinite(v) else v) for k, v in s.items()}
    return out


def surrogate_factories(
    space: str, names: Sequence[str], objectives: Sequence[str] = (), rlm_recipe: Any = None,
    first: Sequence[str] = (), threads: int = 1, bases: Path | None = None,
    rlm_base: str | os.PathLike[str] | None = None,
) -> dict[str, Callable[[int], Surrogate]]:
    """Name -> ``seed -> unfitted Surrogate``. The zero-shot proxies are shared across cells,
    so their per-arch count cache is too (their labels are only validated, never learned).
    With a pretraining recipe, the RLM cells of one seed share the pretrained base kept in
    ``bases/s<seed>`` (it reads no table label, so every N may start from it). ``rlm_base``
    is the ``nas-rlm pretrain`` model that ``rlm_base`` fine-tunes (None: the shipped one)."""
    from ..surrogates.baselines import FlopsProxy, OneHotGBDT, OneHotMLP, ParamsProxy
    from ..surrogates.recipes import FinetunedRLM, RecipeRLM

    sp = get_space(space)
    shared: dict[str, Surrogate] = {}
    makers: dict[str, Callable[[int], Surrogate]] = {
        "flops": lambda seed: shared.setdefault("flops", FlopsProxy(sp, objectives,
                                                                    pruned=False)),
        "flops_pruned": lambda seed: shared.setdefault("flops_pruned",
                                                       FlopsProxy(sp, objectives)),
        "params": lambda seed: shared.setdefault("params", ParamsProxy(sp, objectives)),
        "mlp": lambda seed: OneHotMLP(sp, objectives, seed=seed),
        "gbdt": lambda seed: OneHotGBDT(sp, objectives, seed=seed),
        "rlm": lambda seed: RecipeRLM(sp, objectives, rlm_recipe, seed, first, threads,
                                      base_dir=None if bases is None else bases / f"s{seed}"),
        "rlm_base": lambda seed: FinetunedRLM(sp, objectives, rlm_base, seed, first, threads),
    }
    return {n: makers[n] for n in names}


# -- settings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvaluationConfig:
    """Every setting of one ranking run (DESIGN §3), with its default (``nas-rlm evaluate``
    flags map to these one to one). Names are checked on construction and the message lists
    the valid ones; the targets are checked against the data when the run starts."""

    space: str = "nb201"                          # a space with a table: see TABLE_SIZES
    targets: Sequence[str] = ("cifar10", "pixel3", "eyeriss", "gold_6226", "1080ti_1")
    surrogates: Sequence[str] = ("flops", "params", "mlp", "gbdt", "rlm")  # SURROGATES keys
    ns: Sequence[int] = (78, 390, 781)            # training pool sizes N
    seeds: Sequence[int] = (0, 1, 2, 3, 4)        # pool seeds
    test_limit: int | None = None                 # only the first held-out archs (smoke runs)
    rlm_recipe: Any = None                        # an RLMRecipe; None: DEFAULT_RECIPE
    rlm_base: str | None = None                   # rlm_base's base dir; None: the shipped one

    def __post_init__(self) -> None:
        from ..search_spaces import SPACES

        object.__setattr__(self, "targets", tuple(dict.fromkeys(self.targets)))
        object.__setattr__(self, "surrogates", tuple(dict.fromkeys(self.surrogates)))
        object.__setattr__(self, "ns", tuple(sorted({int(n) for n in self.ns})))
        object.__setattr__(self, "seeds", tuple(sorted({int(s) for s in self.seeds})))
        space = self.space
        if space not in TABLE_SIZES:
            raise UnknownNameError(f"no ranking protocol for space {space!r}; spaces with a "
                                   f"table: {', '.join(TABLE_SIZES)}")
        if not self.targets or not self.surrogates or not self.ns or not self.seeds:
            raise NasRlmError("evaluate needs at least one target, surrogate, N and seed")
        bad = [s for s in self.surrogates if s not in SURROGATES]
        if bad:
            raise UnknownNameError(f"unknown surrogate(s) {', '.join(map(repr, bad))}; valid: "
                                   f"{', '.join(SURROGATES)}")
        need = [s for s in self.surrogates if s in NEEDS_ADAPTER]
        if space not in SPACES and need:
            raise NasRlmError(
                f"surrogate(s) {', '.join(need)} need the search-space adapter for {space!r} "
                f"(nas_rlm.search_spaces, SPACES[{space!r}]), which does not exist yet; "
                f"adapters: {', '.join(sorted(SPACES))}. The {space} tables load, but no "
                f"surrogate can read its archs until that adapter is written.")
        pool = TABLE_SIZES[space] - TEST_SIZES[space]
        for n in self.ns:
            if not 0 < n <= pool:
                raise NasRlmError(f"N={n} is outside 1..{pool}, the {space} training pool")
        if any(s < 0 for s in self.seeds):
            raise NasRlmError(f"seeds must be >= 0, got {list(self.seeds)}")
        if self.test_limit is not None and (isinstance(self.test_limit, bool)
                                            or int(self.test_limit) < 1):
            raise NasRlmError(f"test_limit must be >= 1 held-out arch, got {self.test_limit}")


# -- one cell -------------------------------------------------------------------------------
def _cell_stem(surrogate: str, n: int, seed: int) -> str:
    return f"{surrogate}_n{n}_s{seed}"


def _arrays_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


#: The surrogates ``save_models`` keeps, and the RLMs each is made of (``rlm_base``: each
#: target's fine-tunes, saved as ``<cell>/<target>``, or ``<cell>/<target>/<i>`` if several).
SAVED_MODELS: dict[str, Callable[[Surrogate], list]] = {
    "rlm": lambda m: [m.rlm],
    "rlm_base": lambda m: [r for g in m.models for r in g],
}


def _run_cell(make: Callable[[int], Surrogate], name: str, n: int, seed: int,
              archs: Sequence[str], Y: np.ndarray, tr: np.ndarray, te: np.ndarray,
              targets: Sequence[str], larger: Sequence[bool], settings: dict,
              cells_dir: Path, models_dir: Path | None = None) -> dict:
    """Fit on the pool rows ``tr`` only, predict the held-out rows ``te``, score, save."""
    t0 = time.perf_counter()
    model = make(seed).fit([archs[i] for i in tr], Y[tr])
    fit_s = time.perf_counter() - t0
    if models_dir is not None and name in SAVED_MODELS:
        for rlm in SAVED_MODELS[name](model):  # its pool, for leakage checks
            rlm.training_info["train_indices"] = tr.tolist()
        model.save(models_dir / _cell_stem(name, n, seed))
    test_archs, true = [archs[i] for i in te], Y[te]
    t0 = time.perf_counter()
    samples = model.predict(test_archs, k=K)
    median = point_estimate(samples)
    readouts: dict[str, tuple[np.ndarray, np.ndarray | None]] = {name: (median, samples)}
    if hasattr(model, "predict_expected"):  # the RLM's expected value
        readouts[f"{name}_ev"] = (model.predict_expected(test_archs), None)
    if hasattr(model, "predict_median"):  # the RLM's exact median: its predict_point
        readouts[f"{name}_median"] = (model.predict_median(test_archs), None)
    predict_s = time.perf_counter() - t0
    arrays: dict[str, np.ndarray] = {"test_indices": te}
    lo, hi = np.percentile(samples, [5, 95], axis=1)
    for r, (point, s) in readouts.items():
        arrays[f"{r}.point"] = point
        if s is not None:
            arrays[f"{r}.lo90"], arrays[f"{r}.hi90"] = lo.astype(np.float32), hi.astype(
                np.float32)
    fit_info = getattr(model, "fit_info", None)  # choices a surrogate made while fitting
    cell = {"surrogate": name, "n": n, "seed": seed, "settings": settings,
            "train_indices": tr.tolist(), **({"fit_info": fit_info()} if fit_info else {}),
            "seconds": {"fit": round(fit_s, 2), "predict": round(predict_s, 2)},
            "machine": machine(),  # a resumed run may hold cells of several machines
            "readouts": {r: score_readout(p, true, targets, larger, s)
                         for r, (p, s) in readouts.items()}}
    stem = _cell_stem(name, n, seed)
    atomic_write_bytes(cells_dir / f"{stem}.npz", _arrays_bytes(arrays))
    write_json(cells_dir / f"{stem}.json", cell)  # last: its presence marks the cell done
    return cell


def _load_cell(path: Path, settings: dict) -> dict:
    cell = json.loads(path.read_text())
    changed = differences(cell.get("settings"), json.loads(json.dumps(settings)))
    if changed:
        raise RunDirError(
            f"{path} was computed with other settings ({', '.join(changed[:6])} differ); use "
            "a new --out, --force-restart, or delete that cell to recompute it")
    return cell


# -- aggregation ----------------------------------------------------------------------------
def _stats(values: list[float | None]) -> dict[str, Any]:
    ok = [v for v in values if v is not None]
    if not ok:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0,
                "n_undefined": len(values)}
    return {"mean": float(np.mean(ok)), "std": float(np.std(ok)), "min": float(min(ok)),
            "max": float(max(ok)), "n": len(ok), "n_undefined": len(values) - len(ok)}


def summarize(cells: Sequence[dict], targets: Sequence[str],
              ns: Sequence[int]) -> dict[str, dict]:
    """``{readout: {target: {"N=<n>": {metric: stats over seeds}}}}``."""
    readouts = list(dict.fromkeys(r for c in cells for r in c["readouts"]))
    out: dict[str, dict] = {}
    for r in readouts:
        out[r] = {}
        for t in targets:
            out[r][t] = {}
            for n in ns:
                group = [c["readouts"][r][t] for c in cells if c["n"] == n and r in c["readouts"]]
                if group:
                    out[r][t][f"N={n}"] = {m: _stats([g.get(m) for g in group])
                                           for m in METRICS if m in group[0]}
    return out


def _fmt(s: dict | None) -> str:
    if not s or s["mean"] is None:
        return "undefined"
    text = f"{s['mean']:.3f} ± {s['std']:.3f}"
    return text + (f" ({s['n_undefined']} undef.)" if s["n_undefined"] else "")


def format_table(summary: dict, targets: Sequence[str], ns: Sequence[int],
                 metric: str = "kendall_tau") -> str:
    """A markdown table of ``metric`` (mean ± std over seeds): rows target × readout."""
    lines = [f"| target | surrogate | {' | '.join(f'N={n}' for n in ns)} |",
             "|---|---|" + "---|" * len(ns)]
    for t in targets:
        for i, r in enumerate(summary):
            cells = [_fmt(summary[r][t].get(f"N={n}", {}).get(metric)) for n in ns]
            lines.append(f"| {t if i == 0 else ''} | {r} | {' | '.join(cells)} |")
    return "\n".join(lines)


def _write_csv(path: Path, summary: dict) -> None:
    rows = [(r, key.removeprefix("N="), t, m, *(s[f] for f in ("mean", "std", "min", "max",
                                                               "n", "n_undefined")))
            for r, by_t in summary.items() for t, by_n in by_t.items()
            for key, by_m in by_n.items() for m, s in by_m.items()]
    write_csv(path, ["surrogate", "n", "target", "metric", "mean", "std", "min", "max",
                     "n_seeds", "n_undefined"], rows)


def _plots(out: Path, cells: Sequence[dict], summary: dict, targets: Sequence[str],
           ns: Sequence[int], seeds: Sequence[int], Y: np.ndarray,
           space: str) -> list[Path]:
    """τ vs. N, predicted vs. true (largest N, first seed) and calibration (largest N)."""
    from ..plots.ranking import plot_calibration, plot_metric_vs_n, plot_pred_vs_true

    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    by_key = {(r, c["n"], c["seed"]): c for c in cells for r in c["readouts"]}
    tau = {t: {r: np.array([[(by_key[(r, n, s)]["readouts"][r][t]["kendall_tau"]
                              if (r, n, s) in by_key else None) for s in seeds] for n in ns],
                           dtype=float) for r in summary} for t in targets}
    paths = plot_metric_vs_n(ns, tau, plots, "tau_vs_n")
    n_max, s0 = max(ns), seeds[0]
    for r in summary:
        cell = by_key.get((r, n_max, s0))
        npz = out / "cells" / f"{_cell_stem(cell['surrogate'], n_max, s0)}.npz" if cell else None
        if npz is None or not npz.is_file():
            continue
        with np.load(npz) as z:
            te = z["test_indices"]
            lo = z.get(f"{r}.lo90")
            hi = z.get(f"{r}.hi90")
            paths += plot_pred_vs_true(Y[te], z[f"{r}.point"], list(targets), plots,
                                       f"scatter_{r}_n{n_max}_s{s0}", lo=lo, hi=hi,
                                       diagonal=cell["surrogate"] not in ZERO_SHOT,
                                       title=f"{space} {r}, N={n_max}, seed {s0}, "
                                             f"{len(te)} held-out archs")
    keys = [f"coverage{round(lv * 100)}" for lv in LEVELS]
    calibrated = [r for r in summary
                  if all(k in summary[r][targets[0]].get(f"N={n_max}", {}) for k in keys)]
    if calibrated:
        cov = np.array([[[summary[r][t][f"N={n_max}"][k]["mean"] for k in keys]
                         for t in targets] for r in calibrated], dtype=float)  # None -> NaN
        paths += plot_calibration(calibrated, list(targets), cov, plots, "calibration",
                                  LEVELS, title=f"{space}, N={n_max}, mean over seeds")
    return paths


# -- the entry point ------------------------------------------------------------------------
def evaluate(
    config: EvaluationConfig | None = None,
    *,
    out_dir: str | os.PathLike[str] = "runs/eval",
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    save_models: bool = False,
    threads: int = 1,
    force_restart: bool = False,
) -> dict:
    """Run the DESIGN §3 ranking protocol and write the run directory (see the module doc).

    ``config.targets`` are column names of ``target_names(space)`` (accuracy first is not
    required: the RLM reorders internally). ``save_models`` keeps each trained RLM in
    ``out_dir/models/<cell>`` (safetensors; how the shipped default model is made; for
    ``rlm_base``, one dir per target below it).
    ``progress`` shows a bar and prints the τ table. Returns the content of ``results.json``
    plus ``cells_run``/``cells_resumed``.
    """
    from tqdm import tqdm

    c = config or EvaluationConfig()
    space, targets, surrogates = c.space, list(c.targets), list(c.surrogates)
    ns, seeds, test_limit = list(c.ns), list(c.seeds), c.test_limit
    archs, Y = load_targets(space, targets, data_dir)  # unknown targets: lists the valid ones
    archs = canonical_archs(space, archs)
    first = accuracy_names(space, data_dir)
    larger = [t in first for t in targets]
    te_all = heldout_indices(space)[:test_limit]
    from ..surrogates.recipes import DEFAULT_RECIPE

    rlm_recipe = c.rlm_recipe or DEFAULT_RECIPE
    recipe = rlm_recipe.to_dict() if "rlm" in surrogates else None
    base_dir, base = (_base_settings(space, targets, c.rlm_base, any(larger),
                                     not all(larger))
                      if "rlm_base" in surrogates else (None, None))
    common = {"space": space, "targets": targets, "test_archs": len(te_all),
              "test_limit": test_limit, "k": K, "data": data_fingerprint(space),
              "space_settings": get_space(space).settings()}
    own = {"rlm": {"rlm_recipe": recipe}, "rlm_base": {"rlm_base": base}}
    settings = {s: {**common, **own.get(s, {})} for s in surrogates}

    out = Path(out_dir)
    cells_dir = out / "cells"
    grid = [(s, n, seed) for n in ns for seed in seeds for s in surrogates]
    # cells are the run's unit: more N, seeds or surrogates extend a run dir, and a cell of
    # other settings (targets, test set, data, recipe) is refused before anything is written
    claim(out, {"space": space, "data": data_fingerprint(space)}, force_restart)
    for s, n, seed in grid:
        path = cells_dir / f"{_cell_stem(s, n, seed)}.json"
        if path.is_file():
            _load_cell(path, settings[s])
    cells_dir.mkdir(parents=True, exist_ok=True)
    config = {"space": space, "targets": targets, "surrogates": surrogates, "ns": ns,
              "seeds": seeds, "test_limit": test_limit, "test_archs": len(te_all),
              "k": K, "levels": list(LEVELS), "larger_is_better": dict(zip(targets, larger,
                                                                           strict=True)),
              "data_dir": str(resolve_data_dir(data_dir)),
              "rlm_recipe": recipe,
              "rlm_base": None if base is None else {"dir": str(base_dir), **base},
              "versions": _versions(), "machine": machine()}
    write_json(out / "config.json", config)

    pretrains = "rlm" in surrogates and rlm_recipe.pretrain_archs > 0
    factories = surrogate_factories(space, surrogates, targets, rlm_recipe, first, threads,
                                    bases=out / "pretrained" if pretrains else None,
                                    rlm_base=base_dir)
    cells, run, resumed = [], 0, 0
    with tqdm(total=len(grid), desc="evaluate", unit="cell", disable=not progress) as bar:
        for s, n, seed in grid:
            path = cells_dir / f"{_cell_stem(s, n, seed)}.json"
            if path.is_file():
                cells.append(_load_cell(path, settings[s]))
                resumed += 1
            else:
                bar.set_postfix_str(_cell_stem(s, n, seed))
                tr, te = protocol_split(space, n, seed, test_limit)
                cells.append(_run_cell(factories[s], s, n, seed, archs, Y, tr, te, targets,
                                       larger, settings[s], cells_dir,
                                       out / "models" if save_models else None))
                run += 1
            bar.update()

    summary = summarize(cells, targets, ns)
    results = {"config": config, "summary": summary,
               "cells": [{k: v for k, v in c.items() if k != "train_indices"} for c in cells]}
    write_json(out / "results.json", results)
    _write_csv(out / "results.csv", summary)
    table = format_table(summary, targets, ns)
    atomic_write_text(out / "table.md",
                      f"Kendall τ, mean ± std over seeds {seeds}; {space}, "
                      f"{len(te_all)} held-out archs\n\n{table}\n")
    plots = _plots(out, cells, summary, targets, ns, seeds, Y, space)
    if progress:
        print(f"Kendall τ, mean ± std over seeds {seeds} ({space}, {len(te_all)} held-out "
              f"archs)\n{table}")
    return {**results, "cells_run": run, "cells_resumed": resumed,
            "plots": [str(p) for p in plots]}


def _base_settings(space: str, targets: Sequence[str],
                   base_dir: str | os.PathLike[str] | None,
                   accuracy_target: bool = False,
                   device_target: bool = True) -> tuple[Path, dict]:
    """The base dir of ``rlm_base`` and what its cells depend on: the base (its manifest's
    file hashes: a retrained base is a change, a moved one is not), both budgets, the
    frozen-encoder rule, the soft-digit width, how a device chooses its passes and how many
    archs an accuracy's step draws (``accuracy_target``: a target is one of the accuracies
    the run's fine-tunes are given; so are the rule for accuracies at the fixed budget and
    how many fine-tunes an accuracy averages and how many passes it makes), and the count
    heads a device may choose (``device_target``: a target is not an accuracy).
    Loading it here refuses a base for another space, or one that saw a target, before any
    cell runs."""
    from ..surrogates.pretrained import default_base_dir
    from ..surrogates.recipes import (
        COUNT_HEAD_BOOTSTRAP,
        COUNT_HEAD_GUARD,
        COUNT_HEAD_TRIM,
        COUNT_HEAD_WEIGHTS,
        FINETUNE_ACCURACY_BATCH,
        FINETUNE_ACCURACY_EPOCHS,
        FINETUNE_ACCURACY_MEMBERS,
        FINETUNE_ACCURACY_TRAIN,
        FINETUNE_DIGIT_SIGMA,
        FINETUNE_EPOCH_CHOICES,
        FINETUNE_EPOCHS,
        FINETUNE_TRAIN,
        FREEZE_DEVICE_ENCODER,
        FREEZE_FEW_ACCURACIES,
        SELECT_EPOCHS_MIN_LABELS,
        SELECT_VAL_FRACTION,
        load_base,
    )

    path = Path(base_dir) if base_dir is not None else default_base_dir(space)
    load_base(path, space, targets)
    manifest = json.loads((path / "manifest.json").read_text())
    return path.resolve(), {"files": manifest["files"], "train": FINETUNE_TRAIN.settings(),
                            "accuracy_train": FINETUNE_ACCURACY_TRAIN.settings(),
                            "epochs": FINETUNE_EPOCHS, "freeze_devices": FREEZE_DEVICE_ENCODER,
                            # only where set, so cells made before it existed stay valid
                            **({"digit_sigma": FINETUNE_DIGIT_SIGMA} if FINETUNE_DIGIT_SIGMA
                               else {}),
                            **({"epoch_choices": list(FINETUNE_EPOCH_CHOICES),
                                "select_min_labels": SELECT_EPOCHS_MIN_LABELS,
                                "select_val_fraction": SELECT_VAL_FRACTION}
                               if len(FINETUNE_EPOCH_CHOICES) > 1 else {}),
                            # only where a device target may get a count head: accuracy
                            # cells made before it stay valid; its guard only where set, so
                            # device cells of the first best stay valid; the head reads
                            # the fine-tune's own rehearsed counts, not the base's
                            **({"count_head_weights": list(COUNT_HEAD_WEIGHTS),
                                "count_head_counts": "rehearsed",
                                "count_head_coef": "non-negative",
                                **({"count_head_trim": COUNT_HEAD_TRIM}
                                   if COUNT_HEAD_TRIM else {}),
                                **({"count_head_guard": [COUNT_HEAD_GUARD,
                                                         COUNT_HEAD_BOOTSTRAP]}
                                   if COUNT_HEAD_GUARD else {})}
                               if any(COUNT_HEAD_WEIGHTS) and device_target else {}),
                            # only for a run with an accuracy target: the one they change;
                            # the second key's presence also marks soft digits at the fixed
                            # budget, which accuracies learn whatever its value
                            **({"accuracy_batch": FINETUNE_ACCURACY_BATCH,
                                "freeze_few_accuracies": FREEZE_FEW_ACCURACIES}
                               if accuracy_target else {}),
                            # only where several: cells of one fine-tune stay valid
                            **({"accuracy_members": FINETUNE_ACCURACY_MEMBERS}
                               if accuracy_target and FINETUNE_ACCURACY_MEMBERS > 1 else {}),
                            # only where it differs from a device's passes, likewise
                            **({"accuracy_epochs": FINETUNE_ACCURACY_EPOCHS}
                               if accuracy_target and FINETUNE_ACCURACY_EPOCHS
                               and FINETUNE_ACCURACY_EPOCHS != FINETUNE_EPOCHS else {})}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("nas-rlm", "numpy", "scipy", "scikit-learn", "torch", "transformers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out

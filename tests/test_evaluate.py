"""The ranking evaluation (DESIGN §3): run directory, resume, leakage rule, errors, plots.

Everything is tiny: N in {20, 40}, 200 held-out archs, two targets, baselines with their
default settings and one RLM cell of a 1-layer model trained for one epoch. The whole file is
meant to stay well under a minute on one thread.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from nas_rlm.cli import main
from nas_rlm.data import load_targets
from nas_rlm.data.splits import heldout_indices, pool_validation_indices, train_indices
from nas_rlm.errors import NasRlmError, UnknownNameError
from nas_rlm.evaluation.ranking import (
    EvaluationConfig,
    evaluate,
    interval_coverage,
    protocol_split,
    score_readout,
)
from nas_rlm.plots.ranking import plot_calibration, plot_metric_vs_n, plot_pred_vs_true
from nas_rlm.run_dir import machine
from nas_rlm.surrogates.baselines import OneHotGBDT, OneHotMLP, _CountProxy
from nas_rlm.surrogates.recipes import RecipeRLM, RLMRecipe
from nas_rlm.surrogates.rlm import RLM

TARGETS = ["pixel3", "cifar10"]  # latency first on purpose: the RLM must reorder
BASELINES = ["flops", "flops_pruned", "params", "mlp", "gbdt"]
NS, SEEDS, TEST_LIMIT = [20, 40], [0, 1], 200


class Recorder:
    """Wraps ``fit``/``predict`` of every surrogate class to record the archs they saw."""

    FIT = ((_CountProxy, "fit"), (OneHotMLP, "fit"), (OneHotGBDT, "fit"), (RLM, "fit"))
    PREDICT = ((_CountProxy, "predict"), (OneHotMLP, "predict"), (OneHotGBDT, "predict"),
               (RLM, "predict"), (RLM, "predict_expected"))

    def __init__(self, mp: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, list] = defaultdict(list)
        self.fitting = 0
        for cls, meth in self.FIT + self.PREDICT:
            kind = "fit" if (cls, meth) in self.FIT else "predict"
            mp.setattr(cls, meth, self._wrap(getattr(cls, meth), kind, cls.__name__))

    def _wrap(self, fn, kind, owner):
        def wrapped(obj, archs, *args, **kwargs):
            # the RLM's validation readout inside its own fit reads the fit's pool (checked
            # as fit rows), so only predictions made outside a fit count as test predictions
            if kind == "fit" or not self.fitting:
                self.calls[kind].append((owner, type(obj).__name__, list(archs),
                                         list(getattr(obj, "objectives", []))))
            self.fitting += kind == "fit"
            try:
                return fn(obj, archs, *args, **kwargs)
            finally:
                self.fitting -= kind == "fit"
        return wrapped


@pytest.fixture(scope="module")
def table(data_dir):
    archs, Y = load_targets("nb201", TARGETS, data_dir)
    return archs, Y, {a: i for i, a in enumerate(archs)}


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("eval") / "run"
    with pytest.MonkeyPatch.context() as mp:
        rec = Recorder(mp)
        res = evaluate(EvaluationConfig("nb201", TARGETS, BASELINES, NS, SEEDS,
                                        test_limit=TEST_LIMIT),
                       out_dir=out, data_dir=data_dir, progress=False)
    return out, res, rec


@pytest.fixture(scope="module")
def rlm_run(tiny_recipe, tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("eval_rlm") / "run"
    with pytest.MonkeyPatch.context() as mp:
        rec = Recorder(mp)
        res = evaluate(EvaluationConfig("nb201", TARGETS, ["rlm"], [20], [0],
                                        test_limit=TEST_LIMIT, rlm_recipe=tiny_recipe),
                       out_dir=out, data_dir=data_dir, progress=False, save_models=True)
    return out, res, rec


# -- the run directory ------------------------------------------------------------------------
def test_results_files_and_plots(baseline_run):
    out, res, _ = baseline_run
    assert res["cells_run"] == len(BASELINES) * len(NS) * len(SEEDS)
    assert res["cells_resumed"] == 0
    for name in ("config.json", "results.json", "results.csv", "table.md"):
        assert (out / name).is_file(), name
    assert len(list((out / "cells").glob("*.json"))) == res["cells_run"]
    assert len(list((out / "cells").glob("*.npz"))) == res["cells_run"]
    config = json.loads((out / "config.json").read_text())
    assert config["targets"] == TARGETS and config["test_archs"] == TEST_LIMIT
    assert config["larger_is_better"] == {"pixel3": False, "cifar10": True}
    # the CPU is recorded for the run and for each cell (a resumed run may mix machines)
    assert config["machine"] == machine() and machine()["cpu"] and machine()["cores"] >= 1
    assert all(json.loads(p.read_text())["machine"] == machine()
               for p in (out / "cells").glob("*.json"))

    results = json.loads((out / "results.json").read_text())
    assert set(results["summary"]) == set(BASELINES)
    tau = results["summary"]["gbdt"]["cifar10"]["N=40"]["kendall_tau"]
    assert tau["n"] == len(SEEDS) and -1 <= tau["mean"] <= 1
    # the zero-shot proxies ignore labels: the same ranking in every cell
    flops = results["summary"]["flops_pruned"]["cifar10"]
    assert flops["N=20"]["kendall_tau"]["std"] == 0
    assert flops["N=20"]["kendall_tau"]["mean"] == flops["N=40"]["kendall_tau"]["mean"] > 0.5

    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    metrics = {"kendall_tau", "spearman", "precision_top5", "coverage50", "coverage90"}
    assert len(rows) == len(BASELINES) * len(NS) * len(TARGETS) * len(metrics)
    assert {r["metric"] for r in rows} == metrics
    assert all(r["n_seeds"] == str(len(SEEDS)) for r in rows)

    plots = {Path(p).name for p in res["plots"]}
    for stem in ["tau_vs_n", "calibration", *(f"scatter_{s}_n40_s0" for s in BASELINES)]:
        assert {f"{stem}.png", f"{stem}.svg"} <= plots, stem
        assert (out / "plots" / f"{stem}.png").stat().st_size > 1000
    assert "| cifar10 | flops |" in (out / "table.md").read_text()


def test_calibration_numbers_in_unit_interval(baseline_run, rlm_run):
    for _, res, _ in (baseline_run, rlm_run):
        for cell in res["cells"]:
            for readout, by_target in cell["readouts"].items():
                for scores in by_target.values():
                    if readout.endswith(("_ev", "_median")):  # one value per arch: no interval
                        assert "coverage50" not in scores and "coverage90" not in scores
                        continue
                    assert 0.0 <= scores["coverage50"] <= scores["coverage90"] <= 1.0


def test_interval_coverage_and_undefined_tau():
    samples = np.tile(np.arange(8.0), (4, 1))[:, :, None]  # (4 archs, 8 samples, 1)
    true = np.array([[3.5], [0.5], [100.0], [6.5]])
    assert interval_coverage(samples, true, 0.5)[0] == 0.25  # only 3.5 is in [1.75, 5.25]
    assert interval_coverage(samples, true, 0.9)[0] == 0.75  # all but 100 in [0.35, 6.65]
    const = score_readout(np.ones((5, 1)), np.arange(5.0)[:, None], ["x"], [True])
    assert const["x"]["kendall_tau"] is None  # a constant prediction has no τ, not NaN in JSON


# -- the leakage rule ---------------------------------------------------------------------------
def test_no_heldout_arch_in_any_protocol_pool():
    held = set(heldout_indices("nb201").tolist())
    assert len(held) == 5000
    for n in (78, 390, 781):
        for seed in range(5):
            assert not held & set(train_indices("nb201", n, seed).tolist())
    tr, te = protocol_split("nb201", 781, 0, test_limit=TEST_LIMIT)
    assert len(te) == TEST_LIMIT and set(te.tolist()) <= held and not set(tr) & set(te)
    # the split choices are made on: pool archs outside the training pool, never held out
    val = pool_validation_indices("nb201", 781, 0)
    assert len(set(val.tolist())) == 500 and not set(val.tolist()) & held
    assert not set(val.tolist()) & set(train_indices("nb201", 781, 0).tolist())
    assert np.array_equal(val, pool_validation_indices("nb201", 781, 0))


@pytest.mark.parametrize("which", ["baseline_run", "rlm_run"])
def test_surrogates_are_fitted_on_pool_rows_only(which, request, table):
    _, res, rec = request.getfixturevalue(which)
    _, _, index = table
    held = set(heldout_indices("nb201").tolist())
    test_rows = heldout_indices("nb201")[:TEST_LIMIT].tolist()
    pools = {(c["n"], c["seed"]): set(train_indices("nb201", c["n"], c["seed"]).tolist())
             for c in res["cells"]}
    assert rec.calls["fit"], "no fit was recorded"
    for owner, _, archs, _ in rec.calls["fit"]:
        rows = {index[a] for a in archs}
        assert not rows & held, f"{owner} was fitted on held-out archs"
        assert rows in pools.values(), f"{owner} was fitted on rows that are not a pool"
    assert rec.calls["predict"]
    for owner, _, archs, _ in rec.calls["predict"]:
        assert [index[a] for a in archs] == test_rows, f"{owner} predicted other archs"
    for cell in res["cells"]:  # the pool written with each cell is the protocol's
        assert set(cell.get("train_indices", [])) <= pools[(cell["n"], cell["seed"])]


def test_rlm_cell_decodes_accuracy_first_and_reads_out_three_ways(rlm_run):
    out, res, rec = rlm_run
    (cell,) = res["cells"]
    assert set(cell["readouts"]) == {"rlm", "rlm_ev", "rlm_median"}
    assert [o for (owner, *_rest, o) in rec.calls["fit"] if owner == "RLM"] == [
        ["cifar10", "pixel3"]]
    with np.load(out / "cells" / "rlm_n20_s0.npz") as z:
        assert z["rlm.point"].shape == z["rlm_ev.point"].shape == (TEST_LIMIT, 2)
        assert "rlm.lo90" in z and "rlm_ev.lo90" not in z
    assert {"scatter_rlm_n20_s0.png", "scatter_rlm_ev_n20_s0.png"} <= {
        Path(p).name for p in res["plots"]}


def test_saved_cell_model_reproduces_the_cell_predictions(rlm_run, data_dir):
    """--save-models keeps the very model that was scored (how the default model ships)."""
    from nas_rlm.data.splits import heldout_indices
    from nas_rlm.data.targets import load_targets
    from nas_rlm.surrogates.rlm import RLM

    out, _res, _rec = rlm_run
    rlm = RLM.from_pretrained(out / "models" / "rlm_n20_s0")
    assert rlm.objectives == ["cifar10", "pixel3"]  # accuracy decoded first
    assert rlm.training_info["train_indices"] == train_indices("nb201", 20, 0).tolist()
    archs, _ = load_targets("nb201", TARGETS, data_dir)
    test = [archs[i] for i in heldout_indices("nb201")[:TEST_LIMIT]]
    with np.load(out / "cells" / "rlm_n20_s0.npz") as z:
        np.testing.assert_allclose(rlm.predict_expected(test)[:, [1, 0]], z["rlm_ev.point"],
                                   rtol=1e-5)
        np.testing.assert_allclose(rlm.predict_median(test)[:, [1, 0]],
                                   z["rlm_median.point"], rtol=1e-5)


def test_trained_rlm_maps_columns_back(monkeypatch):
    seen = {}

    class Stub:
        def predict(self, archs, k, seed):
            return np.tile(np.arange(3.0), (len(archs), k, 1))  # column j = RLM objective j

        def predict_point(self, archs):
            return np.tile(np.arange(3.0), (len(archs), 1))

    def fake_train(space, archs, Y, objectives, *args, **kw):
        seen.update(objectives=objectives, Y=Y)
        return Stub()

    monkeypatch.setattr("nas_rlm.surrogates.recipes.train_rlm", fake_train)
    Y = np.array([[1.0, 2.0, 90.0]])
    m = RecipeRLM("nb201", ["pixel3", "eyeriss", "cifar10"], accuracy=["cifar10"])
    m.fit(["a"], Y)
    assert seen["objectives"] == ["cifar10", "pixel3", "eyeriss"]
    assert seen["Y"].tolist() == [[90.0, 1.0, 2.0]]
    assert m.predict(["a"], k=2)[0, 0].tolist() == [1.0, 2.0, 0.0]
    assert m.predict_point(["a"])[0].tolist() == [1.0, 2.0, 0.0]


# -- resume ---------------------------------------------------------------------------------------
@pytest.mark.slow  # CI runs it too; `-m "not slow"` for a quick local pass
def test_resume_skips_finished_cells(baseline_run, tmp_path, data_dir, monkeypatch):
    src, _, _ = baseline_run
    out = tmp_path / "run"
    shutil.copytree(src, out)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    rec = Recorder(monkeypatch)
    more = EvaluationConfig("nb201", TARGETS, ["params", "gbdt"], NS, [*SEEDS, 2],
                            test_limit=TEST_LIMIT)
    res = evaluate(more, out_dir=out, data_dir=data_dir, progress=False)
    assert res["cells_resumed"] == 2 * len(NS) * len(SEEDS)
    assert res["cells_run"] == 2 * len(NS) * 1
    assert len(rec.calls["fit"]) == res["cells_run"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")
            if p.name in before} == before
    # nothing left to do: a rerun only aggregates
    res = evaluate(more, out_dir=out, data_dir=data_dir, progress=False)
    assert res["cells_run"] == 0 and len(rec.calls["fit"]) == 2 * len(NS)
    assert res["summary"]["gbdt"]["cifar10"]["N=20"]["kendall_tau"]["n"] == 3


def test_resume_refuses_cells_of_other_settings(baseline_run, tmp_path, data_dir):
    src, _, _ = baseline_run
    out = tmp_path / "run"
    shutil.copytree(src, out)
    with pytest.raises(NasRlmError, match="other settings"):
        evaluate(EvaluationConfig("nb201", ["cifar10"], ["gbdt"], [20], [0],
                                  test_limit=TEST_LIMIT),
                 out_dir=out, data_dir=data_dir, progress=False)


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "needles"),
    [
        ({"targets": ["cifar11"]}, UnknownNameError, ["cifar11", "pixel3", "eyeriss"]),
        ({"space": "nb999"}, UnknownNameError, ["nb999", "nb201", "fbnet", "ofa_mbv3"]),
        ({"surrogates": ["ridge"]}, UnknownNameError, ["ridge", "gbdt", "rlm"]),
        ({"space": "fbnet", "targets": ["pixel3"], "ns": [3001]}, NasRlmError,
         ["N=3001", "1..3000", "fbnet"]),
        ({"space": "ofa_mbv3", "targets": ["pixel3"]}, UnknownNameError,
         ["pixel3", "ofa_mbv3", "2080ti_1"]),
        ({"ns": [0]}, NasRlmError, ["N=0"]),
        ({"test_limit": 0}, NasRlmError, ["test_limit", ">= 1"]),
        ({"seeds": []}, NasRlmError, ["at least one"]),
    ],
)
def test_bad_requests_fail_before_any_work(kwargs, error, needles, tmp_path, data_dir):
    args = {"space": "nb201", "targets": ["cifar10"], "surrogates": ["gbdt"], "ns": [20],
            "seeds": [0], **kwargs}
    with pytest.raises(error) as e:
        evaluate(EvaluationConfig(**args), out_dir=tmp_path / "run", data_dir=data_dir,
                 progress=False)
    for needle in needles:
        assert needle in str(e.value)
    assert not (tmp_path / "run").exists()


def test_a_table_space_without_adapter_is_refused(monkeypatch, tmp_path, data_dir):
    from nas_rlm import search_spaces

    monkeypatch.delitem(search_spaces.SPACES, "fbnet")
    with pytest.raises(NasRlmError) as e:
        evaluate(EvaluationConfig("fbnet", ["pixel3"], ["mlp", "rlm"], [20], [0]),
                 out_dir=tmp_path / "run", data_dir=data_dir, progress=False)
    for needle in ["fbnet", "adapter", "mlp, rlm", "nb201"]:
        assert needle in str(e.value)
    assert not (tmp_path / "run").exists()


# -- the latency-only spaces (DESIGN §3: 5,000 table archs, 2,000 held out) ----------------------
def test_fbnet_latency_ranking_runs(tmp_path, data_dir):
    res = evaluate(EvaluationConfig("fbnet", ["pixel3", "eyeriss"], ["gbdt", "flops"], [40],
                                    [0], test_limit=100),
                   out_dir=tmp_path / "r", data_dir=data_dir, progress=False)
    assert res["cells_run"] == 2
    config = res["config"]
    assert config["larger_is_better"] == {"pixel3": False, "eyeriss": False}  # no accuracy
    assert config["test_archs"] == 100 and len(heldout_indices("fbnet")) == 2000
    held = set(heldout_indices("fbnet").tolist())
    for cell in res["cells"]:
        assert cell["n"] == 40
    pool = json.loads((tmp_path / "r" / "cells" / "gbdt_n40_s0.json").read_text())
    assert len(pool["train_indices"]) == 40 and not set(pool["train_indices"]) & held
    tau = {s: res["summary"][s]["pixel3"]["N=40"]["kendall_tau"]["mean"] for s in ("gbdt",
                                                                                   "flops")}
    # latency follows the blocks' size (τ 0.80 here); 40 labels already rank above chance
    assert tau["flops"] > 0.6 and tau["gbdt"] > 0.05, tau


def test_ofa_surrogates_see_canonical_archs(tmp_path, data_dir, monkeypatch):
    from nas_rlm.evaluation.ranking import canonical_archs
    from nas_rlm.search_spaces import get_space

    raw, _ = load_targets("ofa_mbv3", ["2080ti_1"], data_dir)
    canon = canonical_archs("ofa_mbv3", raw)
    sp = get_space("ofa_mbv3")
    assert sum(a != c for a, c in zip(raw, canon, strict=True)) > 4000  # inactive slots reset
    assert all(sp.parse(a) == sp.parse(c) for a, c in zip(raw[:200], canon[:200], strict=True))
    assert canonical_archs("fbnet", load_targets("fbnet", ["pixel3"], data_dir)[0][:50]) == \
        load_targets("fbnet", ["pixel3"], data_dir)[0][:50]
    with pytest.raises(NasRlmError, match="rows 0 and 2 are the same arch"):
        canonical_archs("ofa_mbv3", [raw[0], raw[1], canon[0]])

    rec = Recorder(monkeypatch)
    res = evaluate(EvaluationConfig("ofa_mbv3", ["2080ti_1"], ["gbdt"], [30], [1],
                                    test_limit=50),
                   out_dir=tmp_path / "r", data_dir=data_dir, progress=False)
    assert res["cells_run"] == 1
    seen = [a for kind in ("fit", "predict") for *_, archs, _ in rec.calls[kind] for a in archs]
    assert set(seen) <= set(canon) and len(rec.calls["fit"][0][2]) == 30
    test_rows = heldout_indices("ofa_mbv3")[:50]
    assert all(c[2] == [canon[i] for i in test_rows] for c in rec.calls["predict"])


# -- plots with awkward inputs --------------------------------------------------------------------
def test_plots_take_undefined_scores_and_constant_predictions(tmp_path):
    ns = [78, 390, 781]
    values = {"cifar10": {"a": np.array([[0.5, np.nan], [np.nan, np.nan], [0.7, 0.8]]),
                          "b": np.full((3, 2), 0.4)}}
    true = np.random.default_rng(0).normal(size=(50, 2))
    assert len(plot_metric_vs_n(ns, values, tmp_path)) == 2
    assert len(plot_pred_vs_true(true, np.zeros((50, 2)), ["x", "y"], tmp_path, "const",
                                 lo=-np.ones((50, 2)), hi=np.ones((50, 2)))) == 2
    assert len(plot_calibration(["a", "b"], ["x"], np.array([[[0.4, 0.8]], [[0.0, 0.0]]]),
                                tmp_path)) == 2
    assert {p.suffix for p in tmp_path.iterdir()} == {".png", ".svg"}


# -- the command line ---------------------------------------------------------------------------
def test_cli_evaluate(tmp_path, capsys, data_dir):
    out = tmp_path / "run"
    code = main(["evaluate", "--space", "nb201", "--targets", "cifar10,pixel3", "--surrogates",
                 "params,gbdt", "--ns", "20", "--seeds", "0-1", "--out", str(out),
                 "--test-limit", "100", "--data-dir", str(data_dir), "--quiet"])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "| cifar10 | params |" in stdout and str(out) in stdout
    assert len(list((out / "cells").glob("*.json"))) == 4
    code = main(["evaluate", "--targets", "cifar11", "--out", str(tmp_path / "bad"),
                 "--data-dir", str(data_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "cifar11" in err and "Traceback" not in err


def test_cli_evaluate_pretrains_the_rlm_on_computed_labels(tmp_path, capsys, data_dir,
                                                          monkeypatch):
    """--rlm-pretrain-archs runs the recipe's pretraining stage once per seed, shared by the
    RLM cells of that seed (every N), and records it, so a run without pretraining refuses
    to resume its cells."""
    from nas_rlm.surrogates import recipes

    pretrainings = []
    real = recipes.pretrain_base
    monkeypatch.setattr(recipes, "pretrain_base",
                        lambda *a, **k: pretrainings.append(a) or real(*a, **k))
    out = tmp_path / "run"
    args = ["evaluate", "--space", "nb201", "--targets", "cifar10", "--surrogates", "rlm",
            "--ns", "20,30", "--seeds", "0", "--rlm-size", "tiny", "--rlm-steps", "2",
            "--test-limit", "20", "--save-models", "--data-dir", str(data_dir), "--quiet"]
    assert main([*args, "--out", str(out), "--rlm-pretrain-archs", "12",
                 "--rlm-pretrain-steps", "2"]) == 0
    assert len(pretrainings) == 1 and (out / "pretrained" / "s0" / "model").is_dir()
    config = json.loads((out / "config.json").read_text())
    assert config["rlm_recipe"]["pretrain_archs"] == 12
    for n in (20, 30):
        meta = json.loads((out / "models" / f"rlm_n{n}_s0" / "rlm.json").read_text())
        pre = meta["training"]["pretrain"]
        assert pre["n_train"] + pre["n_val"] == 12 and meta["objectives"] == ["cifar10"]
    # a base of other settings in that directory is refused, naming what differs
    recipe = RLMRecipe.sized("tiny").with_overrides(["pretrain_archs=12", "pretrain_steps=2",
                                                     "train.steps=2"])
    with pytest.raises(NasRlmError, match=r"other settings \(.*seed"):
        recipes.load_or_pretrain_base(out / "pretrained" / "s0", "nb201", ["cifar10"],
                                      recipe, seed=1)
    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "bad"), "--rlm-pretrain-archs", "-3"]) == 2
    assert "--rlm-pretrain-archs: must be between 0" in capsys.readouterr().err

"""Searches under a budget of true evaluations, and the evaluator interface."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nas_rlm.errors import DataError, NasRlmError
from nas_rlm.evaluation.ranking import surrogate_factories
from nas_rlm.search import budgeted as B
from nas_rlm.search.evaluators import (
    FunctionEvaluator,
    JointEvaluator,
    LatencyEvaluator,
    TableEvaluator,
)
from nas_rlm.search.indicators import non_dominated
from nas_rlm.search.objectives import SearchSpecError, objective_matrix
from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.recipes import RecipeRLM

COLS, SPECS = ["cifar10", "pixel3"], ["accuracy", "latency:pixel3"]


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


@pytest.fixture(scope="module")
def table(space, data_dir):
    return TableEvaluator(space, COLS, data_dir)


class Counting:
    """Wraps an evaluator and records every batch it is asked for."""

    def __init__(self, ev):
        self.ev, self.space, self.columns, self.batches = ev, ev.space, ev.columns, []

    def __call__(self, archs):
        self.batches.append(list(archs))
        return self.ev(archs)


def _gbdt_fitter(seed=0):
    return B.refit_from_scratch(surrogate_factories("nb201", ["gbdt"], COLS)["gbdt"], seed)


def _check_ledger(run, ev, budget):
    assert run.n_evals == budget
    assert len(set(run.archs)) == budget  # never the same arch twice
    np.testing.assert_allclose(run.Y, ev(run.archs))


def test_random_search_spends_exactly_the_budget_on_distinct_archs(space, table):
    _objs, _cons, scorer = B.setup(space, table, SPECS)
    run = B.random_search(space, table, 150, seed=3, scorer=scorer, record_every=50)
    _check_ledger(run, table, 150)
    assert [h["n_evals"] for h in run.history] == [50, 100, 150]
    again = B.random_search(space, table, 150, seed=3)
    assert again.archs == run.archs


def test_evolve_on_true_stops_at_the_exact_budget(space, table):
    objs, cons, scorer = B.setup(space, table, SPECS)
    counting = Counting(table)
    run = B.evolve_on_true(space, counting, objs, cons, budget=130, pop_size=20, seed=0,
                           scorer=scorer)
    _check_ledger(run, table, 130)  # 130 is not a multiple of 20: the last gen is cut
    asked = [a for b in counting.batches for a in b]
    assert len(asked) == len(set(asked)) == 130  # duplicates never reach the evaluator
    hv = [h["hv_ratio"] for h in run.history]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(hv))  # archive grows


def test_front_scorer_on_the_true_front_is_perfect(space, table):
    objs, _cons, scorer = B.setup(space, table, SPECS)
    Y = table(table.archs())
    F = objective_matrix(objs, Y)
    front = non_dominated(F)
    m = scorer(Y[front])
    assert m["hv_ratio"] == pytest.approx(1.0)
    assert m["igd_plus"] == pytest.approx(0.0, abs=1e-12)
    worse = scorer(Y[np.argsort(F[:, 0])[-50:]])  # the 50 least accurate archs
    assert worse["hv_ratio"] < 0.9
    # an arch the table does not hold (NaN values) counts as not found, not as an error
    missing = np.full((1, Y.shape[1]), np.nan)
    assert scorer(np.vstack([Y[front], missing])) == m
    assert not scorer.usable(missing).any() and scorer.n_rows == len(Y)
    np.testing.assert_allclose(objective_matrix(objs, scorer.true_front_values()),
                               scorer.true_front)  # natural units, back and forth


def test_assisted_config_defaults_and_checks():
    from nas_rlm.search.assisted import AssistedConfig

    c = AssistedConfig(budget=100)
    assert (c.n_init, c.batch) == B.loop_sizes(100) == (20, 20)
    assert c.objectives == ("accuracy", "latency:pixel3") and c.constraints == ()
    assert AssistedConfig(objectives="accuracy, latency:eyeriss",
                          constraints="latency:eyeriss<=5").constraints == ("latency:eyeriss<=5",)
    with pytest.raises(SearchSpecError, match="--init 20 is more than --budget 10"):
        AssistedConfig(budget=10, n_init=20)
    with pytest.raises(SearchSpecError, match="--budget must be a positive integer"):
        AssistedConfig(budget=0)
    with pytest.raises(SearchSpecError, match="--pop-size"):
        AssistedConfig(pop_size=0)


def test_surrogate_assisted_respects_budget_and_beats_its_start(space, table):
    objs, cons, scorer = B.setup(space, table, SPECS)
    counting = Counting(table)
    run = B.surrogate_assisted(space, counting, _gbdt_fitter(), objs, cons, budget=160,
                               n_init=60, batch=50, pop_size=20, generations=5, seed=1,
                               scorer=scorer)
    _check_ledger(run, table, 160)
    assert [len(b) for b in counting.batches] == [60, 50, 50]
    rounds = [h for h in run.history if h.get("round", 0) >= 1]
    assert len(rounds) == 2 and all(h["candidates"] > 0 for h in rounds)
    assert run.history[-1]["hv_ratio"] >= run.history[0]["hv_ratio"]


def test_surrogate_assisted_resumes_after_an_interrupt(space, table, tmp_path):
    objs, cons, scorer = B.setup(space, table, SPECS)
    state = tmp_path / "state.json"
    fit = _gbdt_fitter()
    calls = []

    def flaky(archs, Y, r):
        calls.append(r)
        if r == 2 and len(calls) == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during round 2
        return fit(archs, Y, r)

    kw = dict(budget=150, n_init=50, batch=50, pop_size=20, generations=3, seed=0,
              scorer=scorer, state_path=state)
    with pytest.raises(KeyboardInterrupt):
        B.surrogate_assisted(space, table, flaky, objs, cons, **kw)
    counting = Counting(table)
    run = B.surrogate_assisted(space, counting, flaky, objs, cons, **kw)
    _check_ledger(run, table, 150)
    assert [len(b) for b in counting.batches] == [50]  # only round 2 was left
    assert calls == [1, 2, 2]
    done = B.surrogate_assisted(space, Counting(table), flaky, objs, cons, **kw)
    assert done.archs == run.archs and calls == [1, 2, 2]  # finished: nothing to do

    state.write_text("{not json")
    with pytest.raises(NasRlmError, match="damaged"):
        B.surrogate_assisted(space, table, flaky, objs, cons, **kw)


def test_select_candidates_prefers_feasible_then_rank_then_spread():
    F = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.6, 0.6], [-1.0, -1.0]])
    G = np.array([[0.0], [0.0], [0.0], [0.0], [1.0]])  # the dominant one is infeasible
    assert sorted(B.select_candidates(F, G, 3).tolist()) == [0, 1, 2]
    assert B.select_candidates(F, G, 5).tolist()[-1] == 4
    assert B.select_candidates(F, np.zeros((5, 0)), 1).tolist() == [4]


def test_recipe_rlm_refit_warm_starts(tiny_recipe, space, table):
    surrogate = RecipeRLM(space, COLS, tiny_recipe, tokenizer_archs=50)
    archs = space.sample(40, 0)
    first = surrogate.refit(archs, table(archs), 0)
    model = first.rlm
    weights = {k: v.clone() for k, v in model.model.state_dict().items()}
    second = surrogate.refit(archs, table(archs), 1)
    assert second is first and second.rlm is model  # the same model, trained further
    assert any(not (v == model.model.state_dict()[k]).all() for k, v in weights.items())
    assert first.predict_point(archs[:3]).shape == (3, 2)
    assert first.predict(archs[:3], k=2).shape == (3, 2, 2)


def test_evaluator_errors_name_the_problem(space, data_dir):
    bad_count = FunctionEvaluator(space, ["acc"], lambda s: [1.0, 2.0])
    with pytest.raises(DataError, match="returned 2 values per arch, expected 1"):
        bad_count(space.sample(2, 0))
    nan = FunctionEvaluator(space, ["acc"], lambda s: [float("nan")])
    with pytest.raises(DataError, match="non-finite"):
        nan(space.sample(1, 0))
    fb = get_space("fbnet")
    lat = TableEvaluator(fb, ["pixel3"], data_dir)
    with pytest.raises(DataError, match="no row in the fbnet table"):
        lat([fb.parse(" ".join(["8"] * 22))])
    with pytest.raises(ValueError, match="share column names"):
        JointEvaluator(lat, lat)


def test_joint_evaluator_with_a_local_latency_column(space, table):
    archs = space.sample(2, 5)
    joint = JointEvaluator(table, LatencyEvaluator(space, "local_cpu", warmup=0, repeats=2))
    Y = joint(archs)
    assert joint.columns == ["cifar10", "pixel3", "local_cpu"]
    assert Y.shape == (2, 3) and (Y[:, 2] > 0).all()
    np.testing.assert_allclose(Y[:, :2], table(archs))


def test_assisted_cli_with_a_users_csv_resumes_and_stays_in_the_table(space, table, tmp_path):
    """A user's own table: only its archs can be truly evaluated, and a rerun resumes."""
    import csv
    import json

    from nas_rlm.cli import main

    archs = space.sample(80, 9)
    Y = table(archs)
    path = tmp_path / "mine.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "acc", "lat"])
        for a, y in zip(archs, Y, strict=True):
            w.writerow([space.to_string(a), y[0], y[1]])
    out = tmp_path / "run"
    argv = ["assisted", "--space", "nb201", "--accuracy-csv", str(path), "--objectives",
            "accuracy,latency:lat", "--surrogate", "gbdt", "--budget", "40", "--init", "20",
            "--batch", "10", "--out", str(out), "--quiet"]
    # two columns, neither called 'accuracy': the user must say which one is
    assert main([*argv[:-2], str(tmp_path / "refused"), "--quiet"]) == 2
    assert not (tmp_path / "refused").exists()
    argv += ["--accuracy-column", "acc"]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_evals"] == 40 and summary["n_front"] >= 1
    assert summary["sources"] == {"acc": str(path), "lat": str(path)}
    rows = list(csv.reader((out / "evaluated.csv").open()))
    assert rows[0] == ["arch", "acc", "lat"] and len(rows) == 41
    mine = {space.to_string(a) for a in archs}
    assert all(r[0] in mine for r in rows[1:])
    assert (out / "pareto.png").is_file() and (out / "front.csv").is_file()
    before = (out / "state.json").read_text()
    assert main(argv) == 0  # finished run: resumes, evaluates nothing new
    assert json.loads((out / "state.json").read_text())["archs"] == json.loads(before)["archs"]


@pytest.mark.parametrize("content, match", [
    ("acc,lat\n", "header must be 'arch"),
    ("arch,acc\n|bad|,1\n", r"mine.csv:2"),
    ("arch,acc\n" + "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|,x\n", "mine.csv:2"),
    ("arch,acc\n", "no rows"),
])
def test_users_csv_errors_name_file_and_line(space, tmp_path, content, match):
    path = tmp_path / "mine.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        TableEvaluator.from_csv(space, path)


def _users_csv(path, space, table, header, pick, bom=False):
    archs = space.sample(60, 3)
    Y = table(archs)
    lines = [",".join(header)] + [
        ",".join([space.to_string(a), *(str(y[j]) for j in pick)]) for a, y in zip(archs, Y,
                                                                                  strict=True)]
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_accuracy_column_is_taken_by_name(space, table, tmp_path):
    from nas_rlm.search.assisted import make_evaluator

    # header arch,loss,accuracy: the objective 'accuracy' is the column of that name
    path = _users_csv(tmp_path / "a.csv", space, table, ["arch", "loss", "accuracy"], [1, 0],
                      bom=True)
    ev = make_evaluator(space, ["pixel3"], path)
    assert ev.columns == ["accuracy", "pixel3"]
    archs = space.sample(60, 3)
    np.testing.assert_allclose(ev(archs[:5]), table(archs[:5]))


def test_a_column_in_both_the_csv_and_the_table_is_an_error(space, table, tmp_path, capsys):
    from nas_rlm.cli import main

    path = _users_csv(tmp_path / "b.csv", space, table, ["arch", "accuracy", "pixel3"], [0, 1])
    out = tmp_path / "run"
    code = main(["assisted", "--accuracy-csv", str(path), "--surrogate", "gbdt",
                 "--budget", "30", "--init", "10", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "pixel3 is both a column of" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_assisted_infeasible_budget_writes_a_run_dir_that_says_so(tmp_path, capsys):
    import json

    from nas_rlm.cli import main

    out = tmp_path / "run"
    code = main(["assisted", "--surrogate", "gbdt", "--constraint", "latency:pixel3<=0.0001",
                 "--budget", "30", "--init", "10", "--out", str(out), "--quiet"])
    assert code == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "infeasible" and summary["n_evals"] == 0
    assert "latency:pixel3<=0.0001" in summary["message"]
    assert "relax the budget" in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["constraints"]


def test_assisted_unknown_device_and_surrogate_are_clear_errors(tmp_path):
    from nas_rlm.cli import main
    from nas_rlm.search.assisted import AssistedConfig, run_assisted

    with pytest.raises(Exception, match="unknown objective 'pixel9'"):
        run_assisted(get_space("nb201"), AssistedConfig("accuracy,latency:pixel9",
                                                        surrogate="gbdt"),
                     out_dir=tmp_path / "a")
    with pytest.raises(Exception, match="unknown surrogate 'xgb'"):
        AssistedConfig(surrogate="xgb")
    assert main(["assisted", "--surrogate", "gbdt", "--objectives", "accuracy,latency:pixel9",
                 "--out", str(tmp_path / "c"), "--quiet"]) != 0
    with pytest.raises(Exception, match="fbnet has no accuracy table; pass --accuracy-csv"):
        run_assisted(get_space("fbnet"), AssistedConfig(surrogate="gbdt"),
                     out_dir=tmp_path / "d")


def test_a_budget_on_an_objective_column_loads_that_column_once(tmp_path):
    import json

    from nas_rlm.search.assisted import AssistedConfig, run_assisted
    from nas_rlm.search.objectives import spec_columns

    assert spec_columns(["accuracy", "latency:pixel3", "latency:pixel3<=8"]) == ["pixel3"]
    config = AssistedConfig(constraints="latency:pixel3<=8", surrogate="gbdt", budget=30,
                            n_init=20, batch=10)
    s = run_assisted(get_space("nb201"), config, out_dir=tmp_path, progress=False)
    assert s["status"] == "ok"
    assert json.loads((tmp_path / "config.json").read_text())["columns"] == ["cifar10",
                                                                             "pixel3"]
    header = (tmp_path / "evaluated.csv").read_text().splitlines()[0]
    assert header == "arch,cifar10,pixel3"


def test_aging_evolution_spends_the_budget_on_distinct_mutants(space, table):
    objs, cons, scorer = B.setup(space, table, SPECS)
    counting = Counting(table)
    run = B.aging_evolution(space, counting, objs, cons, budget=120, pop_size=20,
                            sample_size=5, seed=1, scorer=scorer)
    _check_ledger(run, table, 120)
    asked = [a for b in counting.batches for a in b]
    assert len(asked) == len(set(asked)) == 120
    # after the random start every child is one decision away from some earlier arch
    seen = set(run.archs[:20])
    for child in run.archs[20:]:
        assert any(sum(x != y for x, y in zip(child, a, strict=True)) == 1 for a in seen)
        seen.add(child)
    again = B.aging_evolution(space, Counting(table), objs, cons, 120, 20, 5, seed=1)
    assert again.archs == run.archs  # seeded: the same run again
    assert run.history[-1]["n_evals"] == 120


def test_loop_sizes_scale_with_the_budget():
    assert B.loop_sizes(1000) == (200, 200)
    assert B.loop_sizes(50) == (10, 10)
    assert B.loop_sizes(8) == (4, 4)  # a batch to share between parallel evaluations
    assert B.loop_sizes(2) == (2, 2)


def test_searches_on_a_partial_table_stay_inside_it(data_dir):
    """FBNet's table covers 5,000 archs: NSGA-II and aging evolution on true values only
    ever propose archs it has, and a latency-only objective pair is a valid search."""
    fb = get_space("fbnet")
    ev = TableEvaluator(fb, ["pixel3", "1080ti_1"], data_dir)
    objs, cons, scorer = B.setup(fb, ev, ["latency:pixel3", "latency:1080ti_1"])
    assert [o.maximize for o in objs] == [False, False]
    inside = set(ev.archs())
    for run in (B.evolve_on_true(fb, ev, objs, cons, 60, pop_size=20, seed=0, scorer=scorer),
                B.aging_evolution(fb, ev, objs, cons, 60, pop_size=20, seed=0, scorer=scorer)):
        assert run.n_evals == 60 and set(run.archs) <= inside
        assert 0 < scorer(run.Y)["hv_ratio"] <= 1

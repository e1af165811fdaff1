"""Multi-objective search: parsing, the cached pymoo Problem, algorithms, run dirs, resume.

Every search here runs on a cheap deterministic fake surrogate (accuracy a FLOPs-like sum
over the ops, latencies looked up in the real table), with tiny populations, so the file
stays fast.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from nas_rlm.data import load_targets
from nas_rlm.errors import NasRlmError, UnknownNameError
from nas_rlm.plots.pareto import plot_hv, plot_pareto
from nas_rlm.search import (
    ALGORITHMS,
    PredictionCache,
    RandomResetMutation,
    SearchConfig,
    SearchSpecError,
    SurrogateProblem,
    front_metrics,
    make_algorithm,
    non_dominated,
    parse_constraint,
    parse_constraints,
    parse_objectives,
    reference_directions,
    run_search,
)
from nas_rlm.search.algorithms import supports_constraints
from nas_rlm.search.problem import surrogate_id
from nas_rlm.search_spaces.nb201 import NB201
from nas_rlm.surrogates.base import Surrogate

SPACE = NB201()
NAMES = ["cifar10", "pixel3", "eyeriss"]
OP_COST = np.array([0.0, 0.5, 1.0, 3.0, 0.5])  # none, skip, 1x1, 3x3, pool: FLOPs-like


class FakeSurrogate(Surrogate):
    """Deterministic, on the contract: samples = point ± a fixed spread; counts its calls."""

    objectives = NAMES

    def __init__(self, latency: dict, spread: float = 0.2) -> None:
        self.latency = latency
        self.spread = spread
        self.calls: list[list[str]] = []

    def fit(self, archs: Sequence, Y: np.ndarray) -> FakeSurrogate:
        return self

    def point(self, archs: Sequence) -> np.ndarray:
        keys = [SPACE.parse(a) for a in archs]
        acc = np.array([70.0 + OP_COST[list(k)].sum() for k in keys])
        return np.column_stack([acc, np.array([self.latency[k] for k in keys])])

    def predict(self, archs: Sequence, k: int = 8) -> np.ndarray:
        self.calls.append(list(archs))
        offsets = np.linspace(-self.spread, self.spread, k)[None, :, None]
        return self.point(archs)[:, None, :] + offsets


class ExpectedFake(FakeSurrogate):
    """Like the RLM: its ``predict_point`` needs no samples."""

    def __init__(self, latency: dict) -> None:
        super().__init__(latency)
        self.expected_calls: list[list[str]] = []

    def predict_point(self, archs: Sequence) -> np.ndarray:
        self.expected_calls.append(list(archs))
        return self.point(archs)


@pytest.fixture(scope="module")
def table(data_dir: Path) -> tuple[list[str], np.ndarray]:
    return load_targets("nb201", NAMES, data_dir)


@pytest.fixture(scope="module")
def latency(table) -> dict:
    archs, Y = table
    return {SPACE.parse(a): Y[i, 1:] for i, a in enumerate(archs)}


def fake(latency) -> FakeSurrogate:
    return FakeSurrogate(latency)


# -- 1. objectives and constraints ----------------------------------------------------------
def test_search_config_defaults_and_checks():
    c = SearchConfig()
    assert c.objectives == ("accuracy", "latency:pixel3") and c.constraints == ()
    assert SearchConfig(" accuracy , latency:eyeriss,").objectives == ("accuracy",
                                                                       "latency:eyeriss")
    assert SearchConfig(constraints="latency:pixel3<=5").constraints == ("latency:pixel3<=5",)
    for bad in ({"pop_size": 0}, {"generations": 0}, {"k": -1}, {"pop_size": 2.5}):
        with pytest.raises(SearchSpecError, match=next(iter(bad))):
            SearchConfig(**bad)
    objs, cons = SearchConfig(constraints="latency:eyeriss<=6").resolve(NAMES)
    assert [o.index for o in objs] == [0, 1] and cons[0].target.index == 2


def test_objectives_resolve_to_surrogate_columns():
    objs = parse_objectives(["accuracy", "latency:pixel3"], NAMES)
    assert [(o.column, o.index, o.maximize) for o in objs] == [
        ("cifar10", 0, True), ("pixel3", 1, False)]
    objs = parse_objectives("accuracy, latency:pixel3, eyeriss", NAMES)
    assert [o.column for o in objs] == NAMES
    assert objs[0].to_min(np.array([90.0]))[0] == -90.0


@pytest.mark.parametrize("specs, error, words", [
    (["accuracy", "latency:pixel9"], UnknownNameError, ["pixel9", "latency:pixel3", "eyeriss"]),
    (["accuracy", "speed:pixel3"], SearchSpecError, ["speed:pixel3", "latency:DEVICE"]),
    (["accuracy", "flops"], UnknownNameError, ["flops", "latency:eyeriss"]),
    (["accuracy"], SearchSpecError, ["at least 2"]),
    (["accuracy", "cifar10"], SearchSpecError, ["same"]),
    (["accuracy", ""], SearchSpecError, ["at least 2"]),
])
def test_objective_errors_list_valid_names(specs, error, words):
    with pytest.raises(error) as e:
        parse_objectives(specs, NAMES)
    assert isinstance(e.value, NasRlmError)
    for w in words:
        assert w in str(e.value)


def test_constraints_parse_both_directions_and_units():
    c = parse_constraint("latency:pixel3<=4.5", NAMES)
    assert (c.target.column, c.op, c.bound) == ("pixel3", "<=", 4.5)
    np.testing.assert_allclose(c.g(np.array([4.0, 5.0])), [-0.5, 0.5])
    c = parse_constraint(" latency:eyeriss <= 5ms ", NAMES)
    assert (c.target.column, c.bound) == ("eyeriss", 5.0)
    c = parse_constraint("accuracy>=90%", NAMES)
    assert c.satisfied(np.array([91.0, 89.0])).tolist() == [True, False]
    assert parse_constraints(None, NAMES) == []
    assert len(parse_constraints("latency:pixel3<=1e1", NAMES)) == 1


@pytest.mark.parametrize("spec, error, word", [
    ("latency:pixel3<4.5", SearchSpecError, "QUANTITY<=NUMBER"),
    ("latency:pixel3<=fast", SearchSpecError, "QUANTITY<=NUMBER"),
    ("latency:pixel9<=4", UnknownNameError, "latency:pixel3"),
    ("latency:pixel3<=4%", SearchSpecError, "ms"),
    ("latency:pixel3<=1e999", SearchSpecError, "not a finite number"),
])
def test_constraint_errors(spec, error, word):
    with pytest.raises(error, match=None) as e:
        parse_constraint(spec, NAMES)
    assert word in str(e.value)


# -- 2. the Problem: one batched call per population, nothing scored twice --------------------
def test_problem_batches_and_caches(latency):
    s = fake(latency)
    objs = parse_objectives("accuracy,latency:pixel3", NAMES)
    cons = parse_constraints("latency:pixel3<=5", NAMES)
    p = SurrogateProblem(SPACE, s, objs, cons, k=4)
    assert (p.n_var, p.n_obj, p.n_ieq_constr) == (6, 2, 1)
    X = np.array([SPACE.encode(a) for a in SPACE.sample(10, 0)])
    X = np.vstack([X, X[:3]])  # duplicates within one population
    out = p.evaluate(X, return_as_dictionary=True)
    assert len(s.calls) == 1 and len(s.calls[0]) == len({tuple(x) for x in X})
    point = s.point([SPACE.decode(x) for x in X])
    np.testing.assert_allclose(out["F"], np.c_[-point[:, 0], point[:, 1]])
    np.testing.assert_allclose(out["G"][:, 0], point[:, 1] - 5)
    p.evaluate(X[::-1])
    assert len(s.calls) == 1 and p.n_hits == len(X) - len(s.calls[0]) + len(X)
    X2 = np.vstack([X[:2], [SPACE.encode(a) for a in SPACE.sample(3, 99)]])
    p.evaluate(X2)
    assert len(s.calls) == 2 and all(SPACE.parse(a) not in {tuple(x) for x in X}
                                     for a in s.calls[1])
    key = SPACE.decode(X[0])
    assert np.isnan(p.cache.spreads([key])[0, 0])  # ranked by predict_point: no samples yet
    p.ensure_spread([key])  # sampled only where reported
    assert p.cache.spreads([key])[0, 0] > 0


def test_problem_ranks_by_predict_point_and_samples_only_on_request(latency):
    s = ExpectedFake(latency)
    p = SurrogateProblem(SPACE, s, parse_objectives("accuracy,eyeriss", NAMES), k=3)
    X = np.array([SPACE.encode(a) for a in SPACE.sample(6, 1)])
    p.evaluate(X)
    assert len(s.expected_calls) == 1 and s.calls == []
    keys = p.keys(X)
    assert np.isnan(p.cache.spreads(keys)).all()
    p.ensure_spread(keys[:2])
    p.ensure_spread(keys[:2])
    assert len(s.calls) == 1 and len(s.calls[0]) == len(set(keys[:2]))


def test_cache_round_trip_and_refuses_another_surrogate(latency, tmp_path):
    s = fake(latency)
    p = SurrogateProblem(SPACE, s, parse_objectives("accuracy,latency:pixel3", NAMES),
                         cache=PredictionCache(NAMES, surrogate_id(s)))
    p.evaluate(np.array([SPACE.encode(a) for a in SPACE.sample(5, 2)]))
    p.cache.save(tmp_path / "cache.json", SPACE)
    back = PredictionCache.load(tmp_path / "cache.json", SPACE, surrogate_id(s), NAMES)
    keys = list(p.cache.point)
    np.testing.assert_array_equal(back.values(keys), p.cache.values(keys))
    np.testing.assert_array_equal(back.spreads(keys), p.cache.spreads(keys))
    with pytest.raises(NasRlmError, match="fresh output directory"):
        PredictionCache.load(tmp_path / "cache.json", SPACE, surrogate_id(s, "other"), NAMES)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(NasRlmError, match="damaged"):
        PredictionCache.load(tmp_path / "bad.json", SPACE, surrogate_id(s), NAMES)


# -- 3. algorithms and operators --------------------------------------------------------------
def test_unknown_algorithm_lists_valid_names():
    with pytest.raises(UnknownNameError, match="nsga2, nsga3, agemoea, moead"):
        make_algorithm("cmaes")
    assert not supports_constraints("moead") and supports_constraints("nsga2")


def test_random_reset_mutation_stays_integer_and_in_bounds():
    from pymoo.core.problem import Problem

    prob = Problem(n_var=6, n_obj=2, xl=np.zeros(6), xu=np.full(6, 4), vtype=int)
    X = np.zeros((2000, 6), dtype=int)
    Y = RandomResetMutation()._do(prob, X, random_state=np.random.default_rng(0))
    assert Y.dtype.kind == "i" and Y.min() >= 0 and Y.max() <= 4
    # each gene is reset with prob 1/6 and lands on a new value 4/5 of the time
    assert abs((Y != X).mean() - (1 / 6) * 0.8) < 0.02


def test_reference_directions_fit_the_population():
    assert len(reference_directions(2, 12)) == 12
    assert len(reference_directions(3, 50)) == 45  # C(8+2, 2)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_each_algorithm_runs_and_returns_a_non_dominated_set(name, latency, data_dir,
                                                             tmp_path):
    s = fake(latency)
    r = run_search(SPACE, s, SearchConfig("accuracy,latency:pixel3", algorithm=name,
                                          pop_size=8, generations=2),
                   out_dir=tmp_path, data_dir=data_dir, progress=False, plots=False)
    assert r.status == "ok" and len(r.front) >= 1
    assert len(s.calls) <= 3  # one batch per generation, plus one for the front's spread
    F = np.c_[-r.predicted[:, 0], r.predicted[:, 1]]
    assert len(non_dominated(F)) == len(F)
    assert len(set(r.front)) == len(r.front)
    assert 0 < r.summary["hv_ratio"] <= 1


# -- 4. the run directory, metrics, infeasible budgets, resume --------------------------------
def test_run_directory_files(latency, data_dir, tmp_path):
    config = SearchConfig(["accuracy", "latency:pixel3", "latency:eyeriss"],
                          algorithm="nsga3", pop_size=10, generations=3, seed=1)
    r = run_search(SPACE, fake(latency), config, out_dir=tmp_path, data_dir=data_dir,
                   progress=False)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["objectives"] == ["accuracy", "latency:pixel3", "latency:eyeriss"]
    assert config["algorithm"] == "nsga3" and config["seed"] == 1
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["generations_done"] == 3 and len(history["generations"]) == 3
    hv = [g["hv_predicted"] for g in history["generations"]]
    assert (np.diff(hv) >= -1e-12).all()  # the archive's front only improves
    assert all(0 < g["hv_ratio_true"] <= 1 for g in history["generations"])
    rows = list(csv.DictReader((tmp_path / "pareto.csv").open()))
    assert len(rows) == len(r.front) and rows[0]["arch"] == r.front[0]
    for row in rows:
        SPACE.parse(row["arch"])
        assert float(row["cifar10_spread"]) > 0
        assert float(row["pixel3_true"]) == latency[SPACE.parse(row["arch"])][0]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "ok" and 0 < summary["hv_ratio"] <= 1
    assert summary["igd_plus"] >= 0
    for f in ("pareto.png", "pareto.svg", "hv.png", "hv.svg", "cache.json"):
        assert (tmp_path / f).stat().st_size > 0


def test_hv_ratio_is_one_on_the_true_front(table):
    _, Y = table
    F = np.c_[-Y[:, 0], Y[:, 1]]
    lo, hi = F.min(0), F.max(0)
    front = F[non_dominated(F)]
    m = front_metrics(front, front, lo, hi)
    assert m["hv_ratio"] == pytest.approx(1.0) and m["igd_plus"] == pytest.approx(0.0)
    some = F[np.random.default_rng(0).choice(len(F), 50, replace=False)]
    m = front_metrics(some, front, lo, hi)
    assert 0 < m["hv_ratio"] < 1 and m["igd_plus"] > 0
    assert front_metrics(F[:0], front, lo, hi)["hv_ratio"] == 0.0


def test_infeasible_budget_writes_a_run_dir_that_says_so(latency, data_dir, tmp_path):
    r = run_search(SPACE, fake(latency),
                   SearchConfig(constraints=["latency:pixel3<=0.001"], pop_size=8,
                                generations=2),
                   out_dir=tmp_path, data_dir=data_dir, progress=False)
    assert r.status == "infeasible" and not r.feasible and r.front == []
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "infeasible"
    assert "latency:pixel3<=0.001" in summary["message"] and "relax" in summary["message"]
    assert (tmp_path / "config.json").is_file() and (tmp_path / "pareto.csv").is_file()
    with pytest.raises(SearchSpecError, match="constraints"):
        SearchConfig("accuracy,latency:pixel3", "latency:pixel3<=5", algorithm="moead")
    assert not (tmp_path / "m").exists()


def test_constraint_is_respected_on_predictions(latency, data_dir, tmp_path):
    r = run_search(SPACE, fake(latency),
                   SearchConfig(constraints="latency:eyeriss<=6", pop_size=10, generations=2),
                   out_dir=tmp_path, data_dir=data_dir, progress=False, plots=False)
    eyeriss = np.array([latency[SPACE.parse(a)][1] for a in r.front])
    assert r.status == "ok" and (eyeriss <= 6).all()
    head = next(csv.reader((tmp_path / "pareto.csv").open()))
    assert "eyeriss_pred" in head and "eyeriss_true" in head


def test_resume_reuses_the_cache(latency, data_dir, tmp_path):
    kw = dict(out_dir=tmp_path, data_dir=data_dir, progress=False, plots=False)
    two, four = SearchConfig(pop_size=8, generations=2), SearchConfig(pop_size=8, generations=4)
    first = fake(latency)
    r1 = run_search(SPACE, first, two, **kw)
    scored = {SPACE.parse(a) for call in first.calls for a in call}
    again = fake(latency)
    r2 = run_search(SPACE, again, two, **kw)
    assert again.calls == [] and r2.front == r1.front
    assert r2.summary["resumed_from_generation"] == 2
    more = fake(latency)
    r3 = run_search(SPACE, more, four, **kw)
    new = [SPACE.parse(a) for call in more.calls for a in call]
    assert new and not scored & set(new)
    fresh = fake(latency)
    r4 = run_search(SPACE, fresh, four, **{**kw, "out_dir": tmp_path / "fresh"})
    assert r4.front == r3.front  # the replay followed the same trajectory
    assert len(new) < sum(len(c) for c in fresh.calls)


def test_plots_write_png_and_svg(tmp_path):
    pred = np.array([[90.0, 3.0, 2.0], [92.0, 6.0, 4.0]])
    paths = plot_pareto(tmp_path, ["acc", "p3", "ey"], pred, np.full_like(pred, 0.3),
                        pred + 0.5, pred[:1] + 1, stem="p3obj")
    paths += plot_hv(tmp_path, [1, 2, 3], [0.5, 0.6, 0.7], [0.8, None, 0.9])
    assert sorted(p.name for p in paths) == ["hv.png", "hv.svg", "p3obj.png", "p3obj.svg"]
    assert all(p.stat().st_size > 0 for p in paths)


def test_runs_on_a_real_rlm(tiny_config, data_dir, tmp_path):
    """The RLM path end to end (untrained, tiny): expected values to search, samples to report."""
    from nas_rlm.surrogates.rlm import RLM

    rlm = RLM(["cifar10", "pixel3"], space="nb201", config=tiny_config())
    rlm.build([SPACE.to_text(a) for a in SPACE.sample(8, 0)], seed=0)
    r = run_search(SPACE, rlm, SearchConfig(pop_size=4, generations=2, k=2),
                   out_dir=tmp_path, data_dir=data_dir, progress=False, plots=False)
    assert r.status == "ok" and len(r.front) >= 1
    assert np.isfinite(r.predicted).all() and np.isfinite(r.spread).all()
    assert r.summary["surrogate_calls"] <= 3


def test_without_a_table_the_run_still_completes(latency, tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_RLM_DATA", str(tmp_path / "missing"))
    r = run_search(SPACE, fake(latency), SearchConfig(pop_size=6, generations=2),
                   out_dir=tmp_path / "run", progress=False, plots=False)
    assert r.status == "ok" and r.true is None
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["true_values"].startswith("no true values") and "hv_ratio" not in summary
    head = next(csv.reader((tmp_path / "run" / "pareto.csv").open()))
    assert head == ["arch", "cifar10_pred", "cifar10_spread", "pixel3_pred", "pixel3_spread"]
    with pytest.raises(NasRlmError, match="data directory"):
        run_search(SPACE, fake(latency), SearchConfig(pop_size=6, generations=1),
                   out_dir=tmp_path / "run2", data_dir=tmp_path / "missing", progress=False)


def test_cli_search(tiny_config, data_dir, tmp_path, capsys):
    from nas_rlm.cli import main
    from nas_rlm.surrogates.rlm import RLM

    rlm = RLM(["cifar10", "pixel3"], space="nb201", config=tiny_config())
    rlm.build([SPACE.to_text(a) for a in SPACE.sample(8, 0)], seed=0)
    rlm.save_pretrained(tmp_path / "model")
    argv = ["search", "--model", str(tmp_path / "model"), "--pop-size", "4",
            "--generations", "1", "-k", "2", "--out", str(tmp_path / "run"),
            "--data-dir", str(data_dir), "--quiet"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "ok" and out["n_front"] >= 1 and 0 < out["hv_ratio"] <= 1
    assert (tmp_path / "run" / "pareto.csv").is_file()
    # a rerun with other inputs is refused in one line and rewrites nothing
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    # two budgets no latency meets at once: infeasible whatever the untrained model says
    never = ["--constraint", "latency:pixel3<=1", "--constraint", "latency:pixel3>=2"]
    assert main([*argv, *never]) == 2
    err = capsys.readouterr().err
    assert "constraints differ" in err and "--force-restart" in err and err.count("\n") == 1
    assert before == {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()
                      if p.is_file()}
    assert main([*argv, *never, "--force-restart"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "infeasible" and "relax" in captured.err
    assert main([*argv, "--objectives", "accuracy,latency:pixel9"]) == 2
    assert "latency:pixel3" in capsys.readouterr().err


def test_invalid_vectors_are_repaired_before_scoring():
    """About a quarter of random NB101 vectors are invalid cells; the search must repair
    them (SpaceRepair) instead of crashing in decode."""
    from pymoo.optimize import minimize

    from nas_rlm.search.algorithms import make_algorithm
    from nas_rlm.search.objectives import parse_objectives
    from nas_rlm.search.problem import SurrogateProblem
    from nas_rlm.search_spaces import get_space
    from nas_rlm.surrogates.baselines import FlopsProxy

    sp = get_space("nb101")
    rng = np.random.default_rng(0)
    lo, hi = sp.bounds
    X = rng.integers(lo, hi + 1, size=(200, len(lo)))
    invalid = 0
    for x in X:
        try:
            sp.decode(x)
        except Exception:
            invalid += 1
            sp.decode(sp.repair(x, rng))  # the repaired vector decodes
    assert invalid > 20
    proxy = FlopsProxy(sp, ["acc", "pixel3"], pruned=False).fit(sp.sample(3, 0),
                                                                np.zeros((3, 2)))
    for algo in ("nsga2", "moead"):
        problem = SurrogateProblem(sp, proxy, parse_objectives(["accuracy", "latency:pixel3"],
                                                               ["acc", "pixel3"]))
        minimize(problem, make_algorithm(algo, 20, 2), ("n_gen", 3), seed=0)
        assert problem.n_scored > 20

"""True values by training: the NB201 torch network, the digits dataset, the evaluator,
its on-disk store, and `nas-rlm assisted --evaluator train` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from nas_rlm.data import datasets
from nas_rlm.errors import ConfigError, DataError
from nas_rlm.search.candidate_training import TrainingJob
from nas_rlm.search.evaluators import EvaluationStore, FunctionEvaluator
from nas_rlm.search_spaces import get_space

ARCH = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
        "nor_conv_1x1~2|")
TINY = {"channels": 4, "cells": 1}


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


def test_to_torch_is_xautodls_tiny_network(nb201):
    """Same module names, parameter count and outputs as the official model code."""
    from xautodl.models.cell_infers.tiny_network import TinyNetwork
    from xautodl.models.cell_searchs.genotypes import Structure

    for arch in [nb201.parse(ARCH), *nb201.sample(3, 5)]:
        text = nb201.to_string(arch)
        ref = TinyNetwork(16, 5, Structure.str2structure(text), 10).eval()
        ours = nb201.to_torch(arch).eval()
        assert sum(p.numel() for p in ours.parameters()) == nb201.params(arch)
        ours.load_state_dict(ref.state_dict())  # strict: every name and shape matches
        x = torch.randn(2, 3, 32, 32)
        torch.testing.assert_close(ours(x), ref(x)[1])
    small = nb201.to_torch(ARCH, num_classes=3, **TINY)
    assert small(torch.randn(1, 3, 32, 32)).shape == (1, 3)
    with pytest.raises(Exception, match="channels must be a positive int"):
        nb201.to_torch(ARCH, channels=0)
    with pytest.raises(ConfigError, match="no trainable torch network"):
        get_space("fbnet").to_torch(get_space("fbnet").sample(1, 0)[0])


def test_digits_is_a_fixed_normalised_32px_split():
    train, val, k = datasets.digits()
    assert (len(train), len(val), k) == (1437, 360, 10)
    x, y = train[0]
    assert x.shape == (3, 32, 32) and 0 <= int(y) < 10
    xs = train.tensors[0]
    assert abs(float(xs.mean())) < 1e-4 and abs(float(xs.std()) - 1) < 1e-3
    again = datasets.digits()[0].tensors[0]
    assert torch.equal(xs, again)


def test_dataset_specs_fail_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mydata.py").write_text(textwrap.dedent("""
        def empty():
            return [], []
        def bad():
            return 3
        not_callable = 1
    """))
    for spec, match in [("cifar", "unknown dataset 'cifar'"),
                        ("nosuchmodule:load", "cannot import 'nosuchmodule'"),
                        ("mydata:nothing", "has no 'nothing'"),
                        ("mydata:not_callable", "is not a function"),
                        ("mydata:empty", "train split is empty"),
                        ("mydata:bad", r"must return \(train, val\)")]:
        with pytest.raises(ConfigError, match=match):
            datasets.load(spec)


def test_a_training_is_a_pure_function_of_arch_and_settings(nb201):
    """The same arch trained twice gives the same accuracy, whatever torch's thread count and
    RNG were before, and leaves both as it found them."""
    job = TrainingJob("nb201", epochs=1, size=TINY)
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = job(ARCH)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.set_num_threads(2)
    try:
        assert job(ARCH) == first
    finally:
        torch.set_num_threads(threads)
    assert 0 <= first[0] <= 100
    assert TrainingJob("nb201", epochs=1, size=TINY, seed=1)(ARCH) != first
    with pytest.raises(ConfigError, match="epochs must be a positive int"):
        TrainingJob("nb201", epochs=0)


def test_the_store_keeps_finished_results_and_refuses_other_settings(nb201, tmp_path):
    calls = []

    def fn(arch):
        calls.append(arch)
        return [float(len(arch))]

    store = EvaluationStore(tmp_path / "ev", ["n"], {"epochs": 1})
    ev = FunctionEvaluator(nb201, ["n"], fn, store=store)
    archs = nb201.sample(3, 0)
    first = ev(archs)
    assert len(calls) == 3 and len(store.archs()) == 3
    np.testing.assert_array_equal(ev(archs), first)
    assert len(calls) == 3  # nothing evaluated twice
    other = FunctionEvaluator(nb201, ["n"], fn,
                              store=EvaluationStore(tmp_path / "ev", ["n"], {"epochs": 2}))
    with pytest.raises(DataError, match="was evaluated with"):
        other(archs[:1])
    path = next((tmp_path / "ev").glob("*.json"))
    path.write_text("{broken")
    with pytest.raises(DataError, match="is damaged"):
        ev(archs)
    with pytest.raises(DataError, match="is damaged"):
        store.archs()  # what a resumed run reads first


DATASET_MODULE = """
from nas_rlm.data.datasets import digits

def small():
    return digits(limit=96)
"""


def _assisted(tmp_path, *extra):
    cmd = [sys.executable, "-m", "nas_rlm.cli", "assisted", "--evaluator", "train",
           "--dataset", "userdata:small", "--epochs", "1", "--train-channels", "4",
           "--train-cells", "1", "--budget", "6", "--surrogate", "gbdt", "--jobs", "2",
           "--out", str(tmp_path / "run"), "--quiet", *extra]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_assisted_train_runs_a_real_nas_and_resumes_without_retraining(nb201, tmp_path,
                                                                          monkeypatch):
    (tmp_path / "userdata.py").write_text(DATASET_MODULE)
    done = _assisted(tmp_path)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["n_evals"] == 6 and summary["n_front"] >= 1
    assert summary["sources"] == {"accuracy": "training on userdata:small",
                                  "local_cpu": "onnxruntime on this machine"}
    stored = sorted((run / "evaluations").glob("*.json"))
    assert len(stored) == 6
    front = (run / "front.csv").read_text().splitlines()
    assert front[0] == "arch,accuracy,local_cpu"
    arch, acc, lat = front[1].split(",")
    # the front's accuracy really came from training: the same arch trained alone agrees
    monkeypatch.chdir(tmp_path)  # the user's dataset module is imported from the run's dir
    job = TrainingJob("nb201", "userdata:small", epochs=1, batch_size=32, seed=0, size=TINY,
                      space_settings=nb201.settings())
    assert job(arch) == [float(acc)]
    assert float(lat) > 0
    mtimes = [p.stat().st_mtime_ns for p in stored]
    again = _assisted(tmp_path)  # a finished run reruns from its run dir: no training
    assert again.returncode == 0, again.stderr
    assert [p.stat().st_mtime_ns for p in stored] == mtimes
    changed = _assisted(tmp_path, "--epochs", "2")
    assert changed.returncode != 0 and "--force-restart" in changed.stderr


def test_assisted_train_bad_input_is_one_line(tmp_path):
    for extra, match in [(["--dataset", "nope"], "unknown dataset 'nope'"),
                         (["--space", "fbnet"], "fbnet has no trainable torch network")]:
        done = _assisted(tmp_path, *extra)
        assert done.returncode != 0 and match in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    cmd = [sys.executable, "-m", "nas_rlm.cli", "assisted", "--executor", "ray",
           "--out", str(tmp_path / "x")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "need --evaluator train" in done.stderr

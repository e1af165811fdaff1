"""True evaluations as Ray tasks on a local Ray with 2 CPUs: parallel, a worker killed
mid-task (Ray retries it), and a driver killed mid-run that resumes from its run dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest
import ray  # an optional extra of the package, but the test tools install it
from ray import cloudpickle

from nas_rlm.errors import ConfigError
from nas_rlm.search.evaluators import EvaluationStore, FunctionEvaluator
from nas_rlm.search.executors import RayExecutor, make_executor
from nas_rlm.search_spaces import get_space

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def executor():
    ex = RayExecutor(num_cpus=2)
    ex.start()
    yield ex
    ray.shutdown()


class Rendezvous:
    """Marks its start in a shared folder, then waits (up to a minute) until a second
    evaluation has started: run in parallel, the first two evaluations overlap however
    slowly the workers come up on a loaded machine; run one after another they cannot."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def __call__(self, arch: str) -> list[float]:
        start = time.time()
        (Path(self.folder) / f"{zlib.crc32(arch.encode())}.started").touch()
        while len(list(Path(self.folder).glob("*.started"))) < 2 and time.time() < start + 60:
            time.sleep(0.05)
        return [start, time.time(), float(os.getpid())]


class KillOnce:
    """Kills its own worker process on the first attempt at each arch; Ray reruns it."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def __call__(self, arch: str) -> list[float]:
        marker = Path(self.folder) / f"{zlib.crc32(arch.encode())}.started"
        if not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        with open(Path(self.folder) / "finished.log", "a") as f:
            f.write(arch + "\n")
        return [float(len(arch))]


def test_ray_runs_evaluations_in_parallel(executor, tmp_path):
    nb201 = get_space("nb201")
    ev = FunctionEvaluator(nb201, ["start", "end", "pid"], Rendezvous(str(tmp_path)),
                           executor=executor)
    rows = ev(nb201.sample(4, 0)).tolist()
    assert len({r[2] for r in rows}) >= 2  # more than one worker process
    overlaps = [a[0] < b[1] and b[0] < a[1] for i, a in enumerate(rows) for b in rows[i + 1:]]
    assert any(overlaps)  # two evaluations were running at the same time


def test_a_killed_worker_is_retried_and_every_evaluation_recorded_once(executor, tmp_path):
    nb201 = get_space("nb201")
    store = EvaluationStore(tmp_path / "store", ["n"])
    ev = FunctionEvaluator(nb201, ["n"], KillOnce(str(tmp_path)), executor=executor,
                           store=store)
    archs = nb201.sample(3, 1)
    values = ev(archs)
    assert values.ravel().tolist() == [float(len(nb201.to_string(a))) for a in archs]
    finished = (tmp_path / "finished.log").read_text().split()
    assert sorted(finished) == sorted(nb201.to_string(a) for a in archs)  # once each
    assert len(list((tmp_path / "store").glob("*.json"))) == 3


DRIVER = """
import sys, time, zlib
from pathlib import Path
from nas_rlm.search import budgeted as B
from nas_rlm.search.evaluators import EvaluationStore, FunctionEvaluator
from nas_rlm.search.executors import RayExecutor
from nas_rlm.search.objectives import parse_objectives
from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.baselines import OneHotGBDT

out = Path(sys.argv[1])

def evaluate(arch):
    time.sleep(0.4)
    with open(out / "finished.log", "a") as f:
        f.write(arch + "\\n")
    h = zlib.crc32(arch.encode())
    return [h % 1000 / 10.0, (h // 1000) % 997 / 10.0]

space = get_space("nb201")
cols = ["acc", "lat"]
ev = FunctionEvaluator(space, cols, evaluate, executor=RayExecutor(num_cpus=2),
                       store=EvaluationStore(out / "evaluations", cols))
objs = parse_objectives(["accuracy", "latency:lat"], cols)
fit = B.refit_from_scratch(lambda s: OneHotGBDT(space, cols, seed=s))
run = B.surrogate_assisted(space, ev, fit, objs, budget=16, n_init=4, batch=4,
                           generations=3, state_path=out / "state.json")
(out / "done").write_text(str(run.n_evals))
"""


def test_a_killed_driver_resumes_losing_nothing_already_evaluated(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER))
    store = tmp_path / "evaluations"
    cmd = [sys.executable, str(script), str(tmp_path)]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(store.glob("*.json"))) < 6:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local Ray, mid-round
    proc.wait()
    before = {json.loads(p.read_text())["arch"] for p in store.glob("*.json")}
    assert len(before) >= 6 and not (tmp_path / "done").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    state = json.loads((tmp_path / "state.json").read_text())
    assert len(state["archs"]) == len(set(state["archs"])) == 16
    assert before <= set(state["archs"])  # nothing already evaluated was lost
    finished = (tmp_path / "finished.log").read_text().split()
    assert all(finished.count(a) == 1 for a in before)  # nor evaluated again


def test_without_ray_the_executor_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"needs Ray.*pip install 'nas-rlm\[ray\]'"):
        make_executor("ray")
    code = ("import sys; sys.modules['ray'] = None; from nas_rlm.cli import main; "
            "sys.exit(main(['assisted', '--evaluator', 'train', '--executor', 'ray', "
            "'--budget', '4', '--out', sys.argv[1]]))")
    done = subprocess.run([sys.executable, "-c", code, "/tmp/unused"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "pip install" in done.stderr

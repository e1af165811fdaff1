"""Run directories own their inputs: a rerun with other inputs is refused in one line, before
anything in the directory is rewritten (issue "Nothing silently wrong", "Found" 1)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from nas_rlm.cli import main
from nas_rlm.data import clear_cache, load_targets
from nas_rlm.run_dir import RunDirError, claim
from nas_rlm.search_spaces import NB201

SPACE = NB201()


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file()}


def one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("nas-rlm") and ": error: " in err, err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def users_csv(tmp_path_factory, data_dir) -> Path:
    archs, Y = load_targets("nb201", ["cifar10"], data_dir)
    path = tmp_path_factory.mktemp("csv") / "mine.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "accuracy"])
        w.writerows([a, y] for a, y in zip(archs[:60], Y[:60, 0], strict=True))
    return path


def assisted(out: Path, csv_path: Path, *extra: str) -> list[str]:
    return ["assisted", "--accuracy-csv", str(csv_path), "--objectives",
            "accuracy,latency:pixel3", "--surrogate", "gbdt", "--budget", "30", "--init", "20",
            "--batch", "10", "--generations", "2", "--out", str(out), "--quiet", *extra]


def test_assisted_rerun_with_another_csv_or_bad_batch_changes_nothing(users_csv, tmp_path,
                                                                       capsys):
    out = tmp_path / "run"
    assert main(assisted(out, users_csv)) == 0
    capsys.readouterr()
    before = snapshot(out)
    other = tmp_path / "other.csv"
    other.write_text(users_csv.read_text().replace(".", "1.", 5))  # same name, other values
    shutil.copy(other, tmp_path / "x.csv")
    err = one_line_error(capsys, main(assisted(out, tmp_path / "x.csv")))
    assert "accuracy_csv" in err and "--force-restart" in err
    err = one_line_error(capsys, main([*assisted(out, users_csv), "--batch", "0"]))
    assert "--batch: must be >= 1" in err
    assert snapshot(out) == before
    # identical inputs resume: nothing new is evaluated, and the run dir keeps its results
    assert main(assisted(out, users_csv)) == 0
    assert (out / "evaluated.csv").read_bytes() == before["evaluated.csv"]


@pytest.mark.parametrize("extra", [("--batch", "0"), ("--init", "40"), ("--pop-size", "0"),
                                   ("--budget", "-1")])
def test_bad_parameters_create_no_run_dir(users_csv, tmp_path, capsys, extra):
    out = tmp_path / "new"
    one_line_error(capsys, main([*assisted(out, users_csv), *extra]))
    assert not out.exists()


def test_a_budget_beyond_the_csv_rows_is_said(users_csv, tmp_path, capsys):
    code = main(assisted(tmp_path / "r", users_csv, "--budget", "100", "--batch", "40"))
    assert code == 0
    assert "--budget 100 is more than the 60 archs" in capsys.readouterr().err


@pytest.mark.slow  # CI runs it too; `-m "not slow"` for a quick local pass
def test_evaluate_refuses_edited_data_and_resumes_the_same(tmp_path, data_dir, capsys):
    argv = ["evaluate", "--space", "nb201", "--targets", "cifar10", "--surrogates", "gbdt",
            "--ns", "20", "--seeds", "0", "--test-limit", "50", "--quiet",
            "--out", str(tmp_path / "ev")]
    assert main([*argv, "--data-dir", str(data_dir)]) == 0
    capsys.readouterr()
    before = snapshot(tmp_path / "ev")
    edited = tmp_path / "data"
    for rel in ("nb201_nats_tss_200ep/nats_bench.csv", "help_latency/nb201_latency_ms.csv"):
        (edited / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / rel, edited / rel)
    acc = edited / "nb201_nats_tss_200ep/nats_bench.csv"
    acc.write_text(acc.read_text().replace("85.", "10.", 1))
    try:
        code = main([*argv, "--data-dir", str(edited)])
        err = capsys.readouterr().err
        assert code != 0 and "not the pinned" in err and err.count("\n") == 1
    finally:
        clear_cache()
    assert snapshot(tmp_path / "ev") == before
    shutil.copy(data_dir / "nb201_nats_tss_200ep/nats_bench.csv", acc)  # the same data again
    assert main([*argv, "--data-dir", str(edited)]) == 0
    clear_cache()


def test_claim_refuses_foreign_and_legacy_dirs(tmp_path):
    (tmp_path / "mine.txt").write_text("not a run")
    with pytest.raises(RunDirError, match=r"not empty and has no inputs\.json"):
        claim(tmp_path, {"a": 1})
    with pytest.raises(RunDirError, match="not a nas-rlm run directory"):
        claim(tmp_path, {"a": 1}, force_restart=True)
    assert (tmp_path / "mine.txt").is_file()
    run = tmp_path / "run"
    assert claim(run, {"a": 1, "b": [1, 2]}) is False
    assert claim(run, {"a": 1, "b": (1, 2)}) is True
    with pytest.raises(RunDirError, match=r"\(a differ\)"):
        claim(run, {"a": 2, "b": [1, 2]})
    (run / "result.json").write_text("{}")
    assert claim(run, {"a": 2}, force_restart=True) is False
    assert not (run / "result.json").exists()
    with pytest.raises(RunDirError, match="is a file"):
        claim(tmp_path / "mine.txt", {})

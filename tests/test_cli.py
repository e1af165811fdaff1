"""The command line end to end: real arch strings, real data, real onnxruntime runs."""

from __future__ import annotations

import csv
import json

import onnx
import pytest

from nas_rlm.cli import main
from nas_rlm.io import atomic_write_bytes
from nas_rlm.search_spaces.onnx_check import check_runnable

BEST = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_reports_index_counts_and_text(capsys):
    code, out, _ = run(capsys, "space", "nb201", "show", BEST)
    info = json.loads(out)
    assert code == 0
    assert info["arch"] == BEST and info["vector"] == [3, 3, 3, 1, 3, 2]
    assert info["index"] == 6111  # the CIFAR-10 optimum (94.37 %)
    assert info["params"] > 1e6 and info["text"]["chars"] > 500


@pytest.mark.parametrize(
    ("arch", "needle"),
    [
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 must have 2"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'|'"),
    ],
)
def test_bad_arch_is_one_clear_line(capsys, arch, needle):
    code, out, err = run(capsys, "space", "nb201", "show", arch)
    assert code == 2 and out == ""
    assert needle in err and "Traceback" not in err


def test_unknown_space_lists_valid_ones(capsys):
    code, _, err = run(capsys, "space", "nb999", "show", BEST)
    assert code == 2 and "nb201" in err


def test_text_and_onnx(capsys, tmp_path):
    code, out, _ = run(capsys, "space", "nb201", "text", BEST)
    assert code == 0 and out.startswith("func Cell(") and "nor_conv" not in out
    path = tmp_path / "m.onnx"
    code, out, _ = run(capsys, "space", "nb201", "onnx", BEST, "-o", str(path))
    assert code == 0
    check_runnable(onnx.load(path))


def test_summary_joins_labels(capsys, tmp_path, data_dir):
    out_dir = tmp_path / "run"
    code, out, _ = run(capsys, "space", "nb201", "summary", "--out", str(out_dir), "--limit",
                       "60", "--workers", "1", "--data-dir", str(data_dir), "--quiet")
    summary = json.loads(out)
    assert code == 0 and summary["archs"] == 60
    assert set(summary["kendall_tau_vs_cifar10_200ep"]) == {"params", "mflops", "mflops_pruned"}
    rows = list(csv.DictReader((out_dir / "summary.csv").read_text().splitlines()))
    assert len(rows) == 60 and rows[0]["arch"].startswith("|avg_pool_3x3~0|")
    assert (out_dir / "nb201_summary.png").stat().st_size > 10_000
    assert json.loads((out_dir / "summary.json").read_text()) == summary


def test_measure_writes_a_device_column(capsys, tmp_path):
    path = tmp_path / "lat.csv"
    code, _, _ = run(capsys, "measure", "nb201", BEST, "--sample", "1", "--repeats", "3",
                     "--warmup", "1", "--out", str(path), "--quiet")
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert code == 0 and len(rows) == 2 and rows[0]["arch"] == BEST
    assert all(float(r["latency_ms"]) > 0 for r in rows)


def test_measure_rejects_bad_arch_before_timing(capsys, tmp_path):
    code, _, err = run(capsys, "measure", "nb201", BEST, "|oops|", "--out",
                       str(tmp_path / "x.csv"))
    assert code == 2 and "needs 3" in err and not (tmp_path / "x.csv").exists()


def test_data_verify_and_missing_dir(capsys, data_dir, tmp_path):
    code, out, _ = run(capsys, "data", "verify", "--data-dir", str(data_dir))
    assert code == 0 and "7/7 files ok" in out
    code, _, err = run(capsys, "data", "verify", "--data-dir", str(tmp_path / "nope"))
    assert code == 2
    assert "--data-dir" in err and "NAS_RLM_DATA" in err


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "result.json"
    atomic_write_bytes(path, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_missing_arch_file_is_one_clear_line(capsys, tmp_path):
    code, _, err = run(capsys, "measure", "nb201", "--file", str(tmp_path / "nope.txt"))
    assert code == 2 and "cannot read the arch file" in err and "Traceback" not in err


def test_summary_of_a_space_too_large_to_list_uses_a_sample(capsys, tmp_path):
    out_dir = tmp_path / "s"
    code, out, _ = run(capsys, "space", "fbnet", "summary", "--out", str(out_dir), "--limit",
                       "6", "--workers", "1", "--quiet")
    summary = json.loads(out)
    assert code == 0 and summary["archs"] == 6 and summary["sampled"] is True
    assert "kendall_tau_vs_cifar10_200ep" not in summary  # no accuracy table for FBNet
    assert (out_dir / "summary.csv").is_file()

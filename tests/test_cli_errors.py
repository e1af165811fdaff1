"""Every subcommand, fed bad input as a user would, exits non-zero with one line on stderr and
no traceback (issue "One contract per concept ...", Errors)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nas_rlm.cli import main

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


def one_line(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0, argv
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("argv, needle", [
    (["assisted", "--budget", "10", "--init", "20"], "--init 20 is more than --budget 10"),
    (["search", "--pop-size", "0"], "--pop-size: must be between 1"),
    (["predict", "-k", "0", ARCH], "-k: must be between 1 and 1,024, got 0"),
    (["predict", "-k", "-3", ARCH], "-k: must be between 1"),
    (["predict", "-k", "100000000", ARCH], "got 100000000"),
    (["measure", "nb201", "--sample", "-5"], "--sample: must be between 0"),
    (["measure", "nb201", "--sample", "1000000000"], "--sample: must be between 0"),
    (["measure", "nb201", "--repeats", "0", ARCH], "--repeats"),
    (["measure", "nb201", "--warmup", "-1", ARCH], "--warmup"),
    (["measure", "nb201", "--batch-size", "0", ARCH], "--batch-size"),
    (["measure", "nb201", "--threads", "-2", ARCH], "--threads"),
    (["evaluate", "--test-limit", "0"], "--test-limit: must be >= 1"),
    (["evaluate", "--test-limit", "-5"], "--test-limit: must be >= 1"),
    (["train", "--steps", "0"], "--steps: must be >= 1"),
    (["train", "--lr", "nan"], "--lr: must be a positive finite number"),
    (["search", "--seed", "x"], "expected an integer"),
    (["train", "--n-train", "100000"], "exceeds the nb201 training pool"),
])
def test_bad_numbers_are_one_line(capsys, argv, needle):
    assert needle in one_line(capsys, argv)


def test_bad_paths_are_one_line(capsys, tmp_path):
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    assert "is a file" in one_line(capsys, ["search", "--pop-size", "4", "--generations", "1",
                                            "--out", str(a_file), "--quiet"])
    assert "is a directory" in one_line(capsys, ["predict", ARCH, "--out", str(tmp_path)])
    assert "is a directory" in one_line(capsys, ["space", "nb201", "onnx", ARCH, "-o",
                                                 str(tmp_path)])
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in one_line(capsys, ["predict", "--file", str(bad)])
    assert "not UTF-8" in one_line(capsys, ["measure", "nb201", "--file", str(bad)])


def test_a_bad_line_in_an_arch_file_names_its_line(capsys, tmp_path):
    path = tmp_path / "archs.txt"
    path.write_text("\ufeff" + ARCH + "\n\n|bad|\n")  # a BOM is read, not rejected
    err = one_line(capsys, ["predict", "--file", str(path)])
    assert f"{path}:3:" in err


def test_predict_out_suffix_is_case_insensitive(capsys, tmp_path):
    assert main(["predict", ARCH, "--out", str(tmp_path / "P.CSV"), "-k", "2"]) == 0
    assert (tmp_path / "P.CSV").read_text().startswith("arch,")


def test_a_closed_pipe_ends_quietly():
    code = ("import sys; from nas_rlm.cli import main; sys.exit(main(['space', 'nb201', 'text', "
            f"{ARCH!r}]))")
    proc = subprocess.run(f"{sys.executable} -c {json.dumps(code)} | head -1", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr

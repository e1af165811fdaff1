"""Tests of the data layer against the real tables and a loopback HTTP server."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from functools import partial
from hashlib import sha256
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from nas_rlm.data import (
    LATENCY_SPACES,
    PINNED_FILES,
    clear_cache,
    default_data_dir,
    load_latency,
    load_nb201_accuracy,
    pull,
    resolve_data_dir,
    verify,
)
from nas_rlm.data import paths as paths_mod
from nas_rlm.errors import DataError, UnknownNameError

NATS_HEADER = (
    "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,"
    "ImageNetTestAccuracy200Epochs,ArchitectureString,UniqueString"
)
ARCH0 = (
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+"
    "|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
)


# ----------------------------------------------------------------------------- resolution


@pytest.fixture
def fake_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Redirect platformdirs so the default dir is under tmp_path; clear the env var."""
    monkeypatch.setattr(paths_mod.platformdirs, "user_data_dir", lambda name: str(tmp_path / name))
    monkeypatch.delenv("NAS_RLM_DATA", raising=False)
    return tmp_path / "nas-rlm" / "data"


def test_resolution_order(tmp_path: Path, fake_default: Path, monkeypatch) -> None:
    flag_dir, env_dir = tmp_path / "flag", tmp_path / "env"
    for d in (flag_dir, env_dir, fake_default):
        d.mkdir(parents=True)
    assert default_data_dir() == fake_default
    assert resolve_data_dir() == fake_default.resolve()
    monkeypatch.setenv("NAS_RLM_DATA", str(env_dir))
    assert resolve_data_dir() == env_dir.resolve()
    assert resolve_data_dir("") == env_dir.resolve()  # empty flag = unset
    assert resolve_data_dir(flag_dir) == flag_dir.resolve()
    assert resolve_data_dir(str(flag_dir)) == flag_dir.resolve()


@pytest.mark.parametrize("source", ["flag", "env", "default"])
def test_missing_dir_error_names_all_three(
    tmp_path: Path, fake_default: Path, monkeypatch, source: str
) -> None:
    missing = tmp_path / "nope"
    flag = None
    if source == "flag":
        flag = missing
        monkeypatch.setenv("NAS_RLM_DATA", str(tmp_path))  # exists, but the flag wins
    elif source == "env":
        monkeypatch.setenv("NAS_RLM_DATA", str(missing))
    with pytest.raises(DataError) as exc:
        resolve_data_dir(flag)
    msg = str(exc.value)
    for part in ("--data-dir", "NAS_RLM_DATA", str(fake_default), "nas-rlm data pull"):
        assert part in msg
    tried = {"flag": "from --data-dir", "env": "from $NAS_RLM_DATA", "default": "from the default"}
    assert tried[source] in msg
    # must_exist=False is how `data pull` picks its destination
    expected = fake_default if source == "default" else missing
    assert resolve_data_dir(flag, must_exist=False) == expected.resolve()


# ----------------------------------------------------------------------------- loaders


def test_nb201_accuracy_200(data_dir: Path) -> None:
    t = load_nb201_accuracy(data_dir)
    assert len(t) == len(t.archs) == 15_625
    assert t.epochs == 200
    c10 = t.column("cifar10")
    assert c10 is t.column("CIFAR10TestAccuracy200Epochs")
    assert c10.shape == (15_625,) and c10.dtype == np.float64
    assert round(float(c10.max()), 3) == 94.373
    best = (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
        "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    )
    assert t.archs[int(c10.argmax())] == best
    assert round(float(t.column("cifar100").max()), 3) == 73.513
    assert len(set(t.meta["UniqueString"])) == 6_466
    assert not c10.flags.writeable  # shared through the cache
    assert load_nb201_accuracy(data_dir) is t


def test_nb201_accuracy_12_is_separate(data_dir: Path) -> None:
    t12 = load_nb201_accuracy(data_dir, epochs=12)
    assert t12.epochs == 12 and len(t12) == 15_625
    assert "cifar10-val" in t12.columns and "CIFAR10TestAccuracy200Epochs" not in t12.columns
    assert t12.column("cifar10") is t12.column("cifar10-test")
    assert round(float(t12.column("cifar10").max()), 2) == 89.16
    for bad in (50, 0, True):
        with pytest.raises(UnknownNameError, match=r"200.*12"):
            load_nb201_accuracy(data_dir, epochs=bad)


def test_latency_tables(data_dir: Path) -> None:
    nb = load_latency("nb201", data_dir)
    assert len(nb) == 15_625 and len(nb.device_names) == 27
    assert nb.device("pixel3")[0] == pytest.approx(3.60585)
    assert nb.device("raspi4")[0] == pytest.approx(10.482)
    fb = load_latency("fbnet", data_dir)
    assert len(fb) == 5_000 and len(fb.device_names) == 27
    assert fb.archs[0] == "7 8 1 8 4 8 8 8 7 4 1 4 7 3 2 7 3 2 4 2 4 5"
    assert fb.meta["op_names"][0].split()[0] == "k5_e6"
    ofa = load_latency("ofa_mbv3", data_dir)
    assert len(ofa) == 5_000 and len(ofa.device_names) == 12
    assert ofa.archs[0].endswith(";d=2,2,2,2,3;r=204") and ofa.archs[0].startswith("ks=7,5,5,")
    assert ofa.meta["r"][0] == "204"


def test_arch_strings_identical_across_nb201_tables(data_dir: Path) -> None:
    a200 = load_nb201_accuracy(data_dir).archs
    assert a200[0] == ARCH0
    assert a200 == load_nb201_accuracy(data_dir, epochs=12).archs
    assert a200 == load_latency("nb201", data_dir).archs


def test_unknown_names_list_valid_ones(data_dir: Path) -> None:
    nb = load_latency("nb201", data_dir)
    with pytest.raises(UnknownNameError) as exc:
        nb.device("pixel4")
    assert all(d in str(exc.value) for d in nb.device_names)
    t = load_nb201_accuracy(data_dir)
    with pytest.raises(UnknownNameError) as exc:
        t.column("svhn")
    assert all(c in str(exc.value) for c in t.column_names)
    with pytest.raises(UnknownNameError) as exc:
        load_latency("darts", data_dir)
    assert all(s in str(exc.value) for s in LATENCY_SPACES)


def _write(root: Path, relpath: str, text: str) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("bad", ["nan", "", "abc", "inf"])
def test_bad_cell_names_file_row_column(tmp_path: Path, bad: str) -> None:
    text = f"{NATS_HEADER}\n85.8,52.9,26.6,{ARCH0},u0\n93.6,{bad},44.0,{ARCH0},u1\n"
    path = _write(tmp_path, "nb201_nats_tss_200ep/nats_bench.csv", text)
    with pytest.raises(DataError) as exc:
        load_nb201_accuracy(tmp_path, verify=False)
    msg = str(exc.value)
    assert str(path.resolve()) in msg
    assert "row 1 (line 3)" in msg and "'CIFAR100TestAccuracy200Epochs'" in msg


def test_bad_latency_rows(tmp_path: Path, data_dir: Path) -> None:
    rel = "help_latency/nb201_latency_ms.csv"
    with open(data_dir / rel) as f:
        head = [next(f) for _ in range(3)]
    # a row out of index order
    _write(tmp_path, rel, head[0] + head[2] + head[1])
    with pytest.raises(DataError, match=r"row 0 .*'nb201_index'"):
        load_latency("nb201", tmp_path, verify=False)
    # a short row
    _write(tmp_path, rel, head[0] + head[1] + head[2].rsplit(",", 1)[0] + "\n")
    with pytest.raises(DataError, match=r"row 1 \(line 3\) has 28 cells, expected 29"):
        load_latency("nb201", tmp_path, verify=False)
    # a good tiny copy loads, and a rewrite is picked up despite the cache
    _write(tmp_path, rel, "".join(head))
    assert len(load_latency("nb201", tmp_path, verify=False)) == 2
    _write(tmp_path, rel, head[0] + head[1])
    assert len(load_latency("nb201", tmp_path, verify=False)) == 1
    # but it is not the pinned file, so a loader that checks the pin refuses it
    with pytest.raises(DataError, match=r"not the pinned.*data verify.*data pull"):
        load_latency("nb201", tmp_path)
    clear_cache()


def _copy_data(data_dir: Path, root: Path) -> Path:
    for rel in ("nb201_nats_tss_200ep/nats_bench.csv", "help_latency/nb201_latency_ms.csv"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / rel, root / rel)
    return root


def test_rows_are_matched_by_arch_not_by_position(tmp_path: Path, data_dir: Path) -> None:
    from nas_rlm.data import load_targets

    archs, Y = load_targets("nb201", ["cifar10", "pixel3"], data_dir)
    root = _copy_data(data_dir, tmp_path)
    rel = root / "nb201_nats_tss_200ep/nats_bench.csv"
    head, *rows = rel.read_text().splitlines(keepends=True)
    rel.write_text(head + "".join(sorted(rows)))  # re-sorted; each row keeps its arch
    # an edited file is refused by the pin, with the way out ...
    with pytest.raises(DataError, match=r"not the pinned nb201_nats_tss_200ep/nats_bench\.csv"):
        load_targets("nb201", ["cifar10"], root)
    # ... and read unverified, its rows still land on their own archs
    acc = load_nb201_accuracy(root, verify=False)
    assert acc.archs != archs
    np.testing.assert_array_equal(acc.column_for("cifar10", archs), Y[:, 0])
    rel.write_text(head + "".join(rows[1:]))  # a missing row
    with pytest.raises(DataError, match="no row for 1 arch"):
        load_nb201_accuracy(root, verify=False).column_for("cifar10", archs)
    rel.write_text(head + rows[0] + "".join(rows))  # a repeated row
    with pytest.raises(DataError, match="appears in rows 0 and 1"):
        load_nb201_accuracy(root, verify=False).column_for("cifar10", archs)
    clear_cache()


def test_missing_file_suggests_verify_and_pull(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        load_latency("fbnet", tmp_path)
    msg = str(exc.value)
    assert "fbnet_latency_ms.csv" in msg and str(tmp_path) in msg
    assert "nas-rlm data verify" in msg and "nas-rlm data pull" in msg


# ----------------------------------------------------------------------------- verify


def test_verify_real_dir(data_dir: Path) -> None:
    checks = verify(data_dir)
    assert [c.file for c in checks] == list(PINNED_FILES)
    assert all(c.ok for c in checks), [str(c) for c in checks if not c.ok]


def test_verify_detects_tampering(tmp_path: Path, data_dir: Path) -> None:
    json_files = [pf.relpath for pf in PINNED_FILES if pf.relpath.endswith(".json")]
    tampered, truncated = json_files[0], json_files[1]
    for rel in (tampered, truncated):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / rel, tmp_path / rel)
    raw = bytearray((tmp_path / tampered).read_bytes())
    raw[-2] ^= 1  # same size, different content
    (tmp_path / tampered).write_bytes(bytes(raw))
    (tmp_path / truncated).write_bytes((data_dir / truncated).read_bytes()[:-1])
    status = {c.file.relpath: c for c in verify(tmp_path)}
    assert status[tampered].status == "sha mismatch"
    assert status[tampered].actual_sha256 == sha256(raw).hexdigest()
    assert status[truncated].status == "size mismatch"
    assert {c.status for r, c in status.items() if r not in json_files} == {"missing"}


# ----------------------------------------------------------------------------- pull


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[Path], str]]:
    """Start loopback HTTP servers for directories; shut them all down afterwards."""
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(directory: Path) -> str:
        handler = partial(_QuietHandler, directory=str(directory))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def no_url_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAS_RLM_DATA_URL", raising=False)


def test_pull_from_loopback_then_verify(
    tmp_path: Path, data_dir: Path, serve, no_url_env, monkeypatch
) -> None:
    dest = tmp_path / "pulled"
    monkeypatch.setenv("NAS_RLM_DATA_URL", serve(data_dir))
    got = pull(dest, progress=False)
    assert got == [(dest / pf.relpath).resolve() for pf in PINNED_FILES]
    assert all(c.ok for c in verify(dest))
    # present files with the right hash are not fetched again: nothing listens on port 9
    mtimes = [p.stat().st_mtime_ns for p in got]
    assert pull(dest, base_url="http://127.0.0.1:9/", progress=False) == got
    assert [p.stat().st_mtime_ns for p in got] == mtimes


def test_pull_tampered_server_raises(tmp_path: Path, serve, no_url_env) -> None:
    first = PINNED_FILES[0]
    payload = b"tampered\n"
    _write(tmp_path / "srv", first.relpath, payload.decode())
    dest = tmp_path / "pulled"
    with pytest.raises(DataError) as exc:
        pull(dest, base_url=serve(tmp_path / "srv"), progress=False)
    msg = str(exc.value)
    assert first.relpath in msg and first.sha256 in msg and sha256(payload).hexdigest() in msg
    assert not (dest / first.relpath).exists()  # the bad download was discarded


def test_pull_http_error_and_missing_url(tmp_path: Path, serve, no_url_env) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"could not download .*404"):
        pull(tmp_path / "pulled", base_url=serve(tmp_path / "empty"), progress=False)
    with pytest.raises(DataError) as exc:
        pull(tmp_path / "pulled", progress=False)
    assert "NAS_RLM_DATA_URL" in str(exc.value) and "base_url" in str(exc.value)
    with pytest.raises(DataError, match="only http"):
        pull(tmp_path / "pulled", base_url="ftp://example.org/", progress=False)

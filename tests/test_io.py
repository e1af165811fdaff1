"""Atomic writes keep the modes a plain ``open`` would give."""

from __future__ import annotations

import os
import stat

from nas_rlm.io import sha256_file, write_json


def test_new_files_follow_the_umask_and_rewrites_keep_the_mode(tmp_path) -> None:
    old = os.umask(0o027)
    try:
        path = write_json(tmp_path / "a.json", {"x": 1})
        assert stat.S_IMODE(path.stat().st_mode) == 0o640  # not mkstemp's 0o600
    finally:
        os.umask(old)
    path.chmod(0o604)
    write_json(path, {"x": 2})
    assert stat.S_IMODE(path.stat().st_mode) == 0o604
    assert len(sha256_file(path)) == 64

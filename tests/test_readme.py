"""The README's Python examples run as printed (a newcomer copies them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # CI runs it too; `-m "not slow"` for a quick local pass
def test_readme_python_examples_run(tmp_path, monkeypatch, capsys) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme.encode()) < 10_000, "the README is a front door; details go to docs/"
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), scope)  # our own README
    assert scope["result"].status == "ok" and (tmp_path / "runs/py-search/pareto.png").is_file()
    out = capsys.readouterr().out
    assert scope["space"].to_string(scope["arch"]) in out and "func Cell" in out

"""A run directory owns its inputs: a rerun resumes only what the same inputs produced.

Every resumable command (``search``, ``assisted``, ``evaluate``, ``train``) writes
``inputs.json`` into its run directory before anything else: the settings that change results
and a fingerprint of every file it reads (the pinned sha256 of the benchmark tables, the
sha256 of a user's CSV, the manifest of a model checkpoint). A rerun with other inputs is
refused with one line naming what differs, before a byte of the directory is rewritten;
``force_restart`` clears a run directory and starts over.

Callers validate every argument first and :func:`claim` the directory last, so a rejected
command never leaves a half-created directory behind.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import NasRlmError
from .io import sha256_file, write_json

INPUTS = "inputs.json"


class RunDirError(NasRlmError):
    """A run directory that holds the results of other inputs."""


def file_fingerprint(path: str | os.PathLike) -> dict[str, str]:
    """A user's file: its name and sha256 (the name alone would let an edit pass)."""
    return {"path": str(path), "sha256": sha256_file(path)}


def model_fingerprint(path: str | os.PathLike) -> str:
    """A model checkpoint: the sha256 of its manifest, which covers all of its files."""
    manifest = Path(path) / "manifest.json"
    return sha256_file(manifest) if manifest.is_file() else "no manifest"


def data_fingerprint(space: str) -> dict[str, str]:
    """The pinned sha256 of each benchmark table ``space`` reads (tables are checked against
    their pins when loaded, so the pin is what the run read; every column of a space comes
    from the same files)."""
    from .data.registry import PINNED_FILES
    from .data.tables import LATENCY_FILES, NB201_ACCURACY_FILES

    files = [LATENCY_FILES[space]] if space in LATENCY_FILES else []
    if space == "nb201":
        files.append(NB201_ACCURACY_FILES[200])
    pins = {pf.relpath: pf.sha256 for pf in PINNED_FILES}
    return {f: pins[f] for f in files}


#: The instruction sets that pick a CPU's float32 kernels (oneDNN / MKL dispatch on them).
_KERNEL_ISAS = ("avx2", "avx512f", "avx512_bf16", "amx_tile")


def machine() -> dict[str, Any]:
    """The CPU a result was computed on. Seeded float32 training reproduces to the digit on one
    machine, but CPUs whose kernels differ may round differently; a seeded baseline once
    failed to reproduce across sessions with no record of the machine, so results record it
    beside the code versions."""
    import platform

    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():  # the first CPU's lines
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:  # not Linux: the platform's name is what there is
        pass
    return {"cpu": info.get("model name") or platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "isa": [f for f in _KERNEL_ISAS if f in info.get("flags", "").split()]}


def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two JSON-like values differ."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += differences(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def claim(out: str | os.PathLike, inputs: Mapping[str, Any],
          force_restart: bool = False) -> bool:
    """Take ``out`` for a run with ``inputs``; True when it resumes a run of the same inputs.

    Refuses (:class:`RunDirError`) a directory made with other inputs, a run directory of an
    older nas-rlm (no ``inputs.json``), and any other non-empty directory. With
    ``force_restart`` a run directory (one that holds ``inputs.json``, or an older one's
    ``config.json``) is emptied first.
    """
    out = Path(out)
    inputs = json.loads(json.dumps(inputs))  # what the file will hold: lists, not tuples
    path = out / INPUTS
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is a file, not a directory")
    has_files = out.is_dir() and any(out.iterdir())
    if force_restart and has_files:
        if not (path.is_file() or (out / "config.json").is_file()):
            raise RunDirError(f"{out} is not a nas-rlm run directory (no {INPUTS}); "
                              "refusing to delete it, choose another --out")
        shutil.rmtree(out)
        has_files = False
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise RunDirError(f"{path} is unreadable ({e}); use a new --out, or "
                              "--force-restart to start over") from None
        changed = differences(old, inputs)
        if changed:
            raise RunDirError(
                f"{out} holds a run with other inputs ({', '.join(changed[:6])} differ"
                f"{'...' if len(changed) > 6 else ''}); use a new --out, or --force-restart "
                "to start over")
        return True
    if has_files:
        raise RunDirError(f"{out} is not empty and has no {INPUTS} (another program's files, "
                          "or a run of an older nas-rlm); use a new --out, or --force-restart "
                          "if it is a nas-rlm run directory")
    out.mkdir(parents=True, exist_ok=True)
    try:
        write_json(path, inputs)
    except OSError as e:
        raise RunDirError(f"cannot write to --out {out}: {e.strerror or e}") from None
    return False


__all__ = ["INPUTS", "RunDirError", "claim", "data_fingerprint", "differences",
           "file_fingerprint", "model_fingerprint"]

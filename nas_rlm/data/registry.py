"""The pinned data files: their sha256, a checker, and a pinned downloader.

Every number the project reports comes from these tables, so each file is pinned
by size and sha256: a changed or truncated table is an error, not a silent shift
in results.  The files are CSV/JSON conversions of public benchmarks (see the
README.md next to each of them); no public host serves the conversions, so
``pull`` reads them from a base URL the user supplies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pooch
import requests

from nas_rlm.data.paths import resolve_data_dir
from nas_rlm.errors import DataError
from nas_rlm.io import sha256_file

DATA_URL_ENV_VAR = "NAS_RLM_DATA_URL"
"""Environment variable holding the base URL that ``pull`` downloads from."""



@dataclass(frozen=True)
class PinnedFile:
    """One data file, addressed by its path relative to the data directory."""

    relpath: str
    sha256: str
    size: int
    description: str


PINNED_FILES: tuple[PinnedFile, ...] = (
    PinnedFile(
        "nb201_nats_tss_200ep/nats_bench.csv",
        "cb5d777ec3368be83c8f9b3aa4d520696051cb0eb8d94b8f85b519f9ea4afa3e",
        3_024_008,
        "NAS-Bench-201 200-epoch test accuracy (CIFAR-10/100, ImageNet16-120), 15,625 cells",
    ),
    PinnedFile(
        "nb201_minibench_12ep/nb201_12epoch_accs.csv",
        "7792099a57a8cb7041f5736633cca6966223058c1e3fa6ef0971ae2dec3659c4",
        2_924_429,
        "NAS-Bench-201 12-epoch valid/test accuracy (a different label; never mix with 200ep)",
    ),
    PinnedFile(
        "help_latency/nb201_latency_ms.csv",
        "5db5b12b790db6a2707af2ece7dfb9c4871263ffc39250b4ac391c8bf9e2e10b",
        4_453_395,
        "HELP latency (ms) of all 15,625 NAS-Bench-201 cells on 27 devices",
    ),
    PinnedFile(
        "help_latency/fbnet_latency_ms.csv",
        "4b8520f2c65180054b475dd1a48084a12b959cd9ff1b2a739d5d8f56c4d321c6",
        1_933_177,
        "HELP latency (ms) of 5,000 FBNet archs on 27 devices",
    ),
    PinnedFile(
        "help_latency/ofa_mbv3_latency_ms.csv",
        "b09278271c1c1a343c309266ba0f1363372eb56620dcaa2efc6b477169b92a67",
        967_373,
        "HELP latency (ms) of 5,000 OFA-MobileNetV3 archs on 12 GPU settings",
    ),
    PinnedFile(
        "help_latency/hardware_embedding_index.json",
        "fe373926c13fe084fc362855e80c825559c2003dd8ca14805692bd3d3919fc51",
        286,
        "HELP's 10 reference-architecture row indices per space (informational)",
    ),
    PinnedFile(
        "nb101_naslib_sample/nb101_30archs_108ep.json",
        "b70269117dd7c141eac96dcc01a5e98b42eb85881627c1601eaa8b2a0bf9e837",
        56_512,
        "30 NAS-Bench-101 cells with 108-epoch results (format checks only)",
    ),
)

Status = Literal["ok", "missing", "size mismatch", "sha mismatch"]


@dataclass(frozen=True)
class FileCheck:
    """The outcome of checking one pinned file on disk."""

    file: PinnedFile
    path: Path
    status: Status
    actual_size: int | None = None
    actual_sha256: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def __str__(self) -> str:
        detail = ""
        if self.status == "size mismatch":
            detail = f" (expected {self.file.size} bytes, found {self.actual_size})"
        elif self.status == "sha mismatch":
            detail = f" (expected sha256 {self.file.sha256}, found {self.actual_sha256})"
        return f"{self.status:<13} {self.file.relpath}{detail}"


def verify(data_dir: str | os.PathLike[str] | None = None) -> list[FileCheck]:
    """Check every pinned file under ``data_dir`` (resolved as usual when None).

    The size is compared first so a truncated file is reported without hashing it.
    Never raises for bad files: the caller decides how to report them.
    """
    root = resolve_data_dir(data_dir)
    checks = []
    for pf in PINNED_FILES:
        path = root / pf.relpath
        if not path.is_file():
            checks.append(FileCheck(pf, path, "missing"))
            continue
        size = path.stat().st_size
        if size != pf.size:
            checks.append(FileCheck(pf, path, "size mismatch", actual_size=size))
            continue
        digest = sha256_file(path)
        status: Status = "ok" if digest == pf.sha256 else "sha mismatch"
        checks.append(FileCheck(pf, path, status, actual_size=size, actual_sha256=digest))
    return checks


class _HashingDownloader:
    """Wraps pooch's HTTP downloader to remember the sha256 of what it fetched.

    pooch deletes a download whose hash is wrong; keeping the digest lets the
    error say what was actually served.
    """

    def __init__(self, progress: bool) -> None:
        self._inner = pooch.HTTPDownloader(progressbar=progress, timeout=60)
        self.actual_sha256: str | None = None

    def __call__(self, url: str, output_file: Any, pooch_obj: Any, check_only: bool = False) -> Any:
        result = self._inner(url, output_file, pooch_obj, check_only=check_only)
        if not check_only and isinstance(output_file, (str, os.PathLike)):
            self.actual_sha256 = sha256_file(output_file)
        return result


def _base_url(base_url: str | None) -> str:
    url = base_url or os.environ.get(DATA_URL_ENV_VAR, "")
    if not url:
        raise DataError(
            "no download URL for the data tables: pass base_url or set "
            f"{DATA_URL_ENV_VAR} to an http(s) URL under which the files sit at their "
            "relative paths (e.g. <URL>/help_latency/nb201_latency_ms.csv). The tables are "
            "CSV/JSON conversions made for this project and have no public host; serve an "
            "existing copy, e.g. `python -m http.server -d /path/to/data`, or point "
            "--data-dir / NAS_RLM_DATA at that copy instead."
        )
    if urlsplit(url).scheme not in ("http", "https"):
        raise DataError(f"unsupported data URL {url!r}: only http:// and https:// are supported")
    return url.rstrip("/") + "/"


def pull(
    dest: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Download every pinned file into ``dest`` (resolved as usual when None).

    Files keep their relative paths under ``dest``.  pooch streams each one to a
    temporary file, checks its sha256, then moves it into place, so an
    interrupted or corrupted download never leaves a bad table behind, and a file
    already present with the right hash is not downloaded again.

    Raises:
        DataError: no base URL; a download failed; or a served file's sha256
            differs from the pin (names the file, expected and actual hash).
    """
    url = _base_url(base_url)
    root = resolve_data_dir(dest, must_exist=False)
    paths = []
    for pf in PINNED_FILES:
        target = root / pf.relpath
        file_url = url + pf.relpath
        downloader = _HashingDownloader(progress)
        try:
            got = pooch.retrieve(
                file_url,
                known_hash=f"sha256:{pf.sha256}",
                fname=target.name,
                path=target.parent,
                downloader=downloader,
                progressbar=progress,
            )
        except requests.RequestException as exc:  # before ValueError: some subclass both
            raise DataError(f"could not download {pf.relpath} from {file_url}: {exc}") from exc
        except ValueError as exc:  # pooch's hash-mismatch signal
            raise DataError(
                f"sha256 mismatch for {pf.relpath} downloaded from {file_url}: expected "
                f"{pf.sha256}, got {downloader.actual_sha256 or 'unknown'} "
                "(the download was discarded)"
            ) from exc
        except OSError as exc:  # e.g. dest not writable
            raise DataError(f"could not write {target}: {exc}") from exc
        paths.append(Path(got))
    return paths

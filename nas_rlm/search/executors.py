"""Where a batch of true evaluations runs: this process, local processes, or Ray.

Each executor maps a picklable function over arch strings and yields ``(index, result)`` as
results complete, so the caller can save each one the moment it exists: a driver killed
mid-batch loses only the evaluations still running (DESIGN §1.4). There is no scheduler here:
local processes are the standard library's pool, and scale-out is Ray's, with Ray's own task
retries when a worker dies.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from ..errors import ConfigError

#: Executor names for the CLI's ``--executor``; the first is the default.
EXECUTORS: tuple[str, ...] = ("processes", "ray")
RAY_INSTALL = "pip install 'nas-rlm[ray]' (or: pip install ray==2.58.0)"


class Executor(ABC):
    """Runs ``fn(item)`` for each item; yields ``(index, result)`` in completion order."""

    @abstractmethod
    def map(self, fn: Callable[[str], Any], items: Sequence[str]) -> Iterator[tuple[int, Any]]:
        ...

    def settings(self) -> dict[str, Any]:
        return {"executor": type(self).__name__}


class LocalExecutor(Executor):
    """One item at a time in this process, or ``n_jobs`` local processes (``fn`` must then be
    picklable: a module-level function or an instance of a module-level class)."""

    def __init__(self, n_jobs: int = 1) -> None:
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
            raise ConfigError(f"n_jobs must be a positive int, got {n_jobs!r}")
        self.n_jobs = n_jobs

    def map(self, fn: Callable[[str], Any], items: Sequence[str]) -> Iterator[tuple[int, Any]]:
        if self.n_jobs == 1 or len(items) <= 1:
            for i, item in enumerate(items):
                yield i, fn(item)
            return
        with ProcessPoolExecutor(min(self.n_jobs, len(items))) as pool:
            futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
            for f in as_completed(futures):
                yield futures[f], f.result()

    def settings(self) -> dict[str, Any]:
        return {"executor": "processes", "n_jobs": self.n_jobs}


def _call(fn: Callable[[str], Any], item: str) -> Any:
    return fn(item)


class RayExecutor(Executor):
    """Each item is a Ray task on a local Ray (``address=None``; ``num_cpus`` caps it) or an
    existing cluster (``address="ray://host:10001"`` or ``"auto"``).

    A task whose worker process dies is rerun by Ray up to ``max_retries`` times. On a
    cluster, ``fn`` and everything it imports must be importable on the workers (install
    nas-rlm there, or pass a Ray ``runtime_env``).
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 max_retries: int = 3, runtime_env: dict | None = None) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError(f"--executor ray needs Ray, which is not installed: "
                              f"{RAY_INSTALL}") from None
        self.address, self.num_cpus = address, num_cpus
        self.max_retries, self.runtime_env = max_retries, runtime_env

    def start(self) -> None:
        """Connect to (or start) Ray once per process."""
        import ray

        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = dict(address=self.address, include_dashboard=False,
                                      logging_level="ERROR", log_to_driver=False,
                                      runtime_env=self.runtime_env)
        if self.address is None:
            kwargs["num_cpus"] = self.num_cpus or os.cpu_count()
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConfigError(f"cannot start or reach Ray at "
                              f"{self.address or 'a new local instance'}: {e}") from e

    def map(self, fn: Callable[[str], Any], items: Sequence[str]) -> Iterator[tuple[int, Any]]:
        import ray

        if not items:
            return
        self.start()
        task = ray.remote(num_cpus=1, max_retries=self.max_retries)(_call)
        fn_ref = ray.put(fn)
        refs = {task.remote(fn_ref, item): i for i, item in enumerate(items)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield refs[ref], ray.get(ref)

    def settings(self) -> dict[str, Any]:
        return {"executor": "ray", "address": self.address, "max_retries": self.max_retries}


def make_executor(name: str = "processes", n_jobs: int = 1, address: str | None = None
                  ) -> Executor:
    """An executor by name: ``processes`` (``n_jobs`` local processes) or ``ray``."""
    if name == "processes":
        if address is not None:
            raise ConfigError("--address is for --executor ray")
        return LocalExecutor(n_jobs)
    if name == "ray":
        return RayExecutor(address, num_cpus=n_jobs if address is None and n_jobs > 1
                           else None)
    raise ConfigError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "make_executor"]

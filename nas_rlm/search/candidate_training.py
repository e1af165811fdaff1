"""True values by really training the candidate: validation accuracy on the user's data.

This is what a NAS user's "true evaluation" is when no benchmark table covers their task. The
candidate becomes its trainable torch network (``space.to_torch``: BatchNorm and all, as the
benchmark trained it), is trained for a few epochs on the training split of a dataset
(``data.datasets``: a ``module:function`` of the user's, or the offline ``digits``), and
scores its accuracy (%) on the validation split.

A training is a pure function of (arch, settings): the seed fixes the initial weights and the
batch order, and one torch thread keeps CPU kernels deterministic, so evaluating one arch
again alone gives the same accuracy. :class:`TrainingJob` is picklable and loads its dataset
once per worker process, so batches can run in local processes or as Ray tasks.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

from ..errors import ConfigError
from ..search_spaces import get_space
from ..search_spaces.base import SearchSpace
from .evaluators import EvaluationStore, FunctionEvaluator

ACCURACY_COLUMN = "accuracy"


@dataclass(frozen=True)
class TrainingJob:
    """How one candidate is trained; calling it on an arch string returns ``[accuracy %]``."""

    space: str                     # space name; its settings in ``space_settings``
    dataset: str = "digits"        # built-in name or module:function
    epochs: int = 2
    batch_size: int = 64
    lr: float = 0.05               # SGD, Nesterov momentum 0.9, cosine to 0 (NB201's recipe)
    weight_decay: float = 5e-4
    seed: int = 0                  # initial weights and batch order
    threads: int = 1               # torch threads per training (1: deterministic, 2 jobs fit)
    size: dict = field(default_factory=dict)   # to_torch size, e.g. {"channels": 8}
    space_settings: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"training {name} must be a positive int, got {v!r}")
        if not (self.lr > 0 and self.weight_decay >= 0):
            raise ConfigError(f"training needs lr > 0 and weight_decay >= 0, got "
                              f"{self.lr}, {self.weight_decay}")

    def settings(self) -> dict[str, Any]:
        return asdict(self)

    def __call__(self, arch: str) -> list[float]:
        space = get_space(self.space, self.space_settings)
        return [train_and_validate(space, arch, _splits(self.dataset), self)]


@cache
def _splits(dataset: str) -> Any:
    """The dataset, loaded once per process (workers reuse it across candidates)."""
    from ..data.datasets import load

    return load(dataset)


def train_and_validate(space: SearchSpace, arch: Any, splits: Any, job: TrainingJob) -> float:
    """Train ``arch`` as ``job`` says and return its validation accuracy in %.

    Global torch state is left as found: the RNG is forked and the thread count restored.
    """
    import torch
    from torch.utils.data import DataLoader

    threads = torch.get_num_threads()
    torch.set_num_threads(job.threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(job.seed)
            net = space.to_torch(arch, num_classes=splits.num_classes, **job.size)
            loader = DataLoader(splits.train, batch_size=job.batch_size, shuffle=True,
                                generator=torch.Generator().manual_seed(job.seed))
            opt = torch.optim.SGD(net.parameters(), lr=job.lr, momentum=0.9, nesterov=True,
                                  weight_decay=job.weight_decay)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, job.epochs * len(loader))
            loss_fn = torch.nn.CrossEntropyLoss()
            net.train()
            for _ in range(job.epochs):
                for x, y in loader:
                    opt.zero_grad(set_to_none=True)
                    loss_fn(net(x), y).backward()
                    opt.step()
                    sched.step()
            net.eval()
            correct = total = 0
            with torch.no_grad():
                for x, y in DataLoader(splits.val, batch_size=256):
                    correct += int((net(x).argmax(1) == y).sum())
                    total += len(y)
    finally:
        torch.set_num_threads(threads)
    return 100.0 * correct / total


class TrainingEvaluator(FunctionEvaluator):
    """Column ``accuracy``: validation accuracy (%) after training each candidate.

    ``store_dir`` keeps every finished training (one JSON per arch), so a rerun never trains
    an arch twice; ``executor`` runs a batch's trainings in parallel (local processes, Ray).
    """

    def __init__(self, space: SearchSpace, job: TrainingJob | None = None,
                 executor: Any = None, store_dir: str | os.PathLike | None = None,
                 **job_settings: Any) -> None:
        if job is None:
            job = TrainingJob(space.name, space_settings=space.settings(), **job_settings)
        elif job_settings:
            raise ConfigError("pass either a TrainingJob or its settings, not both")
        from ..data.datasets import resolve

        space.to_torch(space.sample(1, 0)[0], **job.size)  # no network: fail now, not later
        resolve(job.dataset)  # nor an unknown dataset, before any run directory exists
        self.job = job
        store = (EvaluationStore(store_dir, [ACCURACY_COLUMN], job.settings())
                 if store_dir is not None else None)
        super().__init__(space, [ACCURACY_COLUMN], job, executor=executor, store=store)


__all__ = ["ACCURACY_COLUMN", "TrainingEvaluator", "TrainingJob", "train_and_validate"]

"""The one small contract every search space follows (DESIGN §1.1).

Like NASLib, each space can sample, mutate, encode and decode; like pymoo, the integer
encoding comes with explicit bounds so an optimiser can search it directly. Each space also
turns an arch into a real ONNX model, and that model -- never the arch string -- into the
canonical text the surrogate reads.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import onnx

from ..errors import ArchError
from .onnx_builder import Weights
from .onnx_stats import count_flops, count_params
from .onnx_text import to_text as render_text


class SearchSpace(ABC):
    """Base class of the search-space adapters.

    An *arch* is the space's own hashable value (for NB201 a tuple of op indices); every
    public method also accepts the community's canonical string or an integer vector and
    validates it through :meth:`parse`.
    """

    #: Short name used on the command line and in data tables (e.g. ``"nb201"``).
    name: str = ""
    #: Whether :meth:`flops` counts bias adds (OFA publishes FLOPs without them).
    flops_bias: ClassVar[bool] = True
    #: Settings added after checkpoints recorded this space's settings, with the value the
    #: space had before each existed (``get_space(..., recorded=True)`` fills them in).
    legacy_settings: ClassVar[dict[str, Any]] = {}

    def settings(self) -> dict[str, Any]:
        """The constructor arguments this instance was built with, JSON-ready.

        ``type(space)(**space.settings())`` rebuilds an equal space, so a checkpoint that
        records them renders the same texts as the space it was trained on.
        """
        out = {}
        for name in setting_names(type(self)):
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    # -- identity ------------------------------------------------------------------------
    @abstractmethod
    def parse(self, arch: Any) -> Hashable:
        """Validate a string, vector or arch and return the canonical arch (raises ArchError)."""

    @abstractmethod
    def to_string(self, arch: Any) -> str:
        """The community's canonical string for ``arch``."""

    def from_string(self, text: str) -> Hashable:
        return self.parse(text)

    # -- integer encoding for optimisers -------------------------------------------------
    @abstractmethod
    def encode(self, arch: Any) -> np.ndarray:
        """Integer vector within :attr:`bounds`."""

    @abstractmethod
    def decode(self, vector: Sequence[int] | np.ndarray) -> Hashable:
        """Inverse of :meth:`encode`; raises ArchError for out-of-range vectors."""

    @property
    @abstractmethod
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Inclusive lower and upper bounds of the integer encoding."""

    # -- sampling ------------------------------------------------------------------------
    @abstractmethod
    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> list[Hashable]:
        """``n`` archs drawn uniformly (with replacement)."""

    @abstractmethod
    def mutate(self, arch: Any, rng: np.random.Generator | int | None = None) -> Hashable:
        """A neighbour of ``arch`` that differs in exactly one decision."""

    def repair(self, vector: Sequence[int] | np.ndarray,
               rng: np.random.Generator | int | None = None) -> np.ndarray:
        """A valid encoding for an in-bounds ``vector`` that :meth:`decode` rejects.

        Spaces where some vectors are invalid (NB101's disconnected cells) get searched with
        generic operators, which produce such vectors; this default replaces one by a random
        valid arch. Spaces may override it with a nearer valid neighbour.
        """
        return self.encode(self.sample(1, as_rng(rng))[0])

    def size(self) -> int | None:
        """Number of archs where the space is finite and countable, else ``None``."""
        return None

    def enumerate(self) -> Iterator[Hashable]:
        raise NotImplementedError(f"{self.name} is too large to enumerate")

    # -- the network ---------------------------------------------------------------------
    @abstractmethod
    def to_onnx(self, arch: Any, weights: Weights = "random", seed: int = 0, *,
                optimized: bool = True) -> onnx.ModelProto:
        """The real, runnable network (weights ``"none"`` gives a fast weight-free skeleton).

        ``optimized`` gives the graph an inference exporter leaves (BatchNorm folded, repeated
        blocks as functions), which the RLM reads; ``False`` gives the literal published
        network, which :meth:`params` and :meth:`flops` count.
        """

    def to_text(self, arch: Any) -> str:
        """Canonical weight-free ONNX text, rendered from the graph only."""
        return render_text(self.to_onnx(arch, weights="none"))

    def to_torch(self, arch: Any, num_classes: int = 10, **size: int) -> Any:
        """A trainable ``torch.nn.Module`` of ``arch`` with BatchNorm, as it was trained (the
        ONNX export folds BatchNorm, so it is no training graph). ``size`` shrinks the
        skeleton where a space allows it. Spaces without one say so; NB201 has it."""
        from ..errors import ConfigError

        raise ConfigError(f"{self.name} has no trainable torch network yet (to_torch); "
                          "train with your own code through a FunctionEvaluator, or use nb201")

    def executed(self) -> SearchSpace:
        """The space whose graphs are the programs the benchmark devices ran. Usually this
        very space; NB201's keep the dead branches its optimised graphs drop (DESIGN §1.3.1).
        The RLM reads these texts for objectives measured on a device."""
        return self

    def converted_view(self) -> SearchSpace:
        """The space whose graphs a constant-folding converter (TFLite) leaves of the executed
        ones: what the benchmark's TFLite devices ran. Usually the executed space; NB201's
        drop branches that reach no output and fold a network whose output cannot depend on
        its input (:meth:`NB201.converted_view`)."""
        return self.executed()

    def params(self, arch: Any) -> int:
        """Trainable parameters of the literal network, by the space's published convention."""
        return count_params(self.to_onnx(arch, weights="none", optimized=False))

    def flops(self, arch: Any) -> float:
        """Multiply-accumulates of the literal network for one input (conv and linear layers,
        plus bias adds where :attr:`flops_bias`), the space's published convention."""
        return count_flops(self.to_onnx(arch, weights="none", optimized=False),
                           bias=self.flops_bias)

    def pruned_flops(self, arch: Any) -> float:
        """FLOPs of the optimised graph, where nothing that cannot reach the output is left
        (the ``flops_pruned`` zero-shot ranker; DESIGN §1.3.1)."""
        return count_flops(self.to_onnx(arch, weights="none"))


def setting_names(cls: type) -> list[str]:
    """The named constructor arguments of a space class (none for ``object.__init__``)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p.name for p in params if p.kind in kinds]


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Accept a Generator, a seed or None, so callers can pass whichever they hold."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def check_vector(vector: Any, upper: Sequence[int], space: str,
                 names: Sequence[str] | None = None,
                 legend: Sequence[str] | None = None) -> np.ndarray:
    """Validate an integer encoding with entries in ``0..upper[i]``; return it as int64.

    Optimisers hand over floats, so integral floats are accepted; booleans, NaN, infinities
    and fractions are not. Every space's ``decode`` calls this, so all fail the same way
    (raising ArchError). ``names`` labels each entry in the out-of-range message
    (``entry i (name)``); ``legend`` lists the op names an entry indexes.
    """
    n = len(upper)
    try:
        vals = np.asarray(vector)
    except (TypeError, ValueError) as e:
        raise ArchError(f"{space} vector must be {n} integers: {vector!r}") from e
    if vals.shape != (n,):
        raise ArchError(f"{space} vector must have {n} entries, got shape {vals.shape}")
    if vals.dtype.kind not in "iuf" or (
            vals.dtype.kind == "f" and not np.all(np.isfinite(vals) & (vals == np.round(vals)))):
        raise ArchError(f"{space} vector must hold integers, got {vals.tolist()}")
    ints = vals.astype(np.int64)
    hi = np.asarray(upper, np.int64)
    bad = np.flatnonzero((ints < 0) | (ints > hi))
    if bad.size:
        i = int(bad[0])
        name = f" ({names[i]})" if names else ""
        ops = f" ({', '.join(f'{j}={o}' for j, o in enumerate(legend))})" if legend else ""
        raise ArchError(f"{space} vector entry {i}{name} must be in 0..{int(hi[i])}{ops}, "
                        f"got {int(ints[i])} in {ints.tolist()}")
    return ints


class ChoiceSpace(SearchSpace):
    """A space whose arch is one op per slot (NB201's 6 edges, FBNet's 22 layers).

    The arch is a tuple of op indices, so the encoding is the arch itself and the whole
    sampling/mutation contract follows from ``ops`` and ``n_slots``; subclasses give the
    string format (:meth:`parse_string`, :meth:`to_string`) and the network.
    """

    #: Op names by index, and the number of slots each taking one op.
    ops: tuple[str, ...] = ()
    n_slots: int = 0
    #: Name used in error messages (e.g. "NB201").
    label: str = ""

    @abstractmethod
    def parse_string(self, text: str) -> tuple[int, ...]:
        """The community's string -> tuple of op indices (raises ArchError)."""

    def parse(self, arch: Any) -> tuple[int, ...]:
        if isinstance(arch, str):
            return self.parse_string(arch)
        return self.decode(arch)

    def encode(self, arch: Any) -> np.ndarray:
        return np.asarray(self.parse(arch), dtype=np.int64)

    def decode(self, vector: Sequence[int] | np.ndarray) -> tuple[int, ...]:
        ints = check_vector(vector, [len(self.ops) - 1] * self.n_slots, self.label,
                            legend=self.ops)
        return tuple(int(v) for v in ints)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.zeros(self.n_slots, np.int64),
                np.full(self.n_slots, len(self.ops) - 1, np.int64))

    def sample(self, n: int, rng: np.random.Generator | int | None = None
               ) -> list[tuple[int, ...]]:
        vals = as_rng(rng).integers(0, len(self.ops), size=(n, self.n_slots))
        return [tuple(int(v) for v in row) for row in vals]

    def mutate(self, arch: Any, rng: np.random.Generator | int | None = None
               ) -> tuple[int, ...]:
        rng = as_rng(rng)
        a = list(self.parse(arch))
        i = int(rng.integers(self.n_slots))
        a[i] = int(rng.choice([o for o in range(len(self.ops)) if o != a[i]]))
        return tuple(a)

    def size(self) -> int:
        return len(self.ops) ** self.n_slots

"""Search-space adapters: arch -> runnable ONNX model -> canonical ONNX text."""

from ..errors import UnknownNameError
from .base import SearchSpace
from .nb201 import NB201

#: Spaces by their command-line name.
SPACES: dict[str, type[SearchSpace]] = {"nb201": NB201}


def get_space(name: str) -> SearchSpace:
    """The adapter for ``name``; unknown names list the valid ones."""
    try:
        return SPACES[name]()
    except KeyError:
        raise UnknownNameError(
            f"unknown search space {name!r}; valid spaces: {', '.join(sorted(SPACES))}"
        ) from None


__all__ = ["NB201", "SPACES", "SearchSpace", "get_space"]

"""Search-space adapters: arch -> runnable ONNX model -> canonical ONNX text."""

from collections.abc import Mapping
from typing import Any

from ..errors import UnknownNameError
from .base import SearchSpace, setting_names
from .fbnet import FBNet
from .nb101 import NB101
from .nb201 import NB201
from .nds import NDSAmoeba, NDSDarts, NDSEnas, NDSNasnet, NDSPnas
from .ofa_mbv3 import OFAMobileNetV3
from .ofa_proxyless import OFAProxylessNAS
from .ofa_resnet import OFAResNet50

#: Spaces by their command-line name.
SPACES: dict[str, type[SearchSpace]] = {
    "nb101": NB101,
    "nb201": NB201,
    "fbnet": FBNet,
    "ofa_mbv3": OFAMobileNetV3,
    "ofa_pn": OFAProxylessNAS,
    "ofa_resnet": OFAResNet50,
    "nds_amoeba": NDSAmoeba,
    "nds_darts": NDSDarts,
    "nds_enas": NDSEnas,
    "nds_nasnet": NDSNasnet,
    "nds_pnas": NDSPnas,
}


def get_space(name: str, settings: Mapping[str, Any] | None = None,
              recorded: bool = False) -> SearchSpace:
    """The adapter for ``name`` built with ``settings`` (its constructor arguments, as
    :meth:`SearchSpace.settings` records them); unknown names list the valid ones.

    ``recorded``: the settings come from a file (a checkpoint) that may predate a setting;
    one it lacks takes the value every space had before it existed
    (:attr:`SearchSpace.legacy_settings`), not today's default, so the file's model reads
    the texts it was trained on."""
    try:
        cls = SPACES[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown search space {name!r}; valid spaces: {', '.join(sorted(SPACES))}"
        ) from None
    settings = {**(cls.legacy_settings if recorded else {}), **(settings or {})}
    valid = setting_names(cls)
    unknown = sorted(set(settings) - set(valid))
    if unknown:
        raise UnknownNameError(f"{name} has no setting(s) {', '.join(unknown)}; valid: "
                               f"{', '.join(valid) or 'none'}")
    return cls(**settings)


def as_space(space: SearchSpace | str) -> SearchSpace:
    """A space instance from an instance (kept as is, with its settings) or a name."""
    return space if isinstance(space, SearchSpace) else get_space(space)


__all__ = ["NB101", "NB201", "SPACES", "FBNet", "NDSAmoeba", "NDSDarts", "NDSEnas",
           "NDSNasnet", "NDSPnas", "OFAMobileNetV3", "OFAProxylessNAS", "OFAResNet50",
           "SearchSpace", "as_space", "get_space"]

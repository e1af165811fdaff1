"""Search-space adapters: arch -> runnable ONNX model -> canonical ONNX text."""

from ..errors import UnknownNameError
from .base import SearchSpace
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


def get_space(name: str) -> SearchSpace:
    """The adapter for ``name``; unknown names list the valid ones."""
    try:
        return SPACES[name]()
    except KeyError:
        raise UnknownNameError(
            f"unknown search space {name!r}; valid spaces: {', '.join(sorted(SPACES))}"
        ) from None


__all__ = ["NB101", "NB201", "SPACES", "FBNet", "NDSAmoeba", "NDSDarts", "NDSEnas",
           "NDSNasnet", "NDSPnas", "OFAMobileNetV3", "OFAProxylessNAS", "OFAResNet50",
           "SearchSpace", "get_space"]

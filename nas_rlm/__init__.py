"""nas-rlm: hardware-aware NAS with a Regression Language Model surrogate reading ONNX text."""

__version__ = "0.1.0"

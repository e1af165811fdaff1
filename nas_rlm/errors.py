"""Errors that nas-rlm raises for bad input.

Every user-facing failure is one of these, with a message that names the problem,
so the CLI can print it in one line instead of a traceback.
"""


class NasRlmError(Exception):
    """Base class of every error nas-rlm raises on purpose."""


class ArchError(NasRlmError, ValueError):
    """A malformed or out-of-range architecture (string, vector or genotype)."""


class DataError(NasRlmError):
    """A missing data directory, a bad table, or a checksum mismatch."""


class UnknownNameError(NasRlmError, KeyError):
    """An unknown device, column, space or objective name; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelFormatError(NasRlmError, ValueError):
    """An invalid ONNX model or an unreadable checkpoint."""


class NumberError(NasRlmError, ValueError):
    """A value the number tokenizer cannot encode (NaN, inf) or a token sequence it cannot parse."""


class ConfigError(NasRlmError, ValueError):
    """A setting outside its range (a size, a count, a mode), given on the CLI or in code."""

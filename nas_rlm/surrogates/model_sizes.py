"""Named RLM sizes (``RLMConfig`` overrides), importable without torch so the CLI's parser
can list them. "tiny" is for tests and smoke runs; "small" is the ``RLMConfig`` defaults."""

from __future__ import annotations

from typing import Any

MODEL_SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"d_model": 32, "d_ff": 64, "num_heads": 2, "d_kv": 16, "encoder_layers": 1,
             "decoder_layers": 1, "text_vocab_size": 300},
    "small": {},
}

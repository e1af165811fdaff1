"""The RLM's input tokenizer: byte-pair encoding learned on canonical ONNX text.

ONNX text is highly repetitive (``Conv[k=3x3 p=1x1x1x1]``, ``w16x16x3x3``), so a BPE learned
on it turns ~1,000 punctuation-split tokens of an NB201 model into ~150, and the encoder's
O(length²) cost falls with it. Whitespace is the only pre-split, so a merge can span a whole
operator call but never two lines.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from ..errors import ModelFormatError

SPECIALS = ("<pad>", "<unk>")


def train_text_tokenizer(texts: Iterable[str], vocab_size: int = 1024) -> Tokenizer:
    """Learn a BPE on ``texts`` (deterministic for a given corpus order)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.BPEDecoder()
    # every printable ASCII character is in the alphabet, so text from another space (or an
    # op this corpus never showed) still tokenizes without <unk>
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False,
        initial_alphabet=list(string.printable.strip()),
    )
    tok.train_from_iterator(list(texts), trainer)
    return tok


def save_text_tokenizer(tok: Tokenizer, path: str | Path) -> None:
    from ..io import atomic_write_text

    atomic_write_text(path, tok.to_str())


def load_text_tokenizer(path: str | Path) -> Tokenizer:
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a bare Exception on bad JSON
        raise ModelFormatError(f"cannot read the text tokenizer {path}: {e}") from e

"""Constrained decoding: whatever the logits, every sampled sequence parses."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nas_rlm.errors import NumberError
from nas_rlm.surrogates.constrained import (
    NumberGrammar,
    NumberGrammarLogitsProcessor,
    allowed_mask,
)
from nas_rlm.surrogates.numbers import IEEETokenizer, P10Tokenizer

P10 = P10Tokenizer()
TOKENIZERS = [P10, IEEETokenizer(), P10Tokenizer(digits=2, min_exp=-2, max_exp=3),
              P10Tokenizer(exponent_first=False)]


@settings(max_examples=200, deadline=None)
@given(
    tok_index=st.integers(0, len(TOKENIZERS) - 1),
    n_objectives=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([0.1, 1.0, 10.0, 100.0]),
    adversarial=st.booleans(),
)
def test_sampled_sequences_always_parse(
    tok_index: int, n_objectives: int, seed: int, scale: float, adversarial: bool
) -> None:
    tok = TOKENIZERS[tok_index]
    grammar = NumberGrammar(tok, n_objectives)
    gen = torch.Generator().manual_seed(seed)
    assert grammar.length == n_objectives * tok.tokens_per_value + 1
    seq: list[int] = []
    for step in range(grammar.length):
        logits = torch.randn(tok.vocab_size, generator=gen) * scale
        if adversarial:  # the raw model prefers exactly the wrong tokens
            logits = logits + 1e4 * (~grammar.allowed_mask(step)).float()
        probs = torch.softmax(grammar.mask_logits(logits, step), dim=-1)
        nxt = int(torch.multinomial(probs, 1, generator=gen))
        assert nxt in grammar.allowed_ids(step)
        seq.append(nxt)
    assert seq[-1] == tok.eos_id
    values = tok.decode_ids([tok.bos_id, *seq], n_objectives)
    assert len(values) == n_objectives and all(math.isfinite(v) for v in values)
    assert grammar.allowed_ids(grammar.length) == {tok.pad_id}


def test_disallowed_tokens_get_minus_inf() -> None:
    g = NumberGrammar(P10, 2)
    logits = torch.zeros(P10.vocab_size)
    out = g.mask_logits(logits, 0)
    assert out[P10.token_to_id("<+>")] == 0 and out[P10.token_to_id("<->")] == 0
    for t in ("<eos>", "<pad>", "<bos>", "<0>", "<E0>"):
        assert out[P10.token_to_id(t)] == -math.inf
    assert torch.isinf(out).sum() == P10.vocab_size - 2
    assert (logits == 0).all()  # out of place
    exp_step = g.mask_logits(logits, 1)  # exponent first
    assert exp_step[P10.token_to_id("<E-3>")] == 0 and exp_step[P10.token_to_id("<7>")] == -math.inf
    digit_step = g.mask_logits(logits, 5)
    assert digit_step[P10.token_to_id("<7>")] == 0 and digit_step[P10.token_to_id("<E0>")] < 0
    second_sign = g.mask_logits(logits, 6)  # the second value starts
    assert second_sign[P10.token_to_id("<->")] == 0
    eos = g.mask_logits(logits, 12)
    assert eos[P10.eos_id] == 0 and torch.isinf(eos).sum() == P10.vocab_size - 1
    assert g.allowed_ids(13) == g.allowed_ids(99) == {P10.pad_id}
    with pytest.raises(NumberError):
        g.allowed_ids(-1)


def test_logits_processor_on_a_batch() -> None:
    gen = torch.Generator().manual_seed(0)
    n, tpv = 2, P10.tokens_per_value
    proc = NumberGrammarLogitsProcessor(P10, n)
    g = NumberGrammar(P10, n)
    for cur_len in range(1, n * tpv + 3):
        input_ids = torch.full((3, cur_len), P10.bos_id, dtype=torch.long)
        scores = torch.randn(3, P10.vocab_size, generator=gen)
        out = proc(input_ids, scores)
        mask = g.allowed_mask(cur_len - 1)
        assert out.shape == scores.shape
        assert torch.equal(out[:, mask], scores[:, mask])
        assert torch.isneginf(out[:, ~mask]).all()


def test_mask_logits_variants() -> None:
    g = NumberGrammar(P10, 1)
    wide = torch.zeros(2, P10.vocab_size + 4)  # a padded output embedding
    out = g.mask_logits(wide, 0)
    assert torch.isneginf(out[:, P10.vocab_size :]).all()
    with pytest.raises(NumberError, match="logits have"):
        g.mask_logits(torch.zeros(P10.vocab_size - 1), 0)
    steps = torch.tensor([0, 3, 5, 6, 7, 40])
    logits = torch.randn(len(steps), P10.vocab_size)
    per_row = torch.stack([g.mask_logits(logits[i], int(s)) for i, s in enumerate(steps)])
    assert torch.equal(g.mask_logits(logits, steps), per_row)
    m = allowed_mask(P10, 1, 1)  # the exponent position
    assert m.dtype == torch.bool and m.shape == (P10.vocab_size,) and int(m.sum()) == 21
    with pytest.raises(NumberError):
        NumberGrammar(P10, 0)


def test_generate_with_a_tiny_t5() -> None:
    """End to end through ``transformers.generate``: an untrained model still emits numbers."""
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    tok, n = P10, 3
    cfg = T5Config(
        vocab_size=tok.vocab_size, d_model=16, d_ff=32, d_kv=8, num_layers=1,
        num_decoder_layers=1, num_heads=2, pad_token_id=tok.pad_id, eos_token_id=tok.eos_id,
        decoder_start_token_id=tok.bos_id,
    )  # fmt: skip
    model = T5ForConditionalGeneration(cfg).eval()
    grammar = NumberGrammar(tok, n)
    enc = torch.randint(3, tok.vocab_size, (4, 7))
    with torch.no_grad():
        out = model.generate(
            input_ids=enc,
            attention_mask=torch.ones_like(enc),
            logits_processor=[NumberGrammarLogitsProcessor(tok, n)],
            max_new_tokens=grammar.length,
            do_sample=True,
            num_return_sequences=2,
        )
    assert out.shape == (8, grammar.length + 1)
    for row in out:
        values = tok.decode_ids(row, n)
        assert len(values) == n and all(math.isfinite(v) for v in values)

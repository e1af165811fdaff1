"""Number tokenizers: exact spellings, the precision contract, clamping, errors, saving."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas_rlm.errors import NasRlmError, NumberError
from nas_rlm.surrogates.numbers import (
    IEEETokenizer,
    NumberTokenizer,
    P10Tokenizer,
    tokenizer_from_dict,
)

P10 = P10Tokenizer()
P10M = P10Tokenizer(exponent_first=False)  # regress-lm's original order, mantissa first
IEEE = IEEETokenizer()
TOKENIZERS = [P10, P10M, IEEE, P10Tokenizer(digits=2, min_exp=-3, max_exp=5), IEEETokenizer(6, 2),
              P10Tokenizer(digits=2, min_exp=-3, max_exp=5, exponent_first=False)]


def toks(spelled: str) -> list[str]:
    return spelled.split()


def _in_range(tok: NumberTokenizer) -> st.SearchStrategy[float]:
    mag = st.floats(min_value=tok.min_positive, max_value=tok.max_value)
    return st.one_of(mag, mag.map(lambda v: -v), st.just(0.0))


def test_p10_exact_examples() -> None:
    assert P10.encode([93.76]) == toks("<+> <E1> <9> <3> <7> <6>")
    assert P10.encode([-0.5]) == toks("<-> <E-1> <5> <0> <0> <0>")
    assert P10.encode([1]) == toks("<+> <E0> <1> <0> <0> <0>")
    assert P10.encode([0.0]) == toks("<+> <E-10> <0> <0> <0> <0>")
    assert P10.encode([-0.0]) == P10.encode([0.0])  # equal values, equal tokens
    assert P10.encode([9.9996]) == toks("<+> <E1> <1> <0> <0> <0>")  # carry into exponent
    assert P10.decode(toks("<+> <E1> <9> <3> <7> <6>"), 1) == [93.76]
    assert P10.tokens_per_value == 6
    assert (P10.exponent_positions, P10.mantissa_positions, P10.branch_position) == (
        (1,), (2, 3, 4, 5), 1)


def test_p10_mantissa_first_is_the_original_order() -> None:
    assert P10M.encode([93.76]) == toks("<+> <9> <3> <7> <6> <E1>")
    assert P10M.encode([9.9996]) == toks("<+> <1> <0> <0> <0> <E1>")
    assert P10M.decode(toks("<+> <9> <3> <7> <6> <E1>"), 1) == [93.76]
    assert (P10M.exponent_positions, P10M.mantissa_positions, P10M.branch_position) == (
        (5,), (1, 2, 3, 4), 1)
    assert P10M.vocab == P10.vocab and not P10M.exponent_first and P10.exponent_first
    # a dict saved before the order was a setting is the original order
    old = {k: v for k, v in P10M.to_dict().items() if k != "exponent_first"}
    assert tokenizer_from_dict(old) == P10M


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-9, max_value=1e9), st.floats(min_value=1e-9, max_value=1e9))
def test_exponent_first_leading_tokens_order_positive_values(a: float, b: float) -> None:
    """Why exponent first: comparing token ids left to right orders positive values, so the
    first token the decoder writes that differs is a ranking decision (not so mantissa first:
    9.8 is <9>…<E0>, 10.3 is <1>…<E1>)."""
    ia, ib = P10.encode_ids([a]), P10.encode_ids([b])
    va, vb = P10.decode_ids(ia, 1)[0], P10.decode_ids(ib, 1)[0]
    assert (ia < ib) == (va < vb) and (ia == ib) == (va == vb)
    assert P10M.encode_ids([9.8]) > P10M.encode_ids([10.3])  # the original order does not


def test_round_half_even_on_exact_binary_ties() -> None:
    assert P10.decode(P10.encode([1.0625]), 1) == [1.062]  # tie, 2 is even
    assert P10.decode(P10.encode([1.1875]), 1) == [1.188]  # tie, 8 is even
    assert P10.decode(P10.encode([1.0625000000000002]), 1) == [1.063]  # just above the tie


def test_ieee_exact_examples() -> None:
    assert IEEE.encode([93.76]) == toks("<+> <+> <1> <9> <3> <7> <6>")
    assert IEEE.encode([-0.0042]) == toks("<-> <-> <3> <4> <2> <0> <0>")
    assert IEEE.encode([0]) == toks("<+> <-> <9> <0> <0> <0> <0>")
    assert IEEE.tokens_per_value == 7
    assert IEEE.vocab_size == 15


@pytest.mark.parametrize("tok", TOKENIZERS, ids=repr)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_round_trip_within_precision(tok: NumberTokenizer, data: st.DataObject) -> None:
    values = data.draw(st.lists(_in_range(tok), min_size=1, max_size=4))
    tokens = tok.encode(values)
    assert len(tokens) == len(values) * tok.tokens_per_value
    decoded = tok.decode(tokens, len(values))
    for v, d in zip(values, decoded, strict=True):
        assert math.isfinite(d)
        if v == 0:
            assert d == 0
        else:
            assert abs(d - v) <= tok.relative_precision * abs(v)
            assert math.copysign(1, d) == math.copysign(1, v)
    assert tok.decode(tok.encode(decoded), len(values)) == decoded  # idempotent
    ids = tok.encode_ids(values, add_eos=True)
    assert ids[-1] == tok.eos_id
    assert tok.decode_ids([tok.bos_id, *ids, tok.pad_id], len(values)) == decoded


@pytest.mark.parametrize("tok", TOKENIZERS, ids=repr)
def test_clamping_both_ends(tok: NumberTokenizer) -> None:
    top, low = tok.max_value, tok.min_positive
    for big in (top * 1.001, top * 10, 1e308, top * (1 + tok.relative_precision)):
        assert tok.decode(tok.encode([big, -big]), 2) == [top, -top]
    for tiny in (low * 0.9, low * 1e-3, 5e-324, -low * 0.9):
        assert tok.decode(tok.encode([tiny]), 1) == [0.0]
    assert tok.encode([-low * 0.5]) == tok.encode([0.0])
    # Just below the smallest value but rounding up to it: representable, not flushed.
    assert tok.decode(tok.encode([low * (1 - tok.relative_precision / 20)]), 1) == [low]
    assert tok.decode(tok.encode([top, low]), 2) == [top, low]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_raises_with_position(bad: float) -> None:
    with pytest.raises(NumberError, match=rf"{bad!r}.*position 2"):
        P10.encode([1.0, 2.0, bad])
    assert issubclass(NumberError, NasRlmError) and issubclass(NumberError, ValueError)


def test_bad_inputs() -> None:
    for bad in ("12", 3.0, None):
        with pytest.raises(NumberError):
            P10.encode(bad)  # type: ignore[arg-type]
    with pytest.raises(NumberError, match="position 1"):
        P10.encode([1.0, "x"])
    with pytest.raises(NumberError, match="need 12 tokens"):
        P10.decode(P10.encode([1.0]), 2)
    with pytest.raises(NumberError, match="position 1"):
        P10.decode(toks("<+> <5> <1> <0> <0> <0>"), 1)
    with pytest.raises(NumberError, match="position 5"):
        P10M.decode(toks("<+> <1> <0> <0> <0> <5>"), 1)
    with pytest.raises(NumberError, match="position 0"):
        P10.decode(toks("<1> <E0> <1> <0> <0> <0>"), 1)
    with pytest.raises(NumberError, match="position 7"):  # second eos
        P10.decode([*P10.encode([1.0]), "<eos>", "<eos>"], 1)
    with pytest.raises(NumberError, match="position 6"):  # a seventh token that is a value token
        P10.decode([*P10.encode([1.0]), "<+>"], 1)
    with pytest.raises(NumberError):
        P10.decode_ids([99], 1)
    with pytest.raises(NumberError):
        P10.token_to_id("<E11>")
    for kwargs in ({"digits": 0}, {"min_exp": 3, "max_exp": 2}, {"digits": 2.5}, {"max_exp": 400},
                   {"exponent_first": 1}):
        with pytest.raises(NumberError):
            P10Tokenizer(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("tok", TOKENIZERS, ids=repr)
def test_decode_values_is_decode_ids_per_row(tok: NumberTokenizer) -> None:
    """The array readout gives every row's ``decode_ids`` value bit for bit (signed zeros,
    leading zero digits and exponents beyond 10^±22 included), and names a bad token."""
    import numpy as np

    rng = np.random.default_rng(0)
    ids = np.column_stack([rng.choice(sorted(allowed), 3000)
                           for allowed in tok.allowed_ids_by_position])
    ids = np.vstack([ids, tok.encode_ids([0.0]), tok.encode_ids([-0.0]),
                     tok.encode_ids([tok.max_value])])
    got = tok.decode_values(ids)
    want = np.array([tok.decode_ids(row, 1)[0] for row in ids])
    assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))
    bad = ids[:2].copy()
    bad[1, tok.sign_position] = tok.eos_id
    with pytest.raises(NumberError, match="position 0 of row 1"):
        tok.decode_values(bad)
    with pytest.raises(NumberError, match="shape"):
        tok.decode_values(ids[:, :-1])


def test_non_normalized_mantissa_decodes() -> None:
    # The grammar allows a leading zero digit; it must still parse to a finite float.
    assert P10.decode(toks("<-> <E2> <0> <5> <0> <0>"), 1) == [-50.0]  # 0.500 × 10^2
    assert P10M.decode(toks("<-> <0> <5> <0> <0> <E2>"), 1) == [-50.0]


def test_vocab_ids_are_stable() -> None:
    v = P10.vocab
    assert v[:15] == (
        "<pad>", "<bos>", "<eos>", "<+>", "<->",
        "<0>", "<1>", "<2>", "<3>", "<4>", "<5>", "<6>", "<7>", "<8>", "<9>",
    )  # fmt: skip
    assert v[15] == "<E-10>" and v[25] == "<E0>" and v[-1] == "<E10>" and len(v) == 36
    assert (P10.pad_id, P10.bos_id, P10.decoder_start_id, P10.eos_id) == (0, 1, 1, 2)
    for i, t in enumerate(v):
        assert P10.token_to_id(t) == i and P10.id_to_token(i) == t
    assert IEEE.vocab == v[:15]


@pytest.mark.parametrize("tok", TOKENIZERS, ids=repr)
def test_to_dict_round_trip(tok: NumberTokenizer) -> None:
    d = json.loads(json.dumps(tok.to_dict()))
    back = tokenizer_from_dict(d)
    assert back == tok and hash(back) == hash(tok) and type(back) is type(tok)
    assert back.vocab == tok.vocab
    assert type(tok).from_dict(d) == tok


def test_from_dict_refuses_drift() -> None:
    d = P10.to_dict()
    with pytest.raises(NumberError, match="vocabulary differs"):
        P10Tokenizer.from_dict({**d, "vocab": d["vocab"][::-1]})
    with pytest.raises(NumberError, match="expected a 'ieee'"):
        IEEETokenizer.from_dict(d)
    with pytest.raises(NumberError, match="unknown number tokenizer kind"):
        tokenizer_from_dict({"kind": "p11"})
    with pytest.raises(NumberError):
        tokenizer_from_dict({"kind": "p10", "digits": 4, "bogus": 1})
    assert P10Tokenizer(digits=3) != P10

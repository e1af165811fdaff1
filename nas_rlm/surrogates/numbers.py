"""Numbers as tokens: the RLM's output vocabulary, in the style of Google's regress-lm.

Why tokens and not a regression head: the decoder then models a whole distribution over
values, later objectives condition on earlier ones, and one model can be trained on
quantities of any scale (FLOPs, latency in ms, accuracy in %) without per-target scaling.

Every value takes the same number of tokens (``tokens_per_value``), so a grammar over
them is position arithmetic (see ``constrained.py``). Pure Python, no torch: rounding is
done with ``decimal`` on the exact binary value, so it is correct to the last digit.

Shared conventions (both tokenizers):

* A value is ``sign × d1.d2…dk × 10^e`` with ``k = digits`` and ``d1 != 0``.
* Rounding to ``k`` significant digits is round-half-even on the float's exact value.
* Precision contract: inside the range, ``|decode(encode(v)) - v| <= 0.5·10^(1-k)·|v|``.
* Clamping: a magnitude that rounds above the largest representable value becomes that
  value (all nines at the largest exponent), keeping its sign. A nonzero magnitude that
  rounds below ``10^min_exp`` is flushed to zero.
* Zero is spelled ``<+> 0…0`` at the smallest exponent, its nearest neighbour in token
  space being the smallest positive value. ``-0.0`` and flushed negatives encode as ``+0``,
  so equal values always get equal tokens.
* NaN and ±inf raise ``NumberError`` naming the value and its position.
* Decoding accepts any mantissa digits (``<0> <5> …`` decodes to 0.5×10^e), so every
  sequence the grammar allows parses to a finite float.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any, ClassVar

import numpy as np

from nas_rlm.errors import NumberError

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
PLUS, MINUS = "<+>", "<->"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS)
SIGN_TOKENS: tuple[str, ...] = (PLUS, MINUS)
DIGIT_TOKENS: tuple[str, ...] = tuple(f"<{d}>" for d in range(10))

# Our own context: a caller's getcontext().prec must not change how we round.
_CTX = Context(prec=60)
_POW10 = np.array([float(10**q) for q in range(23)])  # the powers of ten a double holds exactly
_MAX_DIGITS = 17  # a double carries at most 17 significant decimal digits


def _check_int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool):
        raise NumberError(f"{name} must be an int, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise NumberError(f"{name} must be an int, got {value!r}") from None
    if not lo <= v <= hi:
        raise NumberError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def _as_float(value: Any, pos: int) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise NumberError(f"value {value!r} at position {pos} is not a number") from None
    if not math.isfinite(v):
        raise NumberError(f"cannot encode {v!r} at position {pos}: only finite values have tokens")
    return v


class NumberTokenizer:
    """What both tokenizers share: the special tokens, ids, rounding and sequence parsing.

    Subclasses define ``_value_tokens`` (one rounded value → tokens), ``_parse_value``
    (tokens → float) and ``allowed_ids_by_position`` (the grammar of one value).
    """

    kind: ClassVar[str] = ""

    def __init__(self, digits: int, min_exp: int, max_exp: int, value_vocab: Sequence[str]):
        self.digits = digits
        self.min_exp = min_exp
        self.max_exp = max_exp
        self._vocab: tuple[str, ...] = SPECIAL_TOKENS + tuple(value_vocab)
        self._ids: dict[str, int] = {t: i for i, t in enumerate(self._vocab)}
        if len(self._ids) != len(self._vocab):
            raise NumberError(f"duplicate tokens in vocabulary {self._vocab}")

    # -- configuration -----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-safe)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this tokenizer; the vocab is kept to detect drift."""
        return {"kind": self.kind, **self.config(), "vocab": list(self._vocab)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumberTokenizer:
        """Rebuild from ``to_dict()``; refuses a dict of another kind or a changed vocabulary."""
        if data.get("kind") != cls.kind:
            raise NumberError(
                f"expected a {cls.kind!r} tokenizer dict, got kind {data.get('kind')!r}"
            )
        args = {k: v for k, v in data.items() if k not in ("kind", "vocab")}
        try:
            tok = cls(**args)
        except TypeError as e:
            raise NumberError(f"bad {cls.kind} tokenizer dict {dict(data)!r}: {e}") from None
        if "vocab" in data and list(data["vocab"]) != list(tok.vocab):
            raise NumberError(
                f"saved {cls.kind} vocabulary differs from the one this version builds; "
                "the token ids of the saved model would be misread"
            )
        return tok

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.kind, tuple(sorted(self.config().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    # -- vocabulary ----------------------------------------------------------------------
    @property
    def vocab(self) -> tuple[str, ...]:
        """All tokens; a token's id is its index. Specials come first: pad 0, bos 1, eos 2."""
        return self._vocab

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    @property
    def pad_id(self) -> int:
        return self._ids[PAD]

    @property
    def bos_id(self) -> int:
        """The decoder start token."""
        return self._ids[BOS]

    decoder_start_id = bos_id

    @property
    def eos_id(self) -> int:
        return self._ids[EOS]

    def token_to_id(self, token: str) -> int:
        try:
            return self._ids[token]
        except KeyError:
            raise NumberError(f"unknown number token {token!r}") from None

    @property
    def digit_ids(self) -> list[int]:
        """Ids of the digit tokens ``<0>`` … ``<9>``, in digit order: the expectation of a
        digit is ``probs[digit_ids] @ range(10)``."""
        return [self.token_to_id(f"<{d}>") for d in range(10)]

    def id_to_token(self, token_id: int) -> str:
        i = int(token_id)
        if not 0 <= i < len(self._vocab):
            raise NumberError(f"token id {i} outside the vocabulary [0, {len(self._vocab)})")
        return self._vocab[i]

    @property
    def tokens_per_value(self) -> int:
        return len(self.allowed_ids_by_position)

    @property
    def allowed_ids_by_position(self) -> tuple[frozenset[int], ...]:
        """For each position inside one value, the ids that may stand there (the grammar)."""
        raise NotImplementedError

    # -- layout (what a readout needs to know of one value's tokens) ----------------------
    sign_position: ClassVar[int] = 0

    @property
    def exponent_positions(self) -> tuple[int, ...]:
        """Positions (inside one value) of the tokens that spell the exponent."""
        raise NotImplementedError

    @property
    def mantissa_positions(self) -> tuple[int, ...]:
        """Positions of the mantissa digits d1…dk, most significant first."""
        raise NotImplementedError

    def exponent_of(self, ids: Sequence[int]) -> int:
        """The exponent spelled by the token ids at ``exponent_positions``."""
        raise NotImplementedError

    @property
    def exponent_first(self) -> bool:
        """True when the exponent is written before the mantissa: then the first token that
        varies between values is monotone in magnitude, which is what ranking needs."""
        return max(self.exponent_positions) < min(self.mantissa_positions)

    @property
    def branch_position(self) -> int:
        """The most significant token whose choice a point estimate must average over: the
        last exponent token when the exponent comes first, else the first mantissa digit."""
        return self.exponent_positions[-1] if self.exponent_first else self.mantissa_positions[0]

    # -- range and precision -------------------------------------------------------------
    @property
    def max_value(self) -> float:
        """The largest representable magnitude: all nines at the largest exponent."""
        return float(Decimal((0, (9,) * self.digits, self.max_exp - self.digits + 1)))

    @property
    def min_positive(self) -> float:
        """The smallest representable nonzero magnitude, 10^min_exp."""
        return float(Decimal((0, (1,), self.min_exp)))

    @property
    def relative_precision(self) -> float:
        """Bound on relative round-trip error for values in range: 0.5·10^(1-digits)."""
        return 0.5 * 10.0 ** (1 - self.digits)

    def _round(self, v: float) -> tuple[bool, tuple[int, ...], int]:
        """(negative, mantissa digits, exponent) of ``v`` after rounding and clamping."""
        zero = (False, (0,) * self.digits, self.min_exp)
        d = Decimal(abs(v))  # exact: every float is a finite decimal
        if d == 0:
            return zero
        e = d.adjusted()
        q = d.quantize(Decimal((0, (1,), e - self.digits + 1)), ROUND_HALF_EVEN, _CTX)
        mant = q.as_tuple().digits
        if len(mant) > self.digits:  # 9.9996 → 10.000: carry into the exponent
            mant, e = mant[: self.digits], e + 1
        if e > self.max_exp:
            return (v < 0, (9,) * self.digits, self.max_exp)
        if e < self.min_exp:
            return zero
        return (v < 0, tuple(mant), e)

    def _value(self, negative: bool, mant: Sequence[int], e: int) -> float:
        return float(Decimal((int(negative), tuple(mant), e - self.digits + 1)))

    # -- encode / decode -----------------------------------------------------------------
    def _value_tokens(self, negative: bool, mant: tuple[int, ...], e: int) -> list[str]:
        raise NotImplementedError

    def _parse_value(self, toks: Sequence[str], start: int) -> float:
        raise NotImplementedError

    def encode(self, values: Iterable[float]) -> list[str]:
        """Tokens of ``values``, ``tokens_per_value`` each, without bos or eos."""
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise NumberError(f"encode takes a sequence of numbers, got {values!r}")
        out: list[str] = []
        for pos, value in enumerate(values):
            out += self._value_tokens(*self._round(_as_float(value, pos)))
        return out

    def encode_ids(self, values: Iterable[float], add_eos: bool = False) -> list[int]:
        """Ids of ``encode(values)``; ``add_eos`` appends eos, as training labels need."""
        ids = [self._ids[t] for t in self.encode(values)]
        return [*ids, self.eos_id] if add_eos else ids

    def decode(self, tokens: Iterable[str], n_values: int) -> list[float]:
        """Parse exactly ``n_values`` values.

        An optional leading ``<bos>`` is skipped; after the values only one ``<eos>`` and then
        ``<pad>`` may follow. Anything else raises ``NumberError`` naming the position.
        """
        n = _check_int("n_values", n_values, 1, 10**9)
        toks = list(tokens)
        start = 1 if toks and toks[0] == BOS else 0
        tpv = self.tokens_per_value
        end = start + n * tpv
        if len(toks) < end:
            raise NumberError(
                f"{n} values need {n * tpv} tokens, got {len(toks) - start}: {toks!r}"
            )
        out = [self._parse_value(toks, start + j * tpv) for j in range(n)]
        for i in range(end, len(toks)):
            if toks[i] == PAD or (toks[i] == EOS and i == end):
                continue
            raise NumberError(
                f"token {toks[i]!r} at position {i} after the {n} values; "
                "only one <eos> and then <pad> may follow"
            )
        return out

    def decode_ids(self, ids: Iterable[int], n_values: int) -> list[float]:
        """``decode`` over ids (ints, or anything ``int()`` accepts, e.g. a 1-D tensor)."""
        return self.decode([self.id_to_token(i) for i in ids], n_values)

    def decode_values(self, ids: Any) -> np.ndarray:
        """Values of a ``(rows, tokens_per_value)`` id array, one value per row, as a float
        array: what ``decode_ids(row, 1)[0]`` gives for every row, at array speed.

        Why: a prediction decodes ``archs × objectives × samples`` values (11,680 for 292
        archs × 5 × 8), a third of a second one at a time. Exact: mantissa and power of ten
        are both exact doubles where ``digits ≤ 15`` and the power is within 10^±22, so one
        IEEE multiply or divide is the correctly rounded value, as ``Decimal`` gives; other
        rows go through ``decode_ids``.
        """
        a = np.asarray(ids)
        tpv = self.tokens_per_value
        if a.ndim != 2 or a.shape[1] != tpv or not np.issubdtype(a.dtype, np.integer):
            raise NumberError(f"decode_values takes integer ids of shape (rows, {tpv}), "
                              f"got {a.dtype} {a.shape}")
        for pos, allowed in enumerate(self.allowed_ids_by_position):
            bad = ~np.isin(a[:, pos], list(allowed))
            if bad.any():
                row = int(bad.argmax())
                raise NumberError(f"token id {int(a[row, pos])} at position {pos} of row {row} "
                                  "is not allowed there")
        digit_of = np.zeros(len(self._vocab), dtype=np.int64)
        digit_of[[self._ids[t] for t in DIGIT_TOKENS]] = np.arange(10)
        mant = np.zeros(len(a), dtype=np.int64)
        for pos in self.mantissa_positions:
            mant = mant * 10 + digit_of[a[:, pos]]
        combos, inv = np.unique(a[:, list(self.exponent_positions)], axis=0,
                                return_inverse=True)
        power = np.array([self.exponent_of(c) for c in combos])[inv.ravel()] - self.digits + 1
        exact = (abs(power) <= 22) & (self.digits <= 15)
        scale = _POW10[np.where(exact, abs(power), 0)]
        out = np.where(power >= 0, mant * scale, mant / scale)
        for row in np.flatnonzero(~exact):
            out[row] = abs(self.decode_ids(a[row], 1)[0])  # signed below
        return np.where(a[:, self.sign_position] == self._ids[MINUS], -out, out)

    def _expect(self, toks: Sequence[str], i: int, allowed: Sequence[str], what: str) -> str:
        if toks[i] not in allowed:
            raise NumberError(f"token {toks[i]!r} at position {i} is not a {what}")
        return toks[i]


class P10Tokenizer(NumberTokenizer):
    """``<+|-> <E{e}> <d1> … <dk>`` meaning ``sign × d1.d2…dk × 10^e`` (regress-lm's P10 tokens).

    Exponent first by default (DESIGN §1.3): 93.76 → ``<+> <E1> <9> <3> <7> <6>``, so the first
    token that differs between two positive values orders them by magnitude. With
    ``exponent_first=False`` it is regress-lm's original P10 order, ``<+> <9> <3> <7> <6> <E1>``,
    where the first digit flips at every decade (9.8 → ``<9>``, 10.3 → ``<1>``). Range
    ``[10^min_exp, 9.99…9×10^max_exp]``; clamping and zero as in the module docstring. One token
    per exponent keeps a value at k+2 tokens at the cost of ``max_exp-min_exp+1`` exponent tokens.

    Vocabulary, ids in this order (the same for both orders):
    ``<pad> <bos> <eos> <+> <-> <0>..<9> <E{min_exp}>..<E{max_exp}>``.
    """

    kind: ClassVar[str] = "p10"

    def __init__(self, digits: int = 4, min_exp: int = -10, max_exp: int = 10,
                 exponent_first: bool = True):
        digits = _check_int("digits", digits, 1, _MAX_DIGITS)
        min_exp = _check_int("min_exp", min_exp, -300, 300)
        max_exp = _check_int("max_exp", max_exp, min_exp, 300)
        if not isinstance(exponent_first, bool):
            raise NumberError(f"exponent_first must be a bool, got {exponent_first!r}")
        self._exp_tokens = tuple(f"<E{e}>" for e in range(min_exp, max_exp + 1))
        super().__init__(digits, min_exp, max_exp, SIGN_TOKENS + DIGIT_TOKENS + self._exp_tokens)
        self._exp_first = exponent_first
        self._exp_of = {t: min_exp + i for i, t in enumerate(self._exp_tokens)}
        ids = self._ids
        signs = frozenset(ids[t] for t in SIGN_TOKENS)
        digits_ = [frozenset(ids[t] for t in DIGIT_TOKENS)] * digits
        exps = frozenset(ids[t] for t in self._exp_tokens)
        self._allowed = ((signs, exps, *digits_) if exponent_first else (signs, *digits_, exps))

    def config(self) -> dict[str, Any]:
        return {"digits": self.digits, "min_exp": self.min_exp, "max_exp": self.max_exp,
                "exponent_first": self._exp_first}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumberTokenizer:
        # dicts written before the order was a setting are the original P10 order
        return super().from_dict({"exponent_first": False, **data})

    @property
    def allowed_ids_by_position(self) -> tuple[frozenset[int], ...]:
        return self._allowed

    @property
    def exponent_positions(self) -> tuple[int, ...]:
        return (1,) if self._exp_first else (1 + self.digits,)

    @property
    def mantissa_positions(self) -> tuple[int, ...]:
        first = 2 if self._exp_first else 1
        return tuple(range(first, first + self.digits))

    def exponent_of(self, ids: Sequence[int]) -> int:
        return self._exp_of[self.id_to_token(int(ids[0]))]

    def _value_tokens(self, negative: bool, mant: tuple[int, ...], e: int) -> list[str]:
        digits = [DIGIT_TOKENS[d] for d in mant]
        sign = MINUS if negative else PLUS
        return [sign, f"<E{e}>", *digits] if self._exp_first else [sign, *digits, f"<E{e}>"]

    def _parse_value(self, toks: Sequence[str], start: int) -> float:
        sign = self._expect(toks, start, SIGN_TOKENS, "sign token")
        mant = [
            DIGIT_TOKENS.index(self._expect(toks, start + i, DIGIT_TOKENS, "digit token"))
            for i in self.mantissa_positions
        ]
        (pe,) = self.exponent_positions
        e = self._exp_of[self._expect(toks, start + pe, self._exp_tokens, "P10 exponent token")]
        return self._value(sign == MINUS, mant, e)


class IEEETokenizer(NumberTokenizer):
    """``<+|-> <+|-> <e1>…<em> <d1>…<dk>``: sign, exponent sign, exponent digits, mantissa.

    Meaning ``sign × d1.d2…dk × 10^(±e1…em)``, a float-like layout (regress-lm's IEEE
    tokenizer): the exponent is spelled in digits, so the vocabulary stays at 15 tokens
    whatever the range, at the cost of ``m+1`` more tokens per value than P10. With
    ``exponent_digits=m`` the exponent range is ``±(10^m - 1)``; m is 1 or 2 so every
    value fits a double. Rounding, clamping and zero (``<+> <-> 9…9 0…0``) as in the module
    docstring; exponent 0 is spelled ``<+> 0…0``.

    Vocabulary: ``<pad> <bos> <eos> <+> <-> <0>..<9>`` (sign tokens are shared by both signs).
    """

    kind: ClassVar[str] = "ieee"

    def __init__(self, digits: int = 4, exponent_digits: int = 1):
        digits = _check_int("digits", digits, 1, _MAX_DIGITS)
        self.exponent_digits = _check_int("exponent_digits", exponent_digits, 1, 2)
        top = 10**self.exponent_digits - 1
        super().__init__(digits, -top, top, SIGN_TOKENS + DIGIT_TOKENS)
        signs = frozenset(self._ids[t] for t in SIGN_TOKENS)
        nums = frozenset(self._ids[t] for t in DIGIT_TOKENS)
        self._allowed = (signs, signs, *[nums] * (self.exponent_digits + digits))

    def config(self) -> dict[str, Any]:
        return {"digits": self.digits, "exponent_digits": self.exponent_digits}

    @property
    def allowed_ids_by_position(self) -> tuple[frozenset[int], ...]:
        return self._allowed

    @property
    def exponent_positions(self) -> tuple[int, ...]:
        return tuple(range(1, 2 + self.exponent_digits))

    @property
    def mantissa_positions(self) -> tuple[int, ...]:
        first = 2 + self.exponent_digits
        return tuple(range(first, first + self.digits))

    def exponent_of(self, ids: Sequence[int]) -> int:
        toks = [self.id_to_token(int(i)) for i in ids]
        e = int("".join(str(DIGIT_TOKENS.index(t)) for t in toks[1:]))
        return -e if toks[0] == MINUS else e

    def _value_tokens(self, negative: bool, mant: tuple[int, ...], e: int) -> list[str]:
        e_digits = str(abs(e)).zfill(self.exponent_digits)
        return [
            MINUS if negative else PLUS,
            MINUS if e < 0 else PLUS,
            *(f"<{c}>" for c in e_digits),
            *(DIGIT_TOKENS[d] for d in mant),
        ]

    def _parse_value(self, toks: Sequence[str], start: int) -> float:
        m, k = self.exponent_digits, self.digits
        sign = self._expect(toks, start, SIGN_TOKENS, "sign token")
        e_sign = self._expect(toks, start + 1, SIGN_TOKENS, "exponent sign token")
        nums = [
            DIGIT_TOKENS.index(self._expect(toks, start + 2 + i, DIGIT_TOKENS, "digit token"))
            for i in range(m + k)
        ]
        e = int("".join(map(str, nums[:m])))
        return self._value(sign == MINUS, nums[m:], -e if e_sign == MINUS else e)


_KINDS: dict[str, type[NumberTokenizer]] = {
    P10Tokenizer.kind: P10Tokenizer,
    IEEETokenizer.kind: IEEETokenizer,
}


def tokenizer_from_dict(data: Mapping[str, Any]) -> NumberTokenizer:
    """Rebuild whichever number tokenizer ``data`` (from ``to_dict()``) describes."""
    kind = data.get("kind")
    if kind not in _KINDS:
        raise NumberError(f"unknown number tokenizer kind {kind!r}; known: {sorted(_KINDS)}")
    return _KINDS[kind].from_dict(data)

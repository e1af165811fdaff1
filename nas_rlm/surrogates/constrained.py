"""Constrained decoding: mask every token that would not continue a valid number sequence.

Why: an untrained or badly trained decoder would otherwise emit sequences that do not parse,
and a search loop cannot afford to drop an architecture for that. With the mask applied at
every step, every sampled or greedy sequence decodes to exactly ``n_objectives`` finite
floats followed by ``<eos>``, whatever the weights are.

The grammar after the decoder start token is ``value × n_objectives, <eos>, <pad>…``, and
every value has ``tokens_per_value`` tokens, so the allowed set at a step is a table lookup:
row ``step % tokens_per_value`` while values are being written, then the eos row, then the
pad row. No prefix is read, so each step costs O(1) beyond the masking itself.
"""

from __future__ import annotations

import functools

import torch
from transformers import LogitsProcessor

from nas_rlm.errors import NumberError
from nas_rlm.surrogates.numbers import NumberTokenizer


class NumberGrammar:
    """The per-step allowed ids for ``n_objectives`` values of ``tokenizer``.

    ``step`` counts tokens generated after the decoder start token (0 for the first one),
    i.e. ``input_ids.shape[-1] - 1`` in a ``transformers`` decoder loop.
    """

    def __init__(self, tokenizer: NumberTokenizer, n_objectives: int):
        if isinstance(n_objectives, bool) or not isinstance(n_objectives, int) or n_objectives < 1:
            raise NumberError(f"n_objectives must be a positive int, got {n_objectives!r}")
        self.tokenizer = tokenizer
        self.n_objectives = n_objectives
        self.tokens_per_value = tokenizer.tokens_per_value
        self.n_value_tokens = n_objectives * self.tokens_per_value
        rows = [*tokenizer.allowed_ids_by_position, {tokenizer.eos_id}, {tokenizer.pad_id}]
        self._rows: tuple[frozenset[int], ...] = tuple(frozenset(r) for r in rows)
        table = torch.zeros(len(rows), tokenizer.vocab_size, dtype=torch.bool)
        for i, ids in enumerate(self._rows):
            table[i, sorted(ids)] = True
        self._table = table
        self._tables: dict[tuple[torch.device, int], torch.Tensor] = {}

    @property
    def length(self) -> int:
        """Tokens to generate for a complete sequence: the values and one eos (max_new_tokens)."""
        return self.n_value_tokens + 1

    def _row(self, step: int) -> int:
        if step < 0:
            raise NumberError(f"step must be >= 0, got {step}")
        if step < self.n_value_tokens:
            return step % self.tokens_per_value
        return self.tokens_per_value + (step > self.n_value_tokens)

    def allowed_ids(self, step: int) -> frozenset[int]:
        """The ids allowed as the token at ``step``."""
        return self._rows[self._row(step)]

    def allowed_mask(self, step: int) -> torch.Tensor:
        """Bool mask of shape ``(vocab_size,)``, True where allowed. Shared: do not modify."""
        return self._table[self._row(step)]

    def _table_for(self, logits: torch.Tensor) -> torch.Tensor:
        width = logits.shape[-1]
        key = (logits.device, width)
        table = self._tables.get(key)
        if table is None:
            v = self.tokenizer.vocab_size
            if width < v:
                raise NumberError(f"logits have {width} entries, the number vocabulary has {v}")
            # Ids past the number vocabulary (a padded embedding) are never allowed.
            table = torch.zeros(self._table.shape[0], width, dtype=torch.bool)
            table[:, :v] = self._table
            table = self._tables[key] = table.to(logits.device)
        return table

    def mask_logits(self, logits: torch.Tensor, step: int | torch.Tensor) -> torch.Tensor:
        """Return ``logits`` (shape ``(..., vocab)``) with disallowed ids set to ``-inf``.

        ``step`` is one int for all rows, or a ``(batch,)`` tensor of per-row steps for
        ``(batch, vocab)`` logits. Out of place, so the caller's tensor is untouched.
        """
        table = self._table_for(logits)
        if isinstance(step, torch.Tensor):
            s = step.to(table.device, torch.long)
            if bool((s < 0).any()):
                raise NumberError(f"steps must be >= 0, got {step.tolist()}")
            tpv, n = self.tokens_per_value, self.n_value_tokens
            rows = torch.where(s < n, s % tpv, tpv + (s > n).long())
            mask = table[rows]
        else:
            mask = table[self._row(int(step))]
        return logits.masked_fill(~mask, float("-inf"))


@functools.lru_cache(maxsize=32)
def _grammar(tokenizer: NumberTokenizer, n_objectives: int) -> NumberGrammar:
    return NumberGrammar(tokenizer, n_objectives)


def allowed_mask(tokenizer: NumberTokenizer, step: int, n_objectives: int) -> torch.Tensor:
    """``NumberGrammar(tokenizer, n_objectives).allowed_mask(step)``, with the grammar cached."""
    return _grammar(tokenizer, n_objectives).allowed_mask(step)


class NumberGrammarLogitsProcessor(LogitsProcessor):
    """A ``transformers`` logits processor enforcing the number grammar in ``generate``.

    ``input_ids`` is ``(batch, cur_len)`` including the decoder start token, so the step being
    generated is ``cur_len - 1``. Use it with ``max_new_tokens=grammar.length`` and the
    tokenizer's pad/eos/decoder-start ids in the generation config.
    """

    def __init__(self, tokenizer: NumberTokenizer, n_objectives: int):
        self.grammar = _grammar(tokenizer, n_objectives)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        return self.grammar.mask_logits(scores, input_ids.shape[-1] - 1)


class MedianWalk:
    """Decode the median of the decoder's distribution over numbers in one greedy-cost pass.

    In the exponent-first P10 format a positive number's tokens sort like the number itself
    (exponent ids rise with the exponent, digit ids with the digit), so the median of the
    distribution over sequences is found token by token: at each position take the token at
    which the cumulative probability, in that order, passes the quantile still sought, and
    carry the quantile left inside that token into the next position. A negative sign reverses
    the order of the magnitude that follows. The result is what the median of many samples
    tends to, without their noise. It lands on the model's own values (a device whose
    latencies take a few dozen distinct values gets them, ties included), which an expected
    value smears between them.
    """

    def __init__(self, tokenizer: NumberTokenizer, rows: int):
        if getattr(tokenizer, "kind", None) != "p10" or not tokenizer.exponent_first:
            raise NumberError("the median readout needs the exponent-first P10 number format")
        self.tokenizer = tokenizer
        self.minus = tokenizer.token_to_id("<->")
        self.q = torch.full((rows,), 0.5, dtype=torch.float64)
        self.neg = torch.zeros(rows, dtype=torch.bool)

    def step(self, p: torch.Tensor, position: int) -> torch.Tensor:
        """The median's token at ``position`` (inside a value) from next-token probabilities
        ``p`` (rows, vocab; forbidden tokens at 0)."""
        p = p.double()
        if position == self.tokenizer.sign_position:
            p_minus = p[:, self.minus]
            self.neg = self.q < p_minus
            q = torch.where(self.neg, self.q / p_minus.clamp(min=1e-300),
                            (self.q - p_minus) / (1 - p_minus).clamp(min=1e-300))
            self.q = torch.where(self.neg, 1 - q, q).clamp(0.0, 1.0)
            plus = p.masked_fill(torch.arange(p.shape[1]) == self.minus, 0.0).argmax(-1)
            return torch.where(self.neg, self.minus, plus)
        cdf = p.cumsum(-1)
        last = (p > 0).long().cumsum(-1).argmax(-1)  # the last allowed token
        token = torch.minimum((cdf <= self.q[:, None]).sum(-1), last)
        p_tok = p.gather(1, token[:, None])[:, 0]
        before = cdf.gather(1, token[:, None])[:, 0] - p_tok
        self.q = ((self.q - before) / p_tok.clamp(min=1e-300)).clamp(0.0, 1.0)
        if position == self.tokenizer.tokens_per_value - 1:  # written: the next value starts
            self.q = torch.full_like(self.q, 0.5)
        return token

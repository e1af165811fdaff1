"""Cross-attention that lets many decoder rows share one text's keys and values.

Why: sampling ``k`` values of ``m`` objectives decodes ``m·k`` rows per arch, and every row
attends to the same encoder output. ``transformers`` would hold a copy of the
cross-attention keys and values per row and read each copy at every step; copying and
reading them was half the time of ``predict``. Here the cross-attention cache keeps one entry
per text, and the ``R`` rows of a text (contiguous, text-major) are attended to it as ``R``
query positions of one SDPA call. Exact: the same softmax over the same keys, per row. The
rows per text may differ (``decoder_rows``): sampling shares rows between samples with the
same prefix, so a text whose samples part ways has more rows than one whose samples agree.

Registered as the attention implementation ``"nas_rlm_grouped"`` of the decoder, and set
only while decoding (``rlm._decoder_attention``); in self-attention it is plain SDPA.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "nas_rlm_grouped"


def grouped_attention(module, query, key, value, attention_mask, dropout: float = 0.0,
                      scaling: float | None = None, position_bias=None,
                      decoder_rows: torch.Tensor | None = None, **kwargs):
    """``query`` ``(b, H, q, D)`` against ``key``/``value`` ``(n, H, L, D)``.

    ``decoder_rows`` (``(b,)``, non-decreasing) is each row's text: decoding passes it with
    every call made under this implementation. Texts with fewer rows than the most are padded
    with zero queries, whose outputs are dropped: only the attention itself pays for the
    padding.
    """
    if getattr(module, "is_causal", False):  # the decoder's self-attention; cross is not causal
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      dropout=dropout, scaling=scaling,
                                      position_bias=position_bias, **kwargs)
    if getattr(module, "has_relative_attention_bias", False):
        raise RuntimeError("grouped attention is for cross-attention (no position bias) only")
    n = key.shape[0]
    b, h, q, d = query.shape
    if decoder_rows is None:
        raise RuntimeError("grouped cross-attention needs decoder_rows (each row's text)")
    if len(decoder_rows) != b:
        raise RuntimeError(f"decoder_rows names the text of {len(decoder_rows)} rows, not {b}")
    counts = torch.bincount(decoder_rows, minlength=n)
    r = int(counts.max())
    starts = torch.cumsum(counts, 0) - counts
    slot = decoder_rows * r + torch.arange(b) - starts[decoder_rows]  # row → padded position
    if r * n == b and torch.equal(slot, torch.arange(b)):
        padded = query
    else:
        padded = query.new_zeros(n * r, h, q, d)
        padded[slot] = query
    qg = padded.view(n, r, h, q, d).transpose(1, 2).reshape(n, h, r * q, d)
    mask = None
    if attention_mask is not None:
        # every row of a text has that text's encoder mask; a text without rows takes any
        m = attention_mask[starts.clamp(max=b - 1)]
        mask = m.unsqueeze(2).expand(n, m.shape[1], r, q, m.shape[-1]).reshape(
            n, m.shape[1], r * q, m.shape[-1])
    out = torch.nn.functional.scaled_dot_product_attention(
        qg, key, value, attn_mask=mask, dropout_p=0.0, scale=scaling)
    out = out.view(n, h, r, q, d).permute(0, 2, 3, 1, 4).reshape(n * r, q, h, d)
    return (out if padded is query else out[slot]), None


AttentionInterface.register(NAME, grouped_attention)
# the masks are SDPA's: without a registered mask function transformers builds none at all
AttentionMaskInterface.register(NAME, sdpa_mask)

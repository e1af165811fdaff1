"""Cross-attention that lets many decoder rows share one text's keys and values.

Why: sampling ``k`` values of ``m`` objectives decodes ``m·k`` rows per arch, and every row
attends to the same encoder output. ``transformers`` would hold a copy of the
cross-attention keys and values per row and read each copy at every step; copying and
reading them was half the time of ``predict``. Here the cross-attention cache keeps one entry
per text, and the ``R`` rows of a text (contiguous, text-major) are attended to it as ``R``
query positions of one SDPA call. Exact: the same softmax over the same keys, per row.

Registered as the attention implementation ``"nas_rlm_grouped"`` of the decoder only; when
the key and query batches agree (training, self-attention) it is plain SDPA.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "nas_rlm_grouped"


def grouped_attention(module, query, key, value, attention_mask, dropout: float = 0.0,
                      scaling: float | None = None, position_bias=None, **kwargs):
    """``query`` ``(n·R, H, q, D)`` against ``key``/``value`` ``(n, H, L, D)``."""
    if key.shape[0] == query.shape[0]:
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      dropout=dropout, scaling=scaling,
                                      position_bias=position_bias, **kwargs)
    if getattr(module, "has_relative_attention_bias", False):
        raise RuntimeError("grouped attention is for cross-attention (no position bias) only")
    n = key.shape[0]
    b, h, q, d = query.shape
    r = b // n
    if r * n != b:
        raise RuntimeError(f"{b} decoder rows cannot share {n} encoder outputs")
    qg = query.view(n, r, h, q, d).transpose(1, 2).reshape(n, h, r * q, d)
    mask = None
    if attention_mask is not None:
        m = attention_mask[::r]  # every row of a text has that text's encoder mask
        mask = m.unsqueeze(2).expand(n, m.shape[1], r, q, m.shape[-1]).reshape(
            n, m.shape[1], r * q, m.shape[-1])
    out = torch.nn.functional.scaled_dot_product_attention(
        qg, key, value, attn_mask=mask, dropout_p=0.0, scale=scaling)
    out = out.view(n, h, r, q, d).permute(0, 2, 3, 1, 4).reshape(b, q, h, d)
    return out, None


AttentionInterface.register(NAME, grouped_attention)
# the masks are SDPA's: without a registered mask function transformers builds none at all
AttentionMaskInterface.register(NAME, sdpa_mask)

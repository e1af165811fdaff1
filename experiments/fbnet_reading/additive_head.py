"""Does the frozen FBNet base's encoder tell layer kinds apart, in a form a *sum of a cost per
token* finds? A probe on pool validation only (N = 781 pool, its 500 validation archs).

Why: pixel3, raspi4, eyeriss and fpga latencies are an exact sum over layers of a cost per
layer kind (``additive.py``: τ 1.000 from kind counts). A ridge on the encoder's mean-pooled
states ranks pixel3 at 0.80 (``lut_labels.py score``), so the kinds are not *linearly* apart
in the pooled state. If they are apart token by token, a small MLP applied to every token's
state and summed over the text (the shape of a per-layer lookup table) should find them.

Per column: f = Linear(d, 64) -> GELU -> Linear(64, 1) on each encoder state of the text, the
prediction the sum of f over its tokens; trained with Adam on the pool's standardised latency
(ms), its epochs chosen on a tenth of the pool held apart, then refitted on the whole pool for
that many epochs and scored on the validation archs (τ / ρ). Beside it, a ridge on the
mean-pooled states, as ``lut_labels.py`` reports it.

    python experiments/fbnet_reading/additive_head.py BASE COLUMN [...] [--pool-seed S]

Session 55 (``additive_head_pool_val.jsonl``): on the shipped base, pixel3 τ 0.896 / ρ 0.986,
below the fine-tuned token (0.903 / 0.986) and the one-hot MLP (0.978 / 0.999) on the same
archs: the kinds are no more apart token by token than pooled.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from lut_labels import N_POOL, SEED, SPACE, _option
from scipy.stats import kendalltau, spearmanr
from sklearn.linear_model import RidgeCV
from torch import nn

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.surrogates.recipes import load_base

EPOCHS, CHECK, LR = 1500, 50, 3e-3  # session 55 also ran 400, 20, 1e-3: 0.828


@torch.no_grad()
def states(base, archs: list, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Every arch's encoder states, padded to the longest text, and their mask."""
    hs, ms = [], []
    for s in range(0, len(archs), batch):
        h, m = base.encoder_output(base.texts_for(archs[s:s + batch]))
        hs.append(h)
        ms.append(m)
    width = max(h.shape[1] for h in hs)
    H = torch.cat([nn.functional.pad(h, (0, 0, 0, width - h.shape[1])) for h in hs])
    M = torch.cat([nn.functional.pad(m, (0, width - m.shape[1])) for m in ms]).float()
    return H, M


def summed(f: nn.Module, H: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """f on every token state, summed over each text's tokens (padding left out)."""
    return (f(H).squeeze(-1) * M).sum(1)


def fit_sum_head(H, M, y, epochs: int, seed: int, check=None) -> tuple[nn.Module, list]:
    """f on every token, summed; ``check`` = (H, M, y) scored every CHECK epochs."""
    torch.manual_seed(seed)
    f = nn.Sequential(nn.Linear(H.shape[-1], 64), nn.GELU(), nn.Linear(64, 1))
    opt = torch.optim.AdamW(f.parameters(), lr=LR, weight_decay=1e-2)
    gen = torch.Generator().manual_seed(seed)
    curve = []
    for epoch in range(1, epochs + 1):
        for b in torch.randperm(len(y), generator=gen).split(64):
            loss = nn.functional.mse_loss(summed(f, H[b], M[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if check is not None and epoch % CHECK == 0:
            with torch.no_grad():
                p = summed(f, check[0], check[1])
            curve.append((epoch, float(kendalltau(p.numpy(), check[2].numpy()).statistic)))
    return f, curve


def score(base_dir: str, columns: list[str], seed: int = SEED) -> None:
    torch.set_num_threads(1)
    archs, Y = load_targets(SPACE, columns)
    tr, val = train_indices(SPACE, N_POOL, seed), pool_validation_indices(SPACE, N_POOL, seed)
    base = load_base(base_dir, SPACE)
    t0 = time.time()
    H, M = states(base, [archs[i] for i in [*tr, *val]])
    n = len(tr)
    pooled = ((H * M[..., None]).sum(1) / M.sum(1, keepdim=True)).numpy()
    apart = np.random.default_rng(seed).permutation(n)[: n // 10]
    inner = np.setdiff1d(np.arange(n), apart)
    for j, col in enumerate(columns):
        y = torch.tensor(Y[[*tr, *val], j], dtype=torch.float32)
        mu, sd = y[:n].mean(), y[:n].std()
        z = (y - mu) / sd
        _, curve = fit_sum_head(H[inner], M[inner], z[inner], EPOCHS, seed,
                                (H[apart], M[apart], z[apart]))
        best = max(curve, key=lambda c: c[1])[0]
        f, _ = fit_sum_head(H[:n], M[:n], z[:n], best, seed)
        with torch.no_grad():
            p = summed(f, H[n:], M[n:]).numpy()
        m0, s0 = pooled[:n].mean(0), pooled[:n].std(0) + 1e-8
        ridge = RidgeCV(alphas=np.logspace(-4, 4, 17)).fit((pooled[:n] - m0) / s0,
                                                           np.log(y[:n].numpy()))
        r = ridge.predict((pooled[n:] - m0) / s0)
        yv = y[n:].numpy()
        print(json.dumps({
            "base": base_dir, "column": col, "n": N_POOL, "pool_seed": seed,
            "sum_head": [round(float(g(p, yv).statistic), 4) for g in (kendalltau, spearmanr)],
            "epochs_chosen": best, "curve_on_tenth": [(e, round(t, 4)) for e, t in curve],
            "pooled_ridge_tau": round(float(kendalltau(r, yv).statistic), 4),
            "seconds": round(time.time() - t0, 1)}), flush=True)


def main(argv: list[str]) -> None:
    argv, seed = _option(argv, "--pool-seed", SEED)
    if len(argv) < 2:
        raise SystemExit(__doc__)
    score(argv[0], argv[1:], seed)


if __name__ == "__main__":
    main(sys.argv[1:])

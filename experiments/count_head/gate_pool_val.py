"""A count head checked by its own token (a probe, not adopted): pool validation only.

Why: held out, a count head ranks 1080ti_256 below the one-hot MLP on ρ (0.998 against
0.9996), and over the true counts it would not (``count_reads.py``): a few archs whose counts
the model misreads get a latency far off, and ρ weighs far-off archs most. The token (the
device's own decoded number) reads the same text another way, so where the head and the token
disagree far more than they do on the labelled archs, the head's counts are suspect.

Per COLUMN:BASE:SEED, the base is fine-tuned on the (N = 781, seed 0) pool with a count head at
weight 1, as ``evaluate``'s final fine-tune with the head chosen (12 passes); the head's and the
token's exact medians on the pool and on its 500 validation archs are cached in
OUT/<COLUMN>_s<SEED>.npz. Then, per gate width k: a validation arch whose log disagreement
(head over token) is more than k normal-scaled median absolute deviations from its median on
the pool is read by the token ("token") or by the geometric mean of the two ("halfway");
every other arch by the head. With ``--fifth``, the centre and width come instead from the
fifth of the pool that ``select_epochs`` holds apart: a second fine-tune on the other four
fifths (cached in OUT/<COLUMN>_s<SEED>_fifth.npz), whose token never saw those archs.
Prints one JSON object of τ / ρ.

    python experiments/count_head/gate_pool_val.py DATA_DIR OUT [--fifth] [COLUMN:BASE:SEED ...]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from pool_val import N, score
from scipy.stats import median_abs_deviation

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.surrogates.recipes import (
    SELECT_VAL_FRACTION,
    FinetunedRLM,
    decoded_medians,
    finetune_rlm,
    load_base,
)

SHIPPED, BLIND = "nas_rlm/pretrained/nb201-base", "experiments/nb201_heldout_base/"
CELLS = [f"1080ti_256:{BLIND}base_blind7:0", f"titanxp_256:{BLIND}base_blind6:0",
         f"gold_6226:{SHIPPED}:0", f"pixel3:{BLIND}base_wiring:0", f"titan_rtx_256:{SHIPPED}:0",
         f"1080ti_256:{BLIND}base_blind7:1", f"2080ti_256:{BLIND}base_blind7:0",
         f"1080ti_1:{BLIND}base_wiring:0", f"2080ti_256:{BLIND}base_blind7:1",
         f"titan_rtx_256:{SHIPPED}:1"]
WIDTHS = (3.0, 5.0, 8.0, 12.0, 16.0, 24.0)


def fine_tuned(data_dir: str, col: str, base_dir: str, seed: int, fit: np.ndarray):
    """The base fine-tuned on the table rows ``fit`` with a count head at weight 1, as
    ``evaluate``'s final fine-tune with the head chosen (12 passes), with that head taken off
    (so ``predict_median`` is the token's); also the head, the table's archs and labels, and
    the fine-tune's seconds."""
    torch.set_num_threads(1)
    archs, Y = load_targets("nb201", [col], data_dir)
    a_fit = [archs[i] for i in fit]
    budget = FinetunedRLM("nb201", [col], base_dir=base_dir, seed=seed).budget(
        col, len(a_fit), 12.0)
    t0 = time.time()
    rlm = finetune_rlm(load_base(base_dir, "nb201", [col]), a_fit, Y[fit], [col], budget,
                       seed=seed, progress=False, threads=1, count_heads={col: 1.0})
    return rlm, rlm.mix_heads.pop(col), archs, Y, time.time() - t0


def head_and_token(rlm, head, archs: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decoded counts of ``archs``, the head's latency over them, the token's."""
    X = decoded_medians(rlm, head.sources, archs)
    return X, head.blend(X, np.ones(len(archs))), rlm.predict_median(archs)[:, 0]


def readings(data_dir: str, col: str, base_dir: str, seed: int, out: Path) -> dict:
    """The head's and the token's values on the pool and its validation archs (cached)."""
    path = out / f"{col}_s{seed}.npz"
    if not path.exists():
        tr, val = train_indices("nb201", N, 0), pool_validation_indices("nb201", N, 0)
        rlm, head, archs, Y, secs = fine_tuned(data_dir, col, base_dir, seed, tr)
        X_tr, h_tr, t_tr = head_and_token(rlm, head, [archs[i] for i in tr])
        X_val, h_val, t_val = head_and_token(rlm, head, [archs[i] for i in val])
        out.mkdir(parents=True, exist_ok=True)
        np.savez(path, X_tr=X_tr, X_val=X_val, t_tr=t_tr, t_val=t_val, y_tr=Y[tr, 0],
                 y_val=Y[val, 0], h_tr=h_tr, h_val=h_val, secs=secs)
    return dict(np.load(path))


def fifth(data_dir: str, col: str, base_dir: str, seed: int, out: Path) -> np.ndarray:
    """Log disagreement (head over token) on the fifth ``select_epochs`` holds apart, of a
    fine-tune on the other four fifths (cached)."""
    path = out / f"{col}_s{seed}_fifth.npz"
    if not path.exists():
        tr = train_indices("nb201", N, 0)
        perm = np.random.default_rng([seed, 13]).permutation(len(tr))
        n_val = round(SELECT_VAL_FRACTION * len(tr))
        held, fit = tr[np.sort(perm[:n_val])], tr[np.sort(perm[n_val:])]
        rlm, head, archs, _, _ = fine_tuned(data_dir, col, base_dir, seed, fit)
        _, h, t = head_and_token(rlm, head, [archs[i] for i in held])
        out.mkdir(parents=True, exist_ok=True)
        np.savez(path, d=np.log(h) - np.log(t))
    return np.load(path)["d"]


def gated(z: dict, disagreement: np.ndarray | None = None) -> dict:
    """τ / ρ of the head, the token and the gates; the gate's centre and width from
    ``disagreement`` (default: the pool's own, head over token on the archs fitted)."""
    h, t, y = z["h_val"], z["t_val"], z["y_val"]
    fit = (np.log(z["h_tr"]) - np.log(z["t_tr"]) if disagreement is None
           else disagreement)
    centre, spread = np.median(fit), median_abs_deviation(fit, scale="normal")
    off = np.abs(np.log(h) - np.log(t) - centre)
    res = {"head": score(h, y), "token": score(t, y)}
    for k in WIDTHS:
        far = off > k * spread
        res[f"{k:g}"] = {"archs_gated": int(far.sum()),
                         "token": score(np.where(far, t, h), y),
                         "halfway": score(np.where(far, np.sqrt(h * t), h), y)}
    return res


def main(data_dir: str, out: str, cells: list[str], held_apart: bool = False) -> None:
    res = {}
    for cell in cells:
        col, base_dir, seed = cell.split(":")
        z = readings(data_dir, col, base_dir, int(seed), Path(out))
        res[f"{col}_s{seed}"] = gated(z, fifth(data_dir, col, base_dir, int(seed), Path(out))
                                      if held_apart else None)
        print(cell, json.dumps(res[f"{col}_s{seed}"]), file=sys.stderr, flush=True)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    rest = [a for a in sys.argv[3:] if a != "--fifth"]
    main(sys.argv[1], sys.argv[2], rest or CELLS, "--fifth" in sys.argv[3:])

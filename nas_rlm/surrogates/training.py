"""Training the RLM: teacher-forced cross-entropy on number tokens, with early stopping.

Seeded and resumable: the shuffle of epoch ``e`` depends only on ``(seed, e)``, and a
checkpoint (weights in safetensors, optimizer state loaded with ``weights_only=True``, and a
JSON state) is written atomically after every epoch, so a killed run continues where it was.
``accelerate`` runs the same loop on one CPU, several GPUs or several nodes.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..io import write_json
from .base import check_labels


@dataclass
class TrainConfig:
    epochs: int = 60            # upper bound; early stopping usually ends sooner
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    val_fraction: float = 0.1   # held out from the training pool for early stopping
    patience: int = 8           # epochs without a better validation loss before stopping
    seed: int = 0
    threads: int = 1            # small models train faster on one torch thread per process
    progress: bool = True
    checkpoint_dir: str | None = None  # resume from / save to here


def train(rlm, texts: Sequence[str], Y: np.ndarray, cfg: TrainConfig) -> dict:
    """Fit ``rlm.model`` on ``texts`` → ``Y``; keeps the best-validation weights."""
    from accelerate import Accelerator
    from tqdm import tqdm

    Y = check_labels(Y, len(texts), rlm.objectives)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    n = len(texts)
    order = rng.permutation(n)
    n_val = max(1, round(n * cfg.val_fraction)) if n >= 10 else 0
    val_idx, tr_idx = order[:n_val], order[n_val:]

    inputs = rlm.encode_texts(texts)
    targets = rlm.target_ids(Y)
    torch.manual_seed(cfg.seed)
    acc = Accelerator(cpu=not torch.cuda.is_available())
    opt = torch.optim.AdamW(rlm.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, -(-len(tr_idx) // (cfg.batch_size * acc.num_processes)))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, _warmup_cosine(cfg.warmup_steps, steps_per_epoch * cfg.epochs)
    )
    model, opt = acc.prepare(rlm.model, opt)

    state = {"epoch": 0, "best_val": float("inf"), "best_epoch": -1, "bad_epochs": 0,
             "history": []}
    ckpt = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
    best_state = None
    if ckpt and (ckpt / "trainer_state.json").is_file():
        state, best_state = _resume(ckpt, acc.unwrap_model(model), opt, sched)

    def batches(idx: np.ndarray):
        for s in range(0, len(idx), cfg.batch_size):
            b = idx[s : s + cfg.batch_size]
            ids, mask = rlm.pad([inputs[i] for i in b])
            yield ids.to(acc.device), mask.to(acc.device), targets[b].to(acc.device)

    t0 = time.perf_counter()
    bar = tqdm(total=cfg.epochs, initial=state["epoch"], desc="train", unit="epoch",
               disable=not cfg.progress or not acc.is_main_process)
    while state["epoch"] < cfg.epochs and state["bad_epochs"] < cfg.patience:
        e = state["epoch"]
        perm = np.random.default_rng([cfg.seed, e]).permutation(tr_idx)
        perm = perm[acc.process_index :: acc.num_processes]
        model.train()
        losses = []
        for ids, mask, y in batches(perm):
            loss = model(input_ids=ids, attention_mask=mask, labels=y).loss
            acc.backward(loss)
            acc.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            losses.append(loss.item())
        val = _val_loss(model, batches(val_idx)) if n_val else float(np.mean(losses))
        state["history"].append({"epoch": e, "train_loss": float(np.mean(losses)),
                                 "val_loss": val})
        if val < state["best_val"]:
            state.update(best_val=val, best_epoch=e, bad_epochs=0)
            best_state = copy.deepcopy(acc.unwrap_model(model).state_dict())
        else:
            state["bad_epochs"] += 1
        state["epoch"] = e + 1
        if ckpt and acc.is_main_process:
            _save(ckpt, acc.unwrap_model(model), opt, sched, state, best_state)
        bar.update(1)
        bar.set_postfix(train=f"{np.mean(losses):.3f}", val=f"{val:.3f}")
    bar.close()
    rlm.model = acc.unwrap_model(model)
    if best_state is not None:
        rlm.model.load_state_dict(best_state)
    rlm.model.eval()
    info = {"config": asdict(cfg), "n_train": len(tr_idx), "n_val": int(n_val),
            "best_epoch": state["best_epoch"], "best_val_loss": state["best_val"],
            "epochs_run": state["epoch"], "seconds": round(time.perf_counter() - t0, 1),
            "history": state["history"]}
    rlm.training_info = info
    return info


@torch.no_grad()
def _val_loss(model, batches) -> float:
    model.eval()
    tot, cnt = 0.0, 0
    for ids, mask, y in batches:
        tot += model(input_ids=ids, attention_mask=mask, labels=y).loss.item() * len(y)
        cnt += len(y)
    return tot / max(cnt, 1)


def _warmup_cosine(warmup: int, total: int):
    def f(step: int) -> float:
        # plain floats: the scheduler state is saved and reloaded with weights_only=True
        if step < warmup:
            return float((step + 1) / warmup)
        return float(0.5 * (1 + np.cos(np.pi * min(1.0, (step - warmup) / max(1, total - warmup)))))
    return f


def _save(ckpt: Path, model, opt, sched, state: dict, best_state) -> None:
    """Atomic per file; the JSON state is written last, so it only ever names complete files."""
    from safetensors.torch import save_file

    ckpt.mkdir(parents=True, exist_ok=True)
    for name, sd in (("last.safetensors", model.state_dict()),
                     ("best.safetensors", best_state)):
        if sd is not None:
            tmp = ckpt / f".{name}.tmp"
            save_file({k: v.detach().clone().contiguous() for k, v in sd.items()}, str(tmp))
            os.replace(tmp, ckpt / name)
    tmp = ckpt / ".optimizer.pt.tmp"
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp)
    os.replace(tmp, ckpt / "optimizer.pt")
    write_json(ckpt / "trainer_state.json", state)


def _resume(ckpt: Path, model, opt, sched) -> tuple[dict, dict | None]:
    from safetensors.torch import load_file

    state = json.loads((ckpt / "trainer_state.json").read_text())
    model.load_state_dict(load_file(str(ckpt / "last.safetensors")))
    extra = torch.load(ckpt / "optimizer.pt", weights_only=True)
    opt.load_state_dict(extra["optimizer"])
    sched.load_state_dict(extra["scheduler"])
    best = ckpt / "best.safetensors"
    return state, (load_file(str(best)) if best.is_file() else None)

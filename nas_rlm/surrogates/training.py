"""Training the RLM: a budget of optimizer steps, a loss that rewards order, early stopping on
validation Kendall τ, and weight averaging.

The loss has two parts:

* token cross-entropy, masked to the number grammar (the model spends no probability on
  tokens decoding can never emit), with the leading tokens of each number (sign, exponent,
  first digit: they carry the rank) weighted ``lead_weight`` times the later digits;
* a pairwise logistic ranking term on a differentiable point estimate of every value: the
  expectation, under teacher forcing, of its exponent and first two digits. Every ordered
  pair of labels of one objective in a batch contributes. TA-GATES, NASFLAT and NAR-Former
  train with such a term; token cross-entropy alone says nothing about order.

Every ``eval_every`` steps the weight average (EMA) is read out on a validation split of the
training pool with the expected-value readout, and the weights with the best mean Kendall τ
are kept. The history (τ, and the spread of the predictions against the labels' spread, so a
collapse to the mean is visible at once) is saved and plotted as ``learning_curve.png``.

Seeded and resumable: the batch order depends only on ``(seed, step)``, and a checkpoint
(weights in safetensors, optimizer state loaded with ``weights_only=True``, and a JSON state)
is written atomically at every evaluation. Resuming with other settings is refused.
``accelerate`` runs the same loop on one CPU, several GPUs or several nodes.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError, NasRlmError
from ..io import write_json
from .base import check_labels


@dataclass
class TrainConfig:
    steps: int = 800             # optimizer steps: the budget (early stopping may end sooner);
                                 # validation τ peaked at step 600 of 1,500 at N=781
    batch_size: int = 32         # archs per step (each brings one sequence per label)
    lr: float = 1e-3             # peak learning rate
    schedule: str = "cosine"     # after warm-up: "cosine" to zero, or "constant"
    warmup_steps: int = 100
    weight_decay: float = 0.01
    lead_weight: float = 2.0     # cross-entropy weight of sign/exponent/first digit vs the rest
    rank_weight: float = 1.0     # weight of the pairwise ranking term (0: cross-entropy only)
    rank_top_weight: float = 0.0  # >0: a pair of the ranking term weighs 1 + this x the
                                  # batch rank (0-1) of its larger label (0: all pairs alike)
    digit_sigma: float = 0.0     # >0: the first mantissa digit of an objective with continuous
                                 # labels (``soft_digit_objectives``) learns a soft target, a
                                 # Gaussian of this width (in digits) around the label's
                                 # mantissa: where in the digit a value lies; 0: one-hot
    labels_per_arch: int = 0     # labels drawn per arch per step (0: all): a base with ~40
                                 # labels per arch spends its steps on the decoder otherwise
    ema_decay: float = 0.99      # weight average read out and kept (0: the raw weights)
    freeze_encoder: bool = False  # train the decoder (and the token embeddings it reads) only:
                                 # fine-tuning keeps what pretraining taught the encoder
    eval_every: int = 100        # steps between validation readouts (and checkpoints)
    patience: int = 10           # readouts without a better validation τ before stopping
    val_fraction: float = 0.1    # of the training pool, for early stopping
    length_buckets: int = 0      # >0: each pass is cut into runs of this many batches, each
                                 # run's archs sorted by text length, so a batch pads little
                                 # (a corpus of 11 spaces' texts of 100-850 tokens); 0: off
    accuracy_batch: int = 0      # >0: the objectives in ``accuracies`` draw this many archs
    accuracies: tuple[str, ...] = ()  # per step from a draw of their own, the others keep
                                 # batch_size, and their loss weighs as much as at batch_size:
                                 # an accuracy fine-tuned beside devices makes more passes
                                 # over its labels than they do (one sequence per label only,
                                 # not with length_buckets)
    rehearsals: tuple[str, ...] = ()  # objectives only rehearsed (a count head's counts,
                                 # labelled by the base's own values), their loss kept apart
                                 # from the labels': each arch of a step brings
    rehearsals_per_arch: int = 0  # this many of them, drawn anew per step, beside all of
                                 # its other labels (0: all of them)
    seed: int = 0
    threads: int = 1             # small models train faster on one torch thread per process
    progress: bool = True
    checkpoint_dir: str | None = None  # resume from / save to here

    #: fields that do not change the result, so a resume may differ in them
    RUNTIME = ("threads", "progress", "checkpoint_dir")
    #: fields a run's settings name only where set (added after runs that still resume)
    SET_ONLY = ("length_buckets", "digit_sigma", "accuracy_batch", "accuracies",
                "rank_top_weight", "rehearsals", "rehearsals_per_arch")

    def __post_init__(self) -> None:
        ints = {"steps": 1, "batch_size": 1, "warmup_steps": 0, "eval_every": 1,
                "patience": 1, "seed": 0, "threads": 1, "labels_per_arch": 0,
                "length_buckets": 0, "accuracy_batch": 0, "rehearsals_per_arch": 0}
        for name, lo in ints.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise NasRlmError(f"TrainConfig.{name} must be an int >= {lo}, got {v!r}")
        for name in ("lr", "weight_decay", "lead_weight", "rank_weight", "digit_sigma",
                     "rank_top_weight"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise NasRlmError(f"TrainConfig.{name} must be a finite number >= 0, got {v!r}")
        if not self.lr > 0:
            raise NasRlmError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if not 0 <= self.ema_decay < 1:
            raise NasRlmError(f"TrainConfig.ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0 <= self.val_fraction < 1:
            raise NasRlmError(f"TrainConfig.val_fraction must be in [0, 1), got "
                              f"{self.val_fraction}")
        if not isinstance(self.freeze_encoder, bool):
            raise NasRlmError(f"TrainConfig.freeze_encoder must be true or false, got "
                              f"{self.freeze_encoder!r}")
        if self.schedule not in ("cosine", "constant"):
            raise NasRlmError(f"TrainConfig.schedule must be 'cosine' or 'constant', got "
                              f"{self.schedule!r}")
        for name in ("accuracies", "rehearsals"):
            v = getattr(self, name)
            if not isinstance(v, (list, tuple)) or not all(isinstance(o, str) for o in v):
                raise NasRlmError(f"TrainConfig.{name} must be a list of objective names, "
                                  f"got {v!r}")
            setattr(self, name, tuple(v))  # a JSON list (--set, a saved run) reads back
        if set(self.accuracies) & set(self.rehearsals):
            raise NasRlmError(f"TrainConfig: {sorted(set(self.accuracies) & set(self.rehearsals))}"
                              " cannot be both an accuracy and a rehearsal")
        if self.accuracy_batch and not self.accuracies:
            raise NasRlmError("TrainConfig.accuracy_batch needs the objectives it is for "
                              "(accuracies)")
        if self.accuracy_batch and self.length_buckets:
            raise NasRlmError("TrainConfig.accuracy_batch and length_buckets do not combine")

    def settings(self) -> dict:
        """What a resumed run must agree on (``length_buckets``, ``digit_sigma`` and the
        accuracy draw only where set, so runs and bases saved before they existed stay
        valid)."""
        return {k: v for k, v in self.to_dict().items()
                if k not in self.RUNTIME and not (k in self.SET_ONLY and not v)}

    def to_dict(self) -> dict:
        """Every field, as JSON reads it back (lists, not tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class _Rows(torch.nn.Module):
    """Encoder once per arch, decoder once per sequence: one module, so ``accelerate`` (DDP)
    sees a single forward and synchronises every gradient."""

    def __init__(self, model, freeze_encoder: bool = False):
        super().__init__()
        self.model = model
        self.freeze_encoder = freeze_encoder

    def forward(self, ids, mask, seq_arch, decoder_input_ids):
        # a frozen encoder runs without a graph: no gradient reaches its layers or the text
        # tokens' embeddings (shared with the decoder, whose own rows still learn)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            hidden = self.model.get_encoder()(input_ids=ids,
                                              attention_mask=mask).last_hidden_state
        return self.model(encoder_outputs=(hidden[seq_arch],), attention_mask=mask[seq_arch],
                          decoder_input_ids=decoder_input_ids).logits


def _param_groups(model, cfg: TrainConfig) -> list[dict]:
    """AdamW's groups. With a frozen encoder, the embedding it shares with the decoder gets no
    weight decay: the text tokens' rows, which get no gradient, then stay exactly as they were
    (the few dozen number and objective rows the decoder reads learn without decay)."""
    if not cfg.freeze_encoder:
        return [{"params": list(model.parameters()), "weight_decay": cfg.weight_decay}]
    shared = model.get_input_embeddings().weight
    rest = [p for p in model.parameters() if p is not shared]
    return [{"params": rest, "weight_decay": cfg.weight_decay},
            {"params": [shared], "weight_decay": 0.0}]


def rank_scores(rlm, logits: torch.Tensor, dec: dict) -> torch.Tensor:
    """A differentiable point estimate of every value in the batch, in units of the first
    digit: ``10·E[exponent] + E[d1] + 0.1·E[d2]`` from the grammar-masked distributions at
    those positions (teacher-forced, so each is conditioned on the true earlier tokens)."""
    nt, dev = rlm.numbers, logits.device
    digit_ids = torch.tensor(nt.digit_ids, device=dev)
    digits = torch.arange(10.0, device=dev)
    seq, pos = dec["value_seq"], dec["value_pos"]
    score = torch.zeros(len(seq), device=dev)
    for q, w in zip(nt.mantissa_positions[:2], (1.0, 0.1), strict=False):
        p = torch.softmax(logits[seq, pos + q][:, digit_ids], -1)
        score = score + w * (p @ digits)
    pe = nt.exponent_positions
    if len(pe) == 1:  # one token per exponent (P10): expectation over exponent tokens
        exp_ids = torch.tensor([nt.token_to_id(f"<E{e}>")
                                for e in range(nt.min_exp, nt.max_exp + 1)], device=dev)
        p = torch.softmax(logits[seq, pos + pe[0]][:, exp_ids], -1)
        score = score + 10.0 * (p @ torch.arange(nt.min_exp, nt.max_exp + 1.0, device=dev))
    else:  # IEEE: exponent sign as written, expected exponent digits
        labels = dec["labels"]
        e_sign = torch.where(labels[seq, pos + pe[0]] == nt.token_to_id("<->"), -1.0, 1.0)
        e = torch.zeros(len(seq), device=dev)
        for i, q in enumerate(pe[1:]):
            p = torch.softmax(logits[seq, pos + q][:, digit_ids], -1)
            e = e + 10.0 ** (len(pe) - 2 - i) * (p @ digits)
        score = score + 10.0 * e_sign * e
    return score


def pairwise_rank_loss(score: torch.Tensor, true: torch.Tensor, col: torch.Tensor,
                       top_weight: float = 0.0) -> torch.Tensor:
    """Mean logistic loss over ordered pairs of the same objective: −log σ(s_a − s_b) for
    every pair with y_a > y_b. Zero when no objective has two distinct labels in the batch.

    ``top_weight`` > 0 weighs a pair by ``1 + top_weight · q_a``, ``q_a`` in [0, 1] the rank
    of its larger label within the batch: the order among the largest labels counts more.
    For an accuracy those are the best archs, which a search keeps (tried on NB201 accuracy
    fine-tunes, not adopted: experiments/accuracy_columns/)."""
    losses = []
    for c in col.unique():
        i = (col == c).nonzero()[:, 0]
        if len(i) < 2:
            continue
        s, y = score[i], true[i]
        better = y[:, None] > y[None, :]
        if not better.any():
            continue
        pair = F.softplus(-(s[:, None] - s[None, :]))
        if top_weight:
            q = torch.argsort(torch.argsort(y)).to(s.dtype) / (len(i) - 1)
            w = (1.0 + top_weight * q)[:, None].expand_as(pair)[better]
            losses.append((pair[better] * w).sum() / w.sum())
        else:
            losses.append(pair[better].mean())
    return torch.stack(losses).mean() if losses else score.sum() * 0.0


def train(rlm, texts: Sequence[Sequence[str]], Y: np.ndarray, cfg: TrainConfig,
          missing_ok: bool = False) -> dict:
    """Fit ``rlm.model`` on ``texts`` (per arch, its ``rlm.n_views`` texts) → ``Y``; keeps
    the weights with the best validation τ."""
    from accelerate import Accelerator
    from tqdm import tqdm

    Y = _labels(Y, len(texts), rlm.objectives, missing_ok)
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        rlm.fit_scalers(Y)
        Z = rlm.normalise(Y)
        n = len(texts)
        order = np.random.default_rng(cfg.seed).permutation(n)
        n_val = _n_val(n, cfg)
        val_idx, tr_idx = order[:n_val], order[n_val:]
        soft = (torch.tensor(soft_digit_objectives(Y[tr_idx])) if cfg.digit_sigma else None)
        # only the views some objective reads are encoded (a device-only model fine-tuned
        # from a base that also reads the optimised graph needs the executed text alone)
        used = sorted({rlm.view_of(j) for j in range(len(rlm.objectives))})
        slot_of = {v: k for k, v in enumerate(used)}
        # each distinct text is tokenised once and encoded once per batch: where an arch's
        # two views are the same text (most spaces' executed graph is the optimised one)
        # the encoder would otherwise run on both copies
        distinct = list(dict.fromkeys(t[v] for t in texts for v in used))
        encoded = rlm.encode_texts(distinct)
        where = {t: k for k, t in enumerate(distinct)}
        text_of = [[where[t[v]] for t in texts] for v in used]  # [slot][arch] -> distinct
        # the accuracies' own draw (``accuracy_batch``), or none: their tasks, per arch
        wide = _accuracy_columns(rlm, cfg)
        rehearsed = _rehearsal_columns(rlm, cfg)
        tasks_of = {i: [] for i in range(n)}
        wide_of = {i: [] for i in range(n)}
        for t in rlm.sequences(Z):
            (wide_of if t[1][0][0] in wide else tasks_of)[t[0]].append(t)

        acc = Accelerator(cpu=not torch.cuda.is_available())
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            rows = _Rows(rlm.model, cfg.freeze_encoder)
            opt = torch.optim.AdamW(_param_groups(rlm.model, cfg), lr=cfg.lr)
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, _schedule(cfg.schedule, cfg.warmup_steps, cfg.steps))
            rows, opt = acc.prepare(rows, opt)
            model = acc.unwrap_model(rows).model
            ema = (torch.optim.swa_utils.AveragedModel(
                model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema_decay))
                if cfg.ema_decay else None)

            settings = _run_settings(rlm, cfg, n)
            state = {"step": 0, "best_tau": -float("inf"), "best_step": -1, "bad_evals": 0,
                     "history": [], "settings": settings}
            ckpt = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
            best_state = None
            if ckpt and (ckpt / "trainer_state.json").is_file():
                state, best_state = _resume(ckpt, model, ema, opt, sched, settings)

            lead = {rlm.numbers.sign_position, *rlm.numbers.exponent_positions,
                    rlm.numbers.mantissa_positions[0]}
            table = rlm.grammar_table(model.config.vocab_size).to(acc.device)
            tpv = rlm.numbers.tokens_per_value
            pos_weight = torch.tensor([cfg.lead_weight if r in lead else 1.0
                                       for r in range(tpv)] + [1.0], device=acc.device)

            length = ({i: sum(len(encoded[u]) for u in {s[i] for s in text_of}) for i in tr_idx}
                      if cfg.length_buckets else {})

            @functools.lru_cache(maxsize=1)  # one pass's batches, built once per pass
            def bucketed(p: int) -> list:
                perm = np.random.default_rng([cfg.seed, p]).permutation(tr_idx)
                span, bs = cfg.length_buckets * cfg.batch_size, cfg.batch_size
                runs = [sorted(perm[s : s + span], key=length.__getitem__)
                        for s in range(0, len(perm), span)]
                batches = [r[s : s + bs] for r in runs for s in range(0, len(r), bs)]
                order = np.random.default_rng([cfg.seed, p, 1]).permutation(len(batches))
                return [np.asarray(batches[k]) for k in order]

            def step_batch(step: int, size: int = cfg.batch_size, stream: int = 0) -> np.ndarray:
                """The ``size`` archs of ``step`` (``stream`` > 0: an independent draw)."""
                per_pass = max(1, -(-len(tr_idx) // size))  # steps per pass over the pool
                if cfg.length_buckets:  # the same archs per pass, in batches of like length
                    b = bucketed(step // per_pass)[step % per_pass]
                else:
                    key = [cfg.seed, step // per_pass] + ([stream] if stream else [])
                    perm = np.random.default_rng(key).permutation(tr_idx)
                    b = perm[(step % per_pass) * size:][:size]
                return b[acc.process_index :: acc.num_processes]

            def draw(arch_tasks: list, step: int, i: int) -> list:
                r = cfg.rehearsals_per_arch
                drilled = ([p for p, t in enumerate(arch_tasks) if t[1][0][0] in rehearsed]
                           if r and rehearsed else [])
                if len(drilled) > r:  # a fresh few of the rehearsals, all the rest
                    keep = set(np.random.default_rng([cfg.seed, step, int(i), 3]).choice(
                        drilled, r, replace=False).tolist())
                    arch_tasks = [t for p, t in enumerate(arch_tasks)
                                  if p in keep or p not in drilled]
                k = cfg.labels_per_arch
                if not k or len(arch_tasks) <= k:
                    return arch_tasks
                pick = np.random.default_rng([cfg.seed, step, int(i)]).choice(
                    len(arch_tasks), k, replace=False)
                return [arch_tasks[p] for p in np.sort(pick)]

            t0 = time.perf_counter() - state.get("seconds", 0.0)
            bar = tqdm(total=cfg.steps, initial=state["step"], desc="train", unit="step",
                       disable=not cfg.progress or not acc.is_main_process)
            window: list[list[float]] = []
            while state["step"] < cfg.steps and state["bad_evals"] < cfg.patience:
                b = [i for i in step_batch(state["step"]) if tasks_of[i]]
                tasks = [t for i in b for t in draw(tasks_of[i], state["step"], i)]
                if wide:
                    bw = [i for i in step_batch(state["step"], cfg.accuracy_batch, 2)
                          if wide_of[i]]
                    tasks += [t for i in bw for t in draw(wide_of[i], state["step"], i)]
                    b = list(dict.fromkeys([*b, *bw]))
                if not b:
                    raise DataError("a training batch has no labels at all")
                # the loss is computed where the model runs (an accelerator, if any)
                dec = {k: v.to(acc.device) for k, v in rlm.decoder_tensors(tasks).items()}
                if wide:  # the accuracies' tokens weigh in the loss as at batch_size archs
                    dec["seq_weight"] = torch.tensor(
                        [cfg.batch_size / cfg.accuracy_batch if t[1][0][0] in wide else 1.0
                         for t in tasks], device=acc.device)
                if rehearsed:  # their loss apart, so they dilute nothing the model learns
                    dec["rehearsal"] = torch.tensor([t[1][0][0] in rehearsed for t in tasks],
                                                    device=acc.device)
                batch_texts = list(dict.fromkeys(s[i] for i in b for s in text_of))
                row_of = {u: k for k, u in enumerate(batch_texts)}
                ids, mask = rlm.pad([encoded[u] for u in batch_texts])
                seq_arch = torch.tensor([row_of[text_of[slot_of[rlm.view_of(t[1][0][0])]][t[0]]]
                                         for t in tasks])
                rows.train()
                logits = rows(ids.to(acc.device), mask.to(acc.device), seq_arch.to(acc.device),
                              dec["decoder_input_ids"]).float()
                ce, rank = _losses(rlm, logits, dec, table, pos_weight, cfg.rank_weight,
                                   cfg.digit_sigma, soft, cfg.rank_top_weight)
                loss = ce + cfg.rank_weight * rank
                acc.backward(loss)
                acc.clip_grad_norm_(rows.parameters(), 1.0)
                opt.step()
                sched.step()
                opt.zero_grad()
                if ema is not None:
                    ema.update_parameters(model)
                window.append([loss.item(), ce.item(), rank.item()])
                state["step"] += 1
                bar.update(1)
                if state["step"] % cfg.eval_every and state["step"] < cfg.steps:
                    continue
                readout = ema.module if ema is not None else model
                row = {"step": state["step"], "lr": sched.get_last_lr()[0],
                       **dict(zip(("loss", "ce", "rank"), np.mean(window, 0).tolist(),
                                  strict=True))}
                window = []
                if n_val:
                    row.update(_validate(rlm, readout, [texts[i] for i in val_idx], Y[val_idx]))
                    tau = row["val_tau"]
                else:
                    tau = -row["loss"]
                state["history"].append(row)
                if tau > state["best_tau"]:
                    state.update(best_tau=tau, best_step=state["step"], bad_evals=0)
                    best_state = copy.deepcopy(readout.state_dict())
                else:
                    state["bad_evals"] += 1
                state["seconds"] = time.perf_counter() - t0
                if ckpt and acc.is_main_process:
                    _save(ckpt, model, ema, opt, sched, state, best_state)
                bar.set_postfix(loss=f"{row['loss']:.3f}",
                                tau=f"{row.get('val_tau', float('nan')):.3f}")
            bar.close()
        # prediction runs on the CPU: the model trained on an accelerator comes back from it
        rlm.model = model.cpu()
        if best_state is not None:
            rlm.model.load_state_dict(best_state)
        rlm.model.eval()
        state["seconds"] = time.perf_counter() - t0
        info = _info(cfg, len(tr_idx), int(n_val), state)
        rlm.training_info = info
        if ckpt and acc.is_main_process:
            from ..plots.learning_curve import plot_learning_curve

            plot_learning_curve(state["history"], ckpt, rlm.objectives)
        return info
    finally:
        torch.set_num_threads(prev_threads)


READOUTS = ("best", "latest")  # what checkpoint_readout can read from a run's checkpoint


def checkpoint_readout(rlm, n: int, Y: np.ndarray, cfg: TrainConfig,
                       missing_ok: bool = False, readout: str = "best") -> dict:
    """Load into ``rlm`` (built, as :func:`train` would get it) the best readout so far of
    the run checkpointed in ``cfg.checkpoint_dir``, without training or touching the run:
    a pretraining of CPU-days can be scored part-way while it goes on. ``readout="latest"``
    takes the readout of the last checkpointed evaluation instead (a learning curve read
    at equal steps, where a small validation split picks the best one noisily). ``n`` archs
    and labels ``Y`` are those the run trains on (the label scalers are fitted on them, as
    :func:`train` fits them); a checkpoint of other settings is refused. Returns the info
    :func:`train` would, with ``snapshot`` naming the step read."""
    from safetensors.torch import load_file

    if readout not in READOUTS:
        raise NasRlmError(f"readout must be one of {READOUTS}, got {readout!r}")
    ckpt = Path(cfg.checkpoint_dir or "")
    if not cfg.checkpoint_dir or not (ckpt / "best.safetensors").is_file():
        raise NasRlmError(f"{ckpt} holds no checkpointed readout yet (a run writes one at "
                          "its first evaluation)")
    Y = _labels(Y, n, rlm.objectives, missing_ok)
    state = json.loads((ckpt / "trainer_state.json").read_text())
    _check_settings(ckpt, state, _run_settings(rlm, cfg, n))
    rlm.fit_scalers(Y)
    # the latest readout is what its evaluation scored: the EMA weights, or the raw ones
    step, name = ((state["best_step"], "best") if readout == "best" else
                  (state["step"], "ema" if cfg.ema_decay else "last"))
    rlm.model.load_state_dict(load_file(str(ckpt / f"{name}.safetensors")))
    rlm.model.eval()
    n_val = _n_val(n, cfg)
    info = _info(cfg, n - n_val, n_val, state)
    info["snapshot"] = (f"the {readout} readout (step {step}) of a run read at step "
                        f"{state['step']} of {cfg.steps}")
    if readout == "latest":
        info.update(selected_by="the latest evaluation", readout_step=step)
    rlm.training_info = info
    return info


def _accuracy_columns(rlm, cfg: TrainConfig) -> set[int]:
    """The objective columns that draw ``cfg.accuracy_batch`` archs per step (none if 0)."""
    if not cfg.accuracy_batch:
        return set()
    return _drawn_apart(rlm, cfg.accuracies, "accuracies", "accuracy_batch")


def _rehearsal_columns(rlm, cfg: TrainConfig) -> set[int]:
    """The objective columns only rehearsed (``cfg.rehearsals``): each arch draws
    ``cfg.rehearsals_per_arch`` of them per step, and their loss is kept apart. A chained
    model writes them in its one sequence per arch, so they cannot be: none."""
    if not cfg.rehearsals or (rlm.config.chained and not cfg.rehearsals_per_arch):
        return set()
    return _drawn_apart(rlm, cfg.rehearsals, "rehearsals", "rehearsals_per_arch")


def _drawn_apart(rlm, names: Sequence[str], field: str, setting: str) -> set[int]:
    """The columns of ``names`` (``TrainConfig.<field>``), checked: objectives of the model,
    and one sequence per label to draw them apart by ``setting``."""
    unknown = [o for o in names if o not in rlm.objectives]
    if unknown:
        raise NasRlmError(f"TrainConfig.{field} names {unknown}, not objectives of this "
                          f"model ({rlm.objectives})")
    if rlm.config.chained:
        raise NasRlmError(f"TrainConfig.{setting} needs one sequence per label; this model "
                          "chains its objectives in one sequence per arch")
    return {rlm.objectives.index(o) for o in names}


def _n_val(n: int, cfg: TrainConfig) -> int:
    """Archs held out for validation (none from fewer than 10)."""
    return max(1, round(n * cfg.val_fraction)) if n >= 10 and cfg.val_fraction else 0


def _run_settings(rlm, cfg: TrainConfig, n: int) -> dict:
    """What a checkpointed run must agree on to be resumed or read."""
    return {"train": cfg.settings(), "model": asdict(rlm.config),
            "objectives": list(rlm.objectives), "n": n}


def _info(cfg: TrainConfig, n_train: int, n_val: int, state: dict) -> dict:
    return {"config": cfg.to_dict(), "n_train": n_train, "n_val": n_val,
            "best_step": state["best_step"],
            # with no validation split the readout kept is the one of lowest training loss
            "best_val_tau": state["best_tau"] if n_val else None,
            "selected_by": "validation Kendall tau" if n_val else "training loss",
            "steps_run": state["step"], "seconds": round(state.get("seconds", 0.0), 1),
            "history": state["history"]}


def _labels(Y, n: int, objectives, missing_ok: bool) -> np.ndarray:
    if not missing_ok:
        return check_labels(Y, n, objectives)
    Y = np.asarray(Y, dtype=np.float64).reshape(n, -1)
    if np.isinf(Y).any():
        r, c = np.argwhere(np.isinf(Y))[0]
        raise DataError(f"label for arch {r}, objective {objectives[c]!r} is {Y[r, c]}")
    check_labels(np.nan_to_num(Y), n, objectives)  # the shape
    return Y


#: An objective learns soft first digits only if at least this share of its training labels
#: are distinct. Labels on a lattice (NB201 eyeriss: 25 values on 781 archs; fpga, pixel2) are
#: exact values, which a one-hot target teaches and the exact median then lands on: soft
#: targets lowered eyeriss pool-validation τ from 0.983 to 0.973 (docs/rlm_v2.md).
SOFT_MIN_DISTINCT = 0.5


def soft_digit_objectives(Y: np.ndarray) -> list[bool]:
    """Per objective (column of ``Y``, NaN = missing): whether its labels are continuous
    enough for soft first-digit targets (``SOFT_MIN_DISTINCT``)."""
    out = []
    for y in np.asarray(Y, dtype=np.float64).T:
        y = y[np.isfinite(y)]
        out.append(bool(len(y)) and len(np.unique(y)) >= SOFT_MIN_DISTINCT * len(y))
    return out


def soft_digit_targets(values: torch.Tensor, sigma: float) -> torch.Tensor:
    """``(n, 10)``: for each value, a Gaussian of width ``sigma`` around its mantissa (in
    [1, 10)) integrated over each first digit's interval [d, d + 1): the HL-Gauss target of
    Farebrother et al. (2024), "Stop Regressing". A label at 4.97 teaches "4, nearly 5".

    The Gaussian is truncated to [1, 10) and renormalised there: the first digit of a nonzero
    value is never 0, yet the grammar allows it (zero is ``0…0``), so mass below 1 taught the
    lowest labels a leading 0, a non-canonical number that reads as far below them (the
    empty NB201 cell came out as 0 % and 0 ms by the expected value)."""
    a = values.double().abs().clamp(min=1e-300)
    m = a / 10.0 ** torch.floor(torch.log10(a))
    edges = torch.arange(11.0, dtype=torch.float64).clamp(min=1.0)  # digit 0: [1, 1), empty
    cdf = torch.distributions.Normal(m[:, None], sigma).cdf(edges[None, :])
    q = cdf[:, 1:] - cdf[:, :-1]
    return (q / q.sum(-1, keepdim=True).clamp(min=1e-300)).float()


def _soft_first_digit(rlm, masked, dec, valid, nll, sigma: float,
                      soft: torch.Tensor | None = None) -> torch.Tensor:
    """``nll`` (one entry per valid position) with the first mantissa digit of each nonzero
    value of a ``soft`` objective (all, if None) scored against :func:`soft_digit_targets`
    instead of its one-hot token."""
    nt = rlm.numbers
    v = dec["value_true"]
    keep = (v != 0) & (soft.to(v.device)[dec["value_col"]] if soft is not None else True)
    if not keep.any():
        return nll
    seq, pos = dec["value_seq"][keep], dec["value_pos"][keep] + nt.mantissa_positions[0]
    digit_ids = torch.tensor(nt.digit_ids, device=masked.device)
    logp = torch.log_softmax(masked[seq, pos], -1)[:, digit_ids]
    allowed = torch.isfinite(logp)
    q = torch.where(allowed, soft_digit_targets(v[keep], sigma).to(logp.device), 0.0)
    q = q / q.sum(-1, keepdim=True).clamp(min=1e-12)
    soft_nll = -(q * torch.where(allowed, logp, 0.0)).sum(-1)
    index = valid.flatten().cumsum(0) - 1  # position -> its entry in ``nll``
    return nll.index_put((index[seq * valid.shape[1] + pos],), soft_nll)


def _losses(rlm, logits, dec, table, pos_weight, rank_weight, digit_sigma=0.0, soft=None,
            top_weight=0.0):
    rows, labels = dec["rows"], dec["labels"]
    valid = rows >= 0
    allowed = table[rows.clamp(min=0)]
    masked = logits.masked_fill(~allowed, float("-inf"))
    nll = F.cross_entropy(masked[valid], labels[valid], reduction="none")
    if digit_sigma:
        nll = _soft_first_digit(rlm, masked, dec, valid, nll, digit_sigma, soft)
    w = pos_weight[rows[valid]]
    if "seq_weight" in dec:  # per sequence (``accuracy_batch``)
        w = w * dec["seq_weight"][:, None].expand_as(rows)[valid]
    drill = dec.get("rehearsal")
    if drill is None:
        ce = (nll * w).sum() / w.sum()
    else:  # the labels' mean as without rehearsals, plus the rehearsals' own mean
        d = drill[:, None].expand_as(rows)[valid]
        ce = sum((nll * w * m).sum() / (w * m).sum() for m in (~d, d) if m.any())
    if not rank_weight:
        return ce, ce.new_zeros(())
    score, true, col = rank_scores(rlm, masked, dec), dec["value_true"], dec["value_col"]
    if drill is not None:  # the ranking term is the labels' alone
        own = ~drill[dec["value_seq"]]
        score, true, col = score[own], true[own], col[own]
    return ce, pairwise_rank_loss(score, true, col, top_weight)


@torch.no_grad()
def _validate(rlm, readout, texts: list[str], Y: np.ndarray) -> dict:
    """Kendall τ of the expected-value readout per objective, their mean, and the spread of
    the predictions relative to the labels' (near 0: the model collapsed to the mean)."""
    from scipy.stats import kendalltau

    if next(readout.parameters()).device.type != "cpu":  # prediction runs on the CPU
        readout = copy.deepcopy(readout).cpu()
    model, objectives, rlm.model = rlm.model, rlm.objectives, readout
    try:
        if rlm.config.chained:  # each value is conditioned on the ones before it
            pred = rlm.predict_expected(texts)
        else:  # only the labels each text has: a corpus base has ~40 of its ~260 per row
            pred = np.full(Y.shape, np.nan)
            groups: dict[tuple, list[int]] = {}
            for i, row in enumerate(Y):
                groups.setdefault(tuple(np.flatnonzero(np.isfinite(row))), []).append(i)
            for cols, rows in groups.items():
                if cols:
                    rlm.objectives = [objectives[j] for j in cols]
                    pred[np.ix_(rows, cols)] = rlm.predict_expected([texts[i] for i in rows])
    finally:
        rlm.model, rlm.objectives = model, objectives
    out, taus = {}, []
    for j, o in enumerate(rlm.objectives):
        ok = np.isfinite(Y[:, j])
        if ok.sum() < 3 or np.ptp(Y[ok, j]) == 0:  # a constant label (NB201 has no 5x5
            continue                                 # conv) has no order to score
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tau = kendalltau(pred[ok, j], Y[ok, j]).statistic
        tau = 0.0 if not np.isfinite(tau) else float(tau)
        taus.append(tau)
        out[f"tau/{o}"] = tau
        out[f"spread/{o}"] = float(np.std(pred[ok, j]) / max(np.std(Y[ok, j]), 1e-12))
    out["val_tau"] = float(np.mean(taus)) if taus else 0.0
    return out


def _schedule(kind: str, warmup: int, total: int):
    def f(step: int) -> float:
        # plain floats: the scheduler state is saved and reloaded with weights_only=True
        if step < warmup:
            return float((step + 1) / warmup)
        if kind == "constant":
            return 1.0
        return float(0.5 * (1 + np.cos(np.pi * min(1.0, (step - warmup) / max(1, total - warmup)))))
    return f


def _save(ckpt: Path, model, ema, opt, sched, state: dict, best_state) -> None:
    """Atomic per file; the JSON state is written last, so it only ever names complete files."""
    from safetensors.torch import save_file

    ckpt.mkdir(parents=True, exist_ok=True)
    files = {"last.safetensors": model.state_dict(), "best.safetensors": best_state}
    if ema is not None:
        files["ema.safetensors"] = ema.module.state_dict()
    for name, sd in files.items():
        if sd is not None:
            tmp = ckpt / f".{name}.tmp"
            # a CPU copy of each: tied weights share storage, which safetensors refuses
            save_file({k: v.detach().to("cpu", copy=True).contiguous() for k, v in sd.items()},
                      str(tmp))
            os.replace(tmp, ckpt / name)
    tmp = ckpt / ".optimizer.pt.tmp"
    extra = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
    if ema is not None:
        extra["ema_n_averaged"] = ema.n_averaged
    torch.save(extra, tmp)
    os.replace(tmp, ckpt / "optimizer.pt")
    write_json(ckpt / "trainer_state.json", state)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _check_settings(ckpt: Path, state: dict, settings: dict) -> None:
    if state.get("settings") != settings:
        old, new = _flat(state.get("settings") or {}), _flat(settings)
        diff = [f"{k} {old.get(k)!r} → {new.get(k)!r}" for k in sorted({*old, *new})
                if old.get(k) != new.get(k)]
        raise NasRlmError(
            f"{ckpt} holds a training run with other settings (differs in: "
            f"{', '.join(diff) or 'format'}); use another directory or delete it to start over")


def _resume(ckpt: Path, model, ema, opt, sched, settings: dict) -> tuple[dict, dict | None]:
    from safetensors.torch import load_file

    state = json.loads((ckpt / "trainer_state.json").read_text())
    _check_settings(ckpt, state, settings)
    model.load_state_dict(load_file(str(ckpt / "last.safetensors")))
    extra = torch.load(ckpt / "optimizer.pt", weights_only=True)
    opt.load_state_dict(extra["optimizer"])
    sched.load_state_dict(extra["scheduler"])
    if ema is not None:
        ema.module.load_state_dict(load_file(str(ckpt / "ema.safetensors")))
        ema.n_averaged.copy_(extra["ema_n_averaged"])
    best = ckpt / "best.safetensors"
    return state, (load_file(str(best)) if best.is_file() else None)

"""Copy the fine-tuned default RLM into the package (float16 weights) and write its card.

    python experiments/nb201_default_surrogate/ship.py MODEL_DIR DEST_DIR POOL_JSON \
        [HELDOUT_JSON BASELINES_JSON]

SHIP_NOTE (environment), if set, is printed beside the inference figures.

POOL_JSON (from pool_csv.py) records the pool's table indices in the model, for the leakage
test. Without HELDOUT_JSON only the model is copied, so it can be measured as shipped; with
it (the output of benchmarks/rlm_nb201.py on DEST_DIR) the model card is written too, with
the baselines of BASELINES_JSON (a `nas-rlm evaluate` results.json on the same pool and the
whole held-out set) beside its figures.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from nas_rlm.data.tables import ACCURACY_NAMES
from nas_rlm.io import atomic_write_text
from nas_rlm.surrogates.recipes import COUNT_HEAD_TRIM, PATH_OBJECTIVES
from nas_rlm.surrogates.rlm import FORMAT_VERSION, RLM

#: The base train.sh fine-tunes: the shipped NB201 base (since session 40; the 3,000-step
#: `experiments/wiring_labels/base_paths3k` before).
BASE = "nas_rlm/pretrained/nb201-base"
#: How train.sh's fine-tune seed was chosen, cited on the card: among fine-tunes with count
#: heads (session 48; ``seed_choice.json`` is the choice of session 40, without heads).
SEED_CHOICE = Path(__file__).parent / "results" / "seed_choice_count_heads.json"


def _threads(info: dict) -> str:
    """' on N torch threads', from the run's `TrainConfig.threads`."""
    n = info["config"]["threads"]
    return f" on {n} torch thread{'s' if n > 1 else ''}"


def main() -> None:
    model, dest, pool_json = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    # SHIP_NOTE: a remark on how the inference figures were taken (e.g. a shared CPU)
    note = f" ({os.environ['SHIP_NOTE']})" if os.environ.get("SHIP_NOTE") else ""
    pool = json.loads(pool_json.read_text())
    rlm = RLM.from_pretrained(model)
    ft = rlm.training_info["finetune"]
    if ft["n"] != len(pool["train_indices"]) or ft["columns"] != pool["columns"]:
        raise SystemExit(f"{model} was not fine-tuned on the pool in {pool_json}")
    rlm.training_info["train_indices"] = pool["train_indices"]
    # float16 on disk halves the checkpoint; from_pretrained loads it into float32 parameters
    rlm.save_pretrained(dest, half=True)
    size_mb = sum(f.stat().st_size for f in dest.iterdir() if f.name != "MODEL_CARD.md") / 2**20
    if len(sys.argv) < 5:
        print(f"copied {model} to {dest} ({size_mb:.1f} MiB); measure it, then rerun with the JSON")
        return
    if len(sys.argv) < 6:
        raise SystemExit("the card needs both HELDOUT_JSON and BASELINES_JSON (see train.sh)")
    held = json.loads(Path(sys.argv[4]).read_text())
    base = RLM.from_pretrained(BASE)
    base_seconds = base.training_info["seconds"]
    # what the base's computed labels were: op counts, and wiring where it learnt them
    counts = ("op counts, wiring: path depths and counts"
              if set(PATH_OBJECTIVES) <= set(base.objectives) else "op counts")
    compare, limits = _baselines(json.loads(Path(sys.argv[5]).read_text()), held, pool["n"])
    rows = "\n".join(
        f"| {name} | {v['kendall_tau_median']:.3f} | {v['spearman_median']:.3f} | "
        f"{v['kendall_tau_expected']:.3f} | {v['spearman_expected']:.3f} | "
        f"{v['kendall_tau_median_of_k']:.3f} | {v['spearman_median_of_k']:.3f} |"
        for name, v in held["objectives"].items()
    )
    tp, cfg, info = held["throughput"], rlm.config, rlm.training_info
    tc = info["config"]
    sigma = tc.get("digit_sigma", 0.0)
    soft = (f"soft first-digit targets of width {sigma} on objectives with continuous labels "
            "(`training.SOFT_MIN_DISTINCT`)" if sigma else "one-hot digit targets")
    starts = ", ".join(f"{c} from {s}" for c, s in ft["started_from"].items())
    seen = " and ".join(ft["seen_in_pretraining"]) or "none"
    converted = ", ".join(o for o in rlm.objectives if o in rlm.converted_objectives) or "none"
    rule = rlm.space_settings["converter"]  # bound with NB201.legacy_settings for old files
    draw, base_steps = _seed_sentence(tc["seed"]), base.training_info["steps_run"]
    acc_draw = (f" ({', '.join(tc['accuracies'])}: {tc['accuracy_batch']} archs a step, from a "
                f"draw of their own, their loss weighted as {tc['batch_size']} archs'; "
                f"`FINETUNE_ACCURACY_BATCH`)" if tc.get("accuracy_batch") else "")
    card = f"""# nb201-rlm: the default NB201 surrogate

A Regression Language Model (T5 encoder-decoder, {held['n_params']:,} parameters) that reads
the canonical ONNX text of an NB201 network and writes one number per objective, each after
its objective token: {', '.join(rlm.objectives)} (CIFAR-10 test accuracy in %, 200 epochs;
then latency in ms on each device). Accuracy is read from the optimised graph (dead branches
removed); {', '.join(o for o in rlm.objectives if o in rlm.executed_objectives)} from the
graph the devices ran (dead branches kept); {converted} from the graph the TFLite converter
left (rule {rule}, docs/rlm_v2.md). Numbers are exponent first, each objective
normalised onto [1, 9] by a quantile map fitted on the training labels (saved in `rlm.json`,
mapped back to units on output). Format version {FORMAT_VERSION}.
{_heads_paragraph(rlm)}

It is the shipped {base_steps:,}-step base (`{BASE}`, made by `nas-rlm pretrain`;
its card lists what it saw) fine-tuned by `nas-rlm finetune` on all five columns at once,
{draw} This recipe was chosen over a
model of the same size trained from scratch on a validation split of the training pool
(docs/rlm_v2.md, "The default model"), with the base and executed text of 2026-11-30; the
choice was not made again for the edge-by-edge text this base reads.

## Data
- Labels: `nb201_nats_tss_200ep/nats_bench.csv` (accuracy) and `help_latency/nb201_latency_ms.csv`
  (latency), read from the data directory, never shipped.
- Fine-tuning pool: {ft['n']} archs drawn with seed {pool['seed']} from the 10,625 archs
  outside the DESIGN §3 held-out set (the N = {pool['n']}, seed-{pool['seed']} pool of
  `nas-rlm evaluate`). The held-out set (5,000 archs, seed 12345) was never seen, by the
  base or the fine-tune.
- The base pretrained on 8,000 rows of the same training pool: computed labels (FLOPs,
  params, {counts}) and 21 source latency columns. Of this
  model's columns the base saw {seen}, so their figures below are not N = {ft['n']}
  figures; the others it learnt from the {ft['n']} pool labels alone. Each new objective
  token started from the base objective that ranked its labels best: {starts}.

## Command
```bash
bash experiments/nb201_default_surrogate/train.sh ../shared/data
```
The fine-tune: {info['steps_run']} optimizer steps (`finetune_budget`: 12 passes over the
{ft['n']} labels), batch {tc['batch_size']} archs{acc_draw}, lr
{tc['lr']} ({tc['schedule']}), ranking-loss weight {tc['rank_weight']}, EMA {tc['ema_decay']},
{soft}, no validation split (the readout of lowest training loss is kept: step {info['best_step']}).
d_model {cfg.d_model}, {cfg.encoder_layers}+{cfg.decoder_layers} layers, BPE vocabulary
{cfg.text_vocab_size}. Fine-tuning took {info['seconds']:.0f} s{_threads(info)} (the
base: {base_seconds:,.0f} s{_threads(base.training_info)}). Weights are stored in float16 and
loaded into float32; size on disk {size_mb:.1f} MiB. The figures below were measured on this
float16 copy.

## Measured on the held-out set ({held['test_archs']} archs)
`python benchmarks/rlm_nb201.py --model nas_rlm/pretrained/nb201-rlm`

| objective | τ, exact median | ρ, exact median | τ, EV | ρ, EV | τ, median of 8 | ρ, median of 8 |
|---|---|---|---|---|---|---|
{rows}

Inference: {tp['archs_per_s']} archs/s for {tp['objectives']} objectives × {tp['k']} samples
({tp['threads']} thread{'s' if tp['threads'] > 1 else ''}), {tp['ratio_to_encoder_only']}× the time
of an encoder-only forward pass;
the exact median (`predict_point`, what searches rank by):
{tp['exact_median_archs_per_s_incl_dedup']} archs/s; the expected value:
{tp['expected_value_archs_per_s_incl_dedup']} archs/s{note}.

## Baselines on the same pool and held-out archs
`nas-rlm evaluate --space nb201 --targets {','.join(rlm.objectives)} --surrogates
mlp,gbdt,flops_pruned --ns {pool['n']} --seeds {pool['seed']}`, Kendall τ / Spearman ρ:

| objective | this model, exact median | expected value | one-hot MLP | GBDT | pruned FLOPs |
|---|---|---|---|---|---|
{compare}

## Limits
One fine-tune (seed {tc['seed']}). {limits}
"""
    atomic_write_text(dest / "MODEL_CARD.md", card)
    print(f"shipped {dest} ({size_mb:.1f} MiB)")


def _heads_paragraph(rlm: RLM) -> str:
    """What the count heads are, from the model's own ``mix_heads`` (none: an empty line)."""
    ft = rlm.training_info["finetune"]
    heads = ft.get("count_heads", [])
    if not heads:
        return ""
    weights = ", ".join(f"{c} {rlm.mix_heads[c].weight:g}" for c in heads)
    devices = [o for o in rlm.objectives if o not in ACCURACY_NAMES]
    alone = ", ".join(o for o in devices if o not in heads) or "none"
    per_arch = rlm.training_info["config"].get("rehearsals_per_arch", 0)
    return f"""
{', '.join(heads)} are read through count heads (`nas-rlm finetune --count-heads`): a
linear ridge with no weight below zero over the model's own exact medians of the counts of
the graph each device ran (op counts, FLOPs, params, wiring; {len(ft['rehearsed'])} counts
in all), fitted on the pool's labels after the fine-tune (refitted without the archs more
than {COUNT_HEAD_TRIM:g} median absolute deviations off, whose counts are likely misread),
and blended with the device's token
at weight {weights} (1: the head alone). The fine-tune rehearses those counts, labelled by
the base's own decoded values, {per_arch or 'all'} per arch and step with their loss apart,
so that its decoder keeps writing them. Every readout (exact median, expected value,
samples) applies the head. Token alone: {alone} (its head ranked worse on pool validation,
`results/count_heads_pool_val.json`)."""


def _seed_sentence(seed: int) -> str:
    """Where the fine-tune seed came from: the rule of ``SEED_CHOICE`` if it chose ``seed``."""
    if not SEED_CHOICE.exists():
        return f"fine-tune seed {seed}."
    choice = json.loads(SEED_CHOICE.read_text())
    if choice["seed"] != seed:
        return f"fine-tune seed {seed} (not the seed `{SEED_CHOICE.name}` chose)."
    means = choice["mean_kendall_tau"]
    others = ", ".join(f"{v:.4f}" for s, v in means.items() if s != str(seed))
    acc = [v["cifar10"] for v in choice["per_column"].values()]
    made = (f"; this fine-tune, as train.sh made it: {choice['shipped_model']['mean_kendall_tau']}"
            if "shipped_model" in choice else "")
    if "shipped_model_heads_fitted_once" in choice:  # the seeds were compared with those
        made += (" (with its heads fitted once, as the seeds were: "
                 f"{choice['shipped_model_heads_fitted_once']['mean_kendall_tau']})")
    return (f"fine-tune seed {seed}: of seeds {', '.join(means)}, the one with the best mean "
            f"exact-median τ over the five columns on the 500 pool-validation archs "
            f"({means[str(seed)]:.4f}; the others {others}{made}), never the held-out set "
            f"(`results/{SEED_CHOICE.name}`, from `{Path(choice['pool_validation']).name}`). "
            f"The seed alone moves CIFAR-10 τ there by {max(acc) - min(acc):.3f}.")


def _baselines(results: dict, held: dict, n: int) -> tuple[str, str]:
    """Table rows of the RLM's two readouts beside each baseline, and sentences naming the
    objectives where a baseline ranks better, by Kendall τ and by Spearman ρ, than its point
    estimate, the exact median (``predict_point``; choosing the readout per objective on these
    archs would tune on the held-out set)."""
    summary, key = results["summary"], f"N={n}"
    rows, behind = [], {"kendall_tau": [], "spearman": []}
    for name, v in held["objectives"].items():
        own = {"kendall_tau": v["kendall_tau_median"], "spearman": v["spearman_median"]}
        cells = []
        for s in ("mlp", "gbdt", "flops_pruned"):
            m = summary[s][name][key]
            cells.append(f"{m['kendall_tau']['mean']:.3f} / {m['spearman']['mean']:.3f}")
        for metric, mine in own.items():
            best = max(("mlp", "gbdt", "flops_pruned"),
                       key=lambda s: summary[s][name][key][metric]["mean"])
            theirs = summary[best][name][key][metric]["mean"]
            if theirs > mine:
                behind[metric].append(f"{name} ({best} {theirs:.4f} against {mine:.4f})")
        rows.append(f"| {name} | {own['kendall_tau']:.3f} / {own['spearman']:.3f} | "
                    f"{v['kendall_tau_expected']:.3f} / {v['spearman_expected']:.3f} | "
                    f"{' | '.join(cells)} |")
    limits = " ".join(
        f"By {label}, a baseline of the same run ranks better than the exact median on "
        + "; ".join(behind[metric]) + "." if behind[metric] else
        f"By {label}, its exact median ranks at least as well as every baseline on every "
        "objective."
        for metric, label in (("kendall_tau", "Kendall τ"), ("spearman", "Spearman ρ")))
    return "\n".join(rows), limits


if __name__ == "__main__":
    main()

"""Copy a trained RLM into the package (float16 weights) and write its model card.

    python experiments/nb201_default_surrogate/ship.py MODEL_DIR DEST_DIR [HELDOUT_JSON]

Without HELDOUT_JSON only the model is copied, so it can be measured as shipped; with it
(the output of benchmarks/rlm_nb201.py on DEST_DIR) the model card is written too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nas_rlm.io import atomic_write_text
from nas_rlm.surrogates.rlm import RLM


def main() -> None:
    model, dest = Path(sys.argv[1]), Path(sys.argv[2])
    meta = json.loads((model / "rlm.json").read_text())
    train = meta["training"]
    # float16 on disk halves the checkpoint; from_pretrained loads it into float32 parameters
    RLM.from_pretrained(model).save_pretrained(dest, half=True)
    size_mb = sum(f.stat().st_size for f in dest.iterdir() if f.name != "MODEL_CARD.md") / 2**20
    if len(sys.argv) < 4:
        print(f"copied {model} to {dest} ({size_mb:.1f} MiB); measure it, then rerun with the JSON")
        return
    held = json.loads(Path(sys.argv[3]).read_text())
    rows = "\n".join(
        f"| {name} | {v['kendall_tau_expected']:.3f} | {v['spearman_expected']:.3f} | "
        f"{v['kendall_tau_median_of_k']:.3f} | {v['spearman_median_of_k']:.3f} |"
        for name, v in held["objectives"].items()
    )
    tp = held["throughput"]
    cfg = meta["config"]
    rec = train.get("recipe", {})
    tc = train["config"]
    card = f"""# nb201-rlm: the default NB201 surrogate

A Regression Language Model (T5 encoder-decoder, {held['n_params']:,} parameters, randomly
initialised and trained here) that reads the canonical ONNX text of an NB201 network and
writes one number per objective, each after its objective token: {', '.join(meta['objectives'])}
(CIFAR-10 test accuracy in %, 200 epochs; then latency in ms on each device). Accuracy is read
from the optimised graph (dead branches removed); {', '.join(meta.get('executed_objectives', []))
or 'no objective'} from the graph the devices ran (dead branches kept), each arch's two texts
encoded once each (docs/rlm_v2.md, "What the devices ran"). Numbers are
exponent first, each objective normalised onto [1, 9] by a quantile map fitted on the
training labels (saved in `rlm.json`, mapped back to units on output). Format version
{meta['format_version']}.

## Data
- Labels: `nb201_nats_tss_200ep/nats_bench.csv` (accuracy) and `help_latency/nb201_latency_ms.csv`
  (latency), read from the data directory, never shipped.
- Training pool: {train['n_train'] + train['n_val']} archs drawn with seed 0 from the 10,625 archs
  outside the DESIGN §3 held-out set ({train['n_train']} for training, {train['n_val']} for early
  stopping on validation Kendall τ). The held-out set (5,000 archs, seed 12345) was never seen.
- Pretraining on computed labels: {'yes' if 'pretrain' in train else 'none'}.

## Command
```bash
bash experiments/nb201_default_surrogate/train.sh ../shared/data
```
The recipe is `nas_rlm.surrogates.recipes.DEFAULT_RECIPE` (the one every command uses):
d_model {cfg['d_model']}, {cfg['encoder_layers']}+{cfg['decoder_layers']} layers, BPE vocabulary
{cfg['text_vocab_size']}; {tc['steps']} optimizer steps budgeted, batch {tc['batch_size']} archs,
lr {tc['lr']} ({tc['schedule']}), ranking-loss weight {tc['rank_weight']}, EMA {tc['ema_decay']}.
Best validation τ {train['best_val_tau']:.3f} at step {train['best_step']} of {train['steps_run']};
training took {train['seconds']:.0f} s on one torch thread. Weights are stored in float16 and
loaded into float32; size on disk {size_mb:.1f} MiB. The figures below were measured on this
float16 copy. Recipe: `{json.dumps(rec)}`.

## Measured on the held-out set ({held['test_archs']} archs)
`python benchmarks/rlm_nb201.py --model nas_rlm/pretrained/nb201-rlm`

| objective | τ (expected) | ρ (expected) | τ (median of 8) | ρ (median of 8) |
|---|---|---|---|---|
{rows}

Inference: {tp['archs_per_s']} archs/s for {tp['objectives']} objectives × {tp['k']} samples
({tp['threads']} threads), {tp['ratio_to_encoder_only']}× the time of an encoder-only forward pass;
the expected-value readout: {tp['expected_value_archs_per_s_incl_dedup']} archs/s.

## Limits
Trained on one seed; numbers for other pool sizes and seeds are in docs/rlm.md. It ranks
latency below the one-hot MLP and GBDT on most columns (docs/rlm.md).
"""
    atomic_write_text(dest / "MODEL_CARD.md", card)
    print(f"shipped {dest} ({size_mb:.1f} MiB)")


if __name__ == "__main__":
    main()

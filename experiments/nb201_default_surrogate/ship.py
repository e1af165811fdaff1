"""Copy a trained RLM into the package (float16 weights) and write its model card.

    python experiments/nb201_default_surrogate/ship.py MODEL_DIR DEST_DIR [HELDOUT_JSON]

Without HELDOUT_JSON only the model is copied, so it can be measured as shipped; with it
(the output of benchmarks/rlm_nb201.py on DEST_DIR) the model card is written too.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

from nas_rlm.io import atomic_write_text


def main() -> None:
    model, dest = Path(sys.argv[1]), Path(sys.argv[2])
    meta = json.loads((model / "rlm.json").read_text())
    train = meta["training"]
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "rlm.json", "text_tokenizer.json"):
        shutil.copy2(model / name, dest / name)
    # float16 on disk halves the checkpoint; from_pretrained loads it into float32 parameters
    weights = load_file(str(model / "model.safetensors"))
    save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()},
              str(dest / "model.safetensors"), metadata={"format": "pt"})
    size_mb = sum((dest / n).stat().st_size for n in ("model.safetensors", "text_tokenizer.json",
                                                       "rlm.json", "config.json")) / 2**20
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
    card = f"""# nb201-rlm: the default NB201 surrogate

A Regression Language Model (T5 encoder-decoder, {held['n_params']:,} parameters, randomly
initialised and trained here) that reads the canonical ONNX text of an NB201 cell network and
decodes, in this order: {', '.join(meta['objectives'])} (CIFAR-10 test accuracy in %, 200 epochs;
then latency in ms on each device).

## Data
- Labels: `nb201_nats_tss_200ep/nats_bench.csv` (accuracy) and `help_latency/nb201_latency_ms.csv`
  (latency), read from the data directory, never shipped.
- Training pool: {train['n_train'] + train['n_val']} archs drawn with seed 0 from the 10,625 archs
  outside the DESIGN §3 held-out set ({train['n_train']} for training, {train['n_val']} for early
  stopping). The held-out set (5,000 archs, seed 12345) was never seen. The exact indices are in
  `rlm.json` (`training.train_indices`).
- Pretraining on computed labels: {'yes' if 'pretrain' in train else 'none'}.

## Command
```bash
bash experiments/nb201_default_surrogate/train.sh ../shared/data
```
Config: d_model {cfg['d_model']}, {cfg['encoder_layers']}+{cfg['decoder_layers']} layers,
BPE vocabulary {cfg['text_vocab_size']}. Best epoch {train['best_epoch']} of {train['epochs_run']};
training took {train['seconds']:.0f} s (one torch thread; the other core ran another cell).
Batch {train['config']['batch_size']}, lr {train['config']['lr']}. Weights are stored in
float16 and loaded into float32; size on disk {size_mb:.1f} MiB. The figures below were
measured on this float16 copy.

## Measured on the held-out set ({held['test_archs']} archs)
`python benchmarks/rlm_nb201.py --model nas_rlm/pretrained/nb201-rlm`

| objective | τ (expected) | ρ (expected) | τ (median of 8) | ρ (median of 8) |
|---|---|---|---|---|
{rows}

Inference: {tp['archs_per_s']} archs/s for {tp['objectives']} objectives × {tp['k']} samples
({tp['threads']} threads), {tp['ratio_to_encoder_only']}× the time of an encoder-only forward pass.

## Limits
Trained on one seed; numbers for other pool sizes and seeds are in the README's ranking table.
"""
    atomic_write_text(dest / "MODEL_CARD.md", card)
    print(f"shipped {dest} ({size_mb:.1f} MiB)")


if __name__ == "__main__":
    main()

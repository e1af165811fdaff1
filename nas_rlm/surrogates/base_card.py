"""The model card of a pretrained base: every space, column and label it saw, so a user can
tell at a glance whether a device they fine-tune on is new to it (DESIGN §3 few-shot)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..io import atomic_write_text
from .rlm import RLM


def write_base_card(rlm: RLM, model_dir: str | Path, excluded: Sequence[str]) -> Path:
    """Write ``MODEL_CARD.md`` beside the base's weights and return its path."""
    base = rlm.training_info.get("base", {})
    hist = rlm.training_info.get("history", [])
    sources = base.get("source_columns", [])
    computed = [o for o in rlm.objectives if o not in sources]
    curve = "\n".join(f"| {h['step']} | {h['loss']:.3f} | {h['ce']:.3f} | {h['rank']:.3f} | "
                      + (f"{h['val_tau']:.3f} |" if "val_tau" in h else "– |") for h in hist)
    text = f"""# Pretrained base RLM: {base.get('space')}

Made by `nas-rlm pretrain` (seed {base.get('seed')}). Fine-tune it on a CSV of measurements
with `nas-rlm finetune --base <this dir> --space {base.get('space')} --csv FILE`.

- Space: `{base.get('space')}` (settings {base.get('space_settings')})
- Table rows pretrained on: {base.get('pretrain_archs')}; optimizer steps:
  {base.get('pretrain_steps')}; parameters: {rlm.n_params:,}
- Source latency columns (table labels it saw): {', '.join(sources) or 'none'}
- Columns it never saw, on any arch: {', '.join(excluded) or 'none'}
- Accuracy labels seen: none
- Computed labels (from the ONNX graph of each arch): {', '.join(computed)}
- Objectives reading the executed graph: {', '.join(rlm.executed_objectives) or 'none'}
- Training seconds: {rlm.training_info.get('seconds')}

## Learning curve

The EMA weights were read out every few hundred steps; the readout with the best mean
validation Kendall τ over all labels was kept (best step {rlm.training_info.get('best_step')}).

| step | loss | token CE | rank | validation τ (mean) |
|---|---|---|---|---|
{curve}
"""
    path = Path(model_dir) / "MODEL_CARD.md"
    atomic_write_text(path, text)
    return path

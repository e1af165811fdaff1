"""The model card of a pretrained base: every space, column and label it saw, so a user can
tell at a glance whether a device they fine-tune on is new to it (DESIGN §3 few-shot)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..io import atomic_write_text
from .rlm import RLM, plain_objective


def write_base_card(rlm: RLM, model_dir: str | Path,
                    excluded: Sequence[str] | dict[str, list[str]]) -> Path:
    """Write ``MODEL_CARD.md`` beside the base's weights and return its path (``excluded``:
    the columns it never saw; per space for a base of the multi-space corpus)."""
    base = rlm.training_info.get("base", {})
    if isinstance(excluded, dict):
        excluded = [f"{s}: {', '.join(c)}" for s, c in excluded.items()]
    else:
        excluded = [", ".join(excluded)] if excluded else []
    hist = rlm.training_info.get("history", [])
    sources = base.get("source_columns", [])
    computed = [o for o in dict.fromkeys(map(plain_objective, rlm.objectives))
                if o not in sources]
    curve = "\n".join(f"| {h['step']} | {h['loss']:.3f} | {h['ce']:.3f} | {h['rank']:.3f} | "
                      + (f"{h['val_tau']:.3f} |" if "val_tau" in h else "– |") for h in hist)
    converted = ", ".join(rlm.converted_objectives) or "none"
    executed = ", ".join(dict.fromkeys(map(plain_objective, rlm.executed_objectives))) or "none"
    sampled = (f", and {base['pretrain_sampled']:,} sampled archs with computed labels only"
               if base.get("pretrain_sampled") else "")
    spaces = base.get("spaces")  # a base of the multi-space corpus
    space = "every space" if spaces else base.get("space")
    where = (f"- Spaces (rows of the `nas-rlm corpus` it read): "
             f"{', '.join(f'{s} {n:,}' for s, n in spaces.items())}; each space's labels "
             "have their own tokens and normalisation (`space:label`), and fine-tuning on a "
             "space reads that space's" if spaces else
             f"- Space: `{space}` (settings {base.get('space_settings')})")
    info = rlm.training_info
    snap = info.get("snapshot")
    snapshot = f"\n- **Part-way snapshot**: {snap}" if snap else ""
    kept = (f"this is the readout of the latest one (step {info['readout_step']}; the best "
            f"so far: step {info.get('best_step')})" if "readout_step" in info else
            "the readout with the best mean validation Kendall τ over all labels was kept "
            f"(best step {info.get('best_step')})")
    text = f"""# Pretrained base RLM: {space}

Made by `nas-rlm pretrain` (seed {base.get('seed')}). Fine-tune it on a CSV of measurements
with `nas-rlm finetune --base <this dir> --space {base.get('space') or 'SPACE'} --csv FILE`.

{where}
- Rows pretrained on: {base.get('pretrain_archs')}{sampled}; optimizer steps:
  {base.get('pretrain_steps')}; parameters: {rlm.n_params:,}
- Source latency columns (table labels it saw): {', '.join(sources) or 'none'}
- Columns it never saw, on any arch: {'; '.join(excluded) or 'none'}
- Accuracy labels seen: none
- Computed labels (from the ONNX graph of each arch): {', '.join(computed)}
- Objectives reading the executed graph: {executed}
- Objectives reading the converted graph (TFLite devices): {converted}
- Node ids read: {rlm.config.node_ids} (`RLMConfig.node_ids`; a fine-tune reads as its base)
- Training seconds: {rlm.training_info.get('seconds')}{snapshot}

## Learning curve

The EMA weights were read out every few hundred steps; {kept}.

| step | loss | token CE | rank | validation τ (mean) |
|---|---|---|---|---|
{curve}
"""
    path = Path(model_dir) / "MODEL_CARD.md"
    atomic_write_text(path, text)
    return path

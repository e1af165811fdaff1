#!/usr/bin/env bash
# Train the shipped default NB201 surrogate (nas_rlm/pretrained/nb201-rlm): the (N=781,
# seed 0) RLM cell of the ranking protocol (`nas-rlm evaluate --save-models`; the same cell
# experiments/nb201_ranking/run.sh scores, with held-out τ equal to the shipped model's
# float32 original to 4 decimals), i.e. a training pool drawn from the archs outside the
# DESIGN §3 held-out set, which is never used. The recipe is DEFAULT_RECIPE, as in every
# command. Then score it on the held-out set and write the model card from those measurements.
# About 35 minutes on one core (README: "RLM v2").
#
#   bash experiments/nb201_default_surrogate/train.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA_DIR="${1:-${NAS_RLM_DATA:-../shared/data}}"
RUN=runs/nb201-default-surrogate
.venv/bin/nas-rlm evaluate --space nb201 --targets cifar10,pixel3,eyeriss,gold_6226,1080ti_1 \
  --surrogates rlm --ns 781 --seeds 0 --threads 1 --save-models --quiet --out "$RUN" \
  --data-dir "$DATA_DIR"
MODEL="$RUN/models/rlm_n781_s0"
SHIP=nas_rlm/pretrained/nb201-rlm
.venv/bin/python experiments/nb201_default_surrogate/ship.py "$MODEL" "$SHIP"
.venv/bin/python benchmarks/rlm_nb201.py --model "$SHIP" --data-dir "$DATA_DIR" > "$RUN/heldout.json"
.venv/bin/python experiments/nb201_default_surrogate/ship.py "$MODEL" "$SHIP" "$RUN/heldout.json"

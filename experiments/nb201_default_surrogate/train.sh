#!/usr/bin/env bash
# Train the shipped default NB201 surrogate (nas_rlm/pretrained/nb201-rlm): the (N=781,
# seed 0) cell of the ranking benchmark, i.e. a training pool drawn from the archs outside the
# DESIGN §3 held-out set, which is never used. Then score it on the held-out set and write the
# model card from those measurements. About 15 minutes on 2 CPU cores.
#
#   bash experiments/nb201_default_surrogate/train.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA_DIR="${1:-${NAS_RLM_DATA:-../shared/data}}"
RUN=runs/nb201-default-surrogate
.venv/bin/python benchmarks/rlm_ranking_nb201.py --out "$RUN" --ns 781 --seeds 0 --workers 1 \
  --save-models --data-dir "$DATA_DIR" > "$RUN.json"
SHIP=nas_rlm/pretrained/nb201-rlm
.venv/bin/python experiments/nb201_default_surrogate/ship.py "$RUN/model_n781_s0" "$SHIP"
.venv/bin/python benchmarks/rlm_nb201.py --model "$SHIP" --data-dir "$DATA_DIR" > "$RUN/heldout.json"
.venv/bin/python experiments/nb201_default_surrogate/ship.py "$RUN/model_n781_s0" "$SHIP" \
  "$RUN/heldout.json"

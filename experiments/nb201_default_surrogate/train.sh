#!/usr/bin/env bash
# Train the shipped default NB201 surrogate (nas_rlm/pretrained/nb201-rlm) from the DESIGN §3
# training pool only (the 5,000-arch held-out set is never used), then score it on that
# held-out set and write the model card. The recipe (batch 8, lr 2e-3) is the one the
# ranking benchmark uses; N_TRAIN=781 is the DESIGN §3 largest pool.
#
#   bash experiments/nb201_default_surrogate/train.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA_DIR="${1:-${NAS_RLM_DATA:-../shared/data}}"
N_TRAIN="${N_TRAIN:-781}"
RUN=runs/nb201-default-surrogate
.venv/bin/nas-rlm train --space nb201 --objectives cifar10,pixel3,eyeriss,gold_6226,1080ti_1 \
  --n-train "$N_TRAIN" --seed 0 --size small --epochs "${EPOCHS:-30}" --patience 6 \
  --batch-size 8 --lr 2e-3 \
  --pretrain-archs "${PRETRAIN_ARCHS:-0}" --out "$RUN" --data-dir "$DATA_DIR"
.venv/bin/python benchmarks/rlm_nb201.py --model "$RUN/model" --data-dir "$DATA_DIR" \
  > "$RUN/heldout.json"
.venv/bin/python experiments/nb201_default_surrogate/ship.py "$RUN" nas_rlm/pretrained/nb201-rlm

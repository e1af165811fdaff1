#!/usr/bin/env bash
# Make the shipped default NB201 surrogate (nas_rlm/pretrained/nb201-rlm): the shipped base
# (nas_rlm/pretrained/nb201-base, `nas-rlm pretrain`, 4,000 steps) fine-tuned by `nas-rlm
# finetune` on the (N = 781, seed 0) training pool of the DESIGN §3 protocol, all five columns
# at once, with count heads on pixel3, gold_6226 and 1080ti_1 (session 48: eyeriss's head
# ranked worse than its token) and fine-tune seed SEED (default 0). Seed 0 was chosen among
# seeds 0-3 by the rule of results/seed_choice_count_heads.json: the best mean exact-median
# Kendall tau over the five columns on the 500 pool-validation archs (count_heads.py), never
# the held-out set. The held-out set is never used for training; it is scored afterwards, and
# the model card is written from those measurements. The fine-tune took about 920 s on one
# torch thread beside one other job (2026-12-06); the base took 2,817 s on two threads (its
# card). One thread reproduces the shipped weights on the CPU they were made on;
# from_scratch.sh makes base and fine-tune on two threads (55 min in all, measured before the
# fine-tune carried count heads).
# Chosen over the model trained from scratch on pool validation (docs/rlm_v2.md).
#
#   [SEED=0] bash experiments/nb201_default_surrogate/train.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA_DIR="${1:-${NAS_RLM_DATA:-../shared/data}}"
RUN=runs/nb201-default-surrogate
SHIP=nas_rlm/pretrained/nb201-rlm
SEED="${SEED:-0}"
.venv/bin/python experiments/nb201_default_surrogate/pool_csv.py "$DATA_DIR" "$RUN"
.venv/bin/nas-rlm finetune --base nas_rlm/pretrained/nb201-base --space nb201 \
  --csv "$RUN/pool.csv" --seed "$SEED" --threads 1 --quiet --out "$RUN/finetune" \
  --count-heads pixel3=1,gold_6226=1,1080ti_1=1
.venv/bin/python experiments/nb201_default_surrogate/ship.py "$RUN/finetune/model" "$SHIP" \
  "$RUN/pool_indices.json"
.venv/bin/python benchmarks/rlm_nb201.py --model "$SHIP" --data-dir "$DATA_DIR" > "$RUN/heldout.json"
.venv/bin/nas-rlm evaluate --space nb201 --targets cifar10,pixel3,eyeriss,gold_6226,1080ti_1 \
  --surrogates mlp,gbdt,flops_pruned --ns 781 --seeds 0 --data-dir "$DATA_DIR" --quiet \
  --out "$RUN/baselines"
.venv/bin/python experiments/nb201_default_surrogate/ship.py "$RUN/finetune/model" "$SHIP" \
  "$RUN/pool_indices.json" "$RUN/heldout.json" "$RUN/baselines/results.json"

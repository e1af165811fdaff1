#!/usr/bin/env bash
# The few-shot benchmark of DESIGN §3 on NB201 (docs/fewshot.md), as run on the 2-core
# development machine: one base (about an hour on one core), then the cells in two processes.
# Every step resumes; rerun the script after an interruption.
#   NAS_RLM_DATA=../shared/data bash experiments/fewshot/run.sh [RUNS_DIR] [SEEDS] [TEST_LIMIT]
set -euo pipefail
RUNS=${1:-runs/fewshot}
SEEDS=${2:-0-4}
LIMIT=${3:-5000}
BASE_ARGS=(--archs 8000 --steps 2000 --set train.val_fraction=0.02 --set train.eval_every=250
           --set train.labels_per_arch=6)

nas-rlm pretrain --space nb201 "${BASE_ARGS[@]}" --out "$RUNS/base_s0"
nas-rlm fewshot --methods ridge_ref,mlp,gbdt,flops --sizes 10,20,50,100 --seeds "$SEEDS" \
    --test-limit "$LIMIT" --out "$RUNS/baselines_t$LIMIT" --quiet &
nas-rlm fewshot --base "$RUNS/base_s0/model" --methods rlm_base --sizes 10,20,50,100 \
    --seeds "$SEEDS" --test-limit "$LIMIT" --out "$RUNS/rlm_base_t$LIMIT" --quiet
wait
nas-rlm fewshot --methods rlm_scratch --sizes 10,20,50,100 --seeds "$SEEDS" \
    --test-limit "$LIMIT" --out "$RUNS/rlm_scratch_t$LIMIT" --quiet
python experiments/fewshot/table.py "$RUNS"/*_t"$LIMIT"

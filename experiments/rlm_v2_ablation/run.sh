#!/usr/bin/env bash
# The RLM v2 ablation (docs/rlm_v2_ablation.md): every variant of variants.txt through
# `nas-rlm evaluate` on the same pools and held-out archs, two processes with one torch
# thread each, each variant in its own resumable run dir. Then the table.
#
#   NAS_RLM_DATA=../shared/data bash experiments/rlm_v2_ablation/run.sh [NS] [SEEDS] [LIMIT]
#
# Defaults: N = 390, seed 0, the first 1,000 held-out archs (the reduced grid; the issue's full
# ablation grid is NS=390,781 SEEDS=0-1). Rerun to resume; finished cells are never redone.
set -euo pipefail
cd "$(dirname "$0")/../.."
NS=${1:-390}; SEEDS=${2:-0}; LIMIT=${3:-1000}
OUT=${OUT:-runs/rlm_v2_ablation}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"

run_variant() {  # name overrides...
  local name=$1; shift
  local sets=()
  for o in "$@"; do sets+=(--rlm-set "$o"); done
  "$PY" -m nas_rlm.cli evaluate --space nb201 \
    --targets cifar10,pixel3,eyeriss,gold_6226,1080ti_1 --surrogates rlm --ns "$NS" \
    --seeds "$SEEDS" --test-limit "$LIMIT" --threads 1 --quiet --save-models --out "$OUT/$name" \
    ${sets[@]+"${sets[@]}"} >"$OUT/$name.log" 2>&1 || echo "variant $name failed: $OUT/$name.log"
}

mapfile -t LINES < <(grep -v '^#' experiments/rlm_v2_ablation/variants.txt | grep -v '^\s*$')
i=0
for line in "${LINES[@]}"; do
  name=$(echo "${line%%|*}" | xargs); read -ra sets <<<"${line#*|}"
  run_variant "$name" ${sets[@]+"${sets[@]}"} &
  i=$((i + 1))
  if (( i % 2 == 0 )); then wait; fi
done
wait
"$PY" -m nas_rlm.cli evaluate --space nb201 --targets cifar10,pixel3,eyeriss,gold_6226,1080ti_1 \
  --surrogates mlp,gbdt,flops_pruned --ns "$NS" --seeds "$SEEDS" --test-limit "$LIMIT" \
  --threads 1 --quiet --out "$OUT/baselines" >"$OUT/baselines.log" 2>&1
"$PY" experiments/rlm_v2_ablation/table.py "$OUT"

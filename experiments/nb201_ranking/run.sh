#!/usr/bin/env bash
# The NB201 ranking table of the README (DESIGN §3): five targets, surrogates rlm, mlp, gbdt,
# flops, flops_pruned, params, N in {78, 390, 781}, seeds 0-4, the fixed 5,000-arch held-out set.
#
#   NAS_RLM_DATA=../shared/data experiments/nb201_ranking/run.sh      [OUT=runs/nb201_ranking]
#
# Two processes with one torch thread each fill disjoint cells of the same run directory (the
# RLM at N=781, and everything else at N=78/390); a last call finds every cell done, computes
# the baselines at N=781, and writes results.json/csv, table.md and plots/. Rerun to resume.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/nb201_ranking}
PY=${PYTHON:-python}
mkdir -p "$OUT"

evaluate() {
  "$PY" -m nas_rlm.cli evaluate --space nb201 \
    --targets cifar10,pixel3,eyeriss,gold_6226,1080ti_1 --seeds 0-4 \
    --rlm-size small --threads 1 --out "$OUT" "$@"
}

evaluate --surrogates rlm --ns 781 --quiet >"$OUT/log_rlm781.txt" 2>&1 &
a=$!
evaluate --surrogates rlm,mlp,gbdt,flops,params --ns 78,390 --quiet >"$OUT/log_rest.txt" 2>&1 &
b=$!
status=0
wait "$a" || status=$?
wait "$b" || status=$?
if [ "$status" -ne 0 ]; then
  echo "a worker failed (status $status); see $OUT/log_*.txt, then rerun to resume" >&2
  exit "$status"
fi
evaluate --surrogates rlm,mlp,gbdt,flops,flops_pruned,params --ns 78,390,781

#!/usr/bin/env bash
# The default NB201 surrogate made from nothing, timed: the base (`nas-rlm pretrain` with the
# command of nas_rlm/pretrained/nb201-base/MODEL_CARD.md) and its fine-tune on the default pool
# (as train.sh, with its count heads, fine-tune seed SEED, default 0), both on THREADS torch
# threads (default 2: both cores of a 2-core machine).
# Writes OUT/timing.json (wall seconds of each stage); the shipped files are left alone. Score
# the result with `python benchmarks/rlm_nb201.py --model OUT/finetune/model`.
# STEPS (default 4,000, the shipped base's) sets the base's optimizer steps. Measured
# 2026-12-05 (AVX-512 EPYC, 2 cores, nothing else running, fine-tune seed 0): 3,312 s = 55 min
# in all, peak RSS 2.71 GiB (results/from_scratch_4k_2threads.json; docs/rlm_v2.md, "The
# 4,000-step base, measured"); with STEPS=3000 (the default model's base until session 40),
# 2,582 s = 43 min, peak RSS 2.64 GiB (results/from_scratch_2threads.json). Both measurements
# fine-tuned without count heads (before session 49).
# Two threads need not repeat a run bit for bit: the base is another draw of the same command.
#
#   [THREADS=2] [STEPS=4000] [SEED=0] bash experiments/nb201_default_surrogate/from_scratch.sh [OUT] [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-runs/nb201-from-scratch}"
DATA_DIR="${2:-${NAS_RLM_DATA:-../shared/data}}"
THREADS="${THREADS:-2}"
STEPS="${STEPS:-4000}"
SEED="${SEED:-0}"
mkdir -p "$OUT"
t0=$(date +%s)
.venv/bin/nas-rlm pretrain --space nb201 --archs 8000 --steps "$STEPS" --set train.val_fraction=0.02 \
  --set train.eval_every=250 --set train.labels_per_arch=8 --set pretrain_paths=true \
  --threads "$THREADS" --data-dir "$DATA_DIR" --quiet --out "$OUT/base"
t1=$(date +%s)
.venv/bin/python experiments/nb201_default_surrogate/pool_csv.py "$DATA_DIR" "$OUT"
.venv/bin/nas-rlm finetune --base "$OUT/base/model" --space nb201 --csv "$OUT/pool.csv" \
  --seed "$SEED" --threads "$THREADS" --quiet --out "$OUT/finetune" \
  --count-heads pixel3=1,gold_6226=1,1080ti_1=1
t2=$(date +%s)
printf '{"threads": %s, "steps": %s, "pretrain_s": %s, "finetune_s": %s, "total_s": %s}\n' \
  "$THREADS" "$STEPS" \
  $((t1 - t0)) $((t2 - t1)) $((t2 - t0)) > "$OUT/timing.json.tmp"
mv "$OUT/timing.json.tmp" "$OUT/timing.json"
cat "$OUT/timing.json"

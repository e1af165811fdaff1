#!/usr/bin/env bash
# `nas-rlm finetune --count-heads` end to end on real data: the shipped NB201 base fine-tuned
# by the CLI on the (N = 781, seed 0) training pool of COLUMN (the rows `nas-rlm evaluate`
# trains its N = 781, seed-0 cells on), with a count head of weight W (0: none, the token
# alone), then the saved model alone scored on the 5,000 held-out archs by
# benchmarks/rlm_nb201.py. No choice is made here: W is the caller's.
#
#   bash experiments/count_head/finetune_cli.sh [COLUMN] [W] [DATA_DIR]
#   bash experiments/count_head/finetune_cli.sh titan_rtx_256 1
set -euo pipefail
cd "$(dirname "$0")/../.."
COL="${1:-titan_rtx_256}"
W="${2:-1}"
DATA_DIR="${3:-${NAS_RLM_DATA:-../shared/data}}"
RUN="runs/count_head_cli/${COL}_w${W}"
mkdir -p "$RUN"
.venv/bin/python - "$DATA_DIR" "$COL" "$RUN/pool.csv" <<'EOF'
import sys

from nas_rlm.data import load_targets
from nas_rlm.data.splits import train_indices
from nas_rlm.io import write_csv

data_dir, col, out = sys.argv[1:]
archs, Y = load_targets("nb201", [col], data_dir)
write_csv(out, ["arch", col], ([archs[i], repr(float(Y[i, 0]))]
                               for i in train_indices("nb201", 781, 0)))
EOF
HEADS=()
if [ "$W" != "0" ]; then HEADS=(--count-heads "$COL=$W"); fi
/usr/bin/time -v .venv/bin/nas-rlm finetune --space nb201 --csv "$RUN/pool.csv" --seed 0 \
  --threads 1 --quiet --out "$RUN/finetune" "${HEADS[@]}" 2> "$RUN/time.txt" > "$RUN/finetune_out.json"
.venv/bin/python benchmarks/rlm_nb201.py --model "$RUN/finetune/model" --threads 1 \
  --throughput-archs 200 --data-dir "$DATA_DIR" > "$RUN/heldout.json"
cat "$RUN/heldout.json"

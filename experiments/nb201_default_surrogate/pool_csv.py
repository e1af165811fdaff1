"""Write the default model's training pool as the CSV ``nas-rlm finetune`` reads, and the
pool's table indices (for the leakage test and the model card).

    python experiments/nb201_default_surrogate/pool_csv.py DATA_DIR OUT_DIR

The pool is the (N = 781, seed 0) training pool of the DESIGN §3 protocol: 781 archs drawn
from the 10,625 outside the held-out set, the very rows ``nas-rlm evaluate`` trains its
N = 781, seed-0 cells on.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nas_rlm.data import load_targets
from nas_rlm.data.splits import train_indices
from nas_rlm.io import write_csv, write_json

COLUMNS = ["cifar10", "pixel3", "eyeriss", "gold_6226", "1080ti_1"]
N, SEED = 781, 0


def main() -> None:
    data_dir, out = sys.argv[1], Path(sys.argv[2])
    archs, Y = load_targets("nb201", COLUMNS, data_dir)
    tr = train_indices("nb201", N, SEED)
    write_csv(out / "pool.csv", ["arch", *COLUMNS],
              ([archs[i], *(repr(float(v)) for v in Y[i])] for i in tr))
    write_json(out / "pool_indices.json", {"n": N, "seed": SEED, "columns": COLUMNS,
                                           "train_indices": [int(i) for i in tr]})
    print(f"wrote {out / 'pool.csv'} ({len(tr)} archs x {len(COLUMNS)} columns)")


if __name__ == "__main__":
    main()

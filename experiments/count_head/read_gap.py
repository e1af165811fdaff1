"""Does a base read counts better on archs it pretrained on than on archs it never saw (a
probe)? If it did, pretraining on more archs, held-out ones included (computed labels are
allowed on any arch, DESIGN §1.3), would make its counts more exact where they are read.

For BASE (default: ``base_blind7``, the base ``evaluate`` ranks 1080ti_256 on), 800 archs
drawn from the rows it pretrained on (``source_rows``, 8,000 rows of the training pool) and
800 from the DESIGN §3 held-out set: per count of the executed graph its count head reads,
the share of archs whose exact median equals the true count (relative error ≤ 1e-3), and
the share with any count misread. Printed as one JSON object.

    python experiments/count_head/read_gap.py DATA_DIR [BASE] > read_gap.json
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from count_reads import read_exactly, true_counts

from nas_rlm.data import load_targets
from nas_rlm.data.splits import heldout_indices
from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.recipes import (
    count_head_sources,
    decoded_medians,
    load_base,
    source_rows,
)

ROWS, ARCHS = 8000, 800  # the base's pretraining rows (its card), archs drawn from each set


def main(data_dir: str, base_dir: str) -> None:
    torch.set_num_threads(1)
    space = get_space("nb201")
    archs, _ = load_targets("nb201", ["1080ti_256"], data_dir)
    base = load_base(base_dir, "nb201", unseen=["1080ti_256"])
    srcs = count_head_sources(base, "executed")
    rng = np.random.default_rng(0)
    sets = {"pretrained_on": rng.choice(source_rows("nb201", len(archs), ROWS, 0), ARCHS,
                                        replace=False),
            "held_out": rng.choice(heldout_indices("nb201"), ARCHS, replace=False)}
    out = {"base": base_dir}
    for tag, rows in sets.items():
        texts = [archs[i] for i in rows]
        true = true_counts(srcs, [space.parse(a) for a in texts])
        ok = read_exactly(decoded_medians(base, srcs, texts), true)
        out[tag] = {"exact_share": {s: round(float(ok[:, k].mean()), 4)
                                    for k, s in enumerate(srcs)},
                    "any_count_misread_share": round(float((~ok).any(1).mean()), 4)}
        print(tag, json.dumps(out[tag]), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2
         else "experiments/nb201_heldout_base/base_blind7")

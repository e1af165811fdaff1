"""The default model's draw, made by a rule: among fine-tunes of one base that differ only in
their seed, keep the one with the best mean exact-median Kendall τ over its columns on the
500 pool-validation archs (``pool_validation.py``'s output), never the held-out set.

Why a rule: on pool validation the fine-tune seed alone moves the default model's CIFAR-10 τ
by up to 0.028, more than any base change measured (docs/rlm_v2.md, "The 4,000-step base,
measured"). The mean over all five columns, not CIFAR-10 alone, because the model serves
every one of them.

    python experiments/nb201_default_surrogate/choose_seed.py POOL_VAL_JSON OUT_JSON \
        SEED=MODEL_DIR [SEED=MODEL_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nas_rlm.io import write_json


def main(argv: list[str]) -> None:
    if len(argv) < 3:
        raise SystemExit(__doc__)
    scores, out = json.loads(Path(argv[0]).read_text()), Path(argv[1])
    seeds = {int(s): path for s, _, path in (a.partition("=") for a in argv[2:])}
    missing = [p for p in seeds.values() if p not in scores]
    if missing:
        raise SystemExit(f"{argv[0]} has no scores for {', '.join(missing)}")
    mean = {s: round(sum(c["kendall_tau"] for c in scores[p].values()) / len(scores[p]), 4)
            for s, p in seeds.items()}
    best = max(mean, key=mean.get)
    write_json(out, {"rule": "best mean exact-median Kendall tau over the columns on the 500 "
                             "pool-validation archs (pool_validation.py)",
                     "pool_validation": argv[0], "mean_kendall_tau": mean, "seed": best,
                     "model": seeds[best],
                     "per_column": {s: {c: v["kendall_tau"] for c, v in scores[p].items()}
                                    for s, p in seeds.items()}})
    print(f"seed {best}: mean tau {mean[best]} ({', '.join(f'{s}: {v}' for s, v in mean.items())})")


if __name__ == "__main__":
    main(sys.argv[1:])

"""One few-shot table from several `nas-rlm fewshot` runs of the same protocol (same space
and test archs; methods or devices run in separate processes): Spearman ρ per device and its
mean, per (method, S), with the number of seeds behind each mean. Each source is a run dir
or a results JSON; a later source's cell replaces an earlier one of the same (method,
device, S, seed), so a rerun of some cells updates a table. At least one source must be a
run dir (or its results.json), which records the protocol.

    python experiments/fewshot/table.py runs/fewshot/baselines_t1000 runs/fewshot/rlm_base_t1000
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from nas_rlm.evaluation.fewshot import FewShotConfig, format_table, summarize


def main(dirs: list[str]) -> None:
    if not dirs:
        raise SystemExit(__doc__)
    by_key, configs = {}, []
    for d in dirs:
        path = Path(d) / "results.json" if Path(d).is_dir() else Path(d)
        res = json.loads(path.read_text())
        configs += [res["config"]] if "config" in res else []  # a collected JSON has none
        by_key.update({(c["method"], c["device"], c["n"], c["seed"]): c for c in res["cells"]})
    if not configs:
        raise SystemExit("no source records its protocol (a run dir's results.json does)")
    c0 = configs[0]
    if any((c["space"], c["test_limit"]) != (c0["space"], c0["test_limit"]) for c in configs):
        raise SystemExit("these runs are not of one protocol (space, test_limit)")
    cells = list(by_key.values())
    devices = tuple(dict.fromkeys(c["device"] for c in cells))
    methods = list(dict.fromkeys(c["method"] for c in cells))
    config = FewShotConfig(c0["space"], devices,
                           tuple(sorted({c["n"] for c in cells})),
                           tuple(sorted({c["seed"] for c in cells})), tuple(methods),
                           c0["test_limit"])
    summary = summarize(cells, config)
    print(format_table(summary, config))
    seeds = {(m, n): sorted({c["seed"] for c in cells if (c["method"], c["n"]) == (m, int(n))})
             for m, by_n in summary.items() for n in by_n}
    print("\nseeds per row: " + "; ".join(f"{m} S={n}: {s}" for (m, n), s in seeds.items()))
    base = [c for c in cells if c["method"] == "rlm_base" and "start_spearman" in c]
    if base:
        print("\nrlm_base before fine-tuning (the base objective its token starts from), "
              "mean ρ per S over devices and seeds:")
        for n in sorted({c["n"] for c in base}):
            got = [c for c in base if c["n"] == n]
            starts = sorted({f"{c['device']}<-{c['started_from']}" for c in got})
            print(f"  S={n}: {np.mean([c['start_spearman'] for c in got]):.3f} "
                  f"(after: {np.mean([c['spearman'] for c in got]):.3f}); {', '.join(starts)}")
    secs = {m: np.mean([c["seconds"] for c in cells if c["method"] == m]) for m in methods}
    print("mean seconds per cell: " + ", ".join(f"{m} {s:.1f}" for m, s in secs.items()))


if __name__ == "__main__":
    main(sys.argv[1:])

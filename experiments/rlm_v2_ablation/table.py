"""Print the ablation table (markdown) from the run dirs of ``run.sh``.

    python experiments/rlm_v2_ablation/table.py runs/rlm_v2_ablation
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

TARGETS = ("cifar10", "pixel3", "eyeriss", "gold_6226", "1080ti_1")


def _cells(run: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run / "cells").glob("*.json"))]


def main(root: str) -> None:
    root_p = Path(root)
    order = [ln.split("|")[0].strip() for ln in
             (Path(__file__).parent / "variants.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    rows = []
    for name in [*order, "baselines"]:
        run = root_p / name
        if not (run / "cells").is_dir():
            continue
        by: dict[tuple[str, int], list[dict]] = {}
        for c in _cells(run):
            for readout, scores in c["readouts"].items():
                by.setdefault((readout if name == "baselines" else f"{name} ({readout})",
                               c["n"]), []).append({**scores, "_s": c["seconds"]["fit"]})
        for (label, n), cells in sorted(by.items()):
            if name != "baselines" and not label.endswith("(rlm_ev)"):
                continue
            cols = []
            for t in TARGETS:
                tau = np.mean([c[t]["kendall_tau"] for c in cells if c[t]["kendall_tau"] is not
                               None] or [np.nan])
                rho = np.mean([c[t]["spearman"] for c in cells if c[t]["spearman"] is not
                               None] or [np.nan])
                cols.append(f"{tau:.3f} / {rho:.3f}")
            secs = np.mean([c["_s"] for c in cells])
            rows.append(f"| {label.replace(' (rlm_ev)', '')} | {n} | {len(cells)} | "
                        + " | ".join(cols) + f" | {secs:.0f} |")
    head = ("| variant | N | seeds | " + " | ".join(f"{t} τ / ρ" for t in TARGETS)
            + " | fit s |")
    print("\n".join([head, "|" + "---|" * (len(TARGETS) + 4), *rows]))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/rlm_v2_ablation")

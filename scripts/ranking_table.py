"""Print the README's NB201 ranking table from the two benchmark outputs (markdown).

    python scripts/ranking_table.py runs/rlm-ranking.json runs/baselines_nb201.json

Accuracy is compared by Kendall τ, latencies by Spearman ρ (the metrics the anchors use);
each cell is the mean ± std over seeds on the 5,000 held-out archs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OBJECTIVES = ["cifar10", "pixel3", "eyeriss", "gold_6226", "1080ti_1"]
ANCHOR = {"cifar10": "TA-GATES τ .773 / .866 / .889", "pixel3": "RLM paper ρ .731",
          "eyeriss": "RLM paper ρ .466", "gold_6226": "RLM paper ρ .960",
          "1080ti_1": "RLM paper ρ .939"}
NS = (78, 390, 781)


def metric(name: str) -> str:
    return "kendall_tau" if name == "cifar10" else "spearman"


def rlm_cell(rlm: dict, n: int, name: str, readout: str) -> str:
    entry = rlm["summary"].get(f"N={n}")
    return entry[name][readout][metric(name)] if entry else "—"


def base_cell(base: dict, model: str, n: int, name: str) -> str:
    s = base["summary"][model][f"N={n}"][name][metric(name)]
    return f"{s['mean']:.3f} ± {s['std']:.3f}"


def main() -> None:
    rlm, base = (json.loads(Path(p).read_text()) for p in sys.argv[1:3])
    rows = [("RLM, expected value", lambda n, o: rlm_cell(rlm, n, o, "expected")),
            ("RLM, median of 8 samples", lambda n, o: rlm_cell(rlm, n, o, "median_of_8"))]
    for model in base["summary"]:
        rows.append((model, lambda n, o, m=model: base_cell(base, m, n, o)))
    print("| target (metric) | surrogate | N=78 | N=390 | N=781 | anchor |")
    print("|---|---|---|---|---|---|")
    for o in OBJECTIVES:
        label = f"{o} ({'τ' if o == 'cifar10' else 'ρ'})"
        for i, (name, cell) in enumerate(rows):
            cells = " | ".join(cell(n, o) for n in NS)
            print(f"| {label if i == 0 else ''} | {name} | {cells} | "
                  f"{ANCHOR[o] if i == 0 else ''} |")


if __name__ == "__main__":
    main()

"""Print the README's NB201 ranking table (markdown) from one `nas-rlm evaluate` run.

    python scripts/ranking_table.py runs/nb201_ranking      # experiments/nb201_ranking/run.sh

Accuracy is compared by Kendall τ, latencies by Spearman ρ (the metrics the anchors use);
each cell is the mean ± std over seeds on the held-out archs, as in ``results.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ANCHOR = {"cifar10": "TA-GATES τ .773 / .866 / .889", "pixel3": "RLM paper ρ .731",
          "eyeriss": "RLM paper ρ .466", "gold_6226": "RLM paper ρ .960",
          "1080ti_1": "RLM paper ρ .939"}
LABEL = {"rlm_ev": "RLM, expected value", "rlm": "RLM, median of 8 samples",
         "rlm_median": "RLM, exact median",
         "flops_pruned": "FLOPs of the pruned graph", "flops": "FLOPs (published count)",
         "params": "params", "gbdt": "GBDT, one-hot", "mlp": "MLP, one-hot"}


def main() -> None:
    res = json.loads((Path(sys.argv[1]) / "results.json").read_text())
    summary, cfg = res["summary"], res["config"]
    ns, targets = cfg["ns"], cfg["targets"]
    readouts = sorted(summary, key=lambda r: list(LABEL).index(r) if r in LABEL else 99)
    print("| target (metric) | surrogate | " + " | ".join(f"N={n}" for n in ns) + " | anchor |")
    print("|---|---|" + "---|" * len(ns) + "---|")
    for t in targets:
        metric = "kendall_tau" if t == "cifar10" else "spearman"
        for i, r in enumerate(readouts):
            cells = []
            for n in ns:
                s = summary[r][t].get(f"N={n}", {}).get(metric)
                cells.append("—" if not s or s["mean"] is None
                             else f"{s['mean']:.3f} ± {s['std']:.3f}")
            head = f"{t} ({'τ' if metric == 'kendall_tau' else 'ρ'})" if i == 0 else ""
            print(f"| {head} | {LABEL.get(r, r)} | {' | '.join(cells)} | "
                  f"{ANCHOR.get(t, '') if i == 0 else ''} |")


if __name__ == "__main__":
    main()

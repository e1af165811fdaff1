"""Write the 30 real NB101 cells of ``nb101_naslib_sample`` as a user accuracy CSV.

The README's "your own accuracy table" example uses it: ``arch`` is the space's canonical
string, ``accuracy`` the mean final test accuracy (%) over the record's training runs.

    python scripts/nb101_sample_csv.py OUT.csv [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json

from nas_rlm.data.paths import resolve_data_dir
from nas_rlm.io import write_csv
from nas_rlm.search_spaces import get_space


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    path = resolve_data_dir(args.data_dir) / "nb101_naslib_sample" / "nb101_30archs_108ep.json"
    space = get_space("nb101")
    rows = []
    for rec in json.loads(path.read_text()):
        runs = [r["final_test_accuracy"] for r in rec["runs"]]
        rows.append([space.to_string(space.parse(rec)), round(100 * sum(runs) / len(runs), 3)])
    write_csv(args.out, ["arch", "accuracy"], rows)


if __name__ == "__main__":
    main()

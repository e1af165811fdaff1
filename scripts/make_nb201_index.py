"""Write nas_rlm/search_spaces/nb201_index.txt.gz: the official NB201 index order.

Row i of every NB201 table is arch i, in an order fixed by the benchmark's archive that cannot
be generated. This script reads it from the data directory's 200-epoch table and stores one
line of 6 op digits per arch (about 40 KB gzipped). ``tests/test_nb201.py`` checks it.

    python scripts/make_nb201_index.py [--data-dir DIR]
"""

import argparse
import csv
import gzip
import os
from pathlib import Path

from nas_rlm.data import resolve_data_dir
from nas_rlm.search_spaces.nb201 import parse_arch_string

OUT = Path(__file__).resolve().parents[1] / "nas_rlm" / "search_spaces" / "nb201_index.txt.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    path = resolve_data_dir(args.data_dir) / "nb201_nats_tss_200ep" / "nats_bench.csv"
    with open(path, newline="") as f:
        archs = [parse_arch_string(row["ArchitectureString"]) for row in csv.DictReader(f)]
    assert len(archs) == 15625 and len(set(archs)) == 15625, "expected 15,625 distinct cells"
    payload = "\n".join("".join(map(str, a)) for a in archs).encode() + b"\n"
    tmp = OUT.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(payload, mtime=0))
    os.replace(tmp, OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

"""Which edges pixel3 and raspi4 ran, three candidate rules, scored on pairs of non-held-out
cells (never the held-out set).

A pair is a cell with a 3×3 conv on edge k and the same cell with edge k set to ``none``; the
conv "cost" when the pair's latency difference exceeds 1 ms (pixel3) or 2.5 ms (raspi4) (a
conv on a live path costs about 4 / 12 ms, a dropped one about 0). A rule says which edges a
converter keeps; it scores the share of pairs where "k is kept" matches "the conv cost".

* ``R0`` (:func:`~nas_rlm.search_spaces.nb201.reaching_edges`, converter rule 1, what
  models made before 2026-12-04 read): edges on a path of non-``none`` ops to the output.
* ``V1``: also node 2 when exactly one of its two in-edges is an op, even where it reaches no
  output (a conv on 0→2 or 1→2 of such a cell costs pixel3 about 6.7 ms).
* ``V2`` (``converter_edges(arch, 2)``, converter rule 2, the default since 2026-12-04): V1,
  and edge 0→1 when node 2 reaches the output and reads node 1 through ``none`` only.

A pair scores against the kept edges alone: a cell with no path of ops from input to output
is a constant network in the converted view whatever the rule, which this score ignores.

    python experiments/nb201_converted_rule/rules.py   # one JSON line per device
"""

from __future__ import annotations

import itertools
import json
from functools import partial

import nas_rlm.search_spaces.nb201 as nb201
from nas_rlm.data import load_targets
from nas_rlm.data.splits import heldout_indices
from nas_rlm.search_spaces.nb201 import EDGES, NB201, converter_edges, reaching_edges

THRESHOLD_MS = {"pixel3": 1.0, "raspi4": 2.5}
CONV3 = 3  # index of nor_conv_3x3 in NB201's op list


def v1(arch) -> list[int]:
    """Rule 2 (``converter_edges``) without its second clause (edge 0→1 read through
    ``none``): node 2 kept when exactly one of its in-edges is an op."""
    return reaching_edges(arch, also=[2] if (arch[1] != 0) != (arch[2] != 0) else [])


RULES = {"R0": reaching_edges, "V1": v1, "V2": partial(converter_edges, rule=2)}


def use_rule(name: str) -> None:
    """Make every converted view in this process keep the edges of rule ``name``, whatever
    ``converter`` its space records (a base made before rule 2 records 1)."""
    nb201.converter_edges = lambda arch, rule=2: RULES[name](arch)


def main() -> None:
    space = NB201()
    cols = list(THRESHOLD_MS)
    archs, Y = load_targets("nb201", cols)
    held = set(heldout_indices("nb201"))
    index = {space.parse(a): i for i, a in enumerate(archs)}
    for j, col in enumerate(cols):
        hits, pairs = dict.fromkeys(RULES, 0), 0
        for v in itertools.product(range(5), repeat=len(EDGES)):
            iv = index[v]
            if iv in held:
                continue
            for k in (e for e in range(len(EDGES)) if v[e] == CONV3):
                iw = index[(*v[:k], 0, *v[k + 1:])]
                if iw in held:
                    continue
                cost = Y[iv, j] - Y[iw, j] > THRESHOLD_MS[col]
                pairs += 1
                for name, rule in RULES.items():
                    hits[name] += (k in rule(v)) == cost
        print(json.dumps({"device": col, "pairs": pairs,
                          "agreement": {n: round(h / pairs, 4) for n, h in hits.items()}}))


if __name__ == "__main__":
    main()

"""``nas-rlm evaluate`` with the converted view built by RULE (``rules.RULES``) instead of
the package's rule, for a held-out check of a rule chosen on non-held-out pairs and pool
validation. The cells do not name the rule: give each rule its own run dir. ::

    python experiments/nb201_converted_rule/evaluate.py RULE [nas-rlm evaluate arguments]
    python experiments/nb201_converted_rule/evaluate.py V2 --space nb201 --targets pixel3 \\
        --surrogates rlm_base,mlp,gbdt,flops_pruned --ns 781 --seeds 0 --threads 1 \\
        --rlm-base runs/nb201_base_nopx3/model --out runs/conv_v2_px3
"""

from __future__ import annotations

import sys
from pathlib import Path

from nas_rlm.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from rules import RULES, use_rule

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in RULES:
        raise SystemExit(__doc__)
    use_rule(sys.argv[1])
    raise SystemExit(main(["evaluate", *sys.argv[2:]]))

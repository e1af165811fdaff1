"""Accuracy from the base (issue "pretrained base", deliverable 5): fine-tune the NB201 base,
which never saw an accuracy, on N training-pool archs of CIFAR-10 and score Kendall τ on the
DESIGN §3 held-out archs. The same pools and test archs as ``nas-rlm evaluate --ns N
--seeds S --test-limit L`` (the RLM from scratch and the baselines), so the two JSONs sit
side by side in docs/fewshot.md.

    python experiments/fewshot/accuracy.py BASE_MODEL_DIR N SEED TEST_LIMIT [COLUMN] [steps=K ...]

COLUMN is an NB201 accuracy column (default cifar10; cifar100, imagenet16-120).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import torch
from scipy.stats import kendalltau, spearmanr

from nas_rlm.data import load_targets
from nas_rlm.data.splits import heldout_indices, train_indices
from nas_rlm.surrogates.recipes import FINETUNE_TRAIN, finetune_rlm
from nas_rlm.surrogates.rlm import RLM

COLUMN = "cifar10"


def main(argv: list[str]) -> None:
    if len(argv) < 4:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    base_dir, n, seed, limit = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    rest = argv[4:]
    column = rest.pop(0) if rest and "=" not in rest[0] else COLUMN
    fields = {k: json.loads(v) for k, _, v in (a.partition("=") for a in rest)}
    archs, Y = load_targets("nb201", [column])
    tr, te = train_indices("nb201", n, seed), heldout_indices("nb201")[:limit]
    t0 = time.time()
    rlm = finetune_rlm(RLM.from_pretrained(base_dir), [archs[i] for i in tr], Y[tr],
                       [column], replace(FINETUNE_TRAIN, **fields), seed=seed,
                       progress=False)
    seconds = time.time() - t0
    pred = rlm.predict_expected([archs[i] for i in te])[:, 0]
    print(json.dumps({
        "column": column, "n": n, "seed": seed, "test_archs": len(te), "fields": fields,
        "started_from": rlm.training_info["finetune"]["started_from"].get(column),
        "kendall_tau": round(float(kendalltau(pred, Y[te, 0]).statistic), 4),
        "spearman": round(float(spearmanr(pred, Y[te, 0]).statistic), 4),
        "finetune_seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main(sys.argv[1:])

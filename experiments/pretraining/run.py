"""Does pretraining on computed labels help the RLM on a latency target? Prints JSON and
writes ``OUT/results.json``.

DESIGN §1.3: cheap labels (FLOPs, params) pretrain the RLM, scarce labels fine-tune it. On
FBNet, FLOPs alone rank Pixel 3 latency at Kendall τ 0.80, while the RLM trained from
scratch on N = 78 labels is near τ 0 (README). This run separates the two stages:

1. *control*: the ``train_rlm`` recipe without pretraining, on the pool of N table labels;
2. *pretrain*: ``train_rlm`` on computed MFLOPs/kparams of ``--pretrain-archs`` sampled archs
   (no table label), scored on ``--probe`` freshly sampled archs against their computed labels
   (can the model read FLOPs from the text at all?);
3. *pretrained + fine-tuned*: the same model, its objectives switched to the target, trained
   on the pool as in 1.

1 and 3 are scored on the space's DESIGN §3 held-out set (expected-value readout); the FLOPs
proxy on that set is reported beside them.

    python experiments/pretraining/run.py [--space fbnet] [--target pixel3] [--n 78]
        [--pretrain-archs 3000] [--pretrain-steps 2000] [--test-limit 500] [--out DIR]

Both stages use the one RLM recipe (``DEFAULT_RECIPE``) with ``--pretrain-steps`` for the
first; ``nas-rlm evaluate --rlm-pretrain-archs`` runs the same two stages in every cell.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from nas_rlm.data.splits import heldout_indices, train_indices
from nas_rlm.data.targets import load_targets
from nas_rlm.evaluation.metrics import ranking_scores
from nas_rlm.evaluation.ranking import canonical_archs
from nas_rlm.io import write_json
from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.baselines import FlopsProxy
from nas_rlm.surrogates.recipes import (
    DEFAULT_RECIPE,
    PRETRAIN_OBJECTIVES,
    computed_labels,
    pretraining_archs,
    train_rlm,
)
from nas_rlm.surrogates.rlm import RLM


def _scores(pred: np.ndarray, true: np.ndarray, larger: bool = False) -> dict[str, float]:
    sc = ranking_scores(pred, true, larger_is_better=larger)
    return {"kendall_tau": round(sc["kendall_tau"], 4), "spearman": round(sc["spearman"], 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="fbnet")
    ap.add_argument("--target", default="pixel3", help="a latency column of the space's table")
    ap.add_argument("--n", type=int, default=78, help="table labels for fine-tuning")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pretrain-archs", type=int, default=3000)
    ap.add_argument("--pretrain-steps", type=int, default=DEFAULT_RECIPE.pretrain_steps)
    ap.add_argument("--probe", type=int, default=300, help="fresh archs to score pretraining")
    ap.add_argument("--test-limit", type=int, default=500, help="first K held-out archs")
    ap.add_argument("--out", default="runs/pretraining")
    ap.add_argument("--data-dir")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    sp, seed = get_space(args.space), args.seed

    archs, Y = load_targets(args.space, [args.target], args.data_dir)
    archs = canonical_archs(args.space, archs)
    tr, te = train_indices(args.space, args.n, seed), heldout_indices(args.space)[
        : args.test_limit]
    pool, y_pool = [archs[i] for i in tr], Y[tr]
    test, y_test = [archs[i] for i in te], Y[te, 0]
    result: dict = {"experiment": "pretraining", **vars(args), "rows": []}

    def row(name: str, **kw) -> None:
        result["rows"].append({"stage": name, **kw})
        print(json.dumps(result["rows"][-1]), flush=True)

    row("flops proxy", **_scores(FlopsProxy(sp).counts(test), y_test))

    t0 = time.perf_counter()
    ctrl = train_rlm(args.space, pool, y_pool, [args.target], seed=seed, progress=False)
    row("control (no pretraining)", seconds=round(time.perf_counter() - t0, 1),
        **_scores(ctrl.predict_expected(test)[:, 0], y_test))

    pre = pretraining_archs(args.space, args.pretrain_archs, seed)
    probe = sp.sample(args.probe, np.random.default_rng([seed, 8]))
    t0 = time.perf_counter()
    pre_y = computed_labels(args.space, pre)
    label_seconds = time.perf_counter() - t0
    rlm = RLM(PRETRAIN_OBJECTIVES, args.space, DEFAULT_RECIPE.model,
              objective_vocab=[*PRETRAIN_OBJECTIVES, args.target])
    rlm.build(rlm.texts_for(list(pre) + pool), seed=seed)
    train = {**vars(DEFAULT_RECIPE.train), "seed": seed, "progress": False}
    rlm.fit(pre, pre_y, **{**train, "steps": args.pretrain_steps})
    probe_pred, probe_true = rlm.predict_expected(probe), computed_labels(args.space, probe)
    row("pretrained: computed labels of fresh archs", label_seconds=round(label_seconds, 1),
        seconds=round(time.perf_counter() - t0 - label_seconds, 1),
        best_step=rlm.training_info.get("best_step"),
        best_val_tau=rlm.training_info.get("best_val_tau"),
        **{name: _scores(probe_pred[:, j], probe_true[:, j], larger=True)
           for j, name in enumerate(PRETRAIN_OBJECTIVES)})

    t0 = time.perf_counter()
    rlm.set_objectives([args.target])
    rlm.fit(pool, y_pool, **train)
    row("pretrained + fine-tuned", seconds=round(time.perf_counter() - t0, 1),
        **_scores(rlm.predict_expected(test)[:, 0], y_test))

    write_json(Path(args.out) / "results.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

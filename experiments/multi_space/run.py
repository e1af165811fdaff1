"""One RLM for several spaces vs. one per space (DESIGN §1.3: "trained on ONNX text from all
spaces"); prints JSON and writes ``OUT/results.json``.

The target is a latency column that NB201's and FBNet's tables share (default ``pixel3``,
HW-NAS-Bench's Pixel 3 measurements). For each seed:

- a *per-space* RLM per space: BPE learned on that space's texts, trained on its pool of N
  archs (``train_indices``);
- one *joint* RLM: BPE learned on texts of every space the toolkit has (``--bpe-archs`` per
  space: texts are computed, so any arch may be used), trained on the union of the pools.

All are scored on each space's fixed held-out set (``heldout_indices``) with the
expected-value readout: Kendall τ and Spearman ρ from ``ranking_scores``. No held-out label
is used anywhere (the pools are disjoint from the held-out sets by construction).

Each finished seed is saved; rerunning with more ``--seeds`` (same other settings) adds them
and prints the mean ± std table over all seeds finished.

With ``--pretrain-archs P`` every model is first trained on computed labels (MFLOPs and
params, as in ``train_rlm``) of P sampled archs per space, the joint model on the union.

    python experiments/multi_space/run.py [--n 390] [--seeds 0] [--steps 1500]
        [--pretrain-archs P] [--out DIR]
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
from nas_rlm.io import write_json
from nas_rlm.search_spaces import SPACES, get_space
from nas_rlm.surrogates.recipes import (
    DEFAULT_RECIPE,
    PRETRAIN_OBJECTIVES,
    computed_labels,
    pretraining_archs,
)
from nas_rlm.surrogates.rlm import RLM, RLMConfig
from nas_rlm.surrogates.text_tokenizer import train_text_tokenizer


def _texts(space_name: str, archs: list[str]) -> list[str]:
    sp = get_space(space_name)
    return [sp.to_text(sp.parse(a)) for a in archs]


def _train(texts: list[str], Y: np.ndarray, bpe_texts: list[str], target: str, seed: int,
           steps: int, config: RLMConfig,
           pretrain: tuple[list[str], np.ndarray] | None = None,
           pretrain_steps: int = 2000) -> tuple[RLM, float]:
    """BPE on ``bpe_texts``; optionally pretrain on computed labels (the ``train_rlm``
    recipe's first stage), then train on the pool, both with the recipe's training settings.
    Returns the model and training seconds."""
    rlm = RLM(list(PRETRAIN_OBJECTIVES) if pretrain else [target], None, config,
              text_tokenizer=train_text_tokenizer(bpe_texts, config.text_vocab_size),
              objective_vocab=[*PRETRAIN_OBJECTIVES, target] if pretrain else [target])
    rlm.build(texts + (pretrain[0] if pretrain else []), seed=seed)
    t0 = time.perf_counter()
    common = {**vars(DEFAULT_RECIPE.train), "seed": seed, "threads": 1, "progress": False}
    if pretrain:
        rlm.fit(pretrain[0], pretrain[1], **{**common, "steps": pretrain_steps})
        rlm.set_objectives([target])
    rlm.fit(texts, Y, **{**common, "steps": steps})
    return rlm, time.perf_counter() - t0


def _pretrain_set(space_name: str, n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Texts and computed labels (MFLOPs, kparams) of ``n`` sampled archs: no table label."""
    sp, archs = get_space(space_name), pretraining_archs(space_name, n, seed)
    return [sp.to_text(a) for a in archs], computed_labels(space_name, archs)


def _resume(path: Path, settings: dict) -> tuple[list[dict], float]:
    """Rows (and seconds) of the seeds already finished with the same settings."""
    if not path.exists():
        return [], 0.0
    prev = json.loads(path.read_text())
    prev.setdefault("spaces", ["nb201", "fbnet"])  # files written before these keys existed
    prev.setdefault("bpe_archs", 200)
    differ = {k: (prev.get(k), v) for k, v in settings.items() if prev.get(k) != v}
    if differ:
        raise SystemExit(f"{path} holds a run with other settings {differ}; pass another --out")
    return prev["rows"], prev.get("seconds", 0.0)


def _table(rows: list[dict], spaces: list[str]) -> str:
    """Markdown: Kendall τ / Spearman ρ, mean ± std over the finished seeds."""
    lines = ["| space | model | seeds | Kendall τ | Spearman ρ |", "|---|---|---|---|---|"]
    for s in spaces:
        for model in ("per-space", "joint"):
            sel = [r for r in rows if r["space"] == s and r["model"] == model]
            if not sel:
                continue
            tau, rho = (np.array([r[m] for r in sel]) for m in ("kendall_tau", "spearman"))
            lines.append(f"| {s} | {model} | {len(sel)} | {tau.mean():.3f} ± {tau.std():.3f} "
                         f"| {rho.mean():.3f} ± {rho.std():.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spaces", default="nb201,fbnet", help="spaces with the target column")
    ap.add_argument("--target", default="pixel3")
    ap.add_argument("--n", type=int, default=390, help="training archs per space")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--steps", type=int, default=DEFAULT_RECIPE.train.steps)
    ap.add_argument("--bpe-archs", type=int, default=200, help="texts per space for the "
                    "joint BPE (every registered space)")
    ap.add_argument("--pretrain-archs", type=int, default=0, help="first pretrain every "
                    "model on computed FLOPs/params of this many sampled archs per space (the "
                    "joint model on the union); 0: no pretraining")
    ap.add_argument("--pretrain-steps", type=int, default=DEFAULT_RECIPE.pretrain_steps)
    ap.add_argument("--test-limit", type=int, help="score the first K held-out archs only")
    ap.add_argument("--out", default="runs/multi_space")
    ap.add_argument("--data-dir")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    spaces = args.spaces.split(",")
    config = RLMConfig(**{**vars(DEFAULT_RECIPE.model), "max_text_tokens": 2048})
    data = {}
    for s in spaces:
        archs, Y = load_targets(s, [args.target], args.data_dir)
        data[s] = (archs, Y)
    joint_bpe = []
    for s in SPACES:  # every space the toolkit has, labelled or not
        sp = get_space(s)
        joint_bpe += [sp.to_text(a) for a in sp.sample(args.bpe_archs, np.random.default_rng(1))]

    out = Path(args.out)
    settings = {"experiment": "multi_space", "spaces": spaces, "target": args.target,
                "n_per_space": args.n, "steps": args.steps, "bpe_archs": args.bpe_archs,
                "test_limit": args.test_limit}
    if args.pretrain_archs:  # older result files (no key) were made without pretraining
        settings.update(pretrain_archs=args.pretrain_archs,
                        pretrain_steps=args.pretrain_steps)
    rows, seconds = _resume(out / "results.json", settings)
    done = {r["seed"] for r in rows}
    t_all = time.perf_counter()
    for seed in (int(x) for x in args.seeds.split(",")):
        if seed in done:
            print(f"seed {seed}: in {out / 'results.json'} already, skipped", flush=True)
            continue
        pools, tests = {}, {}
        for s in spaces:
            archs, Y = data[s]
            tr, te = train_indices(s, args.n, seed), heldout_indices(s)[: args.test_limit]
            assert not np.intersect1d(tr, te).size
            pools[s] = (_texts(s, [archs[i] for i in tr]), Y[tr])
            tests[s] = (_texts(s, [archs[i] for i in te]), Y[te, 0])
        pre = ({s: _pretrain_set(s, args.pretrain_archs, seed) for s in spaces}
               if args.pretrain_archs else {})
        models = {}
        for s in spaces:
            texts, Y = pools[s]
            print(f"seed {seed}: training the {s} model on {len(texts)} archs", flush=True)
            models[s] = _train(texts, Y, texts, args.target, seed, args.steps, config,
                               pre.get(s), args.pretrain_steps)
        jt = [t for s in spaces for t in pools[s][0]]
        jy = np.concatenate([pools[s][1] for s in spaces])
        jpre = ([t for s in spaces for t in pre[s][0]],
                np.concatenate([pre[s][1] for s in spaces])) if pre else None
        print(f"seed {seed}: training the joint model on {len(jt)} archs", flush=True)
        models["joint"] = _train(jt, jy, joint_bpe + jt, args.target, seed, args.steps, config,
                                 jpre, args.pretrain_steps)
        for s in spaces:
            texts, y = tests[s]
            for who in (s, "joint"):
                rlm, secs = models[who]
                pred = rlm.predict_expected(texts)[:, 0]
                sc = ranking_scores(pred, y, larger_is_better=False)
                lens = [len(e) for e in rlm.encode_texts(texts[:200])]
                rows.append({"seed": seed, "space": s, "model": "per-space" if who == s
                             else "joint", "n_train": len(pools[s][0]) if who == s else len(jt),
                             "kendall_tau": sc["kendall_tau"], "spearman": sc["spearman"],
                             "precision_top5": sc["precision_top5"],
                             "train_seconds": round(secs, 1),
                             "bpe_tokens_median": float(np.median(lens))})
                print(json.dumps(rows[-1]), flush=True)
        # one file per finished seed: an interrupted run loses at most the seed in progress
        write_json(out / "results.json", {**settings, "rows": rows, "seconds": round(
            seconds + time.perf_counter() - t_all, 1)})
    print(json.dumps({**settings, "rows": rows}, indent=1))
    print(_table(rows, spaces))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

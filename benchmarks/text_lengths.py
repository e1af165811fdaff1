"""Canonical ONNX text length per search space (DESIGN §1.2); prints JSON.

The RLM's encoder cost grows with the input length, so this is the table behind "the RLM's
cost follows it". Per space: characters and simple tokens (``onnx_text.simple_tokens``) of
``--n`` sampled archs, and BPE tokens under two tokenizers learned in this run:

- ``bpe_space``: a 1,024-token BPE learned on ``--train`` other archs of the same space;
- ``bpe_joint``: one 1,024-token BPE learned on the union of every space's training texts
  (the multi-space model's tokenizer), so its cost per space is comparable.

Rendering time per arch (``to_text``, weight-free graph) is reported too; it is measured on
this machine while whatever else runs, so compare spaces within one run only.

    python benchmarks/text_lengths.py [--n 200] [--train 1000] [--spaces nb201,fbnet,...]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from nas_rlm.search_spaces import SPACES, get_space
from nas_rlm.search_spaces.onnx_text import simple_tokens
from nas_rlm.surrogates.text_tokenizer import train_text_tokenizer


def _stats(values: list[int]) -> dict[str, float]:
    v = np.asarray(values)
    return {"median": float(np.median(v)), "max": int(v.max())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="archs measured per space")
    ap.add_argument("--train", type=int, default=1000, help="archs the BPE learns from")
    ap.add_argument("--spaces", default=",".join(SPACES))
    ap.add_argument("--vocab", type=int, default=1024)
    args = ap.parse_args(argv)
    names = [s for s in args.spaces.split(",") if s]
    texts: dict[str, tuple[list[str], list[str]]] = {}
    result: dict[str, dict] = {}
    for name in names:
        space = get_space(name)
        rng = np.random.default_rng(0)
        test = space.sample(args.n, rng)
        t0 = time.perf_counter()
        test_texts = [space.to_text(a) for a in test]
        ms = (time.perf_counter() - t0) / len(test) * 1e3
        train_texts = [space.to_text(a) for a in space.sample(args.train, rng)]
        texts[name] = (train_texts, test_texts)
        tok = train_text_tokenizer(train_texts, args.vocab)
        result[name] = {
            "chars": _stats([len(t) for t in test_texts]),
            "simple_tokens": _stats([len(simple_tokens(t)) for t in test_texts]),
            "bpe_space": _stats([len(e.ids) for e in tok.encode_batch(test_texts)]),
            "to_text_ms": round(ms, 2),
        }
    joint = train_text_tokenizer([t for tr, _ in texts.values() for t in tr], args.vocab)
    for name, (_, test_texts) in texts.items():
        result[name]["bpe_joint"] = _stats([len(e.ids) for e in joint.encode_batch(test_texts)])
    print(json.dumps({"benchmark": "text_lengths", "n": args.n, "train": args.train,
                      "vocab": args.vocab, "spaces": result}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

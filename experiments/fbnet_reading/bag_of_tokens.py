"""Do the tokens the RLM reads tell an FBNet layer's kind apart from where it sits? A
diagnostic on pool validation only (the N = 781, pool-seed-0 pool and its 500 validation
archs).

Why: FBNet pixel3 latency is an exact sum of a cost per layer kind (``additive.py``), and
each kind is one distinct node line of the text. A ridge on how often each BPE token occurs
in a text can only share a kind's cost across positions if the kind's tokens are the same at
every position. The canonical text names every node (``%16 = MBReluRes[...](%15,w192x32...)``)
and the BPE splits on whitespace only, so a node id can merge into the operator call's token.

Per variant, a BPE (``train_text_tokenizer``'s settings) is learnt on 3,000 sampled texts,
then a ridge on the token counts of the pool texts is scored on the validation texts:
``as is`` the canonical text (the RLM's input; 1,024 and 4,096 tokens);
``ids isolated`` node ids split off as tokens of their own before the BPE (1,024 and 4,096);
``ids stripped`` every node id replaced by ``%`` (loses the wiring: a diagnostic only);
``relative ids`` each node line without its own id, its inputs named by how many ids back
they are (``onnx_text.relative_node_ids``; keeps the graph); ``constants inlined`` the same
after each top-level ``Constant`` node is dropped and its value written where it is read
(``lut_labels.constants_inlined``; keeps the graph).
Prints one JSON object. SPACE (default fbnet) reads another space's texts and pool, e.g.
nb201, whose pixel3 and gold_6226 columns are no sum over layers: there the question is only
whether the rewrite loses what the canonical tokens hold; ofa_mbv3 scores two GPU columns.

    python experiments/fbnet_reading/bag_of_tokens.py > experiments/fbnet_reading/bag_of_tokens.json
    cd experiments/fbnet_reading && python bag_of_tokens.py nb201 > bag_of_tokens_nb201.json
    cd experiments/fbnet_reading && python bag_of_tokens.py ofa_mbv3 > bag_of_tokens_ofa_mbv3.json
"""

from __future__ import annotations

import json
import re
import string
import sys

import numpy as np
from lut_labels import REWRITES
from scipy.stats import kendalltau, spearmanr
from sklearn.linear_model import RidgeCV
from tokenizers import Regex, pre_tokenizers, trainers

from nas_rlm.data import load_targets
from nas_rlm.data.splits import pool_validation_indices, train_indices
from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.recipes import pretraining_archs
from nas_rlm.surrogates.rlm import view_space
from nas_rlm.surrogates.text_tokenizer import SPECIALS, train_text_tokenizer

#: the columns scored per space (OFA-MBv3 has GPU columns only)
COLUMNS = {"fbnet": ["pixel3", "gold_6226"], "nb201": ["pixel3", "gold_6226"],
           "ofa_mbv3": ["2080ti_1", "v100_1"]}
IDS = re.compile(r"%\d+")
REWRITE = dict(REWRITES.values())  # the rewrites of lut_labels.py, by name: text -> text


def bpe(corpus: list[str], vocab: int, isolate_ids: bool):
    tok = train_text_tokenizer(corpus, vocab)
    if isolate_ids:  # the same BPE, learnt again after node ids are split off
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(IDS.pattern), behavior="isolated")])
        tok.train_from_iterator(corpus, trainers.BpeTrainer(
            vocab_size=vocab, special_tokens=list(SPECIALS), show_progress=False,
            initial_alphabet=list(string.printable.strip())))
    return tok


def main(space_name: str = "fbnet") -> None:
    space = get_space(space_name)
    render = view_space(space, "optimised")
    corpus = [render.to_text(space.parse(a)) for a in pretraining_archs(space, 3000, 0)]
    columns = COLUMNS[space_name]
    archs, Y = load_targets(space_name, columns)
    tr, val = train_indices(space_name, 781, 0), pool_validation_indices(space_name, 781, 0)
    texts = [render.to_text(space.parse(archs[i])) for i in np.r_[tr, val]]
    pool = f"{space_name}, N = 781, pool seed 0; scored on its 500 validation archs"
    n, out = len(tr), {"pool": pool, "variants": []}
    for name, vocab in (("as is", 1024), ("as is", 4096), ("ids isolated", 1024),
                        ("ids isolated", 4096), ("ids stripped", 1024), ("relative ids", 1024),
                        ("constants inlined", 1024)):
        prep = REWRITE.get(name, str)  # the texts as lut_labels.py's bases read them
        tok = bpe([prep(t) for t in corpus], vocab, name == "ids isolated")
        encs = tok.encode_batch([prep(t) for t in texts])
        X = np.zeros((len(texts), tok.get_vocab_size()))
        for i, e in enumerate(encs):
            np.add.at(X[i], e.ids, 1.0)
        X = X[:, X[:n].std(0) > 0]
        row = {"text": name, "vocab": vocab, "tokens_used": X.shape[1],
               "tokens_per_text": round(float(np.mean([len(e.ids) for e in encs])), 1)}
        for j, col in enumerate(columns):
            p = RidgeCV(alphas=np.logspace(-4, 3, 15)).fit(X[:n], Y[tr, j]).predict(X[n:])
            row[col] = [round(float(f(p, Y[val, j]).statistic), 4) for f in (kendalltau,
                                                                              spearmanr)]
        out["variants"].append(row)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:2])

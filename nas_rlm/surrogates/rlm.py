"""The Regression Language Model: ONNX text in, numbers out as tokens.

Read top to bottom: the config, then :class:`RLM`, which owns a T5 encoder-decoder from
``transformers`` (randomly initialised; no hub weights), the BPE input tokenizer, the number
tokenizer, the objective tokens and one label normalisation per objective.

What the decoder writes (DESIGN §1.3):

* **One number per sequence** (the default, ``chained=False``): ``<bos> <obj> <+> <E0> <4>
  <2> <1> <7>`` for each (arch, objective). The objective token tells the decoder which
  quantity it writes, the encoder runs once per arch and all its sequences share it, and an
  arch with only some labels trains on those it has.
* **Chained** (``chained=True``): ``<bos> <cifar10> v <pixel3> v …``, accuracy first, each
  value conditioned on the ones before it. ``objective_tokens=False`` drops the markers (the
  format before v2, kept for ablations).

Values are normalised per objective onto ``[1, 9]`` (``normalization.py``) and written
exponent first, so the first token that varies orders the archs. Decoding is
grammar-constrained: objective slots are forced, every value token is masked to the
grammar, so every sample parses.

One vocabulary serves both sides (T5 shares its embedding table): number tokens first
(pad/bos/eos among them), then one token per objective, then the BPE tokens of the text.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from transformers import (
    EncoderDecoderCache,
    T5Config,
    T5ForConditionalGeneration,
    TopPLogitsWarper,
)

from ..data.tables import ACCURACY_NAMES
from ..errors import ModelFormatError, NasRlmError, UnknownNameError
from ..io import atomic_write_bytes, sha256_file, write_json
from ..search_spaces import SearchSpace, as_space, get_space
from ..search_spaces.onnx_text import TEXT_FORMAT, relative_node_ids
from .base import Surrogate
from .constrained import MedianWalk, NumberGrammar
from .grouped_attention import NAME as GROUPED
from .mix_head import MixHead
from .normalization import KINDS, REACH, SAMPLE_REACH, MonotoneMap
from .numbers import NumberTokenizer, P10Tokenizer, tokenizer_from_dict
from .text_tokenizer import load_text_tokenizer, save_text_tokenizer, train_text_tokenizer

#: 2: objective tokens, exponent-first numbers, per-objective normalisation.
FORMAT_VERSION = 2
#: How a model reads node ids (``RLMConfig.node_ids``).
NODE_IDS = ("absolute", "relative")


@dataclass
class RLMConfig:
    d_model: int = 128          # width of every layer; ~1.0 M params at the defaults
    d_ff: int = 512             # feed-forward width
    num_heads: int = 4
    d_kv: int = 32              # per-head width (num_heads * d_kv == d_model)
    encoder_layers: int = 2     # the encoder reads ~110 BPE tokens of ONNX text; 4 layers
                                # ranked no better at 300 steps and cost 2× per step
    decoder_layers: int = 2     # the decoder only writes 7 tokens per objective
    dropout: float = 0.0        # early stopping on validation τ regularises (README, RLM v2)
    text_vocab_size: int = 1024
    max_text_tokens: int = 512  # longer texts are an error, not silently truncated
    digits: int = 4             # P10 mantissa digits
    min_exp: int = -10
    max_exp: int = 10
    exponent_first: bool = True     # sign, exponent, mantissa: leading tokens rank
    objective_tokens: bool = True   # an <objective> token before each value
    chained: bool = False           # all objectives in one sequence, each conditioned on
                                    # the earlier ones (False: one sequence per objective)
    normalization: str = "quantile"  # per-objective map onto [1, 9]: quantile|minmax|none
    node_ids: str = "absolute"      # "relative": node lines read without their own ids, inputs
                                    # by distance (onnx_text.relative_node_ids)

    def __post_init__(self) -> None:
        for f in fields(self):
            value, kind = getattr(self, f.name), {"float": float, "bool": bool,
                                                  "str": str}.get(f.type, int)
            ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
            if not ok:
                raise ModelFormatError(
                    f"RLMConfig.{f.name} must be {kind.__name__}, got {value!r}")
        positive = ("d_model", "d_ff", "num_heads", "d_kv", "encoder_layers",
                    "decoder_layers", "text_vocab_size", "max_text_tokens", "digits")
        bad = [n for n in positive if getattr(self, n) < 1]
        if bad:
            raise ModelFormatError(f"RLMConfig.{bad[0]} must be >= 1, got {getattr(self, bad[0])}")
        if not 0.0 <= self.dropout < 1.0:
            raise ModelFormatError(f"RLMConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.num_heads * self.d_kv != self.d_model:
            raise ModelFormatError("RLMConfig needs num_heads * d_kv == d_model")
        if self.normalization not in KINDS:
            raise ModelFormatError(f"RLMConfig.normalization must be one of {KINDS}, got "
                                   f"{self.normalization!r}")
        if self.node_ids not in NODE_IDS:
            raise ModelFormatError(f"RLMConfig.node_ids must be one of {NODE_IDS}, got "
                                   f"{self.node_ids!r}")
        if not self.chained and not self.objective_tokens:
            raise ModelFormatError("one sequence per objective (chained=False) needs "
                                   "objective_tokens=True: the decoder must know which it writes")


def _is_text(arch) -> bool:
    """An ONNX text given in place of an arch (texts start with a function or an input)."""
    return isinstance(arch, str) and arch.startswith(("func ", "in %"))


class Views(tuple):
    """The texts of one arch, one per view (:attr:`RLM.view_names`): a type of its own, so it
    is never taken for an arch (NB201 archs are tuples too)."""


#: The graphs an objective can read (DESIGN §1.3.1): the optimised graph (accuracy), the
#: graph the device ran (``space.executed()``), and the graph a constant-folding converter
#: left of it (``space.converted_view()``: the benchmark's TFLite devices).
VIEWS = ("optimised", "executed", "converted")

#: The ``(temperature, top_p)`` handed to readouts that draw nothing (median, expected).
GREEDY = (1.0, 1.0)

#: The nucleus samples are drawn from (:meth:`RLM.predict`). Chosen on 500 pool archs the
#: shipped NB201 model never trained on (``experiments/rlm_readouts/sample_tails.py``, k =
#: 16): the share of true values inside the samples' 10-90 % range is closest to 0.8 at
#: 0.95 (mean distance 0.064 over the five columns; 1.0: 0.076, 0.9: 0.070), and it drops
#: most samples a decade off (pixel3: 1.5 % of samples → 0.75 %); the median of the samples
#: ranks as before (τ within 0.008).
TOP_P = 0.95

#: Batches the encoder runs ahead of decoding, in a second thread, when torch may use two
#: or more threads (0: never). The encoder pass is a few large matrix products, the decoder
#: many small steps; torch releases the GIL inside its ops, so on two cores the two overlap.
#: With one torch thread (``--threads 1``) a prediction stays on one core.
ENCODE_AHEAD = 2


def check_view(view: str) -> None:
    """Refuse a view name that is not one of :data:`VIEWS`, naming them."""
    if view not in VIEWS:
        raise NasRlmError(f"unknown view {view!r}; views: {', '.join(VIEWS)}")


def view_space(space: SearchSpace, view: str) -> SearchSpace:
    """The space that renders ``view`` (:data:`VIEWS`) of ``space``'s archs."""
    check_view(view)
    return (space if view == "optimised" else space.executed() if view == "executed"
            else space.converted_view())


#: A checkpoint's files: the one config file, the weights, the text tokenizer, and a
#: manifest with the sha256 of the other three.
META, WEIGHTS, TOKENIZER, MANIFEST = ("rlm.json", "model.safetensors", "text_tokenizer.json",
                                      "manifest.json")
CHECKED = (META, WEIGHTS, TOKENIZER)
#: Tensors tied to ``shared.weight`` (the embedding of encoder, decoder and head): stored once.
_TIED = frozenset({"encoder.embed_tokens.weight", "decoder.embed_tokens.weight",
                   "lm_head.weight"})


def space_objective(space: str, label: str) -> str:
    """The name a multi-space base (``nas-rlm corpus``) gives ``label`` of ``space``'s archs.
    Each space's labels have their own token and normalisation: one map over every space
    squeezed a space's values into a sliver of the number range (FBNet's MFLOPs ranked at
    τ 0.55 within FBNet, on its own training rows, against 0.92 for NB201's), and one
    device column (pixel3) means other latencies in another space's table."""
    return f"{space}:{label}"


def plain_objective(name: str) -> str:
    """``name`` without the space a multi-space base gives it (:func:`space_objective`)."""
    return name.split(":", 1)[-1]


@dataclass
class RLMMeta:
    """What ``from_pretrained`` needs besides the weights."""

    objectives: list[str]
    space: str | None
    config: RLMConfig
    number_tokenizer: dict
    objective_vocab: list[str] = field(default_factory=list)
    normalization: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    text_format: int = TEXT_FORMAT
    space_settings: dict = field(default_factory=dict)  # the space's constructor arguments
    executed_objectives: list[str] = field(default_factory=list)  # read the executed graph
    converted_objectives: list[str] = field(default_factory=list)  # read the converted graph
    mix_heads: dict = field(default_factory=dict)  # fine-tuned devices' MixHead, by name


class RLM(Surrogate):
    def __init__(
        self,
        objectives: Sequence[str],
        space: SearchSpace | str | None = None,
        config: RLMConfig | None = None,
        text_tokenizer=None,
        number_tokenizer: NumberTokenizer | None = None,
        model: T5ForConditionalGeneration | None = None,
        objective_vocab: Sequence[str] | None = None,
        executed_objectives: Sequence[str] = (),
        converted_objectives: Sequence[str] = (),
    ) -> None:
        if not objectives:
            raise NasRlmError("an RLM needs at least one objective")
        self.config = config or RLMConfig()
        c = self.config
        self.numbers = number_tokenizer or P10Tokenizer(c.digits, c.min_exp, c.max_exp,
                                                        c.exponent_first)
        #: every objective the model has a token for (fixed when the model is built)
        self.objective_vocab = list(dict.fromkeys(objective_vocab or objectives))
        self.objectives: list[str] = []
        self.set_objectives(objectives)
        #: objectives measured on a device: they read the text of the program the device ran
        #: (``space.executed()``, or ``space.converted_view()`` for a TFLite device), the
        #: others the optimised graph (DESIGN §1.3.1)
        self.executed_objectives = list(dict.fromkeys(executed_objectives))
        self.converted_objectives = list(dict.fromkeys(converted_objectives))
        for view in ("executed", "converted"):
            names = getattr(self, f"{view}_objectives")
            unknown = [o for o in names if o not in self.objective_vocab]
            if unknown:
                raise NasRlmError(f"{view} objective(s) {unknown} are not objectives of the "
                                  "model")
            if names and self.config.chained:
                raise NasRlmError(f"a chained RLM reads one text per arch; {view}_objectives "
                                  "needs one sequence per objective (model.chained=false)")
        both = set(self.executed_objectives) & set(self.converted_objectives)
        if both:
            raise NasRlmError(f"objective(s) {sorted(both)} cannot read both the executed and "
                              "the converted graph")
        #: the space's name and constructor settings: texts are rendered by that very space
        self._space = as_space(space) if space is not None else None
        self.space = self._space.name if self._space else None
        self.space_settings = self._space.settings() if self._space else {}
        self.text_tokenizer = text_tokenizer
        self.model = model
        self.scalers: dict[str, MonotoneMap] = {}
        #: objectives whose value blends their own number with a mix of source objectives'
        #: (a device fine-tuned from a few labels; :mod:`.mix_head`)
        self.mix_heads: dict[str, MixHead] = {}
        self.training_info: dict = {}
        self.source = "this RLM"  # where it was loaded from, for error messages
        self._text_cache: dict = {}

    @property
    def search_space(self) -> SearchSpace | None:
        """The space (with its settings) whose texts this model reads."""
        return self._space

    def bind_space(self, space: SearchSpace | str) -> None:
        """Read archs of ``space`` from now on: a model pretrained on texts of many spaces
        (``nas-rlm corpus``) has none until it is fine-tuned on one. A model that already
        reads a space keeps it: its texts were rendered by that space's settings."""
        if self._space is not None:
            raise NasRlmError(f"{self.source} already reads {self.space}; it cannot be bound "
                              "to another space")
        bound = as_space(space)
        # a corpus base names each label by its space (``space_objective``): the space's own
        # labels become its objectives under their plain names; a space the corpus never
        # held keeps every space's, to start a new column from the closest
        prefix = space_objective(bound.name, "")
        own = ({o: o[len(prefix):] for o in self.objective_vocab if o.startswith(prefix)}
               if self.config.objective_tokens else {})
        clash = sorted(set(own.values()) & set(self.objective_vocab))
        if clash:
            raise NasRlmError(f"{self.source} has both {prefix}X and X for {clash}")
        self._space = bound
        self.space, self.space_settings = bound.name, bound.settings()
        self._text_cache.clear()
        if not own:
            return
        self.objective_vocab = [own.get(o, o) for o in self.objective_vocab]
        self.objectives = [own[o] for o in self.objectives if o in own]
        self.executed_objectives = [own.get(o, o) for o in self.executed_objectives]
        self.converted_objectives = [own.get(o, o) for o in self.converted_objectives]
        self.scalers = {own.get(o, o): m for o, m in self.scalers.items()}

    def set_objectives(self, names: Sequence[str]) -> None:
        """Choose what ``predict`` returns (and ``fit`` trains), in this order. With objective
        tokens every name must be one the model has a token for."""
        names = list(names)
        if len(set(names)) != len(names):
            raise NasRlmError(f"duplicate objectives in {names}")
        if self.config.objective_tokens:
            unknown = [o for o in names if o not in self.objective_vocab]
            if unknown:
                raise UnknownNameError(
                    f"objective(s) {unknown} have no token in this model; it knows "
                    f"{', '.join(self.objective_vocab)}")
        self.objectives = names

    def add_objectives(self, names: Sequence[str], like: dict[str, str] | None = None,
                       view: str = "optimised") -> list[str]:
        """Give a built model tokens for objectives it has none for (a new device to fine-tune
        a pretrained base on): each new row of the shared embedding starts as the embedding of
        ``like[name]`` (an objective the model knows) or else the mean of the objective
        tokens. Objective ids sit between the number and text ids, so the text rows move up
        by the number added; every weight keeps its value. ``view`` (one of :data:`VIEWS`):
        the graph the new objectives read. Returns the names added."""
        check_view(view)
        new = [o for o in dict.fromkeys(names) if o not in self.objective_vocab]
        if not new:
            return []
        if not self.config.objective_tokens:
            raise NasRlmError("this RLM has no objective tokens (objective_tokens=False); "
                              "it cannot learn a new objective beside its own")
        like = like or {}
        bad = {o: s for o, s in like.items() if o in new and s not in self.objective_vocab}
        if bad:
            raise UnknownNameError(f"cannot start {bad} from objectives the model lacks; it "
                                   f"knows {', '.join(self.objective_vocab)}")
        if self.model is not None:
            sd = self.model.state_dict()
            emb, lo, at = sd["shared.weight"], self.numbers.vocab_size, self.text_offset
            rows = torch.stack([emb[self.objective_token_id(like[o])] if o in like
                                else emb[lo:at].mean(0) for o in new])
            grown = torch.cat([emb[:at], rows, emb[at:]])
            self.objective_vocab += new
            model = T5ForConditionalGeneration(self._t5_config())
            model.load_state_dict({**sd, "shared.weight": grown,
                                   **{k: grown for k in _TIED if k in sd}})
            model.tie_weights()
            self.model = model.train(self.model.training)
        else:
            self.objective_vocab += new
        if view != "optimised":
            if self.config.chained:
                raise NasRlmError(f"a chained RLM reads one text per arch; {view} objectives "
                                  "need model.chained=false")
            getattr(self, f"{view}_objectives").extend(new)
        return new

    # -- vocabulary layout -------------------------------------------------------------------
    @property
    def _n_obj_tokens(self) -> int:
        return len(self.objective_vocab) if self.config.objective_tokens else 0

    @property
    def text_offset(self) -> int:
        return self.numbers.vocab_size + self._n_obj_tokens

    def objective_token_id(self, name: str) -> int:
        return self.numbers.vocab_size + self.objective_vocab.index(name)

    @property
    def slot(self) -> int:
        """Decoder tokens per value: the objective token (if any) and the number."""
        return self.numbers.tokens_per_value + (1 if self.config.objective_tokens else 0)

    # -- construction ----------------------------------------------------------------------
    def build(self, texts: Sequence[str], seed: int = 0) -> RLM:
        """Learn the BPE on ``texts`` (if none yet) and create a randomly initialised model."""
        if self.text_tokenizer is None:
            self.text_tokenizer = train_text_tokenizer(self.as_read(texts),
                                                       self.config.text_vocab_size)
        with torch.random.fork_rng():  # seeds this model without touching the caller's RNG
            torch.manual_seed(seed)
            self.model = T5ForConditionalGeneration(self._t5_config())
        return self

    def _t5_config(self) -> T5Config:
        c = self.config
        return T5Config(
            vocab_size=self.text_offset + self.text_tokenizer.get_vocab_size(),
            d_model=c.d_model, d_ff=c.d_ff, d_kv=c.d_kv, num_heads=c.num_heads,
            num_layers=c.encoder_layers, num_decoder_layers=c.decoder_layers,
            dropout_rate=c.dropout, pad_token_id=self.numbers.pad_id,
            eos_token_id=self.numbers.eos_id, decoder_start_token_id=self.numbers.bos_id,
        )

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    # -- inputs ----------------------------------------------------------------------------
    def texts_for(self, archs: Sequence, view: str = "optimised") -> list[str]:
        """Texts of ``archs`` in ``view`` (:data:`VIEWS`) via the recorded space; strings that
        look like text pass as is."""
        out = []
        space = self.search_space
        check_view(view)  # a space-less model still names its views
        render = None if space is None else view_space(space, view)
        for a in archs:
            if _is_text(a):
                out.append(a)
                continue
            if space is None:
                raise NasRlmError("this RLM has no space; pass ONNX texts instead of archs")
            key = (view, space.parse(a))
            if key not in self._text_cache:
                self._text_cache[key] = render.to_text(key[1])
            out.append(self._text_cache[key])
        return out

    @property
    def view_names(self) -> list[str]:
        """The texts per arch: the optimised graph, then the executed and the converted one
        where objectives read them."""
        return ["optimised", *(["executed"] if self.executed_objectives else []),
                *(["converted"] if self.converted_objectives else [])]

    @property
    def n_views(self) -> int:
        return len(self.view_names)

    def view_of_objective(self, name: str) -> str:
        """The view (:data:`VIEWS`) objective ``name`` reads."""
        return ("converted" if name in self.converted_objectives else
                "executed" if name in self.executed_objectives else "optimised")

    def view_of(self, j: int) -> int:
        """Which text (index into :attr:`view_names`) objective ``j`` of :attr:`objectives`
        reads."""
        return self.view_names.index(self.view_of_objective(self.objectives[j]))

    def views_for(self, archs: Sequence) -> list[Views]:
        """Per arch, its :attr:`n_views` texts (:class:`Views` pass as they are)."""
        if all(isinstance(a, Views) and len(a) == self.n_views for a in archs):
            return list(archs)
        if self.n_views == 1:
            return [Views((t,)) for t in self.texts_for(archs)]
        if any(_is_text(a) for a in archs):
            raise NasRlmError(f"this RLM reads {self.n_views} texts per arch "
                              f"({', '.join(self.view_names)} graph); pass archs, not texts")
        return [Views(v) for v in zip(*(self.texts_for(archs, v) for v in self.view_names),
                                      strict=True)]

    def as_read(self, texts: Sequence[str]) -> list[str]:
        """``texts`` as the model reads them: with relative node ids where
        ``RLMConfig.node_ids`` says so. Texts stay canonical everywhere else (caches, corpora)."""
        if self.config.node_ids == "relative":
            return [relative_node_ids(t) for t in texts]
        return list(texts)

    def encode_texts(self, texts: Sequence[str]) -> list[list[int]]:
        offset = self.text_offset
        out = []
        for enc in self.text_tokenizer.encode_batch(self.as_read(texts)):
            if len(enc.ids) > self.config.max_text_tokens:
                raise NasRlmError(
                    f"text has {len(enc.ids)} tokens, more than max_text_tokens="
                    f"{self.config.max_text_tokens}; raise it in RLMConfig"
                )
            out.append([offset + i for i in enc.ids])
        return out

    def pad(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad to the longest; text ids never equal the pad id, so the mask is exact."""
        pad_id = self.numbers.pad_id
        ids = torch.full((len(seqs), max(len(s) for s in seqs)), pad_id, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        return ids, (ids != pad_id).long()

    # -- labels ----------------------------------------------------------------------------
    def fit_scalers(self, Y: np.ndarray) -> None:
        """Fit the normalisation of every current objective that has none yet."""
        for j, name in enumerate(self.objectives):
            if name not in self.scalers:
                self.scalers[name] = MonotoneMap.fit(Y[:, j], self.config.normalization)

    def normalise(self, Y: np.ndarray) -> np.ndarray:
        return np.stack([self.scalers[o].forward(Y[:, j])
                         for j, o in enumerate(self.objectives)], 1)

    def denormalise(self, Z: np.ndarray, reach: float = REACH) -> np.ndarray:
        """``Z`` of shape ``(..., n_objectives)`` in normalised units back to units, each
        clipped ``reach`` beyond its map's knots (:meth:`MonotoneMap.inverse`). Values
        no label could take are clipped: an objective whose training labels were all ≥ 0 (a
        latency, FLOPs) at 0, an accuracy (``ACCURACY_NAMES``, in %) at 100. A sample whose
        exponent landed a decade off would otherwise read as, say, 124 % or -0.3 ms."""
        out = np.empty_like(Z, dtype=np.float64)
        for j, o in enumerate(self.objectives):
            if o not in self.scalers:
                out[..., j] = Z[..., j]
                continue
            scaler = self.scalers[o]
            lo = 0.0 if scaler.x and scaler.x[0] >= 0 else None
            hi = 100.0 if o in ACCURACY_NAMES else None
            out[..., j] = np.clip(scaler.inverse(Z[..., j], reach), lo, hi)
        return out

    def sequences(self, Z: np.ndarray) -> list[tuple[int, list[tuple[int, float]]]]:
        """Decoder tasks for normalised labels ``Z`` (NaN = missing): ``(row, [(objective
        column, value), ...])``, one per arch (chained) or one per label."""
        out = []
        for i, row in enumerate(Z):
            items = [(j, float(v)) for j, v in enumerate(row) if np.isfinite(v)]
            if self.config.chained:
                if items:
                    out.append((i, items))
            else:
                out.extend((i, [it]) for it in items)
        return out

    def decoder_tensors(self, tasks) -> dict[str, torch.Tensor]:
        """Teacher-forcing tensors for ``tasks`` (from :meth:`sequences`).

        ``labels`` is -100 at objective tokens (given, not predicted); ``rows`` is the grammar
        row of each label position (value position, tpv for eos, -1 where ignored); the
        ``value_*`` tensors locate every value for the ranking loss.
        """
        nt, tpv = self.numbers, self.numbers.tokens_per_value
        o = self.slot - tpv
        seqs, rows, vpos, vcol, vval, vseq = [], [], [], [], [], []
        for s, (_, items) in enumerate(tasks):
            toks, r = [], []
            for j, v in items:
                if o:
                    toks.append(self.objective_token_id(self.objectives[j]))
                    r.append(-1)
                vpos.append(len(toks))
                vcol.append(j)
                vval.append(v)
                vseq.append(s)
                toks += nt.encode_ids([v])
                r += list(range(tpv))
            toks.append(nt.eos_id)
            r.append(tpv)
            seqs.append(toks)
            rows.append(r)
        L = max(len(t) for t in seqs)
        labels = torch.full((len(seqs), L), -100, dtype=torch.long)
        dec_in = torch.full((len(seqs), L), nt.pad_id, dtype=torch.long)
        grow = torch.full((len(seqs), L), -1, dtype=torch.long)
        for s, (toks, r) in enumerate(zip(seqs, rows, strict=True)):
            t = torch.tensor(toks)
            grow[s, : len(r)] = torch.tensor(r)
            labels[s, : len(toks)] = torch.where(grow[s, : len(r)] >= 0, t, -100)
            dec_in[s, 0] = nt.bos_id
            dec_in[s, 1 : len(toks)] = t[:-1]
        return {"decoder_input_ids": dec_in, "labels": labels, "rows": grow,
                "value_seq": torch.tensor(vseq), "value_pos": torch.tensor(vpos),
                "value_col": torch.tensor(vcol), "value_true": torch.tensor(vval)}

    def grammar_table(self, width: int) -> torch.Tensor:
        """Bool ``(tpv + 1, width)``: allowed ids at each value position, then at eos."""
        g = NumberGrammar(self.numbers, 1)
        return g._table_for(torch.zeros(1, width))[: self.numbers.tokens_per_value + 1]

    # -- prediction ------------------------------------------------------------------------
    def fit(self, archs: Sequence, Y: np.ndarray, **kwargs) -> RLM:
        """Train on ``Y`` (``(n, n_objectives)``; NaN marks a missing label only with
        ``missing_ok=True``); other keywords are :class:`~.training.TrainConfig` fields."""
        from .training import TrainConfig, train

        missing_ok = kwargs.pop("missing_ok", False)
        for o in self.objectives:  # a head was fitted to the values the old weights decoded
            self.mix_heads.pop(o, None)
        inputs = self.views_for(archs)
        if self.model is None:
            self.build([t for views in inputs for t in views], seed=kwargs.get("seed", 0))
        train(self, inputs, Y, TrainConfig(**kwargs), missing_ok=missing_ok)
        return self

    @torch.no_grad()
    def predict(
        self, archs: Sequence, k: int = 8, temperature: float = 1.0, seed: int = 0,
        batch_size: int = 64, progress: bool = False, top_p: float = TOP_P,
    ) -> np.ndarray:
        """``k`` constrained samples per arch: shape ``(n, k, n_objectives)``, in units.

        Each token is drawn from the smallest set of tokens holding ``top_p`` of its
        probability (nucleus sampling; 1 for the model's whole distribution), and a value
        beyond its labels' range is clipped an eighth of that range past it
        (``SAMPLE_REACH``): a sample whose exponent lands a decade off says "beyond the
        labels", not a latency a hundred times theirs. Identical texts are encoded once; each
        arch's encoder output is reused by all ``k`` samples and all objectives, and the
        decoder runs with a KV cache.
        """
        if not 0.0 < top_p <= 1.0:
            raise NasRlmError(f"top_p must be in (0, 1], got {top_p}")
        return self._run(archs, k, (temperature, top_p), seed, batch_size, progress,
                         "samples")

    @torch.no_grad()
    def predict_expected(
        self, archs: Sequence, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """Point estimates that keep the model's resolution: shape ``(n, n_objectives)``.

        For the two most likely tokens at the number's leading varying position (the exponent
        in the default format), the rest is decoded with expected mantissa digits, and the
        branches are averaged by their probabilities. Greedy decoding collapses thousands of
        archs onto a few values and ties ruin Kendall τ (DESIGN §1.3.1); this readout does not.
        """
        return self._run(archs, 1, GREEDY, 0, batch_size, progress, "expected")[:, 0]

    @torch.no_grad()
    def predict_median(
        self, archs: Sequence, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """The median of the model's distribution of each objective, decoded exactly in one
        pass (:class:`~.constrained.MedianWalk`): what the median of many samples tends to,
        without their noise or cost. Shape ``(n, n_objectives)``."""
        return self._run(archs, 1, GREEDY, 0, batch_size, progress, "median")[:, 0]

    def predict_point(self, archs: Sequence) -> np.ndarray:
        """The contract's point estimate, what searches rank by: :meth:`predict_median`.

        Chosen over :meth:`predict_expected` on pool archs neither model trained on
        (``experiments/rlm_readouts``): the default model's eyeriss τ 0.978 against 0.946
        (its other columns within 0.002), the NB201 base's 21 device columns 0.898 against
        0.896 on average, higher on 15. Where latencies take few distinct values the median
        lands on them; the expected value falls between them."""
        return self.predict_median(archs)

    def _run(self, archs, k, law, seed, batch_size, progress, readout) -> np.ndarray:
        """Decoded values in units; an objective with a :class:`MixHead` blends its own
        value with the head's mix of its sources' exact medians, whatever the readout: the
        head was fitted on them, a mix of *sampled* sources adds up their noise (NB201
        eyeriss, N = 78: median of 8 samples τ 0.70 that way, against 0.92 for the exact
        median), and expected counts blur the integers a count head sums (held out, NB201,
        N = 781, one model and its head alone: gold_6226 τ 0.911 over expected counts, 0.923
        over their medians; docs/rlm_v2.md). The sources are decoded in the objectives'
        pass, each text encoded once, where they read the same graph views and are not
        objectives themselves (so samples keep the draws of the objectives alone), else in a
        second pass. The token's values move by the blend's correction of their median
        (:meth:`MixHead.blend_samples`), so samples keep the token's spread. ``law`` is the
        sampling's ``(temperature, top_p)``. A source a head weighs 0 is not decoded."""
        heads = {o: self.mix_heads[o].weighed() for o in self.objectives if o in self.mix_heads}
        names = self.objectives
        sources = list(dict.fromkeys(s for h in heads.values() for s in h.sources))
        # a chained model conditions each value on the ones before: sources apart
        together = (bool(heads) and not self.config.chained and not set(sources) & set(names)
                    and ({self.view_of_objective(s) for s in sources}
                         <= {self.view_of_objective(o) for o in names}))
        self.objectives = [*names, *sources] if together else names
        try:
            out = self._decode_all(archs, k, law, seed, batch_size, progress, readout,
                                   medians=set(sources) if together else ())
            if not heads:
                return out
            if together:
                X, out = out[:, :1, len(names):], out[..., : len(names)]
            else:
                self.objectives = sources
                X = self._decode_all(archs, 1, GREEDY, 0, batch_size, progress, "median")
        finally:
            self.objectives = names
        for o, h in heads.items():
            j = names.index(o)
            out[..., j] = h.blend_samples(X[..., [sources.index(s) for s in h.sources]],
                                          out[..., j])
        return out

    def _decode_all(self, archs, k, law, seed, batch_size, progress, readout, medians=()):
        """Each distinct text is encoded once and decodes the objectives of every view it
        stands in, longest first. A text shared by several archs (NB201's optimised graphs:
        about 2,400 distinct among 5,000 archs) gets one value; a text shared by two views of
        an arch (NB201's converted graph is the optimised one wherever no branch is dead:
        632 of 2,000 held-out archs) is encoded once for both, as in training; and batches
        pad their texts to similar lengths (about 13 % fewer encoder tokens than in arrival
        order). Objectives in ``medians`` are decoded by their exact median whatever the
        readout, repeated over the ``k`` samples (a mix head's sources, in :meth:`_run`)."""
        from tqdm import tqdm

        if self.model is None:
            raise NasRlmError("the RLM has no model yet: fit it or load one with from_pretrained")
        medians = () if readout == "median" else medians  # all alike: one decoder call
        views = self.views_for(archs)
        self.model.eval()
        gen = torch.Generator().manual_seed(seed)
        out = np.empty((len(views), k, len(self.objectives)))
        cols_of = [[j for j in range(len(self.objectives)) if self.view_of(j) == v]
                   for v in range(self.n_views)]
        stands_in: dict[str, set[int]] = {}  # text -> the views with objectives it is in
        for x in views:
            for v, t in enumerate(x):
                if cols_of[v]:
                    stands_in.setdefault(t, set()).add(v)
        groups: dict[tuple[int, ...], list[str]] = {}  # texts of the same views decode alike
        for t, vs in stands_in.items():
            groups.setdefault(tuple(sorted(vs)), []).append(t)
        jobs = [(vs, sorted(ts, key=lambda t: -len(t))) for vs, ts in groups.items()]
        batches = [(i, s) for i, (_, uniq) in enumerate(jobs)
                   for s in range(0, len(uniq), batch_size)]
        cols_of_job = [[j for v in vs for j in cols_of[v]] for vs, _ in jobs]
        decoded = [np.empty((len(uniq), k, len(cols)))
                   for (_, uniq), cols in zip(jobs, cols_of_job, strict=True)]
        encoded = self._encoded([jobs[i][1][s : s + batch_size] for i, s in batches])
        # closing: an error here stops the encoder thread too; the sliced output layer is
        # the decoder's alone, so the encoder thread never reads it
        with closing(encoded), _decoder_vocab(self.model, self.text_offset):
            for (i, s), (hidden, mask) in tqdm(zip(batches, encoded, strict=True),
                                               desc="predict", total=len(batches),
                                               unit="batch", disable=not progress):
                objs = [self.objectives[j] for j in cols_of_job[i]]
                at = [c for c, o in enumerate(objs) if o not in medians]
                block = decoded[i][s : s + batch_size]
                if at:  # only the sampled objectives draw from ``gen``
                    block[..., at] = self._decode_hidden(
                        hidden, mask, [objs[c] for c in at], k, law, gen, readout)
                if len(at) < len(objs):
                    med = [c for c, o in enumerate(objs) if o in medians]
                    block[..., med] = self._decode_hidden(
                        hidden, mask, [objs[c] for c in med], 1, law, gen, "median")
        for (vs, uniq), cols, values in zip(jobs, cols_of_job, decoded, strict=True):
            where = {t: i for i, t in enumerate(uniq)}
            for v in vs:
                archs_v = [i for i, x in enumerate(views) if x[v] in where]
                rows = [where[views[i][v]] for i in archs_v]
                at = [cols.index(j) for j in cols_of[v]]
                out[np.ix_(archs_v, range(k), cols_of[v])] = values[rows][:, :, at]
        values = self.denormalise(out, SAMPLE_REACH if readout == "samples" else REACH)
        med = [j for j, o in enumerate(self.objectives) if o in medians]
        if med:  # a median is clipped as a point readout is
            values[..., med] = self.denormalise(out, REACH)[..., med]
        return values

    def encoder_output(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's output for ``texts`` ``(n, tokens, d_model)`` and their padding mask:
        what every readout decodes from, and the floor of its cost."""
        ids, mask = self.pad(self.encode_texts(texts))
        with torch.no_grad():  # grad mode is per thread: say it in the encoder's own
            hidden = self.model.get_encoder()(input_ids=ids, attention_mask=mask)
        return hidden.last_hidden_state, mask

    def _encoded(self, batches: list[Sequence[str]]
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`encoder_output` of each batch, in order, run ``ENCODE_AHEAD`` batches ahead of
        the caller in a second thread. The decoder's sampling generator stays in the caller's
        thread, so the draws are those of encoding in turn (test
        ``test_encoding_ahead_in_a_thread_changes_no_number``)."""
        if ENCODE_AHEAD <= 0 or len(batches) < 2 or torch.get_num_threads() < 2:
            yield from map(self.encoder_output, batches)
            return
        with ThreadPoolExecutor(1, thread_name_prefix="rlm-encoder") as pool:
            ahead = deque(pool.submit(self.encoder_output, b) for b in batches[:ENCODE_AHEAD])
            for b in batches[ENCODE_AHEAD:]:
                ready = ahead.popleft().result()
                ahead.append(pool.submit(self.encoder_output, b))
                yield ready
            while ahead:
                yield ahead.popleft().result()

    def _decode_hidden(self, hidden, mask, objectives, k, law, gen, readout):
        n, m = hidden.shape[0], len(objectives)
        obj = torch.tensor([self.objective_token_id(o) if self.config.objective_tokens else -1
                            for o in objectives])
        # one row per text (chained: it writes all m values) or per (text, objective); the
        # k samples of a row share it until their sampled tokens part ways (see _steps)
        if self.config.chained:
            rows, forced, n_values = torch.arange(n), obj.repeat(n, 1), m
        else:
            rows, forced, n_values = torch.arange(n).repeat_interleave(m), obj.repeat(n)[:, None], 1
        enc = (hidden, mask, rows)
        sampling = (None if readout == "expected" else (*law, gen)
                    if readout == "samples" else MedianWalk(self.numbers, len(forced)))
        tokens, probs = self._sample(enc, forced, n_values, sampling, samples=k)
        if readout == "expected":
            values = np.stack([self._expected_value(enc, forced, tokens, probs, j)
                               for j in range(n_values)], 1)
        else:
            o = self.slot - self.numbers.tokens_per_value
            values = np.stack([self.numbers.decode_values(
                tokens[:, j * self.slot + o : (j + 1) * self.slot].numpy())
                for j in range(n_values)], 1)
        if self.config.chained:
            return values.reshape(n, k, m)
        return values.reshape(n, m, k).transpose(0, 2, 1)

    def _sample(self, enc, forced, n_values, sampling, prefix=None, stop=None, samples=1):
        """Constrained decoding with a KV cache, from after ``prefix`` up to ``stop``.

        ``enc`` is ``(hidden, mask, rows)``: the encoder output of each distinct text and the
        text of every decoded row. The first decoder step (``<bos>``) is the same for all rows
        of a text, so it runs once per text; its cross-attention keys and values are then
        shared by the text's rows (``grouped_attention``) when the rows are text-major, and
        copied to them otherwise: never recomputed per sample or objective. Objective slots
        take the ``forced`` token of their value; every other step is masked to the number
        grammar and sampled (``sampling=(temperature, top_p, generator)``), greedy (``None``) or
        the median's token (a :class:`~.constrained.MedianWalk`).
        With ``samples=k`` every row stands for ``k`` samples (see :meth:`_steps`); the
        returned tokens then have ``k`` rows per row, sample-minor. Returns the generated
        tokens and, when greedy, each step's distribution.
        """
        hidden, mask, rows = enc
        grammar = NumberGrammar(self.numbers, n_values)
        slot, n = self.slot, hidden.shape[0]
        bos = torch.full((n, 1), self.numbers.bos_id, dtype=torch.long)
        out = self.model(encoder_outputs=(hidden,), attention_mask=mask, decoder_input_ids=bos,
                         use_cache=True)
        cache, logits = out.cache, out.logits[rows, -1]
        grouped = isinstance(cache, EncoderDecoderCache) and bool((rows[1:] >= rows[:-1]).all())
        if grouped:  # the cross-attention cache stays at one entry per text
            cache.self_attention_cache.batch_select_indices(rows)
            hidden = hidden[:1].expand(len(rows), -1, -1)  # read by nothing once cached
        else:
            cache.batch_select_indices(rows)
            hidden = hidden[rows]
        mask = mask[rows]
        with _decoder_attention(self.model, GROUPED if grouped else None):
            return self._steps(hidden, mask, rows if grouped else None, cache, logits, forced,
                               grammar, sampling, prefix,
                               n_values * slot if stop is None else stop, samples)

    def _steps(self, hidden, mask, rows, cache, logits, forced, grammar, sampling, prefix,
               stop, samples=1):
        """The decoding loop of :meth:`_sample`; ``rows`` is each row's text when the
        cross-attention is grouped, else None.

        Samples that have written the same tokens so far have the same next-token
        distribution, so they share one decoder row: each row carries the samples whose
        prefix it is, every step draws one token per sample from the row's distribution, and
        a row splits only where its samples' draws differ. The objective token, the sign and
        mostly the exponent are shared by all ``k`` samples of a value, so on the shipped
        NB201 model the decoder runs about half the rows it would with one row per sample
        (docs/rlm_v2.md, "Decoding cost"). Each sample is still drawn from the model's
        distribution given its own prefix: the same law, and the same draws per row.
        """
        slot, tpv = self.slot, self.numbers.tokens_per_value
        o = slot - tpv
        first = 0
        if prefix is not None:
            out = self.model(encoder_outputs=(hidden,), attention_mask=mask,
                             decoder_input_ids=prefix, cache=cache, use_cache=True,
                             **_rows_kwarg(rows))
            cache, logits, first = out.cache, out.logits[:, -1], prefix.shape[1]
        # sample i is sample i % samples of group i // samples; where[i] is its row
        where = torch.arange(len(forced)).repeat_interleave(samples)
        draw = torch.arange(len(where)) % samples
        tokens, probs = [], []
        for step in range(first, stop):
            if not torch.isfinite(logits).all():
                raise ModelFormatError(
                    f"{self.source} gives non-finite scores: its weights are damaged "
                    "(retrain it, or restore the checkpoint)")
            j, r = divmod(step, slot)
            if r < o:  # the objective slot: given, not predicted
                token = forced[:, j]
                if sampling is None:
                    probs.append(torch.nn.functional.one_hot(token, logits.shape[-1]).float())
            else:
                masked = grammar.mask_logits(logits.float(), j * tpv + r - o)
                if isinstance(sampling, MedianWalk):
                    token = sampling.step(torch.softmax(masked, -1), r - o)
                elif sampling is None:
                    p = torch.softmax(masked, -1)
                    token = p.argmax(-1)
                    probs.append(p)
                else:
                    p = torch.softmax(_top_p(masked / sampling[0], sampling[1]), -1)
                    drawn = torch.multinomial(p, samples, replacement=True,
                                              generator=sampling[2])[where, draw]
                    key, where = torch.unique(where * p.shape[-1] + drawn, return_inverse=True)
                    token = key % p.shape[-1]
                    split = key // p.shape[-1]  # the row each new row continues
                    if len(split) > len(forced):  # some samples part ways: rows split
                        if rows is not None:  # hidden is read by nothing once cached
                            cache.self_attention_cache.batch_select_indices(split)
                            hidden = hidden[:1].expand(len(split), -1, -1)
                            rows = rows[split]
                        else:
                            cache.batch_select_indices(split)
                            hidden = hidden[split]
                        mask, forced = mask[split], forced[split]
            tokens.append(token[where])
            if step + 1 < stop:
                out = self.model(encoder_outputs=(hidden,), attention_mask=mask,
                                 decoder_input_ids=token[:, None], cache=cache, use_cache=True,
                                 **_rows_kwarg(rows))
                cache, logits = out.cache, out.logits[:, -1]
        return torch.stack(tokens, 1), (torch.stack(probs, 1) if probs else None)

    def _expected_value(self, enc, forced, tokens, probs, j: int) -> np.ndarray:
        """Expected value of value ``j`` of every row, branching at its leading positions.

        A point estimate must not average digits across magnitudes (``9.x E0`` against
        ``1.x E1``), nor condition everything on one most-likely token, which makes an arch on
        the border look like the extreme of one side. So at the tokenizer's
        ``branch_position`` (the exponent in the exponent-first format), and then at the first
        mantissa digit, the most likely token and a neighbour (``_neighbour_branches``) are
        each decoded to the end greedily, with the later mantissa digits read as
        expectations, and the branches are averaged with their probabilities
        (``_branch_mean``). The first digit is branched, not read as an expectation, because
        the digits after it are decoded given one first digit: "E[d1] + E[d2 | argmax d1]/10"
        reads 4.97 as 5.4 when the model is unsure between 4 and 5 (soft first digits,
        ``TrainConfig.digit_sigma``, teach exactly that). Earlier values stay at their greedy
        tokens.
        """
        nt = self.numbers
        base = j * self.slot + (self.slot - nt.tokens_per_value)
        end = base + nt.tokens_per_value
        at = dict.fromkeys([nt.branch_position, nt.mantissa_positions[0]])
        return self._branched(enc, forced, tokens[:, :end], probs[:, :end], base,
                              [base + q for q in at])

    def _branched(self, enc, forced, toks, prs, base: int, at: list[int]) -> np.ndarray:
        """The value written by ``toks[:, base:]`` (greedy tokens, ``prs`` their steps'
        distributions), branched at the positions ``at`` in turn: for each, the value of the
        most likely token's branch and of its neighbour's (decoded greedily from there) are
        averaged by their probabilities; the digits after the last branch are expectations."""
        b, end = at[0], toks.shape[1]
        top_p, top_ids = _neighbour_branches(prs[:, b], self.numbers.exponent_first)
        values = []
        for i in range(top_ids.shape[1]):
            t, p = toks.clone(), prs.clone()
            t[:, b] = top_ids[:, i]
            # a branch whose weight cannot move the estimate by 1e-4 decades is not decoded
            need = (top_p[:, i] > 1e-5 * top_p[:, 0]).nonzero()[:, 0]
            if i > 0:
                if end > b + 1 and len(need):
                    hidden, mask, rows = enc
                    prefix = torch.cat([toks[need, :b], top_ids[need, i : i + 1]], 1)
                    rest_t, rest_p = self._sample((hidden, mask, rows[need]), forced[need],
                                                  forced.shape[1], None, prefix, stop=end)
                    t[need, b + 1 :], p[need, b + 1 :] = rest_t, rest_p
                skip = torch.ones(len(top_p), dtype=torch.bool)
                skip[need] = False
                top_p[skip, i] = 0.0
            values.append(self._branched(enc, forced, t, p, base, at[1:]) if len(at) > 1
                          else self._value_of(t[:, base:], p[:, base:], b - base))
        return _branch_mean(np.stack(values, 1), top_p.numpy())

    def _value_of(self, toks, prs, branch: int) -> np.ndarray:
        """sign × Σ d_i·10^-i × 10^e for one value's tokens: mantissa digits after
        ``branch`` as expectations under ``prs``, everything else as written."""
        nt = self.numbers
        digit_ids = torch.tensor(nt.digit_ids)
        digit_of = {int(t): d for d, t in enumerate(digit_ids)}
        mant = torch.zeros(toks.shape[0], dtype=torch.float64)
        for i, q in enumerate(nt.mantissa_positions):
            if q > branch:
                d = prs[:, q][:, digit_ids].double() @ torch.arange(10.0, dtype=torch.float64)
            else:
                d = torch.tensor([float(digit_of[int(t)]) for t in toks[:, q]],
                                 dtype=torch.float64)
            mant += d * 10.0 ** -i
        pe = list(nt.exponent_positions)
        exps = torch.tensor([nt.exponent_of(row) for row in toks[:, pe].tolist()],
                            dtype=torch.float64)
        neg = toks[:, nt.sign_position] == nt.token_to_id("<->")
        return (torch.where(neg, -1.0, 1.0) * mant * 10.0**exps).numpy()

    # -- persistence -----------------------------------------------------------------------
    def save_pretrained(self, path: str | Path, half: bool = False) -> Path:
        """Weights (safetensors; ``half`` stores float16, loaded back into float32), the text
        tokenizer and ``rlm.json`` (the one config file), then ``manifest.json`` with the
        sha256 of each, which :meth:`from_pretrained` checks. Every file is written atomically."""
        from safetensors.torch import save

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = {k: (v.half() if half and v.is_floating_point() else v).contiguous()
                 for k, v in self.model.state_dict().items() if k not in _TIED}
        atomic_write_bytes(path / WEIGHTS, save(state, metadata={"format": "pt"}))
        save_text_tokenizer(self.text_tokenizer, path / TOKENIZER)
        meta = RLMMeta(self.objectives, self.space, self.config, self.numbers.to_dict(),
                       self.objective_vocab,
                       {o: m.to_dict() for o, m in self.scalers.items()}, self.training_info,
                       space_settings=self.space_settings,
                       executed_objectives=self.executed_objectives,
                       converted_objectives=self.converted_objectives,
                       mix_heads={o: h.to_dict() for o, h in self.mix_heads.items()})
        write_json(path / META, asdict(meta))
        (path / "config.json").unlink(missing_ok=True)  # written by nas-rlm before the manifest
        return write_manifest(path)

    def save(self, path: str | os.PathLike) -> Path:
        """The :class:`Surrogate` contract's name for :meth:`save_pretrained`."""
        return self.save_pretrained(path)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> RLM:
        """Load a directory written by :meth:`save_pretrained`; damage gives a clear error."""
        path = Path(path)
        if not (path / META).is_file():
            raise ModelFormatError(f"{path} is not an RLM checkpoint (no rlm.json)")
        _check_manifest(path)
        try:
            raw = json.loads((path / META).read_text())
            if not isinstance(raw, dict):
                raise ValueError(f"expected a JSON object, got {type(raw).__name__}")
            if raw.get("format_version") != FORMAT_VERSION:
                raise ModelFormatError(
                    f"{path} is an RLM checkpoint of format version "
                    f"{raw.get('format_version')}; this version of nas-rlm reads format "
                    f"{FORMAT_VERSION} (objective tokens, exponent-first numbers): retrain it"
                )
            if raw.get("text_format") != TEXT_FORMAT:
                raise ModelFormatError(
                    f"{path} was trained on ONNX text format {raw.get('text_format')}, this "
                    f"version renders format {TEXT_FORMAT}; retrain it"
                )
            config = RLMConfig(**raw["config"])
            numbers = tokenizer_from_dict(raw["number_tokenizer"])
            expected = P10Tokenizer(config.digits, config.min_exp, config.max_exp,
                                    config.exponent_first)
            if numbers.kind == "p10" and numbers.config() != expected.config():
                raise ValueError(f"number tokenizer {numbers!r} disagrees with the config")
            objectives = [str(o) for o in raw["objectives"]]
            vocab = [str(o) for o in raw["objective_vocab"]]
            scalers = {str(o): MonotoneMap.from_dict(d) for o, d in raw["normalization"].items()}
            training = dict(raw.get("training", {}))
            if training and set(objectives) - set(scalers):  # a trained model has them all
                raise ValueError(f"no normalisation for {sorted(set(objectives) - set(scalers))}")
            heads = {str(o): MixHead.from_dict(d) for o, d in raw.get("mix_heads", {}).items()}
            strays = sorted({o for o, h in heads.items() for o in (o, *h.sources)} -
                            set(vocab))
            if strays:
                raise ValueError(f"mix heads name objectives the model lacks: {strays}")
            trained_as = training.get("recipe", {}).get("model") or {}
            changed = [k for k, v in trained_as.items() if getattr(config, k, v) != v]
            if changed:  # the config it was trained with is recorded beside the one it loads
                raise ValueError(f"config field(s) {', '.join(changed)} differ from the "
                                 "recipe the model was trained with")
        except ModelFormatError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ModelFormatError(f"{path}/rlm.json is damaged: {e}") from e
        try:
            space = raw.get("space")
            if space is not None:
                space = get_space(space, raw.get("space_settings") or {}, recorded=True)
            rlm = cls(objectives, space, config,
                      load_text_tokenizer(path / TOKENIZER), numbers,
                      objective_vocab=vocab,
                      executed_objectives=[str(o) for o in raw.get("executed_objectives", [])],
                      converted_objectives=[str(o) for o in
                                            raw.get("converted_objectives", [])])
        except (NasRlmError, TypeError) as e:
            raise ModelFormatError(f"{path}/rlm.json is damaged: {e}") from e
        rlm.scalers = scalers
        rlm.mix_heads = heads
        rlm.training_info = training
        rlm.model = _load_t5(path, rlm._t5_config())
        rlm.source = str(path)
        return rlm

    def objective_index(self, name: str) -> int:
        try:
            return self.objectives.index(name)
        except ValueError:
            raise UnknownNameError(
                f"unknown objective {name!r}; this model predicts {', '.join(self.objectives)}"
            ) from None


def _top_p(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """``scores`` (rows of logits) kept on each row's smallest set of likeliest tokens that
    holds ``top_p`` of its probability, the rest at -inf (``transformers``' nucleus warper;
    the likeliest token always stays)."""
    return scores if top_p >= 1.0 else TopPLogitsWarper(top_p)(None, scores)


def _neighbour_branches(p: torch.Tensor, exponent_first: bool):
    """The two branches of the expected-value readout: ``(probabilities, token ids)``, each
    ``(rows, 2)``. Mantissa first, the two most likely digits. Exponent first, the most likely
    exponent and the likelier of its two neighbours: a value near a decade border is averaged
    across it, while the small mass a decoder leaves on far exponents (``E8`` for a latency
    near 10 ms) is not averaged in, since even a geometric mean moves a decade per 1/8 of
    weight on an eight-decade outlier. Token ids of neighbouring exponents are adjacent."""
    if not exponent_first:
        top_p, top_ids = p.topk(2, dim=-1)
        return torch.where(top_p > 0, top_p, 0.0), top_ids
    best = p.argmax(-1)
    lo, hi = (best - 1).clamp(min=0), (best + 1).clamp(max=p.shape[1] - 1)
    p_lo, p_hi = p.gather(1, lo[:, None])[:, 0], p.gather(1, hi[:, None])[:, 0]
    p_lo = torch.where(lo == best, 0.0, p_lo)
    p_hi = torch.where(hi == best, 0.0, p_hi)
    second = torch.where(p_hi > p_lo, hi, lo)
    ids = torch.stack([best, second], 1)
    return p.gather(1, ids), ids


@contextmanager
def _decoder_vocab(model, width: int):
    """Score only the first ``width`` ids (numbers and objective tokens): the decoder never
    writes a text token, and the output layer, masking, softmax and sampling over the other
    ~1,000 ids per step took about a quarter of sampling time (docs/rlm_v2.md, "Decoding
    cost"). The sliced layer is a view of the same weights: the kept logits are the same
    numbers, up to float rounding."""
    head = getattr(model, "lm_head", None)
    if type(head) is not torch.nn.Linear or head.out_features <= width:  # e.g. a test stub
        yield
        return
    sliced = torch.nn.Linear(head.in_features, width, bias=False)
    sliced.weight = torch.nn.Parameter(head.weight[:width], requires_grad=False)
    model.lm_head = sliced
    try:
        yield
    finally:
        model.lm_head = head


@contextmanager
def _decoder_attention(model, name: str | None):
    """Run the decoder with attention implementation ``name`` (None: leave it)."""
    cfg = getattr(getattr(model, "decoder", None), "config", None)
    if name is None or cfg is None:
        yield
        return
    before = cfg._attn_implementation
    cfg._attn_implementation = name
    try:
        yield
    finally:
        cfg._attn_implementation = before


def _rows_kwarg(rows: torch.Tensor | None) -> dict:
    """The model-call keyword that tells grouped cross-attention each row's text."""
    return {} if rows is None else {"decoder_rows": rows}


def _branch_mean(values: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Probability-weighted mean of branch values ``(rows, branches)``: geometric where every
    branch is positive, so that an unlikely branch a decade or ten away (``E10`` at p = 1e-4)
    moves the estimate by a fraction of a decade rather than dominating it; arithmetic
    otherwise. Both are monotone in every branch value."""
    w = p / np.maximum(p.sum(1, keepdims=True), 1e-30)
    arith = (w * values).sum(1)
    pos = (values > 0).all(1)
    geo = np.exp((w * np.log(np.where(values > 0, values, 1.0))).sum(1))
    return np.where(pos, geo, arith)


def _load_t5(path: Path, expected: T5Config) -> T5ForConditionalGeneration:
    """Weights from safetensors only, checked against the shapes the metadata implies."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = path / WEIGHTS
    if not weights.is_file():
        raise ModelFormatError(f"{path} has no model.safetensors")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFormatError(f"{weights} is truncated or corrupted: {e}") from e
    model = T5ForConditionalGeneration(expected)
    own = model.state_dict()
    missing = [k for k in own if k not in state and k not in _TIED]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if missing or unexpected or wrong:
        raise ModelFormatError(
            f"{weights} does not match its config: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, wrong shapes {wrong[:3]}"
        )
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in state.items()}, strict=False)
    model.tie_weights()
    model.eval()
    return model


def write_manifest(path: str | Path) -> Path:
    """Record the sha256 of a checkpoint's files. ``save_pretrained`` calls it; calling it
    by hand vouches for files edited after saving (they are still cross-checked on load)."""
    path = Path(path)
    write_json(path / MANIFEST, {"files": {n: sha256_file(path / n) for n in CHECKED}})
    return path


def _check_manifest(path: Path) -> None:
    """Every file of the checkpoint against the sha256 its manifest records."""
    try:
        files = json.loads((path / MANIFEST).read_text())["files"]
        if not isinstance(files, dict) or set(files) != set(CHECKED):
            raise ValueError(f"it lists {sorted(files)}, not {list(CHECKED)}")
    except FileNotFoundError:
        raise ModelFormatError(
            f"{path} has no {MANIFEST} (a checkpoint of an older nas-rlm, or a damaged one); "
            "retrain it, or re-save it with this version") from None
    except (ValueError, KeyError, TypeError) as e:
        raise ModelFormatError(f"{path}/{MANIFEST} is damaged: {e}") from e
    for name in CHECKED:
        if not (path / name).is_file():
            raise ModelFormatError(f"{path} has no {name}")
        if sha256_file(path / name) != files[name]:
            raise ModelFormatError(
                f"{path}/{name} does not match the sha256 in {MANIFEST}: the file was changed "
                "or damaged after saving; restore it or retrain")

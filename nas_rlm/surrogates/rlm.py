"""The Regression Language Model: ONNX text in, numbers out as tokens.

Read top to bottom: the config, then :class:`RLM`, which owns a T5 encoder-decoder from
``transformers`` (randomly initialised; no hub weights), the BPE input tokenizer, the number
tokenizer, and the recorded objective order. The decoder writes
``acc, lat(dev1), lat(dev2), ...``; each value is conditioned on the ones before it by the
decoder itself. Decoding is grammar-constrained, so every sample parses.

One vocabulary serves both sides (T5 shares its embedding table): ids ``0..V_num-1`` are number
tokens (pad/bos/eos first), ids ``V_num..`` are BPE tokens of the text. The grammar masks every
text id on the decoder side.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import T5Config, T5ForConditionalGeneration

from ..errors import ModelFormatError, UnknownNameError
from ..io import write_json
from ..search_spaces.onnx_text import TEXT_FORMAT
from .base import Surrogate
from .constrained import NumberGrammar
from .numbers import NumberTokenizer, P10Tokenizer, tokenizer_from_dict
from .text_tokenizer import load_text_tokenizer, save_text_tokenizer, train_text_tokenizer

FORMAT_VERSION = 1


@dataclass
class RLMConfig:
    d_model: int = 128          # width of every layer; ~1.5 M params at the defaults
    d_ff: int = 512             # feed-forward width
    num_heads: int = 4
    d_kv: int = 32              # per-head width (num_heads * d_kv == d_model)
    encoder_layers: int = 4     # the encoder reads ~150 BPE tokens of ONNX text
    decoder_layers: int = 2     # the decoder only writes 6 tokens per objective
    dropout: float = 0.1        # it overfits early at N~800 (DESIGN §1.3.1)
    text_vocab_size: int = 1024
    max_text_tokens: int = 512  # longer texts are an error, not silently truncated
    digits: int = 4             # P10 mantissa digits
    min_exp: int = -10
    max_exp: int = 10

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            kind = float if name == "dropout" else int
            if not isinstance(value, kind) or isinstance(value, bool):
                raise TypeError(f"RLMConfig.{name} must be {kind.__name__}, got {value!r}")
        if self.num_heads * self.d_kv != self.d_model:
            raise ValueError("RLMConfig needs num_heads * d_kv == d_model")


@dataclass
class RLMMeta:
    """What ``from_pretrained`` needs besides the weights."""

    objectives: list[str]
    space: str | None
    config: RLMConfig
    number_tokenizer: dict
    training: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    text_format: int = TEXT_FORMAT


class RLM(Surrogate):
    def __init__(
        self,
        objectives: Sequence[str],
        space: str | None = None,
        config: RLMConfig | None = None,
        text_tokenizer=None,
        number_tokenizer: NumberTokenizer | None = None,
        model: T5ForConditionalGeneration | None = None,
    ) -> None:
        if not objectives:
            raise ValueError("an RLM needs at least one objective")
        self.objectives = list(objectives)
        self.space = space
        self.config = config or RLMConfig()
        c = self.config
        self.numbers = number_tokenizer or P10Tokenizer(c.digits, c.min_exp, c.max_exp)
        self.text_tokenizer = text_tokenizer
        self.model = model
        self.training_info: dict = {}
        self._text_cache: dict = {}

    # -- construction ----------------------------------------------------------------------
    def build(self, texts: Sequence[str], seed: int = 0) -> RLM:
        """Learn the BPE on ``texts`` (if none yet) and create a randomly initialised model."""
        if self.text_tokenizer is None:
            self.text_tokenizer = train_text_tokenizer(texts, self.config.text_vocab_size)
        torch.manual_seed(seed)
        self.model = T5ForConditionalGeneration(self._t5_config())
        return self

    def _t5_config(self) -> T5Config:
        c = self.config
        return T5Config(
            vocab_size=self.numbers.vocab_size + self.text_tokenizer.get_vocab_size(),
            d_model=c.d_model, d_ff=c.d_ff, d_kv=c.d_kv, num_heads=c.num_heads,
            num_layers=c.encoder_layers, num_decoder_layers=c.decoder_layers,
            dropout_rate=c.dropout, pad_token_id=self.numbers.pad_id,
            eos_token_id=self.numbers.eos_id, decoder_start_token_id=self.numbers.bos_id,
        )

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    # -- inputs ----------------------------------------------------------------------------
    def texts_for(self, archs: Sequence) -> list[str]:
        """Texts of ``archs`` via the recorded space; strings that look like text pass as is."""
        from ..search_spaces import get_space

        out = []
        space = get_space(self.space) if self.space else None
        for a in archs:
            if isinstance(a, str) and a.startswith(("func ", "in %")):
                out.append(a)
                continue
            if space is None:
                raise ValueError("this RLM has no space; pass ONNX texts instead of archs")
            key = space.parse(a)
            if key not in self._text_cache:
                self._text_cache[key] = space.to_text(key)
            out.append(self._text_cache[key])
        return out

    def encode_texts(self, texts: Sequence[str]) -> list[list[int]]:
        offset = self.numbers.vocab_size
        out = []
        for enc in self.text_tokenizer.encode_batch(list(texts)):
            if len(enc.ids) > self.config.max_text_tokens:
                raise ValueError(
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

    def target_ids(self, Y: np.ndarray) -> torch.Tensor:
        return torch.tensor([self.numbers.encode_ids(row, add_eos=True) for row in Y])

    # -- prediction ------------------------------------------------------------------------
    def fit(self, archs: Sequence, Y: np.ndarray, **kwargs) -> RLM:
        from .training import TrainConfig, train

        texts = self.texts_for(archs)
        if self.model is None:
            self.build(texts, seed=kwargs.get("seed", 0))
        train(self, texts, Y, TrainConfig(**kwargs))
        return self

    @torch.no_grad()
    def predict(
        self, archs: Sequence, k: int = 8, temperature: float = 1.0, seed: int = 0,
        batch_size: int = 64, progress: bool = False,
    ) -> np.ndarray:
        """``k`` constrained samples per arch: shape ``(n, k, n_objectives)``.

        Identical texts are encoded once; each arch's encoder output is reused by all ``k``
        samples, and the decoder runs with a KV cache.
        """
        return self._run(archs, k, temperature, seed, batch_size, progress, expected=False)

    @torch.no_grad()
    def predict_expected(
        self, archs: Sequence, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """Point estimates that keep the model's resolution: shape ``(n, n_objectives)``.

        Sign and exponent follow the most likely token; each mantissa digit is replaced by its
        expectation under the decoder (conditioned on the most likely earlier digits). Greedy
        decoding collapses thousands of archs onto a few values and ties ruin Kendall τ
        (DESIGN §1.3.1); this readout does not.
        """
        return self._run(archs, 1, 1.0, 0, batch_size, progress, expected=True)[:, 0]

    def _run(self, archs, k, temperature, seed, batch_size, progress, expected) -> np.ndarray:
        from tqdm import tqdm

        if self.model is None:
            raise ValueError("the RLM has no model yet: fit it or load one with from_pretrained")
        texts = self.texts_for(archs)
        uniq = list(dict.fromkeys(texts))
        where = {t: i for i, t in enumerate(uniq)}
        self.model.eval()
        gen = torch.Generator().manual_seed(seed)
        out = np.empty((len(uniq), k, len(self.objectives)))
        starts = range(0, len(uniq), batch_size)
        for s in tqdm(starts, desc="predict", unit="batch", disable=not progress):
            chunk = uniq[s : s + batch_size]
            out[s : s + len(chunk)] = self._decode(chunk, k, temperature, gen, expected)
        return out[[where[t] for t in texts]]

    def _decode(self, texts, k, temperature, gen, expected) -> np.ndarray:
        ids, mask = self.pad(self.encode_texts(texts))
        enc = self.model.get_encoder()(input_ids=ids, attention_mask=mask)
        hidden = enc.last_hidden_state.repeat_interleave(k, dim=0)
        mask = mask.repeat_interleave(k, dim=0)
        m = len(self.objectives)
        tokens, probs = self._sample(hidden, mask, m * self.numbers.tokens_per_value,
                                     None if expected else (temperature, gen))
        if expected:
            values = self._expected(hidden, mask, tokens, probs)
        else:
            values = np.array([self.numbers.decode_ids(row.tolist(), m) for row in tokens])
        return values.reshape(len(texts), k, m)

    def _sample(self, hidden, mask, steps, sampling, prefix=None):
        """Constrained decoding with a KV cache: sampled, or greedy when ``sampling`` is None.

        Returns the tokens and, when greedy, every step's distribution (for expectations).
        """
        grammar = NumberGrammar(self.numbers, len(self.objectives))
        bsz = hidden.shape[0]
        start = torch.full((bsz, 1), self.numbers.bos_id, dtype=torch.long)
        seq = start if prefix is None else torch.cat([start, prefix], 1)
        first = seq.shape[1] - 1
        token, cache = seq, None
        tokens, probs = [], []
        for step in range(first, first + steps):
            out = self.model(encoder_outputs=(hidden,), attention_mask=mask,
                             decoder_input_ids=token, cache=cache, use_cache=True)
            cache = out.cache
            logits = grammar.mask_logits(out.logits[:, -1].float(), step)
            if sampling is None:
                p = torch.softmax(logits, -1)
                token = p.argmax(-1, keepdim=True)
                probs.append(p)
            else:
                p = torch.softmax(logits / sampling[0], -1)
                token = torch.multinomial(p, 1, generator=sampling[1])
            tokens.append(token)
        return torch.cat(tokens, 1), (torch.stack(probs, 1) if probs else None)

    def _expected(self, hidden, mask, tokens, probs, branches: int = 2) -> np.ndarray:
        """Expected value of each objective, branching over its first digit.

        P10 writes the mantissa before the exponent, so the first digit's distribution can mix
        magnitudes (``9.x E0`` against ``1.x E1``): averaging it digit-wise is meaningless, and
        conditioning everything on the most likely first digit makes an arch on the border
        between two leading digits look like the extreme of one of them. So for the
        ``branches`` most likely first digits, the rest of the number is decoded (later
        digits as expectations, exponent greedy) and the branch values are averaged with the
        first digit's probabilities. Earlier objectives stay at their greedy tokens.
        """
        if not isinstance(self.numbers, P10Tokenizer):
            raise ValueError("expected-value decoding needs the P10 number format")
        tpv, m = self.numbers.tokens_per_value, len(self.objectives)
        digit_ids = torch.tensor([self.numbers.token_to_id(f"<{d}>") for d in range(10)])
        out = np.zeros((tokens.shape[0], m))
        for j in range(m):
            d1 = j * tpv + 1  # position of this objective's first digit
            p_first = probs[:, d1, digit_ids]  # (batch, 10)
            top_p, top_d = p_first.topk(branches, dim=-1)
            total = np.zeros(tokens.shape[0])
            for b in range(branches):
                if b == 0:  # the greedy path already holds this branch
                    rest_tokens, rest_probs = tokens[:, d1 + 1 : (j + 1) * tpv], \
                        probs[:, d1 + 1 : (j + 1) * tpv]
                else:
                    prefix = torch.cat([tokens[:, :d1], digit_ids[top_d[:, b]][:, None]], 1)
                    rest_tokens, rest_probs = self._sample(hidden, mask, tpv - 2, None, prefix)
                total += top_p[:, b].numpy() * self._branch_value(
                    tokens[:, j * tpv], top_d[:, b], rest_tokens, rest_probs, digit_ids)
            out[:, j] = total / top_p.sum(-1).numpy()
        return out

    def _branch_value(self, sign, first, rest_tokens, rest_probs, digit_ids) -> np.ndarray:
        """sign × (first + Σ E[d_i]·10^(1-i)) × 10^e for one branch of every row."""
        expected_digits = rest_probs[:, :-1][..., digit_ids] @ torch.arange(10.0)
        place = 10.0 ** -torch.arange(1, expected_digits.shape[1] + 1)
        mant = first.double() + (expected_digits.double() @ place.double())
        exps = torch.tensor([int(self.numbers.id_to_token(int(t))[2:-1])
                             for t in rest_tokens[:, -1]], dtype=torch.float64)
        neg = torch.tensor([self.numbers.id_to_token(int(t)) == "<->" for t in sign])
        return (torch.where(neg, -1.0, 1.0) * mant * 10.0**exps).numpy()

    # -- persistence -----------------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> Path:
        """Weights (safetensors), both tokenizers, objectives and config, in one directory."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path, safe_serialization=True)
        save_text_tokenizer(self.text_tokenizer, path / "text_tokenizer.json")
        meta = RLMMeta(self.objectives, self.space, self.config, self.numbers.to_dict(),
                       self.training_info)
        write_json(path / "rlm.json", asdict(meta))
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path) -> RLM:
        """Load a directory written by :meth:`save_pretrained`; damage gives a clear error."""
        path = Path(path)
        if not (path / "rlm.json").is_file():
            raise ModelFormatError(f"{path} is not an RLM checkpoint (no rlm.json)")
        try:
            raw = json.loads((path / "rlm.json").read_text())
            if not isinstance(raw, dict):
                raise ValueError(f"expected a JSON object, got {type(raw).__name__}")
            if raw.get("format_version") != FORMAT_VERSION:
                raise ModelFormatError(
                    f"{path}: checkpoint format {raw.get('format_version')} is not "
                    f"{FORMAT_VERSION}"
                )
            if raw.get("text_format") != TEXT_FORMAT:
                raise ModelFormatError(
                    f"{path} was trained on ONNX text format {raw.get('text_format')}, this "
                    f"version renders format {TEXT_FORMAT}; retrain it"
                )
            config = RLMConfig(**raw["config"])
            numbers = tokenizer_from_dict(raw["number_tokenizer"])
            objectives = [str(o) for o in raw["objectives"]]
            training = dict(raw.get("training", {}))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ModelFormatError(f"{path}/rlm.json is damaged: {e}") from e
        rlm = cls(objectives, raw.get("space"), config,
                  load_text_tokenizer(path / "text_tokenizer.json"), numbers)
        rlm.training_info = training
        rlm.model = _load_t5(path, rlm._t5_config())
        return rlm

    def objective_index(self, name: str) -> int:
        try:
            return self.objectives.index(name)
        except ValueError:
            raise UnknownNameError(
                f"unknown objective {name!r}; this model predicts {', '.join(self.objectives)}"
            ) from None


def _load_t5(path: Path, expected: T5Config) -> T5ForConditionalGeneration:
    """Weights from safetensors only, checked against the shapes the metadata implies."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = path / "model.safetensors"
    if not weights.is_file():
        raise ModelFormatError(f"{path} has no model.safetensors")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFormatError(f"{weights} is truncated or corrupted: {e}") from e
    model = T5ForConditionalGeneration(expected)
    own = model.state_dict()
    # tied tensors (embeddings shared with the encoder, decoder and head) are stored once
    tied = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"}
    missing = [k for k in own if k not in state and k not in tied]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if missing or unexpected or wrong:
        raise ModelFormatError(
            f"{weights} does not match its config: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, wrong shapes {wrong[:3]}"
        )
    model.load_state_dict(state, strict=False)
    model.tie_weights()
    model.eval()
    return model

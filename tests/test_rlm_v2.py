"""RLM v2 pieces that need no trained model: label normalisation, the recipe, objective tokens,
missing labels, the ranking loss, and every decoding mode's grammar."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nas_rlm.errors import ModelFormatError, NasRlmError, NumberError, UnknownNameError
from nas_rlm.search_spaces.nb201 import NB201
from nas_rlm.search_spaces.onnx_text import relative_node_ids
from nas_rlm.surrogates.normalization import HIGH, LOW, REACH, MonotoneMap
from nas_rlm.surrogates.recipes import DEFAULT_RECIPE, RLMRecipe
from nas_rlm.surrogates.rlm import RLM, write_manifest
from nas_rlm.surrogates.training import (
    TrainConfig,
    _losses,
    pairwise_rank_loss,
    rank_scores,
    soft_digit_objectives,
    soft_digit_targets,
)

SPACE = NB201()


# -- normalisation ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["quantile", "minmax"])
def test_normalisation_is_monotone_invertible_and_spans_one_decade(kind) -> None:
    y = np.random.default_rng(0).lognormal(2.0, 0.5, 500)  # latencies straddling 10 ms
    f = MonotoneMap.fit(y, kind)
    z = f.forward(y)
    assert z.min() == pytest.approx(LOW) and z.max() == pytest.approx(HIGH)
    order = np.argsort(y)
    assert np.all(np.diff(z[order]) >= 0)
    np.testing.assert_allclose(f.inverse(z), y, rtol=1e-9)
    # outside the training range: still strictly ordered and invertible
    out = np.array([y.min() / 3, y.min() / 2, y.max() * 2, y.max() * 5])
    zo = f.forward(out)
    assert zo[0] < zo[1] < LOW and HIGH < zo[2] < zo[3]
    np.testing.assert_allclose(f.inverse(zo), out, rtol=1e-9)
    # a stray decoded exponent (z = 1e9) is clipped REACH beyond the knots
    far = f.inverse(np.array([-1e9, 1e9]))
    np.testing.assert_allclose(far, f.inverse(np.array([LOW - REACH, HIGH + REACH])))
    assert far[0] < y.min() and y.max() < far[1] < 1000 * y.max()
    if kind == "quantile":  # spread evenly: about a ninth of the labels per first digit
        counts = np.bincount(np.floor(z).astype(int).clip(1, 8))[1:]
        assert counts.min() > 0.08 * len(y)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=60),
       st.sampled_from(["quantile", "minmax", "none"]))
def test_normalisation_round_trips_any_labels(values, kind) -> None:
    y = np.array(values)
    f = MonotoneMap.fit(y, kind)
    back = MonotoneMap.from_dict(json.loads(json.dumps(f.to_dict())))
    assert back == f
    np.testing.assert_allclose(f.inverse(f.forward(y)), y, rtol=1e-7, atol=1e-6)
    # a quantile map of one distinct label is constant; other kinds never say so
    if np.ptp(y) <= 1e-12 * max(1.0, abs(y.min())) or kind != "quantile":
        assert back.constant == (kind == "quantile")


def test_labels_that_vary_are_not_constant() -> None:
    for y in (np.arange(10.0), np.r_[0.0, 1.0], np.r_[5.0, 6.0, 6.0, 6.0], np.r_[-1e6, 1e6]):
        assert not MonotoneMap.fit(y).constant


def test_damaged_normalisation_is_a_model_format_error() -> None:
    good = MonotoneMap.fit(np.arange(10.0)).to_dict()
    for bad in ({**good, "x": good["x"][::-1]}, {**good, "kind": "log"}, {"kind": "quantile"},
                {**good, "z": good["z"][:-1]}, {**good, "x": [0.0, float("nan")]}):
        with pytest.raises(ModelFormatError):
            MonotoneMap.from_dict(bad)
    with pytest.raises(NasRlmError, match="unknown normalisation"):
        MonotoneMap.fit(np.arange(3.0), "log")


def test_an_accuracy_decoded_out_of_range_is_clipped_to_percent(tiny_config) -> None:
    """Far beyond the knots an accuracy reads as at most 100 % and a nonnegative quantity
    (every label ≥ 0) as at least 0; a column with negative labels keeps its sign."""
    rlm = RLM(["cifar10", "pixel3", "score"], NB201(), tiny_config())
    rlm.fit_scalers(np.array([[40.0, 2.0, -1.0], [70.0, 5.0, 0.5], [94.0, 20.0, 3.0]]))
    high = rlm.denormalise(np.full((1, 3), HIGH + 3.0))[0]
    low = rlm.denormalise(np.full((1, 3), LOW - 50.0))[0]
    assert high[0] == 100.0 and high[1] > 20.0  # observed 31.25 ms: a latency has no cap
    assert low[0] == 0.0 and low[1] == 0.0  # unclipped: -335 % and -35.5 ms
    assert low[2] < -1.0  # a column with negative labels keeps its sign
    inside = rlm.denormalise(rlm.normalise(np.array([[70.0, 5.0, 0.5]])))
    np.testing.assert_allclose(inside, [[70.0, 5.0, 0.5]])


# -- the recipe ------------------------------------------------------------------------------
def test_recipe_overrides_and_errors() -> None:
    r = DEFAULT_RECIPE.with_overrides(["train.steps=50", "model.chained=true",
                                       "train.lr=2e-3", "pretrain_archs=10"])
    assert (r.train.steps, r.model.chained, r.train.lr, r.pretrain_archs) == (50, True, 2e-3, 10)
    assert DEFAULT_RECIPE.train.steps != 50  # the default is untouched
    assert r.to_dict()["train"]["steps"] == 50 and "threads" not in r.to_dict()["train"]
    assert RLMRecipe.sized("tiny").model.d_model == 32
    for bad, match in [(["train.stepz=3"], "unknown recipe field"), (["steps"], "key=value"),
                       (["train.steps=0"], "steps must be"), (["model.dropout=5.0"], "dropout"),
                       (["model.max_text_tokens=0"], "max_text_tokens"),
                       (["train.lr=-1"], "lr"), (["pretrain_archs=-5"], "pretrain_archs"),
                       (["model.chained=false", "model.objective_tokens=false"],
                        "objective_tokens")]:
        with pytest.raises(NasRlmError, match=match):
            DEFAULT_RECIPE.with_overrides(bad)
    with pytest.raises(NasRlmError, match="unknown model size"):
        RLMRecipe.sized("huge")


# -- objective tokens and decoding modes --------------------------------------------------------
@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [SPACE.to_text(a) for a in SPACE.sample(12, 0)]


@pytest.mark.parametrize("mode", [
    {},  # one sequence per objective (the default)
    {"chained": True},
    {"chained": True, "objective_tokens": False},
    {"exponent_first": False},
])
def test_every_mode_samples_parseable_values_with_random_weights(tiny_config, texts, mode) -> None:
    rlm = RLM(["cifar10", "pixel3", "eyeriss"], "nb201", tiny_config(**mode))
    rlm.build(texts, seed=1)
    for temperature in (1.0, 10.0):
        s = rlm.predict(texts[:5], k=4, temperature=temperature)
        assert s.shape == (5, 4, 3) and np.isfinite(s).all()
    ev = rlm.predict_expected(texts[:5])
    assert ev.shape == (5, 3) and np.isfinite(ev).all()


def test_decoder_targets_name_each_objective(tiny_config, texts) -> None:
    rlm = RLM(["cifar10", "pixel3"], "nb201", tiny_config())
    rlm.build(texts)
    Z = np.array([[5.0, 2.0], [np.nan, 3.0]])
    tasks = rlm.sequences(Z)
    assert [(i, [j for j, _ in items]) for i, items in tasks] == [(0, [0]), (0, [1]), (1, [1])]
    dec = rlm.decoder_tensors(tasks)
    obj = [rlm.objective_token_id(o) for o in rlm.objectives]
    # <bos> <objective> value…; the objective token is given (label -100), then the number
    assert dec["decoder_input_ids"][:, :2].tolist() == [[1, obj[0]], [1, obj[1]], [1, obj[1]]]
    assert (dec["labels"][:, 0] == -100).all()
    assert dec["labels"][0, 1:7].tolist() == rlm.numbers.encode_ids([5.0])
    assert dec["value_col"].tolist() == [0, 1, 1] and dec["value_pos"].tolist() == [1, 1, 1]
    chained = RLM(["cifar10", "pixel3"], "nb201", tiny_config(chained=True))
    chained.build(texts)
    tasks = chained.sequences(Z)  # the second arch has only its pixel3 label
    assert [(i, [j for j, _ in items]) for i, items in tasks] == [(0, [0, 1]), (1, [1])]
    d2 = chained.decoder_tensors(tasks)
    assert d2["decoder_input_ids"][1, 1] == chained.objective_token_id("pixel3")
    assert d2["value_pos"].tolist() == [1, 8, 1]


def test_archs_with_some_labels_train_on_those_they_have(tiny_config, texts) -> None:
    Y = np.c_[np.linspace(80, 90, 12), np.linspace(2, 9, 12)]
    Y[::3, 0] = np.nan
    rlm = RLM(["cifar10", "pixel3"], "nb201", tiny_config())
    with pytest.raises(Exception, match="arch 0, objective 'cifar10'"):
        rlm.fit(texts, Y, steps=2, progress=False)  # NaN is an error unless asked for
    rlm.fit(texts, Y, steps=2, eval_every=1, progress=False, missing_ok=True)
    assert rlm.predict_expected(texts[:2]).shape == (2, 2)
    assert rlm.scalers["cifar10"].x[0] == pytest.approx(np.nanmin(Y[:, 0]))


def test_set_objectives_needs_a_token(tiny_config, texts) -> None:
    rlm = RLM(["cifar10"], "nb201", tiny_config(), objective_vocab=["mflops", "cifar10"])
    rlm.build(texts)
    rlm.set_objectives(["mflops"])
    with pytest.raises(UnknownNameError, match="no token"):
        rlm.set_objectives(["pixel3"])
    with pytest.raises(NasRlmError, match="duplicate"):
        rlm.set_objectives(["cifar10", "cifar10"])


# -- the ranking term --------------------------------------------------------------------------
def test_pairwise_rank_loss_rewards_order() -> None:
    y = torch.tensor([1.0, 2.0, 3.0, 5.0, 7.0])
    col = torch.tensor([0, 0, 0, 1, 1])
    right, wrong = pairwise_rank_loss(y, y, col), pairwise_rank_loss(-y, y, col)
    assert right < wrong
    assert pairwise_rank_loss(y, y, torch.tensor([0, 1, 2, 3, 4])) == 0  # no pairs


def test_rank_scores_follow_the_expected_leading_tokens(tiny_config, texts) -> None:
    rlm = RLM(["pixel3"], "nb201", tiny_config())
    rlm.build(texts)
    dec = rlm.decoder_tensors(rlm.sequences(np.array([[2.5], [7.25]])))
    V = rlm.model.config.vocab_size
    logits = torch.full((2, dec["labels"].shape[1], V), -30.0)
    for s in range(2):  # put all mass on the labels: the score is then the value itself
        for t, lab in enumerate(dec["labels"][s].tolist()):
            if lab >= 0:
                logits[s, t, lab] = 30.0
    score = rank_scores(rlm, logits, dec)
    np.testing.assert_allclose(score.numpy(), [2.5, 7.2], atol=1e-3)  # E·10 + d1 + d2/10


def test_soft_digit_targets_say_where_in_the_digit_a_value_lies() -> None:
    q = soft_digit_targets(torch.tensor([4.97, 4.5, 0.0725]), 0.4).numpy()
    assert q[0, 4] > 0.5 and q[0, 5] > 0.45 and q[0, 4] + q[0, 5] > 0.98  # "4, nearly 5"
    np.testing.assert_allclose(q[1, 3], q[1, 5], atol=1e-6)  # the middle of 4: symmetric
    assert q[2].argmax() == 7 and q[2, 7] > q[2, 6] > q[2, 8]  # 7.25e-2: its mantissa
    np.testing.assert_allclose(q.sum(1), 1.0, atol=1e-6)


def test_soft_digit_targets_never_teach_a_leading_zero() -> None:
    """The grammar allows a leading 0 (zero is 0…0), but a nonzero value never has one: the
    lowest normalised label (1.0) would otherwise put half its target on 0.xxx, which reads
    as far below every label."""
    q = soft_digit_targets(torch.tensor([1.0, 1.2, 10.0]), 0.4).numpy()
    assert (q[:, 0] == 0).all()
    np.testing.assert_allclose(q.sum(1), 1.0, atol=1e-6)
    assert q[0, 1] > 0.95


def test_only_objectives_with_continuous_labels_get_soft_digits() -> None:
    lattice = np.repeat([1.5, 2.5, 3.5], 4)  # 3 distinct values on 12 archs (eyeriss-like)
    smooth = np.linspace(1.0, 9.0, 12)
    gappy = smooth.copy()
    gappy[::2] = np.nan  # missing labels do not count
    assert soft_digit_objectives(np.c_[lattice, smooth, gappy]) == [False, True, True]
    assert soft_digit_objectives(np.full((3, 1), np.nan)) == [False]


def test_a_model_trains_with_soft_digits(tiny_config, texts, monkeypatch) -> None:
    from nas_rlm.surrogates import training

    seen = []
    losses = training._losses
    monkeypatch.setattr(training, "_losses", lambda *a: seen.append(a[6:8]) or losses(*a))
    Y = np.c_[np.linspace(80, 90, 12), np.repeat([1.5, 2.5, 3.5], 4)]
    rlm = RLM(["cifar10", "eyeriss"], "nb201", tiny_config())
    rlm.fit(texts, Y, steps=2, eval_every=1, progress=False, digit_sigma=0.4)
    assert rlm.predict_point(texts[:2]).shape == (2, 2)
    sigma, soft = seen[0]
    assert sigma == 0.4 and soft.tolist() == [True, False]  # eyeriss-like labels: one-hot


def test_rehearsals_keep_their_loss_apart(tiny_config, texts) -> None:
    """Rehearsed sequences add their own mean cross-entropy to the labels' mean, which stays
    what it is without them, and take no part in the ranking term."""
    rlm = RLM(["lat", "c1", "c2"], "nb201", tiny_config())
    rlm.build(texts)
    Z = np.random.default_rng(0).uniform(1.5, 8.5, (6, 3))
    tasks = rlm.sequences(Z)
    dec = rlm.decoder_tensors(tasks)
    V = rlm.model.config.vocab_size
    logits = torch.randn((len(dec["labels"]), dec["labels"].shape[1], V),
                         generator=torch.Generator().manual_seed(0))
    table, w = rlm.grammar_table(V), torch.ones(rlm.numbers.tokens_per_value + 1)
    own = [k for k, t in enumerate(tasks) if t[1][0][0] == 0]
    drill = [k for k, t in enumerate(tasks) if t[1][0][0] > 0]

    def part(rows):
        sub = {k: v[rows] for k, v in dec.items() if k not in ("value_seq", "value_pos",
                                                              "value_true", "value_col")}
        keep = torch.isin(dec["value_seq"], torch.tensor(rows))
        sub["value_seq"] = torch.searchsorted(torch.tensor(rows), dec["value_seq"][keep])
        for k in ("value_pos", "value_true", "value_col"):
            sub[k] = dec[k][keep]
        return _losses(rlm, logits[rows], sub, table, w, 1.0)

    (ce_own, rank_own), (ce_drill, _) = part(own), part(drill)
    apart = {**dec, "rehearsal": torch.tensor([t[1][0][0] > 0 for t in tasks])}
    ce, rank = _losses(rlm, logits, apart, table, w, 1.0)
    assert ce.item() == pytest.approx(ce_own.item() + ce_drill.item(), rel=1e-5)
    assert rank.item() == pytest.approx(rank_own.item(), rel=1e-5)
    mixed, mixed_rank = _losses(rlm, logits, dec, table, w, 1.0)  # without: one mean of all
    assert mixed.item() < ce.item() and mixed_rank.item() != pytest.approx(rank.item())


def test_soft_first_digit_replaces_only_that_digits_loss(tiny_config, texts) -> None:
    rlm = RLM(["cifar10", "pixel3"], "nb201", tiny_config(chained=True))
    rlm.build(texts)
    # uneven sequences (the second arch has one label), values inside their first digit
    dec = rlm.decoder_tensors(rlm.sequences(np.array([[2.5, 7.25], [np.nan, 3.5]])))
    V = rlm.model.config.vocab_size
    logits = torch.randn((len(dec["labels"]), dec["labels"].shape[1], V),
                         generator=torch.Generator().manual_seed(0))
    table = rlm.grammar_table(V)
    w = torch.ones(rlm.numbers.tokens_per_value + 1)
    hard, _ = _losses(rlm, logits, dec, table, w, 0.0)
    narrow, _ = _losses(rlm, logits, dec, table, w, 0.0, 1e-3)  # soft, all mass on the label
    assert narrow.item() == pytest.approx(hard.item(), rel=1e-5)
    sure = torch.full_like(logits, -30.0)  # all mass on the labels: one-hot loss near 0
    for s, row in enumerate(dec["labels"].tolist()):
        for t, lab in enumerate(row):
            if lab >= 0:
                sure[s, t, lab] = 30.0
    hard, _ = _losses(rlm, sure, dec, table, w, 0.0)
    wide, _ = _losses(rlm, sure, dec, table, w, 0.0, 0.4)  # wants 10 % on each neighbour
    assert hard.item() < 1e-6 and wide.item() > 1.0
    # an objective on a lattice keeps one-hot targets: only cifar10's value is spread here
    one, _ = _losses(rlm, sure, dec, table, w, 0.0, 0.4, torch.tensor([True, False]))
    assert hard.item() < one.item() < wide.item()
    none, _ = _losses(rlm, sure, dec, table, w, 0.0, 0.4, torch.tensor([False, False]))
    assert none.item() == pytest.approx(hard.item(), abs=1e-6)
    assert "digit_sigma" not in TrainConfig().settings()  # runs saved before it stay valid
    assert TrainConfig(digit_sigma=0.4).settings()["digit_sigma"] == 0.4
    with pytest.raises(NasRlmError, match="digit_sigma"):
        TrainConfig(digit_sigma=-1.0)


def test_branch_mean_is_not_dominated_by_an_unlikely_far_branch() -> None:
    from nas_rlm.surrogates.rlm import _branch_mean

    v = np.array([[5.0, 5e9], [5.0, 6.0], [-1.0, 2.0]])
    p = np.array([[0.9999, 1e-4], [0.5, 0.5], [0.5, 0.5]])
    out = _branch_mean(v, p)
    assert 5.0 < out[0] < 5.05  # an arithmetic mean would be 5e5
    assert out[1] == pytest.approx(np.sqrt(30.0)) and out[2] == pytest.approx(0.5)


def test_every_command_trains_with_the_one_recipe() -> None:
    """`train`, `evaluate` and `assisted` take DEFAULT_RECIPE unless a flag says otherwise."""
    from nas_rlm.cli import _recipe, build_parser
    from nas_rlm.surrogates.recipes import RecipeRLM

    p = build_parser()
    tr = p.parse_args(["train"])
    assert _recipe(tr.size, tr.set, **{"train.steps": tr.steps}) == DEFAULT_RECIPE
    ev = p.parse_args(["evaluate"])
    assert _recipe(ev.rlm_size, ev.rlm_set, **{"train.steps": ev.rlm_steps}) == DEFAULT_RECIPE
    assert RecipeRLM("nb201").recipe is DEFAULT_RECIPE
    changed = p.parse_args(["train", "--steps", "7", "--set", "model.chained=true"])
    r = _recipe(changed.size, changed.set, **{"train.steps": changed.steps})
    assert (r.train.steps, r.model.chained) == (7, True)


def test_a_first_format_checkpoint_names_both_versions(tiny_config, texts, tmp_path) -> None:
    rlm = RLM(["pixel3"], "nb201", tiny_config())
    rlm.build(texts)
    path = rlm.save_pretrained(tmp_path / "m")
    meta = json.loads((path / "rlm.json").read_text())
    meta["format_version"] = 1
    (path / "rlm.json").write_text(json.dumps(meta))
    write_manifest(path)  # a deliberate edit: the cross-checks behind the manifest still hold
    with pytest.raises(ModelFormatError, match=r"format version 1; .* reads format 2"):
        RLM.from_pretrained(path)


def test_relative_node_ids_are_how_a_model_reads_and_are_saved(tiny_config, texts,
                                                                tmp_path) -> None:
    rlm = RLM(["pixel3"], "nb201", tiny_config(node_ids="relative"))
    rlm.build(texts)
    assert any("%-" in t for t in rlm.text_tokenizer.get_vocab())  # the BPE learnt the rewrite
    rel = [relative_node_ids(t) for t in texts]
    assert rlm.encode_texts(texts) == rlm.encode_texts(rel)  # canonical texts are rewritten
    plain = RLM(["pixel3"], "nb201", tiny_config())
    plain.build(texts)
    assert plain.encode_texts(texts) != plain.encode_texts(rel)  # the default reads them as is
    loaded = RLM.from_pretrained(rlm.save_pretrained(tmp_path / "m"))
    assert loaded.config.node_ids == "relative"
    assert loaded.encode_texts(texts) == rlm.encode_texts(texts)
    with pytest.raises(ModelFormatError, match="node_ids"):
        tiny_config(node_ids="sideways")


@pytest.mark.parametrize("edit", [
    pytest.param(lambda m: m["objectives"].append("raspi4"), id="objective_without_token"),
    pytest.param(lambda m: m["objective_vocab"].append("raspi4"), id="vocab_grown"),
    pytest.param(lambda m: m["config"].update(exponent_first=False), id="order_flipped"),
    pytest.param(lambda m: m["normalization"]["pixel3"].update(x=[3.0, 1.0]), id="bad_map"),
    pytest.param(lambda m: m["normalization"].pop("pixel3"), id="map_missing"),
])
def test_edited_v2_metadata_is_refused(tiny_config, texts, tmp_path, edit) -> None:
    rlm = RLM(["pixel3"], "nb201", tiny_config())
    rlm.fit(texts, np.linspace(1, 20, len(texts)), steps=2, progress=False)
    path = rlm.save_pretrained(tmp_path / "m")
    RLM.from_pretrained(path)  # loads as saved
    meta = json.loads((path / "rlm.json").read_text())
    edit(meta)
    (path / "rlm.json").write_text(json.dumps(meta))
    write_manifest(path)  # a deliberate edit: the cross-checks behind the manifest still hold
    with pytest.raises(ModelFormatError):
        RLM.from_pretrained(path)


@pytest.mark.parametrize("mode", [{}, {"chained": True}])
def test_shared_cross_attention_equals_per_row_copies(tiny_config, texts, mode,
                                                      monkeypatch) -> None:
    """Decoding with one cross-attention cache entry per text (grouped attention) gives the
    numbers the per-row copies give, padding and batching included."""
    import nas_rlm.surrogates.rlm as rlm_mod

    rlm = RLM(["cifar10", "pixel3"], "nb201", tiny_config(**mode))
    rlm.build(texts, seed=3)
    grouped = rlm.predict_expected(texts), rlm.predict(texts, k=3, seed=1)
    one = rlm.predict_expected(texts, batch_size=1)
    monkeypatch.setattr(rlm_mod, "EncoderDecoderCache", type("NotACache", (), {}))
    copies = rlm.predict_expected(texts), rlm.predict(texts, k=3, seed=1)
    np.testing.assert_allclose(grouped[0], copies[0], rtol=1e-4)
    np.testing.assert_allclose(one, copies[0], rtol=1e-4)
    np.testing.assert_allclose(grouped[1], copies[1], rtol=1e-4)


def test_encoding_ahead_in_a_thread_changes_no_number(tiny_config, texts, monkeypatch) -> None:
    """With two torch threads the encoder runs batches ahead in a second thread: samples,
    medians and expected values are those of encoding in turn; with one torch thread the
    encoder stays in the caller's thread (one core)."""
    import threading

    import nas_rlm.surrogates.rlm as rlm_mod

    rlm = RLM(["cifar10", "pixel3"], "nb201", tiny_config())
    rlm.build(texts, seed=5)
    encoder_threads = []
    encode = rlm.encoder_output
    monkeypatch.setattr(rlm, "encoder_output", lambda batch: encoder_threads.append(
        threading.current_thread().name) or encode(batch))

    def readouts():
        return (rlm.predict(texts, k=3, seed=2, batch_size=2),
                rlm.predict_median(texts, batch_size=2),
                rlm.predict_expected(texts, batch_size=2))

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        ahead = readouts()
        assert encoder_threads and all(t.startswith("rlm-encoder") for t in encoder_threads)
        monkeypatch.setattr(rlm_mod, "ENCODE_AHEAD", 0)
        encoder_threads.clear()
        in_turn = readouts()
        assert set(encoder_threads) == {threading.current_thread().name}
        monkeypatch.setattr(rlm_mod, "ENCODE_AHEAD", 2)
        torch.set_num_threads(1)
        encoder_threads.clear()
        one_thread = readouts()
        assert set(encoder_threads) == {threading.current_thread().name}
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(ahead, in_turn, strict=True):
        np.testing.assert_array_equal(a, b)
    # one thread sums floats in another order: the same numbers up to rounding
    np.testing.assert_allclose(one_thread[2], ahead[2], rtol=1e-5)


@pytest.mark.parametrize("rows", [[0, 0, 0, 2, 2, 3], [0, 0, 2, 3], [1, 1, 1, 1]])
def test_grouped_attention_with_any_rows_per_text(rows) -> None:
    """Rows attend to their own text's keys whatever the count per text, a text with no rows
    included, and also where the row count equals the text count by chance ([0, 0, 2, 3])."""
    from types import SimpleNamespace

    from nas_rlm.surrogates.grouped_attention import grouped_attention

    gen = torch.Generator().manual_seed(0)
    n, h, L, d = 4, 2, 5, 8
    rows = torch.tensor(rows)
    q = torch.randn(len(rows), h, 1, d, generator=gen)
    k, v = torch.randn(n, h, L, d, generator=gen), torch.randn(n, h, L, d, generator=gen)
    valid = torch.arange(L) < torch.tensor([5, 3, 4, 2])[:, None]  # each text's own length
    mask = valid[rows][:, None, None, :]
    cross = SimpleNamespace(is_causal=False, has_relative_attention_bias=False)
    out, _ = grouped_attention(cross, q, k, v, mask, scaling=1.0, decoder_rows=rows)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k[rows], v[rows], attn_mask=mask,
                                                           scale=1.0).transpose(1, 2)
    torch.testing.assert_close(out, ref)


def test_decoding_scores_only_number_and_objective_tokens(tiny_config, texts,
                                                          monkeypatch) -> None:
    """The decoder's output layer is sliced to the ids it may write while decoding: the kept
    logits are the full layer's (up to float rounding), so are the expected values, and the
    layer is restored afterwards, for training."""
    import nas_rlm.surrogates.rlm as rlm_mod

    rlm = RLM(["cifar10", "pixel3"], "nb201", tiny_config())
    rlm.build(texts, seed=2)
    head = rlm.model.lm_head
    assert head.out_features > rlm.text_offset  # the text vocabulary is there to cut off
    x = torch.randn(3, head.in_features)
    with rlm_mod._decoder_vocab(rlm.model, rlm.text_offset):
        assert rlm.model.lm_head.out_features == rlm.text_offset
        torch.testing.assert_close(rlm.model.lm_head(x), head(x)[:, : rlm.text_offset])
    assert rlm.model.lm_head is head
    sliced = rlm.predict_expected(texts)
    widths = []
    monkeypatch.setattr(rlm_mod, "_decoder_vocab", lambda model, width: _record(widths))
    np.testing.assert_allclose(rlm.predict_expected(texts), sliced, rtol=1e-5)
    assert widths  # the full-width run did go through the patched context


@__import__("contextlib").contextmanager
def _record(widths):
    widths.append(1)
    yield


# -- device objectives read the executed graph ----------------------------------------------
DEAD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"


def test_device_objectives_read_the_executed_graph(tiny_config, tmp_path) -> None:
    space = NB201()
    archs = [DEAD, *space.sample(11, 4)]
    rlm = RLM(["cifar10", "pixel3"], space, tiny_config(), executed_objectives=["pixel3"])
    views = rlm.views_for(archs)
    assert rlm.n_views == 2 and [rlm.view_of(j) for j in range(2)] == [0, 1]
    assert views[0][0] == space.to_text(DEAD)
    assert views[0][1] == NB201(prune=False).to_text(DEAD) != views[0][0]
    Y = np.c_[np.linspace(80, 90, 12), np.linspace(1, 20, 12)]
    rlm.fit(archs, Y, steps=2, eval_every=2, val_fraction=0.25, progress=False)
    pred = rlm.predict_point(archs)
    assert pred.shape == (12, 2) and np.isfinite(pred).all()
    assert rlm.predict(archs[:3], k=2).shape == (3, 2, 2)
    # another dead branch: the same optimised text, another executed one; each view's text
    # is decoded once per call, so the accuracy read from the shared text is the same number
    dead2 = DEAD.replace("|nor_conv_3x3~0|+", "|avg_pool_3x3~0|+", 1)
    (a, b), = rlm.views_for([dead2])
    assert a == views[0][0] and b != views[0][1]
    both, samples = rlm.predict_point([DEAD, dead2]), rlm.predict([DEAD, dead2], k=3)
    assert both[0, 0] == both[1, 0]
    np.testing.assert_array_equal(samples[0, :, 0], samples[1, :, 0])
    loaded = RLM.from_pretrained(rlm.save_pretrained(tmp_path / "m"))
    assert loaded.executed_objectives == ["pixel3"]
    np.testing.assert_array_equal(loaded.predict_point(archs), pred)
    with pytest.raises(NasRlmError, match="2 texts per arch"):
        rlm.predict_point([space.to_text(DEAD)])
    with pytest.raises(NasRlmError, match="chained"):
        RLM(["cifar10", "pixel3"], space, tiny_config(chained=True),
            executed_objectives=["pixel3"])


def test_a_tflite_device_reads_the_converted_graph(tiny_config, tmp_path) -> None:
    """Three views: accuracy the optimised graph, eyeriss the executed one, pixel3 the one a
    converter left; the split survives saving, and a new objective joins any view."""
    space = NB201()
    archs = [DEAD, *space.sample(11, 4)]
    rlm = RLM(["cifar10", "eyeriss", "pixel3"], space, tiny_config(),
              executed_objectives=["eyeriss"], converted_objectives=["pixel3"])
    assert rlm.view_names == ["optimised", "executed", "converted"]
    assert [rlm.view_of(j) for j in range(3)] == [0, 1, 2]
    zero_source = ("|none~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|"
                   "nor_conv_3x3~2|")
    (opt, ex, conv), = rlm.views_for([zero_source])
    assert (opt, ex, conv) == (space.to_text(zero_source),
                               space.executed().to_text(zero_source),
                               space.converted_view().to_text(zero_source))
    assert len({opt, ex, conv}) == 3
    Y = np.c_[np.linspace(80, 90, 12), np.linspace(1, 5, 12), np.linspace(1, 20, 12)]
    rlm.fit(archs, Y, steps=2, eval_every=2, val_fraction=0.25, progress=False)
    pred = rlm.predict_point(archs)
    loaded = RLM.from_pretrained(rlm.save_pretrained(tmp_path / "m"))
    assert loaded.converted_objectives == ["pixel3"] and loaded.executed_objectives == [
        "eyeriss"]
    np.testing.assert_array_equal(loaded.predict_point(archs), pred)
    assert loaded.add_objectives(["raspi4"], {"raspi4": "pixel3"}, view="converted") == [
        "raspi4"]
    assert loaded.view_of_objective("raspi4") == "converted"
    with pytest.raises(NasRlmError, match="unknown view 'tflite'"):
        loaded.add_objectives(["x"], view="tflite")
    with pytest.raises(NasRlmError, match="unknown view 'tflite'"):
        loaded.texts_for(archs[:1], "tflite")
    with pytest.raises(NasRlmError, match="cannot read both"):
        RLM(["pixel3"], space, tiny_config(), executed_objectives=["pixel3"],
            converted_objectives=["pixel3"])
    with pytest.raises(NasRlmError, match="converted objective"):
        RLM(["pixel3"], space, tiny_config(), converted_objectives=["raspi4"])


def test_prediction_encodes_a_text_shared_by_two_views_once(tiny_config, monkeypatch) -> None:
    """Where the converted graph is the optimised one (no dead branch), that text is encoded
    once and decodes both views' objectives; the values are those of decoding each view on
    its own, and every arch gets its own view's values."""
    archs = [DEAD, *SPACE.sample(11, 4)]
    rlm = RLM(["cifar10", "eyeriss", "pixel3"], SPACE, tiny_config(),
              executed_objectives=["eyeriss"], converted_objectives=["pixel3"])
    views = rlm.views_for(archs)
    assert any(v[0] == v[2] for v in views) and any(v[0] != v[2] for v in views)
    Y = np.c_[np.linspace(80, 90, 12), np.linspace(1, 5, 12), np.linspace(1, 20, 12)]
    rlm.fit(archs, Y, steps=2, eval_every=2, val_fraction=0.0, progress=False)
    padded = []
    real_pad = RLM.pad

    def pad(self, seqs):
        padded.extend(tuple(s) for s in seqs)
        return real_pad(self, seqs)

    monkeypatch.setattr(RLM, "pad", pad)
    ev = rlm.predict_expected(archs, batch_size=4)
    distinct = {t for v in views for t in v}
    assert len(padded) == len(set(padded)) == len(distinct)
    assert set(padded) == {tuple(s) for s in rlm.encode_texts(sorted(distinct))}
    assert len(rlm.predict(archs, k=3, batch_size=4)) == len(archs)
    for j, name in enumerate(rlm.objectives):  # each view alone, as before the sharing
        names = rlm.objectives
        rlm.objectives = [name]
        try:
            np.testing.assert_allclose(rlm.predict_expected(archs, batch_size=4)[:, 0],
                                       ev[:, j], rtol=1e-4)
        finally:
            rlm.objectives = names


def test_a_step_encodes_each_distinct_text_once_and_buckets_by_length(tiny_config,
                                                                      monkeypatch) -> None:
    """An arch whose two views are one text (no dead branch) is encoded once per step; with
    ``length_buckets`` covering the pass, a pass visits every arch once, in batches of
    disjoint length ranges."""
    from nas_rlm.surrogates.training import TrainConfig

    archs = [DEAD, *SPACE.sample(15, 6)]
    rlm = RLM(["cifar10", "pixel3"], SPACE, tiny_config(), executed_objectives=["pixel3"])
    views = rlm.views_for(archs)
    assert any(a == b for a, b in views) and any(a != b for a, b in views)
    padded, steps = [], []
    real_pad, real_dec = RLM.pad, RLM.decoder_tensors

    def pad(self, seqs):
        padded.append([tuple(s) for s in seqs])
        return real_pad(self, seqs)

    def dec(self, tasks):
        steps.append(sorted({t[0] for t in tasks}))
        return real_dec(self, tasks)

    monkeypatch.setattr(RLM, "pad", pad)
    monkeypatch.setattr(RLM, "decoder_tensors", dec)
    Y = np.c_[np.linspace(80, 90, 16), np.linspace(1, 20, 16)]
    rlm.fit(archs, Y, steps=4, batch_size=4, val_fraction=0.0, eval_every=4,
            length_buckets=4, progress=False)
    assert len(steps) == 4 and sorted(i for b in steps for i in b) == list(range(16))
    for arch_ids, seqs in zip(steps, padded, strict=True):  # one row per distinct text
        assert len(seqs) == len(set(seqs)) == len({t for i in arch_ids for t in views[i]})
    length = [sum(len(e) for e in rlm.encode_texts(set(v))) for v in views]
    spans = [(min(length[i] for i in b), max(length[i] for i in b)) for b in steps]
    assert all(a[1] <= b[0] or b[1] <= a[0] for a in spans for b in spans if a is not b)
    # the setting is part of what a resume must agree on only where it is used
    assert "length_buckets" not in TrainConfig().settings()
    assert TrainConfig(length_buckets=4).settings()["length_buckets"] == 4


def test_the_recipe_sends_only_device_objectives_to_the_device_graphs() -> None:
    from nas_rlm.search_spaces import NDSDarts
    from nas_rlm.surrogates.recipes import device_views

    objs = ["cifar10", "pixel3", "eyeriss"]
    # pixel3 is a TFLite device: it reads the graph the converter left
    assert device_views(NB201(), objs, DEFAULT_RECIPE) == (["eyeriss"], ["pixel3"])
    assert device_views(NB201(), objs, DEFAULT_RECIPE, accuracy=["pixel3"]) == (
        ["cifar10", "eyeriss"], [])
    off = RLMRecipe().with_overrides(["executed_text=false"])
    assert device_views(NB201(), objs, off) == ([], [])
    assert device_views(NB201(prune=False), objs, DEFAULT_RECIPE) == ([], [])
    # a space without a converted graph of its own: every device reads the executed graph
    assert device_views(NDSDarts(), objs, DEFAULT_RECIPE) == ([], [])


def test_a_config_that_differs_from_the_training_recipe_is_refused(tiny_config, texts,
                                                                   tmp_path) -> None:
    rlm = RLM(["pixel3"], "nb201", tiny_config())
    rlm.fit(texts, np.linspace(1, 20, len(texts)), steps=2, progress=False)
    rlm.training_info["recipe"] = {"model": asdict(tiny_config())}
    path = rlm.save_pretrained(tmp_path / "m")
    RLM.from_pretrained(path)
    meta = json.loads((path / "rlm.json").read_text())
    meta["config"]["digits"] = 3
    meta["number_tokenizer"]["digits"] = 3  # edited consistently, and the manifest resealed
    (path / "rlm.json").write_text(json.dumps(meta))
    write_manifest(path)
    with pytest.raises(ModelFormatError, match="digits differ from the recipe"):
        RLM.from_pretrained(path)


def test_pretraining_gives_the_executed_text_its_own_labels(tiny_recipe, monkeypatch) -> None:
    """Device objectives read the executed graph, so pretraining teaches that text the
    computed labels of the executed graph (dead branches kept), and the optimised text
    those of the optimised graph; without device objectives one set is learnt."""
    from nas_rlm.search_spaces import get_space
    from nas_rlm.surrogates.recipes import (
        PRETRAIN_OBJECTIVES,
        computed_labels,
        pretrain_objectives,
        pretraining_archs,
        train_rlm,
    )

    calls = []
    real_fit = RLM.fit

    def fit(self, archs, Y, **kw):
        calls.append((list(self.objectives), np.array(Y),
                      [self.view_of(j) for j in range(len(self.objectives))]))
        return real_fit(self, archs, Y, **kw)

    monkeypatch.setattr(RLM, "fit", fit)
    space = get_space("nb201")
    archs = space.sample(12, 3)
    Y = np.column_stack([np.linspace(80, 90, 12), np.linspace(5, 15, 12),
                         np.linspace(2, 7, 12)])
    recipe = tiny_recipe.with_overrides(["pretrain_archs=24", "pretrain_steps=2"])
    cols = ["cifar10", "eyeriss", "pixel3"]
    rlm = train_rlm(space, archs, Y, cols, recipe, progress=False)
    objs, labels, views = calls[0]
    n = len(PRETRAIN_OBJECTIVES)
    assert objs == pretrain_objectives(True, True)
    assert views == [0] * n + [1] * n + [2] * n
    pre = pretraining_archs(space, 24, 0)
    np.testing.assert_array_equal(labels[:, :n], computed_labels(space, pre))
    np.testing.assert_array_equal(labels[:, n:2 * n], computed_labels(space.executed(), pre))
    np.testing.assert_array_equal(labels[:, 2 * n:],
                                  computed_labels(space.converted_view(), pre))
    assert (labels[:, n] >= labels[:, 0]).all() and (labels[:, n] > labels[:, 0]).any()
    # the converted graph keeps no more than the executed one runs
    assert (labels[:, 2 * n] <= labels[:, n]).all()
    assert calls[1][0] == cols and calls[1][2] == [0, 1, 2]
    assert rlm.executed_objectives == ["eyeriss", *objs[n:2 * n]]
    assert rlm.converted_objectives == ["pixel3", *objs[2 * n:]]
    assert rlm.view_names == ["optimised", "executed", "converted"]

    calls.clear()
    one_text = recipe.with_overrides(["executed_text=false"])
    train_rlm(space, archs, Y, cols, one_text, progress=False)
    assert calls[0][0] == PRETRAIN_OBJECTIVES and calls[0][2] == [0] * n


def test_a_saved_base_fine_tunes_to_the_model_an_in_memory_one_gives(tiny_recipe, tmp_path,
                                                                     monkeypatch) -> None:
    """Sharing the pretrained base through a directory changes nothing: the fine-tuned
    model equals the one pretrained in memory, and a second pool reuses the saved base."""
    from nas_rlm.search_spaces import get_space
    from nas_rlm.surrogates import recipes

    space = get_space("nb201")
    archs = space.sample(16, 4)
    Y = np.column_stack([np.linspace(80, 90, 16), np.linspace(5, 15, 16)])
    recipe = tiny_recipe.with_overrides(["pretrain_archs=12", "pretrain_steps=2"])
    objs = ["cifar10", "pixel3"]
    memory = recipes.train_rlm(space, archs, Y, objs, recipe, progress=False)
    shared = recipes.train_rlm(space, archs, Y, objs, recipe, progress=False,
                               base_dir=tmp_path / "base")
    np.testing.assert_array_equal(shared.predict_expected(archs), memory.predict_expected(archs))
    calls = []
    real = recipes.pretrain_base
    monkeypatch.setattr(recipes, "pretrain_base", lambda *a, **k: calls.append(a) or real(*a, **k))
    recipes.train_rlm(space, archs[:10], Y[:10], objs, recipe, progress=False,
                      base_dir=tmp_path / "base")
    assert calls == []  # loaded, not pretrained again


def test_two_workers_needing_one_base_pretrain_it_once(tiny_recipe, tmp_path,
                                                       monkeypatch) -> None:
    """Two workers filling one run directory ask for the same base at once: the lock makes
    the second wait and load what the first saved."""
    import threading

    from nas_rlm.surrogates import recipes

    calls = []
    real = recipes.pretrain_base
    monkeypatch.setattr(recipes, "pretrain_base", lambda *a, **k: calls.append(a) or real(*a, **k))
    recipe = tiny_recipe.with_overrides(["pretrain_archs=8", "pretrain_steps=1"])
    got = []

    def worker():
        got.append(recipes.load_or_pretrain_base(tmp_path / "s0", "nb201", ["cifar10"], recipe,
                                                 progress=False))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 2
    assert got[0].training_info["base"] == got[1].training_info["base"]


def test_median_walk_finds_the_median_of_a_known_distribution():
    """Exponent-first P10: the walk's token sequence is the median of the distribution the
    per-position probabilities define, including across an exponent and a sign."""
    import torch

    from nas_rlm.surrogates.constrained import MedianWalk
    from nas_rlm.surrogates.numbers import P10Tokenizer

    nt = P10Tokenizer(digits=2, min_exp=-2, max_exp=2, exponent_first=True)
    vocab = nt.vocab_size

    def dist(pairs):
        p = torch.zeros(1, vocab)
        for tok, w in pairs:
            p[0, nt.token_to_id(tok)] = w
        return p / p.sum()

    def walk(steps):
        w = MedianWalk(nt, 1)
        return [nt.id_to_token(int(w.step(dist(s), i)[0])) for i, s in enumerate(steps)]

    # 40 % on E0, 60 % on E1: the median is in E1, at quantile (0.5 - 0.4) / 0.6 = 1/6 of it
    steps = [[("<+>", 1.0)], [("<E0>", 0.4), ("<E1>", 0.6)],
             [("<1>", 0.1), ("<2>", 0.2), ("<5>", 0.7)], [("<0>", 0.5), ("<9>", 0.5)]]
    assert walk(steps) == ["<+>", "<E1>", "<2>", "<0>"]  # 1/6 < 0.1 + 0.2, past 0.1
    # -30 and -3 at 0.4 each, positives at 0.2: the median is -3 (magnitude order reversed;
    # read in ascending order, E1 first, it would be -30)
    steps = [[("<->", 0.8), ("<+>", 0.2)], [("<E0>", 0.5), ("<E1>", 0.5)],
             [("<3>", 1.0)], [("<0>", 1.0)]]
    assert walk(steps) == ["<->", "<E0>", "<3>", "<0>"]
    with pytest.raises(NumberError, match="exponent-first"):
        MedianWalk(P10Tokenizer(digits=2, min_exp=-2, max_exp=2, exponent_first=False), 1)


def test_a_base_with_path_labels_learns_them_on_every_view(tiny_recipe) -> None:
    """``pretrain_paths`` adds the wiring labels after the count labels of each view the
    base reads, each computed on that view's graph; without it recipes record as before."""
    from nas_rlm.search_spaces import get_space
    from nas_rlm.surrogates.recipes import (
        PATH_OBJECTIVES,
        PRETRAIN_OBJECTIVES,
        base_corpus,
        computed_labels,
        pretraining_archs,
    )

    space = get_space("nb201")
    recipe = tiny_recipe.with_overrides(["pretrain_archs=6", "pretrain_paths=true"])
    rlm, (_, _, labels, _) = base_corpus(space, ["cifar10", "eyeriss"], recipe)
    n = len(PRETRAIN_OBJECTIVES) + len(PATH_OBJECTIVES)
    assert rlm.objectives[:n] == [*PRETRAIN_OBJECTIVES, *PATH_OBJECTIVES]
    assert rlm.objectives[n:2 * n] == ["executed_" + o for o in rlm.objectives[:n]]
    pre = pretraining_archs(space, 6, 0)
    np.testing.assert_array_equal(labels[:, :n], computed_labels(space, pre, paths=True))
    np.testing.assert_array_equal(labels[:, n:2 * n],
                                  computed_labels(space.executed(), pre, paths=True))
    # the executed graph keeps dead branches: never shallower in convs than the optimised
    depth = len(PRETRAIN_OBJECTIVES)
    assert (labels[:, n + depth] >= labels[:, depth]).all()
    assert recipe.to_dict()["pretrain_paths"] is True
    assert "pretrain_paths" not in tiny_recipe.to_dict()


def test_rank_top_weight_makes_a_swap_at_the_top_cost_more() -> None:
    y, col = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.zeros(4, dtype=torch.long)
    swap_top, swap_bottom = torch.tensor([1.0, 2.0, 4.0, 3.0]), torch.tensor([2.0, 1.0, 3.0, 4.0])
    plain = [pairwise_rank_loss(s, y, col) for s in (swap_top, swap_bottom)]
    assert torch.isclose(plain[0], plain[1])  # unweighted, the two swaps cost the same
    top, bottom = (pairwise_rank_loss(s, y, col, top_weight=3.0) for s in (swap_top, swap_bottom))
    assert top > bottom
    assert torch.isclose(pairwise_rank_loss(y, y, col, 0.0), plain[0].new_tensor(
        float(torch.nn.functional.softplus(-(y[:, None] - y[None, :]))[y[:, None] > y].mean())))

"""A pretrained base and a new device from a few measurements (DESIGN §3 few-shot):
``add_objectives``, pretraining on source columns, ``finetune_rlm``, the ``pretrain`` /
``finetune`` / ``fewshot`` commands, and the leakage rules."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from nas_rlm.cli import main
from nas_rlm.data import load_targets
from nas_rlm.data.splits import (
    HELDOUT_DEVICES,
    heldout_indices,
    source_devices,
    train_indices,
)
from nas_rlm.errors import NasRlmError, UnknownNameError
from nas_rlm.evaluation.fewshot import FewShotConfig, fewshot
from nas_rlm.surrogates.mix_head import MixHead
from nas_rlm.surrogates.recipes import (
    FINETUNE_TRAIN,
    RLMRecipe,
    finetune_rlm,
    load_base,
    load_or_pretrain_base,
    source_table,
    start_similarity,
)
from nas_rlm.surrogates.rlm import RLM

TINY_BASE = ["pretrain_archs=40", "pretrain_steps=4", "train.eval_every=2",
             "train.batch_size=16", "train.labels_per_arch=3"]


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory, data_dir):
    """A tiny NB201 base pretrained on three source devices (never eyeriss or fpga)."""
    out = tmp_path_factory.mktemp("base")
    recipe = RLMRecipe.sized("tiny").with_overrides(TINY_BASE)
    load_or_pretrain_base(out, "nb201", [], recipe, progress=False,
                          source_columns=["pixel3", "1080ti_1", "gold_6240"],
                          data_dir=data_dir)
    return out / "model"


def _pool(column: str, n: int, data_dir, seed: int = 0):
    archs, Y = load_targets("nb201", [column], data_dir)
    idx = train_indices("nb201", n, seed)
    return [archs[i] for i in idx], Y[idx]


def _few() -> object:
    from dataclasses import replace

    return replace(FINETUNE_TRAIN, steps=4, eval_every=2)


def test_source_devices_exclude_the_heldout_ones(data_dir):
    src = source_devices("nb201", data_dir=data_dir)
    assert len(src) == 27 - 6 and not set(src) & set(HELDOUT_DEVICES["nb201"])
    only = source_devices("nb201", ["pixel3"], data_dir)
    assert len(only) == 26 and "pixel3" not in only and "eyeriss" in only
    with pytest.raises(UnknownNameError, match="pixel9"):
        source_devices("nb201", ["pixel9"], data_dir)


def test_source_table_reads_the_table_and_refuses_accuracy(data_dir):
    from nas_rlm.search_spaces import get_space

    sp = get_space("nb201")
    archs, Y = source_table(sp, ["pixel3"], 30, seed=0, data_dir=data_dir)
    all_archs, all_Y = load_targets("nb201", ["pixel3"], data_dir)
    row = {a: i for i, a in enumerate(all_archs)}
    assert len(archs) == 30 == len(set(archs))
    np.testing.assert_array_equal(Y[:, 0], [all_Y[row[a], 0] for a in archs])
    # table labels for training-pool archs only: all of the pool, and no held-out arch
    every, _ = source_table(sp, ["pixel3"], 10**6, data_dir=data_dir)
    test = {all_archs[i] for i in heldout_indices("nb201")}
    assert len(every) == 15625 - 5000 and not set(every) & test
    with pytest.raises(NasRlmError, match="accuracy"):
        source_table(sp, ["cifar10"], 30, data_dir=data_dir)


def test_base_learns_source_columns_and_never_the_excluded(base_dir):
    base = RLM.from_pretrained(base_dir)
    info = base.training_info["base"]
    assert info["source_columns"] == ["pixel3", "1080ti_1", "gold_6240"]
    assert {"pixel3", "1080ti_1", "gold_6240", "mflops", "executed_nodes"} <= set(base.scalers)
    for col in ("eyeriss", "fpga", "cifar10"):  # no label, no token, no scaler
        assert col not in base.objective_vocab and col not in base.scalers
    assert {"1080ti_1", "executed_mflops"} <= set(base.executed_objectives)
    assert {"pixel3", "converted_mflops"} <= set(base.converted_objectives)
    assert "mflops" not in base.executed_objectives


def test_a_base_without_a_converter_source_still_reads_the_converted_graph(data_dir):
    """A base whose source devices all ran every edge still learns the converted graph's
    computed labels: a new TFLite device it meets (raspi4, a user's ``--converted``) reads
    that graph. A base of accuracy alone reads no device graph at all."""
    from nas_rlm.surrogates.recipes import CONVERTED, EXECUTED, base_corpus

    recipe = RLMRecipe.sized("tiny").with_overrides(TINY_BASE)
    rlm, (views, _, labels, _) = base_corpus("nb201", [], recipe, source_columns=["1080ti_1"],
                                             data_dir=data_dir)
    conv = [o for o in rlm.objectives if o.startswith(CONVERTED)]
    assert conv and rlm.converted_objectives == conv
    assert "1080ti_1" in rlm.executed_objectives
    assert labels.shape == (len(views), len(rlm.objectives))
    rlm, _ = base_corpus("nb201", ["cifar10"], recipe.with_overrides(["pretrain_archs=4"]),
                         data_dir=data_dir)
    assert not rlm.converted_objectives and not rlm.executed_objectives
    assert not any(o.startswith((EXECUTED, CONVERTED)) for o in rlm.objectives)


def test_sampled_archs_join_the_table_rows_with_computed_labels_only(data_dir):
    """``pretrain_sampled`` archs follow the table rows: their computed labels are those of
    their graphs, their source columns missing; a recipe without them records nothing new,
    so bases and run dirs recorded before the field stay valid."""
    from nas_rlm.search_spaces import get_space
    from nas_rlm.surrogates.recipes import (
        _base_settings,
        base_corpus,
        computed_labels,
        pretraining_archs,
    )

    recipe = RLMRecipe.sized("tiny").with_overrides([*TINY_BASE, "pretrain_archs=6",
                                                     "pretrain_sampled=5"])
    rlm, (views, _, labels, archs) = base_corpus("fbnet", [], recipe,
                                                 source_columns=["pixel3", "1080ti_1"],
                                                 data_dir=data_dir)
    assert len(views) == len(archs) == labels.shape[0] == 11
    src = [rlm.objectives.index(c) for c in ("pixel3", "1080ti_1")]
    assert np.isfinite(labels[:6][:, src]).all() and np.isnan(labels[6:][:, src]).all()
    sp = get_space("fbnet")
    n_computed = len(rlm.objectives) - 2
    np.testing.assert_allclose(labels[6:, :n_computed],
                               computed_labels(sp, [sp.parse(a) for a in archs[6:]]))
    assert archs[6:] == [sp.to_string(a) for a in pretraining_archs(sp, 5)]
    assert archs[:6] == source_table(sp, ["pixel3"], 6, data_dir=data_dir)[0]
    plain = RLMRecipe.sized("tiny").with_overrides(TINY_BASE)
    assert "pretrain_sampled" not in plain.to_dict()
    assert "pretrain_sampled" not in _base_settings(sp, [], plain, 0, None, 0)
    assert _base_settings(sp, [], recipe, 0, None, 0)["pretrain_sampled"] == 5


def test_base_corpus_is_cached_reused_and_checked(base_dir, data_dir, monkeypatch):
    """The corpus a base trained on is kept in its checkpoint dir: the same settings read
    it back without recomputing a label; other settings recompute; damage is an error
    that names the file. It holds no held-out test arch and no excluded column."""
    import gzip

    from nas_rlm.surrogates import recipes

    ckpt = base_dir.parent / "ckpt"
    cache = ckpt / recipes.CORPUS
    doc = json.loads(gzip.decompress(cache.read_bytes()))
    assert doc["key"]["objectives"][-3:] == ["pixel3", "1080ti_1", "gold_6240"]
    assert len(doc["views"]) == len(doc["labels"]) == len(doc["archs"]) == 40
    # table labels of training-pool rows only
    archs, Y = load_targets("nb201", ["pixel3"], data_dir)
    row = {a: i for i, a in enumerate(archs)}
    rows = [row[a] for a in doc["archs"]]
    assert not set(rows) & set(heldout_indices("nb201").tolist())
    assert np.allclose([r[-3] for r in doc["labels"]], Y[rows, 0])

    def boom(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(recipes, "computed_labels", boom)
    recipes.base_corpus("nb201", [], RLMRecipe.sized("tiny").with_overrides(TINY_BASE),
                        source_columns=["pixel3", "1080ti_1", "gold_6240"], cache_dir=ckpt)
    with pytest.raises(AssertionError, match="recomputed"):  # another column: another key
        recipes.base_corpus("nb201", [], RLMRecipe.sized("tiny").with_overrides(TINY_BASE),
                            source_columns=["pixel3"], cache_dir=ckpt, data_dir=data_dir)
    damaged = base_dir.parent / "damaged"
    damaged.mkdir()
    (damaged / recipes.CORPUS).write_bytes(cache.read_bytes()[:100])
    with pytest.raises(NasRlmError, match=r"corpus\.json\.gz is damaged"):
        recipes.base_corpus("nb201", [], RLMRecipe.sized("tiny").with_overrides(TINY_BASE),
                            source_columns=["pixel3"], cache_dir=damaged)


def test_add_objectives_keeps_every_known_prediction(tiny_config):
    from nas_rlm.search_spaces import get_space

    sp = get_space("nb201")
    archs = sp.sample(6, np.random.default_rng(0))
    rlm = RLM(["a", "b"], sp, tiny_config())
    rlm.fit(archs, np.arange(12.0).reshape(6, 2) + 1, steps=2, eval_every=1, progress=False)
    before = rlm.predict_expected(archs)
    offset = rlm.text_offset
    assert rlm.add_objectives(["c", "a"], like={"c": "b"}) == ["c"]
    assert rlm.text_offset == offset + 1 and rlm.objective_vocab == ["a", "b", "c"]
    emb = rlm.model.get_input_embeddings().weight
    assert emb[rlm.objective_token_id("c")].equal(emb[rlm.objective_token_id("b")])
    np.testing.assert_allclose(rlm.predict_expected(archs), before, rtol=1e-5)
    with pytest.raises(UnknownNameError, match="zz"):
        rlm.add_objectives(["d"], like={"d": "zz"})


def test_labels_per_arch_draws_a_subset(tiny_config, monkeypatch):
    """With ``labels_per_arch=k`` every arch brings at most k of its labels to a step."""
    from nas_rlm.search_spaces import get_space
    from nas_rlm.surrogates import rlm as rlm_mod

    sp = get_space("nb201")
    archs = sp.sample(8, np.random.default_rng(1))
    seen = []
    real = rlm_mod.RLM.decoder_tensors

    def spy(self, tasks):
        seen.append(len(tasks))
        return real(self, tasks)

    monkeypatch.setattr(rlm_mod.RLM, "decoder_tensors", spy)
    rlm = RLM(["a", "b", "c", "d"], sp, tiny_config())
    rlm.fit(archs, np.random.default_rng(0).random((8, 4)) + 1, steps=3, eval_every=3,
            batch_size=8, val_fraction=0.0, labels_per_arch=2, progress=False)
    assert seen and all(n == 8 * 2 for n in seen)


def _spy_step_tasks(monkeypatch) -> list[list[tuple[int, int]]]:
    """Per training step, the (arch, objective) of each sequence it decodes."""
    from nas_rlm.surrogates import rlm as rlm_mod

    seen, real = [], rlm_mod.RLM.decoder_tensors

    def spy(self, tasks):
        seen.append([(t[0], t[1][0][0]) for t in tasks])
        return real(self, tasks)

    monkeypatch.setattr(rlm_mod.RLM, "decoder_tensors", spy)
    return seen


def test_accuracy_batch_draws_the_accuracies_apart(tiny_config, monkeypatch):
    """With ``accuracy_batch`` the accuracies draw that many archs per step, from a draw of
    their own, and the other objectives keep ``batch_size``; over a pass of the larger draw
    every arch brings its accuracy once, and the accuracies' loss weighs what it would at
    ``batch_size``. Bad settings are refused by name."""
    from nas_rlm.search_spaces import get_space
    from nas_rlm.surrogates import training
    from nas_rlm.surrogates.training import TrainConfig

    sp = get_space("nb201")
    archs = sp.sample(12, np.random.default_rng(1))
    seen = _spy_step_tasks(monkeypatch)
    weights = []
    real_losses = training._losses

    def spy_losses(rlm, logits, dec, *a, **k):
        weights.append(dec["seq_weight"].tolist())
        return real_losses(rlm, logits, dec, *a, **k)

    monkeypatch.setattr(training, "_losses", spy_losses)
    rlm = RLM(["acc", "lat1", "lat2"], sp, tiny_config())
    Y = np.random.default_rng(0).random((12, 3)) + 1
    rlm.fit(archs, Y, steps=2, eval_every=2, batch_size=3, val_fraction=0.0,
            accuracy_batch=12, accuracies=["acc"], progress=False)
    assert len(seen) == 2
    for step in seen:
        acc_rows = sorted(i for i, j in step if j == 0)
        lat_rows = [i for i, j in step if j > 0]
        assert acc_rows == list(range(12))  # the whole pool: one pass of 12 per step
        assert len(lat_rows) == 2 * 3 and len(set(lat_rows)) == 3
    # the accuracies' tokens weigh in the loss as 3 archs' would (3 / 12 each)
    assert [sorted(set(w)) for w in weights] == [[0.25, 1.0]] * 2
    assert all(w.count(0.25) == 12 for w in weights)
    assert rlm.training_info["config"]["accuracies"] == ["acc"]
    with pytest.raises(NasRlmError, match="zz"):
        rlm.fit(archs, Y, steps=1, batch_size=3, val_fraction=0.0, accuracy_batch=4,
                accuracies=["zz"], progress=False)
    with pytest.raises(NasRlmError, match="needs the objectives"):
        TrainConfig(accuracy_batch=4)
    with pytest.raises(NasRlmError, match="list of objective names"):
        TrainConfig(accuracies="acc")
    assert TrainConfig(accuracy_batch=4, accuracies=["acc"]).settings()["accuracies"] == [
        "acc"]
    assert "accuracies" not in TrainConfig().settings()  # older runs' settings still match


def test_rehearsals_per_arch_draws_a_few_rehearsals(tiny_config, monkeypatch):
    """With ``rehearsals_per_arch=r`` every arch of a step brings all of its own labels and r
    of its rehearsals, drawn anew per step; bad settings are refused by name."""
    from nas_rlm.search_spaces import get_space
    from nas_rlm.surrogates.training import TrainConfig

    sp = get_space("nb201")
    archs = sp.sample(6, np.random.default_rng(1))
    seen = _spy_step_tasks(monkeypatch)
    rlm = RLM(["lat", "c1", "c2", "c3", "c4"], sp, tiny_config())
    Y = np.random.default_rng(0).random((6, 5)) + 1
    rlm.fit(archs, Y, steps=4, eval_every=4, batch_size=6, val_fraction=0.0,
            rehearsals=["c1", "c2", "c3", "c4"], rehearsals_per_arch=2, progress=False)
    assert len(seen) == 4
    for step in seen:
        assert sorted(i for i, j in step if j == 0) == list(range(6))  # its own: always
        for i in range(6):
            assert len([j for a, j in step if a == i and j > 0]) == 2
    drawn = {tuple(sorted(j for a, j in step if a == 0 and j > 0)) for step in seen}
    assert len(drawn) > 1  # a fresh draw each step
    assert rlm.training_info["config"]["rehearsals"] == ["c1", "c2", "c3", "c4"]
    with pytest.raises(NasRlmError, match="zz"):
        rlm.fit(archs, Y, steps=1, batch_size=3, val_fraction=0.0, rehearsals=["zz"],
                rehearsals_per_arch=1, progress=False)
    with pytest.raises(NasRlmError, match="both an accuracy and a rehearsal"):
        TrainConfig(accuracies=["c1"], rehearsals=["c1"])
    with pytest.raises(NasRlmError, match="rehearsals_per_arch must be an int"):
        TrainConfig(rehearsals_per_arch=-1)
    assert "rehearsals" not in TrainConfig().settings()  # older runs' settings still match


def test_start_similarity_follows_magnitudes_not_ranks_alone():
    """A new token starts from the objective whose logs track the labels' logs: one off by a
    small swap but proportional beats one in perfect order whose magnitudes do not follow
    (Spearman ρ, the rule before, picked the second). Zeros and constants stay finite."""
    from scipy.stats import spearmanr

    y = np.arange(1.0, 11.0)
    proportional = 2 * y
    proportional[[4, 5]] = proportional[[5, 4]]  # one adjacent swap
    ordered = np.r_[1 + 0.01 * np.arange(9), 100.0]  # flat, then a jump
    assert spearmanr(ordered, y).statistic > spearmanr(proportional, y).statistic
    assert start_similarity(proportional, y) > start_similarity(ordered, y)
    # ranks (for an accuracy, or past the few-label regime) keep the Spearman order
    by_rank = start_similarity(ordered, y, magnitudes=False)
    assert by_rank == pytest.approx(spearmanr(ordered, y).statistic)
    assert by_rank > start_similarity(proportional, y, magnitudes=False)
    assert start_similarity(3 * y ** 2, y) == pytest.approx(1.0)  # a power law is linear
    counts = np.r_[0.0, 0.0, y[2:]]  # a count that is zero on some archs
    assert -1 <= start_similarity(counts, y) <= 1
    assert start_similarity(np.full(10, 5.0), y) == -1.0
    assert start_similarity(np.zeros(10), y) == -1.0


def test_finetune_starts_a_new_device_from_the_closest_source(base_dir, data_dir,
                                                              monkeypatch):
    archs, Y = _pool("eyeriss", 12, data_dir)
    base = RLM.from_pretrained(base_dir)
    pred, objs = base.predict_point(archs), list(base.objectives)
    # candidates: what the base reads from the executed graph, less labels that never varied
    constant = {o for o in objs if base.scalers[o].constant}
    assert {"executed_conv_k5", "executed_conv_k7"} <= constant  # NB201 has no 5x5 or 7x7
    # device objectives read the executed graph, or (pixel3, a TFLite device) the converted one
    assert "pixel3" in base.converted_objectives
    # eyeriss runs every edge: it reads the executed graph, and starts from what reads it
    ex = [o for o in objs if o in base.executed_objectives and o not in constant]
    rlm = finetune_rlm(base, archs, Y, ["eyeriss"], _few(), progress=False)
    start = rlm.training_info["finetune"]["started_from"]["eyeriss"]
    score = {o: start_similarity(pred[:, objs.index(o)], Y[:, 0]) for o in ex}
    assert start == max(score, key=score.get)
    # magnitudes for a device from few labels; past the few-label regime, ranks
    from nas_rlm.surrogates import recipes

    asked = []
    monkeypatch.setattr(recipes, "start_similarity",
                        lambda p, y, magnitudes: asked.append(magnitudes) or 0.0)
    for limit, want in ((len(archs), True), (len(archs) - 1, False)):
        asked.clear()
        monkeypatch.setattr(recipes, "MIX_HEAD_MAX_LABELS", limit)
        finetune_rlm(RLM.from_pretrained(base_dir), archs, Y, ["eyeriss"], _few(),
                     progress=False, mix_head=False)
        assert asked and all(m is want for m in asked)
    monkeypatch.undo()
    assert rlm.objectives == ["eyeriss"] and rlm.view_of_objective("eyeriss") == "executed"
    # raspi4 is a TFLite device: the converted graph, started from an objective reading it
    archs, Y = _pool("raspi4", 12, data_dir)
    rlm = finetune_rlm(RLM.from_pretrained(base_dir), archs, Y, ["raspi4"], _few(),
                       progress=False)
    start = rlm.training_info["finetune"]["started_from"]["raspi4"]
    assert rlm.view_of_objective("raspi4") == rlm.view_of_objective(start) == "converted"
    assert rlm.predict_expected(archs).shape == (12, 1)


def test_finetune_mixes_the_source_devices_into_a_new_device(base_dir, data_dir, tmp_path):
    """A new device gets a mix head over the base's source devices, fitted on its labels:
    its value is the head's blend of the sources' decoded values and its own; it survives
    saving, and refitting the model drops it (it was fitted to the old weights)."""
    from nas_rlm.surrogates.rlm import write_manifest

    archs, Y = _pool("eyeriss", 12, data_dir)
    rlm = finetune_rlm(RLM.from_pretrained(base_dir), archs, Y, ["eyeriss"], _few(),
                       progress=False)
    head = rlm.mix_heads["eyeriss"]
    assert sorted(head.sources) == ["1080ti_1", "gold_6240", "pixel3"]
    assert rlm.training_info["finetune"]["mix_heads"] == ["eyeriss"]
    blended = rlm.predict_point(archs)
    rlm.mix_heads = {}
    own = rlm.predict_point(archs)[:, 0]
    rlm.set_objectives(head.sources)
    X = rlm.predict_point(archs)
    rlm.set_objectives(["eyeriss"])
    rlm.mix_heads = {"eyeriss": head}
    np.testing.assert_allclose(blended[:, 0], head.blend(X, own), rtol=1e-9)
    assert not np.allclose(blended[:, 0], own)
    # samples: the token's own, moved so that their median is the blend of theirs with the
    # mix of the sources' exact medians; their spread in log units is the token's
    samples = rlm.predict(archs, k=3)[..., 0]
    rlm.mix_heads = {}
    own = rlm.predict(archs, k=3)[..., 0]
    rlm.mix_heads = {"eyeriss": head}
    np.testing.assert_allclose(np.median(samples, 1), head.blend(X, np.median(own, 1)),
                               rtol=1e-9)
    shift = np.log(samples) - np.log(np.clip(own, 1e-9, None))  # a decoded 0 reads as 1e-9
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :1], shift.shape), atol=1e-9)

    rlm.save_pretrained(tmp_path / "m")
    back = RLM.from_pretrained(tmp_path / "m")
    assert back.mix_heads["eyeriss"] == head
    np.testing.assert_allclose(back.predict_point(archs), blended, rtol=1e-6)
    meta = json.loads((tmp_path / "m" / "rlm.json").read_text())
    meta["mix_heads"]["eyeriss"]["sources"] = ["1080ti_1", "gold_6240", "raspi9"]
    (tmp_path / "m" / "rlm.json").write_text(json.dumps(meta))
    write_manifest(tmp_path / "m")
    with pytest.raises(NasRlmError, match=r"rlm.json is damaged: .*raspi9"):
        RLM.from_pretrained(tmp_path / "m")

    back.fit(archs, Y, **{"steps": 1, "progress": False})
    assert back.mix_heads == {}
    off = finetune_rlm(RLM.from_pretrained(base_dir), archs, Y, ["eyeriss"], _few(),
                       progress=False, mix_head=False)
    assert off.mix_heads == {} and off.training_info["finetune"]["mix_heads"] == []


def test_a_count_head_is_rehearsed_and_saved_with_the_fine_tune(base_dir, data_dir, tmp_path,
                                                                monkeypatch):
    """``count_heads``: the fine-tune also learns the counts of the device's graph, labelled
    by the base's own decoded values, and carries a linear head over its *own* counts; one
    pass decodes the counts with the device, and the saved model is the whole of it."""
    from nas_rlm.surrogates.recipes import (
        count_head_sources,
        decoded_medians,
        fit_count_head,
    )

    archs, Y = _pool("eyeriss", 20, data_dir)
    base = load_base(base_dir, "nb201")
    sources = count_head_sources(base, "executed")
    labels = decoded_medians(base, sources, archs)
    fitted, real_fit = {}, RLM.fit

    def spy(self, a, Yf, **kw):
        fitted["objectives"], fitted["Y"] = list(self.objectives), np.array(Yf)
        return real_fit(self, a, Yf, **kw)

    monkeypatch.setattr(RLM, "fit", spy)
    rlm = finetune_rlm(base, archs, Y, ["eyeriss"], _few(), progress=False,
                       count_heads={"eyeriss": 0.5})
    assert fitted["objectives"] == ["eyeriss", *sources]  # rehearsed beside the device
    np.testing.assert_array_equal(fitted["Y"], np.column_stack([Y, labels]))
    assert rlm.objectives == ["eyeriss"]
    info = rlm.training_info["finetune"]
    assert info["count_heads"] == ["eyeriss"] and info["rehearsed"] == sources
    assert rlm.training_info["config"]["rehearsals"] == sources  # so a per-arch draw is of them
    assert info["mix_heads"] == []  # a count head, not the few-label mix head as well
    head = rlm.mix_heads["eyeriss"]
    assert head.linear and head.weight == 0.5 and head.sources == sources
    assert head == fit_count_head(sources, decoded_medians(rlm, sources, archs), Y[:, 0],
                                  0.5)  # over its own counts
    assert min(head.coef) >= 0.0  # no count makes a network faster
    # every readout blends with the counts' exact medians, decoded in the same pass as two
    # passes would decode them; samples keep the token's own draws
    test, _ = _pool("eyeriss", 8, data_dir, seed=3)
    point, expected = rlm.predict_median(test), rlm.predict_expected(test)
    samples = rlm.predict(test, k=3)[..., 0]
    rlm.mix_heads = {}
    counts = decoded_medians(rlm, sources, test)
    np.testing.assert_allclose(np.median(samples, 1), head.blend(
        counts, np.median(rlm.predict(test, k=3)[..., 0], 1)), rtol=1e-6)
    np.testing.assert_allclose(point[:, 0], head.blend(counts, rlm.predict_median(test)[:, 0]),
                               rtol=1e-6)
    np.testing.assert_allclose(expected[:, 0], head.blend(
        counts, rlm.predict_expected(test)[:, 0]), rtol=1e-5)
    assert not np.allclose(point[:, 0], rlm.predict_median(test)[:, 0])
    # a count the head weighs 0 is not decoded, and the values are the same
    zero = MixHead(**{**head.to_dict(), "coef": [0.0, *([0.5] * (len(sources) - 1))]})
    rlm.mix_heads, decoded, real_decode = {"eyeriss": zero}, [], RLM._decode_all

    def spy_decode(self, *a, **kw):
        decoded.append(list(self.objectives))
        return real_decode(self, *a, **kw)

    monkeypatch.setattr(RLM, "_decode_all", spy_decode)
    got = rlm.predict_median(test)
    assert decoded == [["eyeriss", *sources[1:]]]
    monkeypatch.setattr(RLM, "_decode_all", real_decode)
    rlm.mix_heads = {}
    np.testing.assert_allclose(got[:, 0], zero.blend(counts, rlm.predict_median(test)[:, 0]),
                               rtol=1e-6)
    rlm.mix_heads = {"eyeriss": head}
    back = RLM.from_pretrained(rlm.save_pretrained(tmp_path / "m"))
    assert back.mix_heads == {"eyeriss": head}
    np.testing.assert_allclose(back.predict_median(test), point, rtol=1e-6)
    # only device columns of the fine-tune, with a weight in (0, 1]
    for heads, match in (({"fpga": 1.0}, "fpga is not one"),
                         ({"cifar10": 1.0}, "cifar10 is not one"),
                         ({"eyeriss": 0.0}, r"weight is in \(0, 1\]"),
                         ({"eyeriss": 1.5}, r"weight is in \(0, 1\]")):
        with pytest.raises(NasRlmError, match=match):
            finetune_rlm(load_base(base_dir, "nb201"), archs, Y, ["eyeriss"], _few(),
                         progress=False, count_heads=heads)


def test_a_chained_base_rehearses_its_counts_in_its_one_sequence(data_dir, tmp_path):
    """A chained base writes every count in its one sequence per arch, so the recipe's
    per-arch draw of rehearsals (which needs one sequence per label) is set to none; the
    counts are still rehearsed and the head still fitted."""
    recipe = RLMRecipe.sized("tiny").with_overrides([*TINY_BASE, "model.chained=true"])
    load_or_pretrain_base(tmp_path, "nb201", [], recipe, progress=False,
                          source_columns=["pixel3", "1080ti_1"], data_dir=data_dir)
    archs, Y = _pool("eyeriss", 12, data_dir)
    assert _few().rehearsals_per_arch > 0
    rlm = finetune_rlm(load_base(tmp_path / "model", "nb201"), archs, Y, ["eyeriss"], _few(),
                       progress=False, count_heads={"eyeriss": 1.0})
    cfg, info = rlm.training_info["config"], rlm.training_info["finetune"]
    assert rlm.config.chained and cfg["rehearsals_per_arch"] == 0
    assert info["rehearsed"] and cfg["rehearsals"] == info["rehearsed"]
    assert rlm.mix_heads["eyeriss"].sources == info["rehearsed"]


def test_a_frozen_encoder_fine_tune_moves_only_the_decoder(base_dir, data_dir):
    """``freeze_encoder``: every encoder weight and every text token's embedding row stays
    bit-identical (no gradient, no weight decay); the decoder still learns."""
    from dataclasses import replace

    archs, Y = _pool("eyeriss", 16, data_dir)
    base = RLM.from_pretrained(base_dir)
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    off = base.text_offset  # eyeriss's new token shifts the text rows by one
    rlm = finetune_rlm(base, archs, Y, ["eyeriss"],
                       replace(_few(), freeze_encoder=True, lr=1e-2), progress=False)
    after = rlm.model.state_dict()
    assert rlm.text_offset == off + 1
    assert torch.equal(after["shared.weight"][off + 1:], before["shared.weight"][off:])
    enc = [k for k in before if k.startswith("encoder.") and k != "encoder.embed_tokens.weight"]
    assert enc and all(torch.equal(after[k], before[k]) for k in enc)
    dec = [k for k in before if k.startswith("decoder.block.")]
    assert any(not torch.equal(after[k], before[k]) for k in dec)
    with pytest.raises(NasRlmError, match="freeze_encoder must be true or false"):
        replace(_few(), freeze_encoder="yes")


def test_finetune_warns_on_a_column_the_base_saw(base_dir, data_dir):
    archs, Y = _pool("pixel3", 10, data_dir)
    with pytest.warns(UserWarning, match="pixel3 were pretraining labels"):
        finetune_rlm(RLM.from_pretrained(base_dir), archs, Y, ["pixel3"], _few(),
                     progress=False)
    archs, Y = _pool("fpga", 10, data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        finetune_rlm(RLM.from_pretrained(base_dir), archs, Y, ["fpga"], _few(),
                     progress=False)


def test_finetune_cli_then_predict_and_search(base_dir, data_dir, tmp_path, capsys):
    """Two columns a user measured (accuracy and a new device) make one model that
    ``predict`` and ``search`` take like any other."""
    archs, _ = _pool("eyeriss", 10, data_dir)
    _, Y = load_targets("nb201", ["cifar10", "eyeriss"], data_dir)
    Y = Y[train_indices("nb201", 10, 0)]
    csv = tmp_path / "mine.csv"
    rows = "".join(f"{a},{y[0]},{y[1]}\n" for a, y in zip(archs, Y, strict=True))
    csv.write_text("arch,cifar10,eyeriss\n" + rows)
    out = tmp_path / "ft"
    assert main(["finetune", "--base", str(base_dir), "--csv", str(csv), "--steps", "4",
                 "--out", str(out), "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["columns"] == ["cifar10", "eyeriss"] and res["n"] == 10
    model = RLM.from_pretrained(out / "model")
    assert "eyeriss" in model.executed_objectives
    assert set(model.mix_heads) == {"eyeriss"}  # never an accuracy
    assert "cifar10" not in model.executed_objectives  # accuracy reads the optimised graph
    assert main(["predict", "--model", str(out / "model"), archs[0], "-k", "2",
                 "--quiet"]) == 0
    assert "eyeriss" in json.loads(capsys.readouterr().out)[0]
    assert main(["search", "--model", str(out / "model"), "--objectives",
                 "accuracy,latency:eyeriss", "--pop-size", "6", "--generations", "1",
                 "--out", str(tmp_path / "search"), "--quiet"]) == 0


def test_finetune_cli_no_mix_head(base_dir, data_dir, tmp_path, capsys):
    archs, Y = _pool("eyeriss", 8, data_dir)
    csv = tmp_path / "mine.csv"
    csv.write_text("arch,eyeriss\n" + "".join(f"{a},{y[0]}\n" for a, y in zip(archs, Y,
                                                                               strict=True)))
    for flag, heads in (([], ["eyeriss"]), (["--no-mix-head"], [])):
        out = tmp_path / f"ft{len(flag)}"
        assert main(["finetune", "--base", str(base_dir), "--csv", str(csv), "--steps", "2",
                     "--out", str(out), "--quiet", *flag]) == 0
        assert json.loads(capsys.readouterr().out)["mix_heads"] == heads
        assert list(RLM.from_pretrained(out / "model").mix_heads) == heads
    # --count-heads: the saved model carries a linear head over its own rehearsed counts
    out = tmp_path / "counted"
    assert main(["finetune", "--base", str(base_dir), "--csv", str(csv), "--steps", "2",
                 "--out", str(out), "--quiet", "--count-heads", "eyeriss=1"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["count_heads"] == ["eyeriss"] and res["mix_heads"] == []
    head = RLM.from_pretrained(out / "model").mix_heads["eyeriss"]
    assert head.linear and head.weight == 1.0
    for bad in ("eyeriss", "eyeriss=0", "eyeriss=2", "=1", ","):
        assert main(["finetune", "--base", str(base_dir), "--csv", str(csv), "--out",
                     str(tmp_path / "bad"), "--count-heads", bad]) == 2
        assert "COLUMN=WEIGHT" in capsys.readouterr().err
    assert main(["finetune", "--base", str(base_dir), "--csv", str(csv), "--steps", "2",
                 "--out", str(tmp_path / "acc"), "--quiet", "--count-heads", "fpga=1"]) == 2
    assert "fpga is not one" in capsys.readouterr().err


def test_finetune_cli_names_the_converter_devices(base_dir, data_dir, tmp_path, capsys,
                                                 tiny_config):
    """``--converted``: a user's device measured through a converter reads the converted
    graph and starts from an objective that reads it; ``''`` turns the table's TFLite
    default off; a column that is not a new device, or a base with no converted view, is
    refused by name."""
    from nas_rlm.search_spaces import get_space

    def run(column, n, *flag):
        archs, Y = _pool(column, n, data_dir)
        csv = tmp_path / f"{column}.csv"
        csv.write_text(f"arch,{column}\n" + "".join(f"{a},{y[0]}\n" for a, y in
                                                     zip(archs, Y, strict=True)))
        out = tmp_path / f"ft_{column}_{len(flag)}"
        rc = main(["finetune", "--base", str(base_dir), "--csv", str(csv), "--steps", "2",
                   "--out", str(out), "--quiet", *flag])
        return rc, out, archs, Y

    rc, out, _, _ = run("eyeriss", 8, "--converted", "eyeriss")
    assert rc == 0
    start = json.loads(capsys.readouterr().out)["started_from"]["eyeriss"]
    model = RLM.from_pretrained(out / "model")
    assert model.view_of_objective("eyeriss") == model.view_of_objective(start) == "converted"
    rc, out, _, _ = run("raspi4", 8, "--converted", "")
    assert rc == 0
    assert RLM.from_pretrained(out / "model").view_of_objective("raspi4") == "executed"
    capsys.readouterr()

    archs, Y = _pool("fpga", 8, data_dir)
    with pytest.raises(NasRlmError, match=r"converted column\(s\) pixel3 are not new device"):
        finetune_rlm(RLM.from_pretrained(base_dir), archs, Y, ["fpga"], _few(),
                     progress=False, converted=["pixel3"])
    plain = RLM(["pixel3"], get_space("nb201"), tiny_config(), executed_objectives=["pixel3"])
    with pytest.raises(NasRlmError, match=r"reads no converted graph.*fpga"):
        finetune_rlm(plain, archs, Y, ["fpga"], _few(), progress=False, converted=["fpga"])


def test_new_column_views_is_the_rule_finetune_and_the_pool_simulation_share(base_dir,
                                                                           tiny_config):
    """An accuracy reads the optimised graph; on a base that reads device graphs a TFLite
    device the converted one and any other device the executed one; on a base of one graph
    per arch every column reads that graph."""
    from nas_rlm.search_spaces import get_space
    from nas_rlm.surrogates.recipes import new_column_views

    base = RLM.from_pretrained(base_dir)
    cols = ["cifar10", "raspi4", "eyeriss"]
    assert new_column_views(base, cols, ["cifar10"]) == {
        "cifar10": "optimised", "raspi4": "converted", "eyeriss": "executed"}
    assert new_column_views(base, cols, ["cifar10"], converted=["eyeriss"])["raspi4"] == \
        "executed"
    flat = RLM(["mflops"], get_space("nb201"), tiny_config())
    assert set(new_column_views(flat, cols, ["cifar10"]).values()) == {"optimised"}


@pytest.mark.parametrize("body,match", [
    ("arch,eyeriss\n|nor_conv_3x3~0|+|zz~0|none~1|+|none~0|none~1|none~2|,1.0\n",
     "bad.csv:2: unknown op"),
    ("arch,eyeriss\n{a},nan\n", "non-finite"),
    ("arch,eyeriss\n{a},1.0\n{a},2.0\n", "listed twice"),
])
def test_finetune_cli_bad_csv_is_one_line(base_dir, data_dir, tmp_path, capsys, body, match):
    a = _pool("eyeriss", 2, data_dir)[0][0]
    csv = tmp_path / "bad.csv"
    csv.write_text(body.format(a=a))
    assert main(["finetune", "--base", str(base_dir), "--csv", str(csv),
                 "--out", str(tmp_path / "ft")]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and "\n" not in err


def test_finetune_refuses_a_model_that_is_not_a_base(tmp_path, capsys, tiny_config):
    """A model from scratch, and a fine-tuned one (the shipped default: it saw its five
    columns, so as a base it would leak them into few-shot figures)."""
    from nas_rlm.search_spaces import get_space
    from nas_rlm.surrogates.pretrained import default_model_dir

    sp = get_space("nb201")
    scratch = RLM(["eyeriss"], sp, tiny_config())
    scratch.build(scratch.texts_for(sp.sample(4, np.random.default_rng(0)))).save_pretrained(
        tmp_path / "scratch")
    csv = tmp_path / "x.csv"
    csv.write_text("arch,eyeriss\n")
    for model, why in ((tmp_path / "scratch", "made by `nas-rlm pretrain`"),
                       (default_model_dir(), "it was fine-tuned on cifar10, pixel3, eyeriss")):
        assert main(["finetune", "--base", str(model), "--csv", str(csv),
                     "--out", str(tmp_path / "ft")]) == 2
        err = capsys.readouterr().err
        assert "not a pretrained base" in err and why in err


def test_pretrain_cli_exclude_columns(tmp_path, capsys, data_dir):
    out = tmp_path / "b"
    assert main(["pretrain", "--exclude-columns", ",".join(
        [d for d in source_devices("nb201", [], data_dir) if d not in ("pixel3", "eyeriss")]
        + ["eyeriss"]), "--archs", "30", "--steps", "2", "--size", "tiny",
        "--set", "train.eval_every=1", "--set", "train.labels_per_arch=2",
        "--set", "model.node_ids=relative",
        "--out", str(out), "--data-dir", str(data_dir), "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["source_columns"] == ["pixel3"] and "eyeriss" in res["excluded"]
    card = (out / "model" / "MODEL_CARD.md").read_text()
    assert "pixel3" in card and "eyeriss" in card.split("never saw")[1]
    assert "Node ids read: relative" in card
    assert load_base(out / "model", "nb201").config.node_ids == "relative"
    assert main(["pretrain", "--exclude-columns", "pixel9", "--out", str(tmp_path / "c"),
                 "--data-dir", str(data_dir), "--quiet"]) == 2
    assert "pixel9" in capsys.readouterr().err


def test_fewshot_run_scores_every_method_and_resumes(base_dir, tmp_path, data_dir):
    cfg = FewShotConfig("nb201", ("eyeriss", "fpga"), (10,), (0,),
                        ("rlm_base", "ridge_ref", "flops", "gbdt"), test_limit=60,
                        finetune_steps=2)
    res = fewshot(cfg, base_dir=base_dir, out_dir=tmp_path / "fs", data_dir=data_dir,
                  progress=False)
    assert res["cells_run"] == 8
    s = res["summary"]
    for m in cfg.methods:
        assert s[m]["10"]["complete"] and -1 <= s[m]["10"]["mean_spearman"] <= 1
    assert s["ridge_ref"]["10"]["mean_spearman"] > 0.5  # source devices predict the target
    cells = json.loads((tmp_path / "fs" / "results.json").read_text())["cells"]
    base_cells = [c for c in cells if c["method"] == "rlm_base"]
    assert base_cells and all(-1 <= c["start_spearman"] <= 1 and c["started_from"]
                              and -1 <= c["token_spearman"] <= 1 for c in base_cells)
    # NB201 has no 5x5 or 7x7 convs: those counts were constant in pretraining, never a start
    assert not any(c["started_from"].endswith(("conv_k5", "conv_k7")) for c in base_cells)
    again = fewshot(cfg, base_dir=base_dir, out_dir=tmp_path / "fs", data_dir=data_dir,
                    progress=False)
    assert again["cells_run"] == 0 and again["summary"] == s
    assert "HELP (published)" in (tmp_path / "fs" / "table.md").read_text()


def test_fewshot_refuses_a_base_that_saw_the_device(base_dir, tmp_path, data_dir):
    cfg = FewShotConfig("nb201", ("pixel3",), (10,), (0,), ("rlm_base",), test_limit=20)
    with pytest.raises(NasRlmError, match="pretrained on pixel3;"):
        fewshot(cfg, base_dir=base_dir, out_dir=tmp_path / "fs", data_dir=data_dir,
                progress=False)


def test_heldout_test_archs_carry_no_label_of_the_evaluated_column(data_dir):
    """The ridge baseline's features are the source columns only; the evaluated column of
    a test arch never reaches a method (it is read only to score)."""
    from nas_rlm.evaluation.fewshot import _Run

    run = _Run(FewShotConfig("nb201", ("eyeriss",), (10,), (0,), ("ridge_ref",),
                             test_limit=30), None, data_dir, 1)
    assert "eyeriss" not in run.sources
    assert not set(run.sources) & set(HELDOUT_DEVICES["nb201"])


def test_validation_skips_constant_labels(tiny_config):
    """A label with one value on the validation split (a base's count of 5x5 convs on NB201)
    has no order: it must not pull the mean τ to 0 nor blow up the spread panel."""
    from nas_rlm.search_spaces import get_space
    from nas_rlm.surrogates.training import _validate

    sp = get_space("nb201")
    archs = sp.sample(12, np.random.default_rng(2))
    Y = np.c_[np.arange(12.0) + 1, np.full(12, 3.0)]
    rlm = RLM(["a", "const"], sp, tiny_config())
    rlm.fit(archs, Y, steps=2, eval_every=1, val_fraction=0.0, progress=False)
    row = _validate(rlm, rlm.model, rlm.views_for(archs), Y)
    assert "tau/a" in row and "tau/const" not in row and "spread/const" not in row
    assert row["val_tau"] == row["tau/a"]


def test_fewshot_scratch_and_mlp_cells(tmp_path, data_dir, monkeypatch):
    """``rlm_scratch`` trains the default recipe's model on the S samples alone (20 steps
    here: fewer leave its values below every label, where they are clipped to 0 and tie)
    and ``mlp`` the one-hot MLP; both score the same test archs."""
    from nas_rlm.evaluation import fewshot as fs

    monkeypatch.setattr(fs, "SCRATCH_TRAIN", {**fs.SCRATCH_TRAIN, "steps": 20,
                                              "warmup_steps": 5, "eval_every": 10})
    cfg = FewShotConfig("nb201", ("eyeriss",), (10,), (0,), ("rlm_scratch", "mlp"),
                        test_limit=40)
    res = fewshot(cfg, base_dir=None, out_dir=tmp_path / "fs", data_dir=data_dir,
                  progress=False)
    assert res["cells_run"] == 2
    assert all(-1 <= res["summary"][m]["10"]["mean_spearman"] <= 1 for m in cfg.methods)


def test_shipped_base_never_saw_a_heldout_device_and_finetune_uses_it(tmp_path, capsys,
                                                                       data_dir):
    from nas_rlm.surrogates.pretrained import default_base_dir

    base = RLM.from_pretrained(default_base_dir("nb201"))
    seen = base.training_info["base"]["source_columns"]
    assert len(seen) == 21 and not set(seen) & set(HELDOUT_DEVICES["nb201"])
    assert not {"cifar10", *HELDOUT_DEVICES["nb201"]} & set(base.scalers)
    # the TFLite source reads what its converter left; every other source what PyTorch ran
    assert base.converted_objectives[0] == "pixel3"
    assert set(seen) - {"pixel3"} <= set(base.executed_objectives)
    assert base.space_settings["converter"] == 2  # pretrained on the second converter rule
    archs, Y = _pool("raspi4", 10, data_dir)
    csv = tmp_path / "raspi4.csv"
    csv.write_text("arch,raspi4\n" + "".join(f"{a},{y}\n" for a, y in zip(archs, Y[:, 0],
                                                                           strict=True)))
    assert main(["finetune", "--csv", str(csv), "--steps", "2", "--out",
                 str(tmp_path / "ft"), "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["columns"] == ["raspi4"]
    assert RLM.from_pretrained(tmp_path / "ft" / "model").objectives == ["raspi4"]


@pytest.mark.parametrize("space,column", [("fbnet", "eyeriss"), ("ofa_mbv3", "v100_1")])
def test_shipped_count_base_saw_no_table_column_and_finetune_uses_it(space, column, tmp_path,
                                                                     capsys, data_dir):
    from nas_rlm.data.tables import load_latency
    from nas_rlm.io import write_csv
    from nas_rlm.surrogates.pretrained import default_base_dir

    base = RLM.from_pretrained(default_base_dir(space))
    assert base.space == space and not base.training_info["base"].get("source_columns")
    table = set(load_latency(space, data_dir).devices)
    assert "mflops" in base.scalers and not table & set(base.scalers)
    archs, Y = load_targets(space, [column], data_dir)
    idx = train_indices(space, 10, 0)
    # written as `measure` writes it: OFA-MBv3 arch strings hold commas and come quoted
    path = write_csv(tmp_path / f"{column}.csv", ["arch", column],
                     ([archs[i], Y[i, 0]] for i in idx))
    assert main(["finetune", "--space", space, "--csv", str(path), "--steps", "2", "--out",
                 str(tmp_path / "ft"), "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["columns"] == [column]
    tuned = RLM.from_pretrained(tmp_path / "ft" / "model")
    # a new device starts from the base objective that ranks its labels best: a count
    assert tuned.training_info["finetune"]["started_from"][column] in base.objectives
    # both bases read relative node ids (each chosen on pool validation); a fine-tune reads
    # as its base, and the card says how it reads
    assert base.config.node_ids == tuned.config.node_ids == "relative"
    assert "Node ids read: relative" in (default_base_dir(space) / "MODEL_CARD.md").read_text()


def test_finetuned_rlm_uses_a_budget_per_target_kind(base_dir, data_dir, tmp_path):
    from dataclasses import replace

    from nas_rlm.surrogates.recipes import FinetunedRLM

    archs, Y = load_targets("nb201", ["eyeriss", "cifar10"], data_dir)
    idx = train_indices("nb201", 16, 0)
    sur = FinetunedRLM("nb201", ["eyeriss", "cifar10"], base_dir, train=_few(),
                       accuracy_train=replace(_few(), steps=6), epochs=0)
    sur.fit([archs[i] for i in idx], Y[idx])
    # the accuracy is fine-tuned three times (FINETUNE_ACCURACY_MEMBERS), seeds 1000 apart
    assert [[m.training_info["steps_run"] for m in g] for g in sur.models] == [[4], [6, 6, 6]]
    assert [[m.objectives for m in g] for g in sur.models] == [
        [["eyeriss"]], [["cifar10"], ["cifar10"], ["cifar10"]]]
    assert [m.training_info["config"]["seed"] for m in sur.models[1]] == [0, 1000, 2000]
    test = [archs[i] for i in heldout_indices("nb201")[:5]]
    # k samples per objective: the accuracy's three fine-tunes give 2, 1 and 1 of k = 4
    samples = sur.predict(test, k=4)
    assert samples.shape == (5, 4, 2)
    acc = sur.models[1]
    np.testing.assert_allclose(samples[:, :, 1], np.concatenate(
        [acc[0].predict(test, k=2)[:, :, 0], acc[1].predict(test, k=1)[:, :, 0],
         acc[2].predict(test, k=1)[:, :, 0]], axis=1))
    for readout in ("predict_point", "predict_median", "predict_expected"):
        point = getattr(sur, readout)(test)
        assert point.shape == (5, 2) and np.isfinite(point).all()
        np.testing.assert_allclose(point[:, 0], getattr(sur.models[0][0], readout)(test)[:, 0])
        np.testing.assert_allclose(point[:, 1], np.mean([getattr(m, readout)(test)[:, 0]
                                                         for m in acc], axis=0))
    assert any(not torch.equal(a, b) for a, b in zip(  # two draws, not one twice
        acc[0].model.parameters(), acc[1].model.parameters(), strict=True))
    for j, (g, o) in enumerate(zip(sur.models, ["eyeriss", "cifar10"], strict=True)):
        for m in g:
            assert m.scalers[o].x[-1] == pytest.approx(Y[idx, j].max())  # on its labels
    out = sur.save(tmp_path / "cell")
    assert sorted(str(p.relative_to(out)) for p in out.glob("**/model.safetensors")) == [
        "cifar10/0/model.safetensors", "cifar10/1/model.safetensors",
        "cifar10/2/model.safetensors", "eyeriss/model.safetensors"]
    with pytest.raises(NasRlmError, match="accuracy_members must be >= 1"):
        FinetunedRLM("nb201", ["cifar10"], base_dir, accuracy_members=0)


def test_finetuned_rlm_chooses_its_passes_on_a_fifth_of_its_labels(base_dir, data_dir,
                                                                     monkeypatch):
    from dataclasses import replace

    from nas_rlm.surrogates import recipes
    from nas_rlm.surrogates.recipes import FinetunedRLM

    monkeypatch.setattr(recipes, "SELECT_EPOCHS_MIN_LABELS", 20)
    fits = []
    real = recipes.finetune_rlm

    def spy(base, archs, Y, columns, train=None, **kw):
        fits.append((len(archs), train.steps))
        return real(base, archs, Y, columns, train, **kw)

    monkeypatch.setattr(recipes, "finetune_rlm", spy)
    archs, Y = load_targets("nb201", ["eyeriss", "cifar10"], data_dir)
    idx = train_indices("nb201", 20, 0)
    archs, Y = [archs[i] for i in idx], Y[idx]
    sur = FinetunedRLM("nb201", ["eyeriss", "cifar10"], base_dir, train=_few(),
                       accuracy_train=replace(_few(), steps=6), epoch_choices=(1, 16),
                       accuracy_members=1, count_head_weights=(0.0,))
    sur.fit(archs, Y)
    chosen = sur.models[0][0].training_info["finetune"]["epochs_chosen"]
    scores = chosen["val_tau"]
    assert set(scores) == {"1", "16"}
    assert chosen["epochs"] == (16.0 if scores["16"] > scores["1"] else 1.0)
    # each choice fits 16 of the 20 labels (4, 8 steps), then the chosen one fits all 20;
    # an accuracy keeps its passes (12 of 20 labels: 8 steps), with no choice made
    assert fits == [(16, 4), (16, 8), (20, 10 if chosen["epochs"] == 16 else 4), (20, 8)]
    assert sur.models[0][0].training_info["steps_run"] == fits[2][1]
    assert sur.fit_info() == {"eyeriss": chosen}  # what `nas-rlm evaluate` records per cell
    # below the threshold no choice is made: one fit at the surrogate's own passes
    fits.clear()
    few = FinetunedRLM("nb201", ["eyeriss"], base_dir, train=_few(), epochs=0)
    assert few.fit(archs[:16], Y[:16, :1]).fit_info() == {} and fits == [(16, 4)]


def test_finetuned_rlm_weighs_a_count_head_on_the_same_fifth(base_dir, data_dir,
                                                             monkeypatch):
    """A device of many labels chooses, with its passes and on the same fifth, how much of
    a linear ridge over the *base's* decoded counts of its graph to blend in; the chosen
    head is carried by the fine-tune itself, over its own counts, and every readout
    applies it."""
    from nas_rlm.surrogates import recipes
    from nas_rlm.surrogates.recipes import (
        FinetunedRLM,
        count_head_sources,
        decoded_medians,
        load_base,
    )

    monkeypatch.setattr(recipes, "SELECT_EPOCHS_MIN_LABELS", 20)
    base = load_base(base_dir, "nb201")
    sources = count_head_sources(base, "executed")
    # the executed graph's computed labels that varied in pretraining; no device column
    assert sources and all(o.startswith("executed_") for o in sources)
    assert not {"pixel3", "1080ti_1", "gold_6240"} & set(sources)
    assert set(sources) <= set(base.objectives)
    archs, Y = _pool("eyeriss", 20, data_dir)
    sur = FinetunedRLM("nb201", ["eyeriss"], base_dir, train=_few(), epoch_choices=(1,),
                       count_head_weights=(0.0, 0.5, 1.0), count_head_guard=0.0)
    sur.fit(archs, Y)
    chosen = sur.fit_info()["eyeriss"]
    # one choice of passes, yet a choice is made: token alone vs two weights of the head
    assert set(chosen["val_tau"]) == {"1"} and set(chosen["head_val_tau"]["1"]) == {"0.5", "1"}
    assert set(chosen["head_win_share"]["1"]) == {"0.5", "1"}
    taus = {0.0: chosen["val_tau"]["1"], **{float(w): t for w, t in
                                             chosen["head_val_tau"]["1"].items()}}
    assert chosen["head_weight"] == max(taus, key=taus.__getitem__)  # no guard: first best
    model = sur.models[0][0]
    assert ("eyeriss" in model.mix_heads) == (chosen["head_weight"] > 0)
    if chosen["head_weight"]:
        assert model.mix_heads["eyeriss"].weight == chosen["head_weight"]
        assert model.mix_heads["eyeriss"].sources == sources
    # whatever was chosen, a head blends every readout with the fine-tune's own counts
    test, _ = _pool("eyeriss", 8, data_dir, seed=3)
    model.mix_heads = {}
    token = model.predict_median(test)[:, 0]
    head = MixHead.fit(sources, decoded_medians(model, sources, archs), Y[:, 0], 0.5,
                       linear=True)
    model.mix_heads = {"eyeriss": head}
    np.testing.assert_allclose(sur.predict_median(test)[:, 0], head.blend(
        decoded_medians(model, sources, test), token), rtol=1e-6)
    samples = sur.predict(test, k=4)
    assert samples.shape == (8, 4, 1) and np.isfinite(samples).all()
    # each device weighs a head over its own graph's counts, whatever was read before it:
    # raspi4 (a converter device) the converted graph's, eyeriss the executed graph's
    two = FinetunedRLM("nb201", ["raspi4", "eyeriss"], base_dir, train=_few(),
                       epoch_choices=(1,), count_head_weights=(0.0, 1.0))
    Y2 = load_targets("nb201", ["raspi4", "eyeriss"], data_dir)[1][train_indices("nb201", 20, 0)]
    info = two.fit(archs, Y2).fit_info()
    assert set(info) == {"raspi4", "eyeriss"}
    assert all(set(v["head_val_tau"]["1"]) == {"1"} for v in info.values())
    assert count_head_sources(two._base_reader(), "converted") == [
        o.replace("executed_", "converted_") for o in sources]
    # a chosen head is rehearsed by the final fine-tune and saved with it
    monkeypatch.setattr(recipes, "select_epochs",
                        lambda *a, **k: (1.0, 1.0, {"val_tau": {"1": 0.0}}))
    forced = FinetunedRLM("nb201", ["eyeriss"], base_dir, train=_few(), epoch_choices=(1,),
                          count_head_weights=(0.0, 1.0)).fit(archs, Y)
    model = forced.models[0][0]
    assert model.training_info["finetune"]["count_heads"] == ["eyeriss"]
    assert model.training_info["finetune"]["rehearsed"] == sources
    assert model.mix_heads["eyeriss"].weight == 1.0
    np.testing.assert_allclose(forced.predict_median(test)[:, 0], model.mix_heads[
        "eyeriss"].blend(decoded_medians(model, sources, test), np.ones(8)), rtol=1e-6)
    # (w = 1: the head alone, whatever the token)
    assert forced._reader is None  # the base is let go: the fine-tune is the whole model
    # without head weights the base is never read: the token alone, as before
    reads = []
    monkeypatch.setattr(FinetunedRLM, "_base_reader", lambda self: reads.append(1))
    plain = FinetunedRLM("nb201", ["eyeriss"], base_dir, train=_few(), epoch_choices=(1,),
                         count_head_weights=(0.0,))
    assert plain.fit(archs, Y).fit_info() == {} and reads == []
    assert "count_heads" not in plain.models[0][0].training_info["finetune"]


def test_head_win_share_counts_strict_bootstrap_wins():
    from nas_rlm.surrogates.recipes import head_win_share

    rng = np.random.default_rng(0)
    y = rng.normal(size=60)
    noisy = y + rng.normal(size=60)
    assert head_win_share(y, noisy, y, draws=50) == 1.0
    assert head_win_share(noisy, y, y, draws=50) == 0.0
    assert head_win_share(noisy, noisy, y, draws=50) == 0.0  # a tie is no win
    close = noisy + 0.05 * rng.normal(size=60)  # as good as the token: wins some draws
    share = head_win_share(close, noisy, y, draws=200)
    assert 0.0 < share < 1.0
    assert share == head_win_share(close, noisy, y, draws=200)  # seeded: reproducible
    assert share != head_win_share(close, noisy, y, seed=1, draws=200)


def test_select_epochs_takes_a_count_head_only_where_the_fifth_is_sure(monkeypatch):
    """The guard: a head weight is a choice only where it beats the token of the same
    passes in ``guard`` of the bootstrap resamples; without it the first best wins."""
    from nas_rlm.surrogates import recipes

    rng = np.random.default_rng(1)
    n = 200
    counts = rng.integers(0, 6, size=(n, 3)).astype(float)
    y = counts @ np.array([1.0, 2.0, 0.5]) + 1.0 + 0.05 * rng.normal(size=n)
    token = y * np.exp(0.3 * rng.normal(size=n))  # a noisy token, far below the counts

    class Fake:
        def predict_point(self, archs):
            return token[np.asarray(archs)][:, None]

    monkeypatch.setattr(recipes, "load_base", lambda *a, **k: None)
    monkeypatch.setattr(recipes, "finetune_rlm", lambda *a, **k: Fake())

    def choose(X, guard):
        return recipes.select_epochs("unused", "nb201", list(range(n)), y[:, None], ["d"],
                                     lambda m, p: None, choices=(1,), head=(["a", "b", "c"], X),
                                     weights=(0.5, 1.0), guard=guard)

    passes, w, scores = choose(counts, 0.9)  # exact counts: the head is sure to win
    assert passes == 1 and w > 0 and scores["head_win_share"]["1"][f"{w:g}"] >= 0.9
    # a head no better than the token wins this fifth by a hair (0.495 vs 0.479 τ, in 68 %
    # of the resamples): the first best takes it, the guard keeps the token
    weak = np.log(token)[:, None] + 0.1 * np.random.default_rng(5).normal(size=(n, 3))
    _, w_free, s_free = choose(weak, 0.0)
    taus = {0.0: s_free["val_tau"]["1"], **{float(k): v for k, v in
                                             s_free["head_val_tau"]["1"].items()}}
    assert w_free == max(taus, key=taus.__getitem__) > 0
    _, w_guard, s_guard = choose(weak, 0.9)
    assert max(s_guard["head_win_share"]["1"].values()) < 0.9 and w_guard == 0.0
    assert choose(counts, 1.01)[1] == 0.0  # nothing is that sure: the token alone


def test_finetune_budget_grows_with_n_past_the_fixed_budgets():
    from dataclasses import replace

    from nas_rlm.surrogates.recipes import (
        FINETUNE_ACCURACY_BATCH,
        FINETUNE_ACCURACY_TRAIN,
        FINETUNE_DIGIT_SIGMA,
        finetune_budget,
    )

    assert finetune_budget(["eyeriss"], 10) == FINETUNE_TRAIN
    assert finetune_budget(["eyeriss"], 80).steps == FINETUNE_TRAIN.steps == 30
    assert finetune_budget(["cifar10", "eyeriss"], 78) == FINETUNE_ACCURACY_TRAIN
    assert finetune_budget(["eyeriss"], 781).steps == 293  # 12 passes of 32 archs
    assert finetune_budget(["cifar10"], 781).steps == 293
    # accuracies alone past the fixed budget make accuracy_epochs passes (default: a
    # device's); whether they are past it is decided by epochs, and beside a device, or at
    # the fixed budget, accuracy_epochs changes nothing
    assert finetune_budget(["cifar10"], 781, accuracy_epochs=24).steps == 586
    assert finetune_budget(["cifar10", "cifar100"], 390, accuracy_epochs=24).steps == 293
    assert finetune_budget(["cifar10"], 781, accuracy_epochs=0).steps == 293
    assert finetune_budget(["cifar10"], 266, accuracy_epochs=24).steps == 100
    assert finetune_budget(["cifar10"], 267, accuracy_epochs=24).steps == 201
    assert finetune_budget(["cifar10", "eyeriss"], 781, accuracy_epochs=24).steps == 293
    assert finetune_budget(["eyeriss"], 781, accuracy_epochs=24).steps == 293
    assert finetune_budget(["eyeriss"], 781, epochs=0).steps == 30
    # past the fixed budget accuracies draw FINETUNE_ACCURACY_BATCH archs per step for the
    # same steps (more passes): alone as the batch, beside devices from a draw of their own
    # while the devices keep 32; devices alone and an accuracy within the fixed budget keep 32
    assert finetune_budget(["cifar10"], 781).batch_size == FINETUNE_ACCURACY_BATCH == 128
    assert finetune_budget(["cifar10", "cifar100"], 390).batch_size == 128
    assert finetune_budget(["cifar10"], 390).steps == 147
    assert not finetune_budget(["cifar10"], 781).accuracy_batch
    joint = finetune_budget(["eyeriss", "cifar10", "pixel3"], 781)
    assert (joint.batch_size, joint.accuracy_batch, joint.accuracies) == (32, 128, ("cifar10",))
    assert not finetune_budget(["cifar10", "eyeriss"], 78).accuracy_batch
    assert finetune_budget(["cifar10"], 78).batch_size == 32
    assert finetune_budget(["eyeriss"], 781).batch_size == 32
    assert not finetune_budget(["eyeriss"], 781).accuracy_batch
    assert finetune_budget(["cifar10"], 781, accuracy_batch=0).batch_size == 32
    assert not finetune_budget(["cifar10", "eyeriss"], 781, accuracy_batch=0).accuracy_batch
    # a device past the fixed budget trains the decoder alone; an accuracy does so only
    # alone at the fixed budget (few labels)
    assert finetune_budget(["eyeriss"], 781).freeze_encoder
    assert not finetune_budget(["eyeriss"], 80).freeze_encoder
    assert not finetune_budget(["cifar10"], 781).freeze_encoder
    assert not finetune_budget(["cifar10"], 390).freeze_encoder
    assert not finetune_budget(["cifar10", "eyeriss"], 781).freeze_encoder
    assert not finetune_budget(["eyeriss"], 781, freeze_devices=False).freeze_encoder
    assert finetune_budget(["cifar10"], 78).freeze_encoder
    assert finetune_budget(["cifar10", "cifar100"], 78).freeze_encoder
    assert not finetune_budget(["cifar10", "eyeriss"], 78).freeze_encoder
    # past the fixed budget, soft first-digit targets, and for accuracies alone within it;
    # the few-shot range of devices keeps one-hot ones
    assert finetune_budget(["eyeriss"], 781).digit_sigma == FINETUNE_DIGIT_SIGMA > 0
    assert finetune_budget(["cifar10"], 390).digit_sigma == FINETUNE_DIGIT_SIGMA
    assert finetune_budget(["cifar10"], 78).digit_sigma == FINETUNE_DIGIT_SIGMA
    assert finetune_budget(["eyeriss"], 80).digit_sigma == 0.0
    assert finetune_budget(["cifar10", "eyeriss"], 78).digit_sigma == 0.0
    assert finetune_budget(["eyeriss"], 781, digit_sigma=0.0).digit_sigma == 0.0
    assert finetune_budget(["eyeriss"], 781, digit_sigma=0.4).digit_sigma == 0.4
    assert finetune_budget(["cifar10"], 390, digit_sigma=0.4).digit_sigma == 0.4
    assert finetune_budget(["cifar10"], 78, digit_sigma=0.0).digit_sigma == 0.0
    # without the frozen encoder, the fixed budget with soft digits; without both, as it is
    off = finetune_budget(["cifar10"], 78, freeze_few_accuracies=False)
    assert off == replace(FINETUNE_ACCURACY_TRAIN, digit_sigma=FINETUNE_DIGIT_SIGMA)
    assert finetune_budget(["cifar10"], 78, freeze_few_accuracies=False,
                           digit_sigma=0.0) == FINETUNE_ACCURACY_TRAIN
    assert off.steps == 100 and off.batch_size == 32
    assert finetune_budget(["cifar10"], 78) == replace(
        FINETUNE_ACCURACY_TRAIN, freeze_encoder=True, digit_sigma=FINETUNE_DIGIT_SIGMA)


def test_evaluate_rlm_base_runs_resumes_and_refuses_a_seen_target(base_dir, data_dir,
                                                                  tmp_path, monkeypatch):
    from nas_rlm.evaluation.ranking import EvaluationConfig, evaluate
    from nas_rlm.surrogates import recipes

    monkeypatch.setattr(recipes, "SELECT_EPOCHS_MIN_LABELS", 12)  # choose passes at N = 12
    out = tmp_path / "ev"
    cfg = EvaluationConfig("nb201", ["fpga"], ["rlm_base", "flops_pruned"], [12], [0],
                           test_limit=25, rlm_base=str(base_dir))
    res = evaluate(cfg, out_dir=out, data_dir=data_dir, progress=False, save_models=True)
    tau = res["summary"]["rlm_base"]["fpga"]["N=12"]["kendall_tau"]["mean"]
    assert -1 <= tau <= 1 and "rlm_base_ev" in res["summary"]
    # --save-models keeps the scored model: reloaded, it predicts the cell's EV readout
    saved = RLM.from_pretrained(out / "models" / "rlm_base_n12_s0" / "fpga")
    cell = np.load(out / "cells" / "rlm_base_n12_s0.npz")
    te = cell["test_indices"]
    archs, _ = load_targets("nb201", ["fpga"], data_dir)
    test = [archs[i] for i in te]
    # the saved fine-tune carries its count head, if the cell chose one
    np.testing.assert_allclose(saved.predict_expected(test)[:, 0],
                               cell["rlm_base_ev.point"][:, 0], rtol=1e-5)
    counted = "fpga" in saved.training_info["finetune"].get("count_heads", [])
    record = json.loads((out / "cells" / "rlm_base_n12_s0.json").read_text())
    assert saved.training_info["train_indices"] == record["train_indices"]
    # the passes chosen on a fifth of the pool are recorded in the cell
    chosen = record["fit_info"]["fpga"]
    assert chosen == saved.training_info["finetune"]["epochs_chosen"]
    assert set(chosen["val_tau"]) == {f"{e:g}" for e in recipes.FINETUNE_EPOCH_CHOICES}
    assert chosen["head_weight"] in recipes.COUNT_HEAD_WEIGHTS
    assert counted == (chosen["head_weight"] > 0)
    assert not counted or saved.mix_heads["fpga"].weight == chosen["head_weight"]
    config = json.loads((out / "config.json").read_text())
    assert config["rlm_base"]["count_head_weights"] == list(recipes.COUNT_HEAD_WEIGHTS)
    assert config["rlm_base"]["epoch_choices"] == list(recipes.FINETUNE_EPOCH_CHOICES)
    assert config["rlm_base"]["select_val_fraction"] == recipes.SELECT_VAL_FRACTION
    assert config["rlm_base"]["dir"] == str(base_dir.resolve())
    assert config["rlm_base"]["train"]["steps"] == FINETUNE_TRAIN.steps
    assert config["rlm_base"]["freeze_devices"] is True  # a rule change is a settings change
    again = evaluate(cfg, out_dir=out, data_dir=data_dir, progress=False)
    assert again["cells_run"] == 0 and again["summary"] == res["summary"]
    seen = EvaluationConfig("nb201", ["cifar10", "pixel3"], ["rlm_base"], [12], [0],
                            test_limit=25, rlm_base=str(base_dir))
    with pytest.raises(NasRlmError, match=r"pretrained on pixel3;.*--exclude-columns pixel3"):
        evaluate(seen, out_dir=tmp_path / "ev2", data_dir=data_dir, progress=False)
    assert not (tmp_path / "ev2").exists()  # refused before anything was written


def test_evaluate_rlm_base_averages_an_accuracy_over_its_saved_fine_tunes(base_dir, data_dir,
                                                                           tmp_path):
    """An accuracy cell scores the mean of its fine-tunes, and --save-models keeps each of
    them, so the cell's figure can be remade from the saved models."""
    from nas_rlm.evaluation.ranking import EvaluationConfig, evaluate

    out = tmp_path / "ev"
    cfg = EvaluationConfig("nb201", ["cifar10"], ["rlm_base"], [12], [1], test_limit=10,
                           rlm_base=str(base_dir))
    evaluate(cfg, out_dir=out, data_dir=data_dir, progress=False, save_models=True)
    cell = np.load(out / "cells" / "rlm_base_n12_s1.npz")
    archs, _ = load_targets("nb201", ["cifar10"], data_dir)
    test = [archs[i] for i in cell["test_indices"]]
    saved = [RLM.from_pretrained(out / "models" / "rlm_base_n12_s1" / "cifar10" / str(i))
             for i in range(3)]
    assert [m.training_info["config"]["seed"] for m in saved] == [1, 1001, 2001]
    np.testing.assert_allclose(cell["rlm_base_median.point"][:, 0],
                               np.mean([m.predict_median(test)[:, 0] for m in saved], axis=0),
                               rtol=1e-5)
    config = json.loads((out / "config.json").read_text())
    assert config["rlm_base"]["accuracy_members"] == 3


def test_fewshot_cli_defaults_to_the_shipped_base(monkeypatch, tmp_path, capsys):
    """``nas-rlm fewshot --methods rlm_base`` without ``--base`` fine-tunes the space's
    shipped base, as ``finetune`` and ``evaluate`` do; without rlm_base no base is read."""
    import nas_rlm.evaluation.fewshot as fs
    from nas_rlm.surrogates.pretrained import default_base_dir

    seen = []
    monkeypatch.setattr(fs, "fewshot", lambda config, base_dir=None, **kw: seen.append(
        base_dir) or {"cells_run": 0, "cells_resumed": 0})
    for methods in ("rlm_base,flops", "flops"):
        assert main(["fewshot", "--space", "fbnet", "--methods", methods, "--sizes", "10",
                     "--seeds", "0", "--out", str(tmp_path / "fs")]) == 0
    assert seen == [str(default_base_dir("fbnet")), None]


def test_evaluate_records_the_accuracy_rules_only_in_runs_with_an_accuracy_target(monkeypatch):
    """An evaluate run's rlm_base settings name the accuracy batch, the few-label rule and
    the fine-tunes averaged where they apply, so accuracy cells made before them are
    recomputed while device-only runs keep theirs."""
    from nas_rlm.evaluation.ranking import _base_settings
    from nas_rlm.surrogates.recipes import (
        COUNT_HEAD_BOOTSTRAP,
        COUNT_HEAD_GUARD,
        COUNT_HEAD_TRIM,
        COUNT_HEAD_WEIGHTS,
        FINETUNE_ACCURACY_BATCH,
        FINETUNE_ACCURACY_MEMBERS,
    )

    _, acc = _base_settings("nb201", ["cifar10"], None, accuracy_target=True,
                            device_target=False)
    _, dev = _base_settings("nb201", ["eyeriss"], None)
    assert acc["accuracy_batch"] == FINETUNE_ACCURACY_BATCH
    assert acc["freeze_few_accuracies"] is True
    assert acc["accuracy_members"] == FINETUNE_ACCURACY_MEMBERS == 3
    assert "accuracy_epochs" not in acc  # as a device's: cells made before it stay valid
    rules = ("accuracy_batch", "freeze_few_accuracies", "accuracy_members")
    assert not set(rules) & set(dev)
    # the count heads only where a device may choose one: accuracy-only runs keep theirs
    assert dev["count_head_weights"] == list(COUNT_HEAD_WEIGHTS)
    assert dev["count_head_counts"] == "rehearsed"  # not the base's: older cells recomputed
    assert dev["count_head_coef"] == "non-negative"  # nor the unsigned heads' cells
    assert dev["count_head_trim"] == COUNT_HEAD_TRIM  # nor those of heads fitted once
    heads = ("count_head_weights", "count_head_counts", "count_head_coef", "count_head_trim",
             "count_head_guard")
    assert {k: v for k, v in acc.items() if k not in rules} == {
        k: v for k, v in dev.items() if k not in heads}
    # a guard only where set: device cells of the first-best rule stay valid
    assert ("count_head_guard" in dev) == bool(COUNT_HEAD_GUARD)
    from nas_rlm.surrogates import recipes

    monkeypatch.setattr(recipes, "COUNT_HEAD_GUARD", 0.9)
    guarded = _base_settings("nb201", ["eyeriss"], None)[1]
    assert guarded["count_head_guard"] == [0.9, COUNT_HEAD_BOOTSTRAP]
    assert "count_head_guard" not in _base_settings("nb201", ["cifar10"], None, True, False)[1]

"""The multi-space pretraining corpus: leakage, labels, resume and errors (issue 12)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from nas_rlm.cli import main
from nas_rlm.data.splits import HELDOUT_DEVICES, heldout_indices
from nas_rlm.data.tables import load_latency
from nas_rlm.errors import ConfigError, NasRlmError, UnknownNameError
from nas_rlm.io import write_csv
from nas_rlm.run_dir import RunDirError
from nas_rlm.search_spaces import get_space
from nas_rlm.surrogates.corpus import (
    CORPUS_LABELS,
    CPU_LATENCY,
    CorpusConfig,
    build_corpus,
    read_corpus,
)
from nas_rlm.surrogates.recipes import EXECUTED

SPACES = ("nb201", "fbnet", "nds_darts")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("corpus")
    config = CorpusConfig(spaces=SPACES, archs=5, latency_archs=1, chunk=2)
    summary = build_corpus(out, config, data_dir, progress=False)
    return out, config, summary


def test_no_excluded_column_and_no_test_arch_carries_a_table_label(corpus, data_dir):
    out, _, summary = corpus
    rows = list(read_corpus(out))
    assert [r["space"] for r in rows] == [s for s in SPACES for _ in range(5)]
    every_held = {c for cols in HELDOUT_DEVICES.values() for c in cols}
    for space in ("nb201", "fbnet"):
        table = load_latency(space, data_dir)
        test_archs = {table.archs[i] for i in heldout_indices(space)}
        columns = set(table.device_names)
        held = every_held & columns  # a device held out in one space is held out in all
        assert set(summary["spaces"][space]["excluded_columns"]) == held
        assert held >= set(HELDOUT_DEVICES[space])
        for r in (r for r in rows if r["space"] == space):
            labels = set(r["labels"])
            assert not labels & held, f"{space} row carries held-out columns {labels & held}"
            assert labels & columns == columns - held  # every source column is there
            assert r["arch"] not in test_archs
    # a space without a table carries computed labels only
    darts = [r for r in rows if r["space"] == "nds_darts"]
    assert all(set(r["labels"]) <= {*CORPUS_LABELS, CPU_LATENCY} for r in darts)


def test_labels_are_those_of_the_graph_each_text_shows(corpus, data_dir):
    out, _, _ = corpus
    space = get_space("nb201")
    table = load_latency("nb201", data_dir)
    for i, r in enumerate(read_corpus(out, ["nb201"])):
        arch = space.parse(r["arch"])
        assert r["text"] == space.to_text(arch)
        executed = space.executed().to_text(arch)
        assert r.get("executed_text", r["text"]) == executed
        lab = r["labels"]
        assert lab["mflops"] == pytest.approx(space.pruned_flops(arch) / 1e6)
        assert lab[EXECUTED + "mflops"] >= lab["mflops"]
        assert lab["mact"] > 0 and lab[EXECUTED + "nodes"] >= lab["nodes"]
        row = table.archs.index(r["arch"])
        assert lab["pixel3"] == pytest.approx(table.device("pixel3")[row])
        assert (CPU_LATENCY in lab) == (i == 0)  # only the first latency_archs are timed
    assert all(np.isfinite(v) for r in read_corpus(out) for v in r["labels"].values())


def test_a_killed_build_resumes_at_the_missing_part_and_other_settings_are_refused(
        corpus, data_dir):
    out, config, summary = corpus
    assert summary["spaces"]["fbnet"]["parts"] == 3 and summary["rows"] == 15
    part = out / "fbnet" / "part-00001.jsonl.gz"
    before = gzip.decompress(part.read_bytes())
    kept = out / "fbnet" / "part-00000.jsonl.gz"
    mtime = kept.stat().st_mtime_ns
    part.unlink()
    (out / "summary.json").unlink()
    with pytest.raises(NasRlmError, match="no finished corpus"):
        list(read_corpus(out))
    build_corpus(out, config, data_dir, progress=False)
    assert gzip.decompress(part.read_bytes()) == before
    assert kept.stat().st_mtime_ns == mtime
    with pytest.raises(RunDirError, match=r"corpus\.archs"):
        build_corpus(out, CorpusConfig(spaces=SPACES, archs=6, latency_archs=1, chunk=2),
                     data_dir, progress=False)


def test_exclude_columns_applies_to_every_table_and_rejects_unknown_names(tmp_path, data_dir):
    config = CorpusConfig(spaces=("nb201", "fbnet"), archs=2, latency_archs=0,
                          exclude_columns=("pixel3",))
    summary = build_corpus(tmp_path / "c", config, data_dir, progress=False)
    for space in ("nb201", "fbnet"):
        assert summary["spaces"][space]["excluded_columns"] == ["pixel3"]
    rows = list(read_corpus(tmp_path / "c"))
    assert all("pixel3" not in r["labels"] and "eyeriss" in r["labels"] for r in rows)
    assert not any(CPU_LATENCY in r["labels"] for r in rows)
    with pytest.raises(UnknownNameError, match="pixle3"):
        build_corpus(tmp_path / "d", CorpusConfig(spaces=("nb201",), archs=2,
                                                  exclude_columns=("pixle3",)), data_dir)
    assert not (tmp_path / "d").exists()  # refused before the directory is taken
    with pytest.raises(UnknownNameError, match="nb202"):
        CorpusConfig(spaces=("nb202",))
    with pytest.raises(ConfigError):
        CorpusConfig(archs=0)


def test_a_damaged_part_is_an_error_naming_it(tmp_path, data_dir):
    out = tmp_path / "c"
    build_corpus(out, CorpusConfig(spaces=("nds_enas",), archs=2, latency_archs=0),
                 data_dir, progress=False)
    part = out / "nds_enas" / "part-00000.jsonl.gz"
    part.write_bytes(part.read_bytes()[:20])
    with pytest.raises(NasRlmError, match="part-00000"):
        list(read_corpus(out))
    with pytest.raises(UnknownNameError, match="nb201"):
        list(read_corpus(out, ["nb201"]))


def test_cli_corpus_prints_its_summary(tmp_path, data_dir, capsys):
    out = tmp_path / "c"
    assert main(["corpus", "--spaces", "nb201", "--archs", "3", "--latency-archs", "0",
                 "--out", str(out), "--data-dir", str(data_dir), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 3 and summary["spaces"]["nb201"]["bytes"] > 0
    assert json.loads((out / "summary.json").read_text()) == summary


def test_one_base_for_every_space_pretrains_on_the_corpus_and_finetunes_on_any(
        corpus, tmp_path, data_dir, capsys):
    """`pretrain --corpus` makes a base with no space; `finetune --space` binds it to one
    (here a space the corpus never held, too) and the result predicts archs of that space."""
    from nas_rlm.surrogates.recipes import load_base
    from nas_rlm.surrogates.rlm import RLM

    out, _, _ = corpus
    tiny = ["--size", "tiny", "--steps", "4", "--set", "train.eval_every=2", "--set",
            "train.batch_size=16", "--set", "model.max_text_tokens=4096", "--quiet"]
    assert main(["pretrain", "--corpus", str(out), "--out", str(tmp_path / "base"), *tiny]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["spaces"] == {"nb201": 5, "fbnet": 5, "nds_darts": 5}
    assert set(info["excluded"]) == {"nb201", "fbnet"}
    assert {"gold_6226", "pixel2"} <= set(info["excluded"]["fbnet"])  # NB201's held-out
    base = RLM.from_pretrained(tmp_path / "base" / "model")
    assert not {"fbnet:gold_6226", "fbnet:pixel2"} & set(base.objectives)
    assert base.space is None and "eyeriss" not in {o.split(":")[1] for o in base.objectives}
    # each space's labels have their own tokens: NB201's pixel3 is not FBNet's
    assert {"nb201:pixel3", "fbnet:pixel3", "nb201:executed_mflops", "fbnet:mflops",
            f"nds_darts:{CPU_LATENCY}"} <= set(base.objectives)
    assert "nds_darts:pixel3" not in base.objectives
    card = (tmp_path / "base" / "model" / "MODEL_CARD.md").read_text()
    assert "nb201 5, fbnet 5, nds_darts 5" in card and "fbnet: gold_6226, pixel2" in card
    # a rerun loads it; other settings are refused
    assert main(["pretrain", "--corpus", str(out), "--out", str(tmp_path / "base"), *tiny]) == 0
    capsys.readouterr()
    assert main(["pretrain", "--corpus", str(out), "--out", str(tmp_path / "base"),
                 *tiny[:3], "5", *tiny[4:]]) == 2
    assert "other settings (pretrain_steps)" in capsys.readouterr().err
    assert main(["pretrain", "--corpus", str(out), "--out", str(tmp_path / "base"),
                 "--sampled-archs", "100", *tiny]) == 2
    assert "--sampled-archs does not apply with --corpus" in capsys.readouterr().err
    # --snapshot: the run's best readout as a base, the same weights the finished run kept
    snap = tmp_path / "snap"
    assert main(["pretrain", "--corpus", str(out), "--out", str(tmp_path / "base"), *tiny,
                 "--snapshot", str(snap)]) == 0
    assert "step 4 of 4" in json.loads(capsys.readouterr().out)["snapshot"]
    snapped = RLM.from_pretrained(snap)
    for k, v in base.model.state_dict().items():
        assert torch.equal(v, snapped.model.state_dict()[k]), k
    assert snapped.scalers.keys() == base.scalers.keys()
    assert "Part-way snapshot" in (snap / "MODEL_CARD.md").read_text()
    # --snapshot-readout latest: the EMA readout of the last evaluation, named as such
    assert main(["pretrain", "--corpus", str(out), "--out", str(tmp_path / "base"), *tiny,
                 "--snapshot", str(snap), "--snapshot-readout", "latest"]) == 0
    assert "latest readout (step 4) of a run read at step 4" in json.loads(
        capsys.readouterr().out)["snapshot"]
    ema = load_file(str(tmp_path / "base" / "ckpt" / "ema.safetensors"))
    latest = RLM.from_pretrained(snap).model.state_dict()
    for k, v in ema.items():
        assert torch.equal(v, latest[k]), k
    assert "the readout of the latest one (step 4" in (snap / "MODEL_CARD.md").read_text()
    assert main(["pretrain", "--corpus", str(out), "--out", str(tmp_path / "base"), *tiny,
                 "--snapshot-readout", "latest"]) == 2
    assert "--snapshot-readout chooses what --snapshot saves" in capsys.readouterr().err
    for extra, message in ((["--set", "train.lr=0.5"], "other settings (differs in: train.lr"),
                           (["--out", str(tmp_path / "none")], "holds no checkpointed readout")):
        assert main(["pretrain", "--corpus", str(out), "--out", str(tmp_path / "base"), *tiny,
                     "--snapshot", str(tmp_path / "snap2"), *extra]) == 2
        assert message in capsys.readouterr().err
    assert main(["pretrain", "--space", "nb201", "--snapshot", str(snap), "--quiet"]) == 2
    assert "--snapshot reads a `pretrain --corpus` run" in capsys.readouterr().err
    for space_name in ("nb201", "nds_enas"):
        space = get_space(space_name)
        archs = [space.to_string(a) for a in space.sample(6, 3)]
        csv = tmp_path / f"{space_name}.csv"
        write_csv(csv, ["arch", "mydev"], ([a, 1 + i] for i, a in enumerate(archs)))
        ft = tmp_path / f"ft_{space_name}"
        assert main(["finetune", "--base", str(tmp_path / "base" / "model"), "--space",
                     space_name, "--csv", str(csv), "--steps", "2", "--out", str(ft),
                     "--quiet"]) == 0
        capsys.readouterr()
        model = RLM.from_pretrained(ft / "model")
        assert model.space == space_name and model.objectives == ["mydev"]
        assert model.predict_expected(archs[:2]).shape == (2, 1)
        # bound to a space the corpus held, the base's objectives are that space's labels
        # under plain names; to one it never held, every space's
        bound = load_base(tmp_path / "base" / "model", space_name)
        if space_name == "nb201":
            assert "pixel3" in bound.objectives and "fbnet:pixel3" in bound.objective_vocab
            assert not any(":" in o for o in bound.objectives)
            assert "executed_mflops" in bound.executed_objectives
            assert set(bound.scalers) >= set(bound.objectives)
            assert (bound.scalers["pixel3"].to_dict()
                    == base.scalers["nb201:pixel3"].to_dict())
        else:
            assert bound.objectives == base.objectives
    with pytest.raises(NasRlmError, match="every space"):
        load_base(tmp_path / "base" / "model")
    # the few-shot benchmark binds it to its space too (it once passed it unbound)
    from nas_rlm.evaluation.fewshot import FewShotConfig, fewshot

    cfg = FewShotConfig("fbnet", ("raspi4",), (6,), (0,), ("rlm_base",), test_limit=10,
                        finetune_steps=2)
    res = fewshot(cfg, base_dir=tmp_path / "base" / "model", out_dir=tmp_path / "fs",
                  data_dir=data_dir, progress=False)
    assert res["cells_run"] == 1 and -1 <= res["summary"]["rlm_base"]["6"]["mean_spearman"] <= 1


def test_binding_a_space_renames_its_labels_and_refuses_a_clash():
    from nas_rlm.surrogates.rlm import RLM, space_objective

    names = [space_objective("nb201", "mflops"), space_objective("fbnet", "mflops"),
             space_objective("nb201", "pixel3")]
    rlm = RLM(names, None, executed_objectives=[names[2]])
    rlm.bind_space("nb201")
    assert rlm.objectives == ["mflops", "pixel3"] and rlm.executed_objectives == ["pixel3"]
    assert rlm.objective_vocab == ["mflops", "fbnet:mflops", "pixel3"]  # token ids kept
    clash = RLM([space_objective("nb201", "mflops"), "mflops"], None)
    with pytest.raises(NasRlmError, match="both nb201:X and X"):
        clash.bind_space("nb201")
    assert clash.space is None  # nothing bound

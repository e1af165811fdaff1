"""`nas-rlm train` / `predict` end to end with a tiny model on the real NB201 tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nas_rlm.cli import main
from nas_rlm.data import load_targets
from nas_rlm.data.splits import heldout_indices, train_indices

ARCH = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)


def test_protocol_splits_are_disjoint_and_fixed():
    test = heldout_indices("nb201")
    assert len(test) == 5000 and len(set(test)) == 5000
    for n in (78, 390, 781):
        for seed in range(5):
            pool = train_indices("nb201", n, seed)
            assert len(pool) == n and not set(pool) & set(test)
    assert np.array_equal(heldout_indices("nb201"), test)
    assert not np.array_equal(train_indices("nb201", 78, 0), train_indices("nb201", 78, 1))


def test_train_then_predict(tmp_path, capsys, data_dir):
    out = tmp_path / "run"
    code = main(["train", "--size", "tiny", "--n-train", "40", "--steps", "4",
                 "--set", "train.eval_every=2", "--objectives", "cifar10,pixel3",
                 "--pretrain-archs", "20", "--pretrain-steps", "2", "--out", str(out),
                 "--data-dir", str(data_dir), "--quiet"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    # every training run dir has its learning curve (validation τ and spread vs steps)
    assert Path(printed["learning_curve"]).is_file()
    assert (out / "pretrain_ckpt" / "learning_curve.png").is_file()
    meta = json.loads((out / "model" / "rlm.json").read_text())
    assert meta["objectives"] == ["cifar10", "pixel3"] and meta["space"] == "nb201"
    # leakage rule: no held-out arch is in the pool the table labels came from
    assert not set(meta["training"]["train_indices"]) & set(heldout_indices("nb201").tolist())
    assert "pretrain" in meta["training"]

    preds = tmp_path / "p.csv"
    code = main(["predict", "--model", str(out / "model"), ARCH, ARCH, "-k", "3",
                 "--out", str(preds), "--quiet"])
    lines = preds.read_text().splitlines()
    assert code == 0 and len(lines) == 3
    assert lines[0].split(",")[:4] == ["arch", "cifar10", "cifar10_expected", "cifar10_spread"]
    assert lines[1] == lines[2]  # the same arch gets the same row


def test_unknown_objective_lists_valid_ones(tmp_path, capsys, data_dir):
    code = main(["train", "--objectives", "cifar10,pixel9", "--out", str(tmp_path),
                 "--data-dir", str(data_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "pixel9" in err and "pixel3" in err and "cifar10" in err


def test_load_targets_matches_tables(data_dir):
    archs, Y = load_targets("nb201", ["cifar10", "pixel3"], data_dir)
    assert len(archs) == 15625 and Y.shape == (15625, 2)
    assert abs(Y[0, 1] - 3.60585) < 1e-9 and abs(Y[:, 0].max() - 94.373) < 1e-3

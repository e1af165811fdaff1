"""The one contract every entry of ``SPACES`` keeps (NASLib's sample / mutate / encode /
decode, plus a runnable ONNX model and a deterministic text)."""

from __future__ import annotations

import numpy as np
import pytest

from nas_rlm.search_spaces import SPACES, get_space
from nas_rlm.search_spaces.onnx_check import check_runnable


@pytest.fixture(scope="module", params=sorted(SPACES))
def space(request):
    return get_space(request.param)


def test_sample_is_seeded_and_round_trips(space) -> None:
    archs = space.sample(3, 0)
    assert [space.to_string(a) for a in archs] == [space.to_string(a) for a in
                                                   space.sample(3, 0)]
    lo, hi = space.bounds
    for a in archs:
        assert space.parse(space.to_string(a)) == space.parse(a)
        v = space.encode(a)
        assert ((v >= lo) & (v <= hi)).all()
        assert space.decode(v) == space.parse(a)


def test_mutate_gives_a_valid_neighbour(space) -> None:
    a = space.sample(1, 1)[0]
    b = space.mutate(a, np.random.default_rng(2))
    assert space.parse(b) != space.parse(a)
    assert space.parse(space.to_string(b)) == space.parse(b)


def test_onnx_runs_and_text_is_deterministic(space) -> None:
    a = space.sample(1, 3)[0]
    check_runnable(space.to_onnx(a, weights="random", seed=0))
    text = space.to_text(a)
    assert text == space.to_text(space.to_string(a)) and text.endswith("\n")
    assert space.params(a) > 0 and space.flops(a) > 0
    assert space.pruned_flops(a) > 0  # its own convention: folded BN biases count


def test_settings_rebuild_the_same_space(space) -> None:
    again = get_space(space.name, space.settings())
    a = space.sample(1, 4)[0]
    assert again.settings() == space.settings()
    assert again.to_text(a) == space.to_text(a)
    assert space.executed().to_text(a)  # the executed graph renders too


def test_path_stats_read_every_space(space) -> None:
    """Every space's graph has a path from its input to its output through at least one
    conv, and the shallowest path is no deeper than the deepest."""
    from nas_rlm.search_spaces.onnx_stats import PATH_STAT_NAMES, path_stats

    stats = path_stats(space.to_onnx(space.sample(1, 5)[0], weights="none"))
    assert list(stats) == list(PATH_STAT_NAMES)
    assert 1 <= stats["conv_shallowest"] <= stats["conv_depth"]
    assert stats["log10_paths"] >= 0


def test_graph_labels_inline_once_and_count_the_same(space) -> None:
    """``graph_labels`` inlines a graph's local functions once for all its statistics; the
    labels are those each statistic gives on the graph as rendered (functions and all)."""
    from nas_rlm.search_spaces.onnx_stats import (
        OP_COUNT_NAMES,
        PATH_STAT_NAMES,
        count_flops,
        count_ops,
        path_stats,
    )
    from nas_rlm.surrogates.recipes import graph_labels

    arch = space.sample(1, 6)[0]
    model = space.to_onnx(arch, weights="none")
    ops = count_ops(model)
    expected = [count_flops(model) / 1e6, space.params(arch) / 1e3,
                *(float(ops[k]) for k in OP_COUNT_NAMES), *path_stats(model).values()]
    assert graph_labels(space, arch, model, paths=True) == expected
    assert graph_labels(space, arch, model) == expected[:-len(PATH_STAT_NAMES)]

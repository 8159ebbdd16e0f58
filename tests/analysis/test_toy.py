"""The toy figure: the margin-trained network has the larger mean input margin."""

from __future__ import annotations

import pytest

from largemargin.analysis import toy_boundary_figure


@pytest.mark.slow
def test_large_margin_model_has_larger_mean_margin(tmp_path):
    path = tmp_path / "toy.png"
    got = toy_boundary_figure(path, seed=0)
    ce, lm = got["cross_entropy"], got["large_margin"]
    assert ce["train_accuracy"] >= 0.95 and lm["train_accuracy"] >= 0.95
    assert lm["mean_margin"] > 1.1 * ce["mean_margin"]
    assert lm["mean_first_order_margin"] > ce["mean_first_order_margin"]
    assert ce["agreement"]["count"] > 0 and lm["agreement"]["count"] > 0
    assert path.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["toy.png"]

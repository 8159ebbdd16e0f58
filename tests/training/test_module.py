"""MarginClassifier's evaluation logs the mean logit margin per layer, in the layer's units."""

from __future__ import annotations

import pytest
import torch

from largemargin.training import MarginClassifier, OptimConfig, recipe
from tests.analysis.linear import closed_form
from tests.training.test_objective import saturated_linear


@pytest.mark.parametrize("stage", ["val", "test"])
def test_evaluation_logs_the_closed_form_logit_margin_under_saturated_softmax(stage, monkeypatch):
    model, weight, bias, x, y = saturated_linear(seed=1)
    loss = recipe(norm="inf", score="prob", norm_scale="dim", epsilon=1e-6)  # as the recipe
    module = MarginClassifier(model, loss, OptimConfig(), ["input"]).eval()
    logged: dict[str, float] = {}
    monkeypatch.setattr(module, "log", lambda name, value, **kw: logged.update({name: value}))
    module._evaluate((x, y), stage)
    assert f"{stage}/margin/input" not in logged
    exact, _ = closed_form(weight, bias, x, y, 1.0)  # l-inf margin: l1 dual norm
    got = logged[f"{stage}/logit_margin/input"]
    torch.testing.assert_close(got, exact.mean(), rtol=1e-7, atol=1e-9)
    assert abs(float(got)) < 10  # not the 1e5-ish training-score distance


def test_margins_are_measured_on_the_first_margin_examples_only(monkeypatch):
    model, weight, bias, x, y = saturated_linear(seed=1)
    assert len(y) >= 6
    loss = recipe(norm="inf", score="prob", norm_scale="dim", epsilon=1e-6)
    module = MarginClassifier(model, loss, OptimConfig(), ["input"], margin_examples=3).eval()
    logged: list[tuple[str, float, int]] = []
    monkeypatch.setattr(
        module, "log", lambda name, value, **kw: logged.append((name, value, kw["batch_size"]))
    )
    for start in (0, 2, 4):  # batches of 2: margins on all of the first, 1 of the second
        module._evaluate((x[start : start + 2], y[start : start + 2]), "test")
    margins = [(v, n) for name, v, n in logged if name == "test/logit_margin/input"]
    exact, _ = closed_form(weight, bias, x, y, 1.0)
    assert [n for _, n in margins] == [2, 1]
    torch.testing.assert_close(margins[0][0], exact[:2].mean(), rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(margins[1][0], exact[2], rtol=1e-7, atol=1e-9)
    accuracies = [n for name, _, n in logged if name == "test/acc"]
    assert accuracies == [2, 2, 2]  # accuracy on every example

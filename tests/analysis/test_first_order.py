"""first_order_margins: exact on linear models, batching-independent, eval mode restored."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from largemargin.analysis import first_order_margins
from largemargin.models import build_model

from .linear import closed_form, linear_model


@pytest.mark.parametrize(("norm", "q"), [(2, 2.0), ("inf", 1.0), (3, 1.5)])
@pytest.mark.parametrize("classes", [2, 4])
def test_linear_model_matches_closed_form(norm, q, classes):
    g = torch.Generator().manual_seed(classes)
    weight = torch.randn(classes, 6, generator=g, dtype=torch.float64)
    bias = torch.randn(classes, generator=g, dtype=torch.float64)
    x = torch.randn(40, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, classes, (40,), generator=g)  # some misclassified: negative distances
    model = linear_model(weight, bias)
    got = first_order_margins(
        model, (x, y), ["input"], norm=norm, score="logit", top_k=classes - 1, batch_size=16
    )
    exact, _ = closed_form(weight, bias, x, y, q)
    assert (exact < 0).any() and (exact > 0).any()
    torch.testing.assert_close(got["input"], exact, rtol=1e-7, atol=1e-12)


def test_top_k_keeps_the_closest_of_the_top_k_competitors():
    # At x = 0 class 1 scores highest among the wrong classes (gap 0.5) but its boundary is
    # far (0.5 / 0.1 = 5); class 2 scores lower (gap 3) and is closer (3 / 10 = 0.3).
    weight = torch.tensor([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0]], dtype=torch.float64)
    bias = torch.tensor([0.0, -0.5, -3.0], dtype=torch.float64)
    model = linear_model(weight, bias)
    data = (torch.zeros(1, 2, dtype=torch.float64), torch.tensor([0]))
    top1 = first_order_margins(model, data, ["input"], top_k=1)["input"]
    top2 = first_order_margins(model, data, ["input"], top_k=2)["input"]
    assert top1.item() == pytest.approx(5.0)
    assert top2.item() == pytest.approx(0.3)


def test_loader_and_pair_agree_and_batching_does_not_matter():
    torch.manual_seed(0)
    model = build_model("mnist_reference", 10)  # BatchNorm: train mode would couple examples
    x, y = torch.rand(12, 1, 28, 28), torch.randint(0, 10, (12,))
    layers = ["input", "block1", "block2"]
    whole = first_order_margins(model, (x, y), layers, norm="inf", batch_size=12)
    loader = DataLoader(TensorDataset(x, y), batch_size=5)
    batched = first_order_margins(model, loader, layers, norm="inf")
    assert list(whole) == layers
    for name in layers:
        assert whole[name].shape == (12,)
        assert torch.isfinite(whole[name]).all()
        torch.testing.assert_close(batched[name], whole[name], rtol=1e-4, atol=1e-7)
    assert model.training


def test_max_examples_stops_mid_batch():
    model = linear_model(torch.eye(3), torch.zeros(3))
    x, y = torch.randn(10, 3), torch.randint(0, 3, (10,))
    got = first_order_margins(model, (x, y), ["input"], max_examples=7, batch_size=4)
    assert got["input"].shape == (7,)
    full = first_order_margins(model, (x, y), ["input"])["input"]
    torch.testing.assert_close(got["input"], full[:7])


class Recorder(nn.Module):
    """Identity that records the training flag it ran with, and can raise."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.seen: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(self.training)
        if self.fail:
            raise RuntimeError("boom")
        return x


def test_eval_mode_during_measurement_and_each_mode_restored():
    recorder = Recorder()
    model = nn.Sequential(recorder, nn.Linear(3, 2), nn.Dropout(0.5))
    model[2].eval()  # a submodule frozen in eval mode must stay so
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    first_order_margins(model, (x, y), ["input", "1"])
    assert recorder.seen == [False]
    assert model.training and recorder.training and not model[2].training
    assert all(p.grad is None for p in model.parameters())


def test_mode_restored_on_exception():
    model = nn.Sequential(nn.Linear(3, 2), Recorder(fail=True))
    with pytest.raises(RuntimeError, match="boom"):
        first_order_margins(model, (torch.randn(2, 3), torch.tensor([0, 1])), ["input"])
    assert all(m.training for m in model.modules())


def test_bad_arguments_are_named():
    model = linear_model(torch.eye(2), torch.zeros(2))
    x, y = torch.randn(3, 2), torch.tensor([0, 1, 0])
    with pytest.raises(ValueError, match="unknown layer"):
        first_order_margins(model, (x, y), ["nope"])
    with pytest.raises(ValueError, match="max_examples"):
        first_order_margins(model, (x, y), ["input"], max_examples=0)
    with pytest.raises(ValueError, match="same length"):
        first_order_margins(model, (x, y[:2]), ["input"])

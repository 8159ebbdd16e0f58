"""true_margins: exact on linear models, 0 when misclassified, inf when the input range
forbids a flip, tight along the direction found, eval mode restored."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from largemargin.analysis import deepfool, shrink_to_boundary, true_margins

from .linear import closed_form, linear_model, nearest_boundary_point


@pytest.mark.parametrize(("norm", "p", "q"), [(2, 2.0, 2.0), ("inf", math.inf, 1.0)])
@pytest.mark.parametrize("classes", [2, 5])
def test_linear_model_matches_closed_form(norm, p, q, classes):
    g = torch.Generator().manual_seed(10 + classes)
    weight = torch.randn(classes, 8, generator=g, dtype=torch.float64)
    bias = 0.3 * torch.randn(classes, generator=g, dtype=torch.float64)
    x = 0.5 + 0.1 * torch.randn(30, 8, generator=g, dtype=torch.float64)
    model = linear_model(weight, bias)
    y = model(x).argmax(dim=1).detach()
    exact, _ = closed_form(weight, bias, x, y, q)
    # precondition: the nearest boundary point lies inside the input range [clip_min, clip_max]
    boundary = nearest_boundary_point(weight, bias, x, y, p)
    assert boundary.min() > -2 and boundary.max() < 3
    got = true_margins(model, x, y, norm=norm, clip_min=-2.0, clip_max=3.0)
    torch.testing.assert_close(got, exact, rtol=1e-6, atol=1e-9)


def test_binary_boundary_inside_the_unit_box():
    # logit gap z1 - z0 = x1 + x2 - 1.5: from (0.2, 0.2) the boundary is |0.4 - 1.5| / ||w||_q
    weight = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    bias = torch.tensor([0.0, -1.5])
    model = linear_model(weight, bias)
    x, y = torch.tensor([[0.2, 0.2]]), torch.tensor([0])
    l2 = true_margins(model, x, y, norm=2)
    linf = true_margins(model, x, y, norm="inf")
    assert l2.item() == pytest.approx(1.1 / math.sqrt(2), rel=1e-5)
    assert linf.item() == pytest.approx(1.1 / 2, rel=1e-5)


def test_unreachable_boundary_gives_inf_and_misclassified_gives_zero():
    # boundary at x1 = 1.5, outside [0, 1]: no flip is possible inside the range
    model = linear_model(torch.tensor([[0.0, 0.0], [1.0, 0.0]]), torch.tensor([0.0, -1.5]))
    x = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    y = torch.tensor([0, 1])  # the model predicts 0: the second example is misclassified
    for norm in (2, "inf"):
        got = true_margins(model, x, y, norm=norm, steps=20)
        assert math.isinf(got[0].item()) and got[0] > 0
        assert got[1].item() == 0.0
    unbounded = true_margins(model, x, y, norm=2, clip_min=-math.inf, clip_max=math.inf)
    assert unbounded[0].item() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("norm", [2, "inf"])
def test_box_constrained_margin_when_a_coordinate_sits_at_its_bound(norm):
    # z1 - z0 = x1 + 0.1 x2 - 1.08 at x = (1, 0.5): x1 cannot grow, so the smallest flip in
    # [0, 1]^2 is x2 += 0.3 (in any norm); the unconstrained nearest point has x1 > 1.
    model = linear_model(torch.tensor([[0.0, 0.0], [1.0, 0.1]]), torch.tensor([0.0, -1.08]))
    got = true_margins(model, torch.tensor([[1.0, 0.5]]), torch.tensor([0]), norm=norm)
    assert got.item() == pytest.approx(0.3, rel=1e-5)


def small_mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3)
    )


@pytest.mark.parametrize("norm", [2, "inf"])
def test_nonlinear_model_flips_at_the_returned_size_and_not_below(norm):
    model = small_mlp().eval()
    x = torch.rand(64, 4)
    y = model(x).argmax(dim=1).detach()
    raw = deepfool(model, x, y, norm=norm)
    shrunk = shrink_to_boundary(model, x, y, raw)
    sizes = true_margins(model, x, y, norm=norm)
    ok = torch.isfinite(sizes)
    assert ok.float().mean() > 0.5
    assert (model(shrunk[ok]).argmax(dim=1) != y[ok]).all()  # a real flip: an upper bound
    p = 2 if norm == 2 else math.inf
    measured = torch.linalg.vector_norm(shrunk - x, ord=p, dim=1)
    torch.testing.assert_close(sizes[ok], measured[ok])
    raw_size = torch.linalg.vector_norm(raw - x, ord=p, dim=1)
    assert (sizes[ok] <= raw_size[ok] * (1 + 1e-6)).all()  # never longer than DeepFool's step
    inside = x + 0.999 * (shrunk - x)  # tight along the direction: 0.1% shorter does not flip
    assert (model(inside[ok]).argmax(dim=1) == y[ok]).all()
    assert shrunk.min() >= 0 and shrunk.max() <= 1


class Recorder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seen: set[bool] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.add(self.training)
        return x


def test_eval_mode_restored_and_gradients_untouched():
    recorder = Recorder()
    model = nn.Sequential(recorder, nn.Linear(3, 3), nn.Dropout(0.9))
    x = torch.rand(5, 3)
    with torch.no_grad():
        y = model.eval()(x).argmax(dim=1)
    model.train()
    with torch.no_grad():  # works under an outer no_grad
        got = true_margins(model, x, y, norm=2, clip_min=-10, clip_max=10)
    assert torch.isfinite(got).all() and (got > 0).all()
    assert recorder.seen == {False}
    assert all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_norm_one_is_refused():
    model = linear_model(torch.eye(2), torch.zeros(2))
    with pytest.raises(ValueError, match="norm must be > 1"):
        true_margins(model, torch.rand(2, 2), torch.tensor([0, 1]), norm=1)


def test_mode_restored_on_exception():
    class Explode(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    model = nn.Sequential(nn.Linear(2, 2), Explode())
    with pytest.raises(RuntimeError, match="boom"):
        true_margins(model, torch.rand(2, 2), torch.tensor([0, 1]))
    assert all(m.training for m in model.modules())

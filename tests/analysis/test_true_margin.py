"""true_margins: exact on linear models, 0 when misclassified, NaN ("not found") when the input
range forbids a flip or the gradient is zero, the smallest flip over DeepFool and the caller's
adversarial candidates, tight along the direction found, eval mode restored."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from largemargin.analysis import deepfool, shrink_to_boundary, true_margins

from .linear import Staircase, closed_form, linear_model, nearest_boundary_point


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


def test_unreachable_boundary_is_not_found_and_misclassified_gives_zero():
    # boundary at x1 = 1.5, outside [0, 1]: no flip is possible inside the range
    model = linear_model(torch.tensor([[0.0, 0.0], [1.0, 0.0]]), torch.tensor([0.0, -1.5]))
    x = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    y = torch.tensor([0, 1])  # the model predicts 0: the second example is misclassified
    for norm in (2, "inf"):
        got = true_margins(model, x, y, norm=norm, steps=20)
        assert math.isnan(got[0].item())  # not found, never reported as a (large) margin
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
    ok = ~sizes.isnan()
    assert not sizes.isinf().any()
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


@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("norm", [2, "inf"])
def test_zero_gradient_is_not_found_until_a_candidate_flips_it(detach, norm):
    model = Staircase(detach)  # z1 - z0 = q(x1) + q(x2) - 1.4, q(x) = floor(4 x) / 4
    x, y = torch.tensor([[0.2, 0.2], [0.3, 0.1]]), torch.tensor([0, 0])
    if not detach:  # precondition: the input gradient exists and is exactly zero
        xi = x.clone().requires_grad_(True)
        assert (torch.autograd.grad(model(xi)[:, 1].sum(), xi)[0] == 0).all()
    alone = true_margins(model, x, y, norm=norm)
    assert alone.isnan().all()  # not found: neither inf nor a large finite number
    # a candidate at (1, 1) flips both; along the segment the flip starts where both
    # coordinates reach 0.75: scale 0.6875 from (0.2, 0.2), 0.45 / 0.7 from (0.3, 0.1)
    candidate = torch.ones_like(x)
    got = true_margins(model, x, y, norm=norm, adversarial=candidate)
    p = 2 if norm == 2 else math.inf
    full = torch.linalg.vector_norm(candidate - x, ord=p, dim=1)
    assert torch.isfinite(got).all() and (got <= full).all()
    scale = torch.tensor([0.55 / 0.8, 0.65 / 0.9])  # the second needs x2 >= 0.75
    torch.testing.assert_close(got, scale * full, rtol=1e-6, atol=1e-7)
    # a candidate that flips only the first example leaves the second not found
    partial = torch.tensor([[1.0, 1.0], [0.3, 0.1]])
    mixed = true_margins(model, x, y, norm=norm, adversarial=[partial])
    assert mixed[0].item() == pytest.approx(got[0].item()) and mixed[1].isnan()


@pytest.mark.parametrize(("norm", "p", "q"), [(2, 2.0, 2.0), ("inf", math.inf, 1.0)])
def test_candidates_are_shrunk_to_the_exact_margin_and_non_flipping_ones_ignored(norm, p, q):
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(4, 6, generator=g, dtype=torch.float64)
    bias = 0.3 * torch.randn(4, generator=g, dtype=torch.float64)
    x = 0.5 + 0.1 * torch.randn(20, 6, generator=g, dtype=torch.float64)
    model = linear_model(weight, bias)
    y = model(x).argmax(dim=1).detach()
    exact, _ = closed_form(weight, bias, x, y, q)
    boundary = nearest_boundary_point(weight, bias, x, y, p)
    farther = x + 3 * (boundary - x)  # flips, three times the margin away
    short = x + 0.5 * (boundary - x)  # does not flip
    box = {"clip_min": -10.0, "clip_max": 10.0}
    assert (model(farther).argmax(1) != y).all() and (model(short).argmax(1) == y).all()
    # DeepFool disabled (no step): the candidate alone gives the exact margin
    got = true_margins(model, x, y, norm=norm, steps=0, adversarial=farther, **box)
    torch.testing.assert_close(got, exact, rtol=1e-6, atol=1e-9)
    assert true_margins(model, x, y, norm=norm, steps=0, adversarial=short, **box).isnan().all()
    # a non-flipping candidate changes nothing; the minimum over all sources is kept
    plain = true_margins(model, x, y, norm=norm, **box)
    both = true_margins(model, x, y, norm=norm, adversarial=[short, farther], **box)
    torch.testing.assert_close(
        true_margins(model, x, y, norm=norm, adversarial=short, **box), plain, rtol=0, atol=0
    )
    torch.testing.assert_close(both, exact, rtol=1e-6, atol=1e-9)


def test_bad_candidates_are_named():
    model = linear_model(torch.eye(2), torch.zeros(2))
    x, y = torch.full((2, 2), 0.5), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"adversarial: expected a tensor shaped like x"):
        true_margins(model, x, y, adversarial=torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"adversarial\[1\]: expected values in \[clip_min"):
        true_margins(model, x, y, adversarial=[x, x + 1])
    with pytest.raises(ValueError, match=r"adversarial\[0\]: expected finite"):
        true_margins(model, x, y, adversarial=[torch.full_like(x, math.nan)])


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


@pytest.mark.parametrize("extra", [0, 1])
def test_progress_bar_counts_every_search_step_and_changes_nothing(capsys, extra):
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(3, 8, generator=g, dtype=torch.float64)
    model = linear_model(weight, torch.zeros(3, dtype=torch.float64))
    x = 0.5 + 0.1 * torch.randn(6, 8, generator=g, dtype=torch.float64)
    y = model(x).argmax(dim=1).detach()
    adversarial = [torch.rand(6, 8, generator=g, dtype=torch.float64)] * extra
    kw = dict(norm=2, steps=7, bisection_steps=5, adversarial=adversarial)
    quiet = true_margins(model, x, y, **kw)
    assert capsys.readouterr().err == ""
    shown = true_margins(model, x, y, progress=True, **kw)
    torch.testing.assert_close(shown, quiet, equal_nan=True)
    total = 7 + 5 * (1 + extra)  # DeepFool's steps (exits early here: linear), then bisections
    err = capsys.readouterr().err
    assert "true margin (6 examples)" in err and f"{total}/{total}" in err

"""Margin distances: analytic cases, invariances, per-example exactness, finiteness."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import largemargin as lm


def _lp_unit_direction(w: torch.Tensor, p: float) -> torch.Tensor:
    """u with ||u||_p = 1 maximising w.u (Hoelder's equality case)."""
    if math.isinf(p):
        return torch.sign(w)
    if p == 1:
        u = torch.zeros_like(w)
        i = w.abs().argmax()
        u[i] = torch.sign(w[i])
        return u
    q = p / (p - 1)
    u = torch.sign(w) * w.abs().pow(q - 1)
    return u / torch.linalg.vector_norm(u, ord=p)


@pytest.mark.parametrize("p", [1, 1.5, 2, 3, math.inf])
def test_linear_model_distance_is_exact_lp_distance_to_pairwise_boundary(p):
    torch.manual_seed(0)
    lin = nn.Linear(6, 4).double()
    x = torch.randn(10, 6, dtype=torch.float64, requires_grad=True)
    logits = lin(x)
    y = logits.argmax(dim=1)  # correctly classified: positive distances
    d = lm.margin_distances(logits, y, [x], top_k=3, norm=p, score="logit", epsilon=1e-30)
    w, b = lin.weight.detach(), lin.bias.detach()
    competitors = logits.detach().scatter(1, y[:, None], -math.inf).topk(3, dim=1).indices
    for n in range(10):
        for j in range(3):
            i = competitors[n, j]
            wd = w[y[n]] - w[i]
            bd = b[y[n]] - b[i]
            dist = d[n, 0, j]
            # Step `dist` along the lp-unit direction that decreases the gap fastest:
            # the result lies exactly on the boundary between y and i.
            x_star = x[n].detach() - dist * _lp_unit_direction(wd, p)
            assert float(wd @ x_star + bd) == pytest.approx(0.0, abs=1e-10)
            step = torch.linalg.vector_norm(x_star - x[n].detach(), ord=p)
            assert float(step) == pytest.approx(float(dist), rel=1e-10)
    assert bool((d > 0).all())


def test_logit_scaling_leaves_logit_distances_unchanged():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 4)).double()
    x = torch.randn(9, 5, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 4, (9,))
    logits = model(x)
    base = lm.margin_distances(logits, y, [x, logits], top_k=2, score="logit", epsilon=1e-30)
    scaled = lm.margin_distances(3.7 * logits, y, [x], top_k=2, score="logit", epsilon=1e-30)
    torch.testing.assert_close(scaled[:, 0], base[:, 0])
    # At the logits layer with p = 2, |grad (z_y - z_i)| = sqrt(2): d = gap / sqrt(2).
    gaps = (
        logits.gather(1, y[:, None])
        - logits.detach().scatter(1, y[:, None], -math.inf).topk(2, dim=1).values
    )
    torch.testing.assert_close(base[:, 1], gaps.detach() / math.sqrt(2))


@pytest.mark.parametrize("score", ["prob", "logit"])
def test_shifting_all_logits_leaves_distances_unchanged(score):
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3)).double()
    x = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 3, (8,))
    logits = model(x)
    shifted = logits + torch.randn(8, 1, dtype=torch.float64)
    a = lm.margin_distances(logits, y, [x], score=score)
    b = lm.margin_distances(shifted, y, [x], score=score)
    torch.testing.assert_close(a, b)


def test_batch_order_does_not_matter_without_batch_coupling():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x = torch.randn(8, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (8,))
    perm = torch.randperm(8)
    d1 = lm.margin_distances(*_logits_layers(model, x, y))
    d2 = lm.margin_distances(*_logits_layers(model, x[perm], y[perm]))
    torch.testing.assert_close(d1[perm], d2)


def _logits_layers(model, x, y):
    logits, layers = lm.forward_with_layers(model, x, ["input", "1"])
    return logits, y, layers


def test_norm_scale_dim_divides_the_norm_by_the_element_count():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    x = torch.randn(4, 3, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (4,))
    logits, layers = lm.forward_with_layers(model, x, ["input", "2"])
    plain = lm.margin_distances(logits, y, layers, norm="inf", epsilon=1e-30)
    scaled = lm.margin_distances(logits, y, layers, norm="inf", norm_scale="dim", epsilon=1e-30)
    torch.testing.assert_close(scaled[:, 0], plain[:, 0] * 12)
    torch.testing.assert_close(scaled[:, 1], plain[:, 1] * 5)


def test_distances_carry_no_graph_and_keep_the_logits_graph():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))
    x = torch.randn(5, 3)
    logits, layers = lm.forward_with_layers(model, x, ["input"])
    d = lm.margin_distances(logits, torch.zeros(5, dtype=torch.long), layers)
    assert not d.requires_grad and d.shape == (5, 1, 1)
    logits.sum().backward()  # the graph is still there
    assert model[0].weight.grad is not None


class _BatchNormNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(4, 6), nn.BatchNorm1d(6, track_running_stats=False), nn.Tanh()
        )
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.body(x))


def test_exact_per_example_matches_per_example_jacobian_under_train_mode_batchnorm():
    torch.manual_seed(5)
    model = _BatchNormNet().double().train()
    x = torch.randn(6, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (6,))
    logits, layers = lm.forward_with_layers(model, x, ["input"])
    exact = lm.margin_distances(logits, y, layers, top_k=2, exact_per_example=True, epsilon=1e-30)
    batch_sum = lm.margin_distances(logits, y, layers, top_k=2)
    # Per-example Jacobian diagonal computed independently with torch.func.
    competitors = logits.detach().softmax(1).scatter(1, y[:, None], -1.0).topk(2, 1).indices

    def gaps(inp):
        probs = torch.func.functional_call(model, dict(model.named_parameters()), (inp,))
        probs = probs.softmax(1)
        return probs.gather(1, y[:, None]) - probs.gather(1, competitors)

    jac = torch.func.jacrev(gaps)(x.detach())  # (B, k, B, D)
    own = torch.stack([jac[b, :, b] for b in range(6)])  # (B, k, D)
    expected = gaps(x.detach()) / torch.linalg.vector_norm(own, dim=2)
    torch.testing.assert_close(exact[:, 0], expected)
    assert (exact - batch_sum).abs().max() > 1e-6  # BatchNorm couples the batch


def test_exact_per_example_equals_batch_sum_without_coupling():
    torch.manual_seed(6)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    logits, layers = lm.forward_with_layers(model, x, ["input", "1"])
    y = torch.randint(0, 3, (5,))
    a = lm.margin_distances(logits, y, layers, top_k=2, exact_per_example=True, epsilon=1e-30)
    b = lm.margin_distances(logits, y, layers, top_k=2, epsilon=1e-30)
    torch.testing.assert_close(a, b)

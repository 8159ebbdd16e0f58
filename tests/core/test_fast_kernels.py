"""The fold-based input gradient of single-channel convolutions equals PyTorch's own."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import largemargin as lm
from largemargin.core.fast_kernels import FastConvInputGrad, conv_input_grad_by_fold


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation", "size"),
    [
        ((5, 5), (1, 1), (2, 2), (1, 1), (28, 28)),
        ((3, 3), (2, 2), (0, 0), (1, 1), (17, 17)),
        ((3, 5), (1, 2), (1, 2), (2, 1), (12, 15)),
        ((1, 1), (1, 1), (0, 0), (1, 1), (6, 6)),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fold_input_gradient_matches_aten(kernel, stride, padding, dilation, size, dtype):
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 7, kernel, stride=stride, padding=padding, dilation=dilation).to(dtype)
    x = torch.rand(3, 1, *size, dtype=dtype, requires_grad=True)
    out = conv(x)
    g = torch.randn_like(out)
    (expected,) = torch.autograd.grad(out, x, g, retain_graph=True)
    got = conv_input_grad_by_fold(g, x.shape, conv.weight.detach(), stride, padding, dilation)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(got, expected, rtol=tol, atol=tol)
    with FastConvInputGrad():
        (moded,) = torch.autograd.grad(out, x, g, retain_graph=True)
    torch.testing.assert_close(moded, expected, rtol=tol, atol=tol)


def test_mode_leaves_other_convolutions_and_weight_gradients_to_pytorch():
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    out = conv(x)
    expected = torch.autograd.grad(out.sum(), [x, conv.weight], retain_graph=True)
    with FastConvInputGrad():
        got = torch.autograd.grad(out.sum(), [x, conv.weight], retain_graph=True)
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a, b)


def test_second_order_loss_through_the_fast_kernel_matches_a_float64_finite_difference():
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 5 * 5, 3)
    ).double()
    x = torch.rand(4, 1, 5, 5, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0])
    names = [n for n, _ in model.named_parameters()]

    fixed = {n: p.detach() for n, p in model.named_parameters()}

    def loss(*params):  # the convolution's weight and bias; the linear layer held fixed
        values = {**fixed, **dict(zip(names[:2], params, strict=True))}

        def forward(inp):
            return torch.func.functional_call(model, values, (inp,))

        inp = x.clone().requires_grad_(True)
        return lm.large_margin_loss(forward(inp), y, [inp], gamma=10.0, second_order=True)

    params = tuple(p.detach().clone().requires_grad_(True) for p in list(model.parameters())[:2])
    assert torch.autograd.gradcheck(loss, params, eps=1e-6, atol=1e-6)

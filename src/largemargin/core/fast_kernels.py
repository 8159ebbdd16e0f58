"""A faster CPU kernel for one gradient the margin needs and PyTorch computes slowly.

The margin at the input layer needs the input gradient of the first convolution. For a 2-D
convolution with a single input channel (the first layer of any MNIST network), PyTorch's CPU
kernel for that gradient (oneDNN backward-data) costs several times the convolution itself; the
same gradient as one matrix product and a ``fold`` (col2im) costs about a third of it (both timed
by ``python benchmarks/bench_step.py``, table in docs/benchmarks.md). The mode below swaps in
that formulation for exactly this case, only while the margin's gradient pass runs; every other
operation, and every other device or dtype, goes to PyTorch unchanged. It sits below autograd,
so second-order gradients still use PyTorch's own derivative of the convolution backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

_CONV_BACKWARD = torch.ops.aten.convolution_backward.default


def _single_channel_input_grad_only(args: tuple, kwargs: dict) -> bool:
    if kwargs or len(args) != 11:
        return False
    grad_out, _, weight, _, _, _, _, transposed, _, groups, mask = args
    return (
        tuple(mask) == (True, False, False)
        and not transposed
        and groups == 1
        and weight.dim() == 4
        and weight.shape[1] == 1
        and grad_out.device.type == "cpu"
        and grad_out.dtype in (torch.float32, torch.float64)
        and weight.dtype == grad_out.dtype
        and grad_out.layout == torch.strided
        and weight.layout == torch.strided
    )


def conv_input_grad_by_fold(
    grad_out: torch.Tensor, input_size: torch.Size, weight: torch.Tensor, stride, padding, dilation
) -> torch.Tensor:
    """Input gradient (N, 1, H, W) of a 2-D convolution with one input channel.

    ``grad_out`` (N, O, H_out, W_out), ``weight`` (O, 1, kH, kW): col2im of W^T @ grad_out.
    """
    n, o = grad_out.shape[:2]
    cols = torch.matmul(weight.reshape(o, -1).t(), grad_out.reshape(n, o, -1))
    return F.fold(
        cols,
        tuple(input_size[-2:]),
        tuple(weight.shape[-2:]),
        dilation=tuple(dilation),
        padding=tuple(padding),
        stride=tuple(stride),
    )


class FastConvInputGrad(TorchDispatchMode):
    """Dispatch mode that computes single-input-channel conv input gradients by ``fold``."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is _CONV_BACKWARD and _single_channel_input_grad_only(args, kwargs):
            grad_out, inp, weight, _, stride, padding, dilation = args[:7]
            grad_in = conv_input_grad_by_fold(
                grad_out, inp.shape, weight, stride, padding, dilation
            )
            return grad_in, None, None
        return func(*args, **kwargs)

"""The MNIST network of the paper's published code (google-research ``large_margin/mnist``).

Two convolutional blocks and one hidden fully connected layer::

    block1: conv 5x5, 32 ch, 'same' padding, no bias -> ReLU -> maxpool 2/2 -> BatchNorm
    block2: conv 5x5, 64 ch, 'same' padding, no bias -> ReLU -> maxpool 2/2 -> BatchNorm
    flatten -> fc1: Linear(64 * H/4 * W/4, 512) -> ReLU -> fc2: Linear(512, num_classes)

The BatchNorm layers use ``eps=1e-5`` and ``momentum=0.1`` (TensorFlow's ``momentum=0.9``: the
running statistics keep 0.9 of their old value). The reference applies ReLU twice after each
convolution (as the conv's activation and again explicitly); ReLU is idempotent, so one suffices.
Flattening is channel-first (PyTorch) instead of TensorFlow's channel-last, which only permutes
the rows of ``fc1``'s weight.

Input: (B, in_channels, H, W), pixel values in [0, 1], no normalization; (B, 1, 28, 28) for MNIST
and Fashion-MNIST. Output: logits (B, num_classes).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, kernel_size=5, padding=2, bias=False),
            relu=nn.ReLU(),
            pool=nn.MaxPool2d(kernel_size=2, stride=2),
            bn=nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM),
        )
    )


class MnistReference(nn.Module):
    """The reference MNIST network; margin layers are named "block1" and "block2".

    Args:
        num_classes: number of logits.
        in_channels: image channels (1 for MNIST / Fashion-MNIST, 3 for CIFAR-like images).
        input_size: image side H = W, or (H, W); sets the input width of ``fc1``.
    """

    DEFAULT_MARGIN_LAYERS = ("input", "block1", "block2")

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int | tuple[int, int] = 28,
    ) -> None:
        super().__init__()
        height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
        if height < 4 or width < 4:
            raise ValueError(f"input_size must be at least 4x4, got {height}x{width}")
        self.block1 = _conv_block(in_channels, 32)
        self.block2 = _conv_block(32, 64)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64 * (height // 4) * (width // 4), 512)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (B, C, H, W) in [0, 1] to logits (B, num_classes)."""
        x = self.block2(self.block1(x))
        return self.fc2(self.relu(self.fc1(self.flatten(x))))

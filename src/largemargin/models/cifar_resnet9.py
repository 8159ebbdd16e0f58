"""ResNet-9 for CIFAR (D. Page, "How to train your ResNet", 2018), at any width: fast on a CPU.

Four conv-BN-ReLU stages with max pooling and two residual pairs::

    prep:   conv 3x3, w ch                                        32x32
    layer1: conv 3x3, 2w ch -> maxpool 2 -> residual(2 x conv 2w)  16x16
    layer2: conv 3x3, 4w ch -> maxpool 2                            8x8
    layer3: conv 3x3, 8w ch -> maxpool 2 -> residual(2 x conv 8w)   4x4
    pool (global max) -> flatten -> fc -> logits * 0.125

(every conv 3x3, padding 1, no bias, followed by BatchNorm and ReLU; a residual is
``x + block(x)``). Page's network has w = 64 (6.6M parameters, about 0.38 GMAC a 32x32 image);
``cifar_resnet9_w16`` (w = 16: 0.41M parameters, 24 MMAC) takes a cross-entropy step about 2.1x
faster than ResNet-20 on a 2-core CPU at batch 128 (benchmarks/bench_cifar.py) and about 2.5x at
batch 512 (41 MMAC, but 19 thin layers). The fixed output scale 0.125
is Page's; it keeps early logits small.

Parameters and activations are kept channels-last (NHWC), which oneDNN's CPU convolutions run
1.15-1.5x faster than NCHW on a 2-core CPU (benchmarks/bench_cifar.py, on ResNet-20); the
outputs are the same numbers.

Input: (B, in_channels, H, W) with H, W divisible by 8 ((B, 3, 32, 32) for CIFAR-10), pixels as
the data pipeline gives them (no normalization here). Output: logits (B, num_classes).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

LOGIT_SCALE = 0.125


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            bn=nn.BatchNorm2d(out_channels),
            relu=nn.ReLU(),
        )
    )


class Residual(nn.Module):
    """``x + b(a(x))`` with two conv-BN-ReLU layers of ``channels`` channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a = _conv_bn_relu(channels, channels)
        self.b = _conv_bn_relu(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x))


class CifarResNet9(nn.Module):
    """ResNet-9 with base width ``width`` (64 in Page's network).

    Args:
        width: channels of the first layer; the stages have 2, 4 and 8 times as many.
        num_classes: number of logits.
        in_channels: image channels.
    """

    DEFAULT_MARGIN_LAYERS = ("input", "layer1", "layer2", "layer3")

    def __init__(self, width: int = 64, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.prep = _conv_bn_relu(in_channels, width)
        self.layer1 = nn.Sequential(
            _conv_bn_relu(width, 2 * width), nn.MaxPool2d(2), Residual(2 * width)
        )
        self.layer2 = nn.Sequential(_conv_bn_relu(2 * width, 4 * width), nn.MaxPool2d(2))
        self.layer3 = nn.Sequential(
            _conv_bn_relu(4 * width, 8 * width), nn.MaxPool2d(2), Residual(8 * width)
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8 * width, num_classes, bias=False)
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (B, C, H, W) to logits (B, num_classes)."""
        x = self.prep(x.contiguous(memory_format=torch.channels_last))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.pool(x))) * LOGIT_SCALE

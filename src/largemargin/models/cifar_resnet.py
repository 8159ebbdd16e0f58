"""CIFAR residual networks of He et al. (2016), "Deep Residual Learning", section 4.2.

ResNet-(6n+2): a 3x3 conv (16 channels) with BatchNorm and ReLU ("stem"), three stages of n basic
blocks with 16, 32 and 64 channels ("stage1", "stage2", "stage3"; the first block of stages 2
and 3 halves the resolution), global average pooling and a linear classifier ("fc").
ResNet-20/32/44/56/110 have n = 3/5/7/9/18 and about 0.27M/0.46M/0.66M/0.85M/1.7M parameters.

Shortcuts are option A of the paper, as in its CIFAR experiments: identity, and where the shape
changes, parameter-free subsampling by the stride and zero-padding of the new channels. Blocks
are post-activation (conv-BN-ReLU-conv-BN, add, ReLU). Every module runs once per forward (no
shared ReLU), so any of them can be a margin layer.

Input: (B, in_channels, H, W), (B, 3, 32, 32) for CIFAR-10, as the data pipeline provides it
(the network does no normalization); any H, W >= 4 works thanks to the global pooling.
Output: logits (B, num_classes).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

STAGE_CHANNELS = (16, 32, 64)


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut: subsample space by ``stride`` and append zero channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.extra_channels = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


class BasicBlock(nn.Module):
    """Two 3x3 convs with BatchNorm, plus the shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = (
            ZeroPadShortcut(in_channels, out_channels, stride)
            if stride != 1 or in_channels != out_channels
            else nn.Identity()
        )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-``depth`` for CIFAR; ``depth`` = 6n + 2 (20, 32, 44, 56, 110, ...).

    Args:
        depth: number of weighted layers, 6n + 2 with n >= 1.
        num_classes: number of logits.
        in_channels: image channels.
    """

    DEFAULT_MARGIN_LAYERS = ("input", "stage1", "stage2", "stage3")

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (20, 32, 56, ...), got {depth}")
        blocks_per_stage = (depth - 2) // 6
        width = STAGE_CHANNELS[0]
        self.stem = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                bn=nn.BatchNorm2d(width),
                relu=nn.ReLU(),
            )
        )
        stages = []
        for index, channels in enumerate(STAGE_CHANNELS):
            blocks = []
            for block in range(blocks_per_stage):
                stride = 2 if index > 0 and block == 0 else 1
                blocks.append(BasicBlock(width, channels, stride))
                width = channels
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (B, C, H, W) to logits (B, num_classes)."""
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(self.flatten(self.pool(x)))

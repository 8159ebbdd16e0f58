"""Wide residual networks of Zagoruyko & Komodakis (2016), "Wide Residual Networks", for CIFAR.

WRN-d-k: a 3x3 conv with 16 channels ("stem"), three stages of n = (d - 4) / 6 pre-activation
blocks with 16k, 32k and 64k channels ("stage1", "stage2", "stage3"; the first block of stages 2
and 3 halves the resolution), then BatchNorm ("bn"), ReLU, global average pooling and a linear
classifier ("fc"). WRN-16-4, WRN-16-8, WRN-28-10 and WRN-40-4 have about 2.7M, 11.0M, 36.5M and
8.9M parameters for 10 classes.

A block is BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3 plus a shortcut: the identity of the block's
input, or where the shape changes a 1x1 convolution of the block's pre-activated input (as in
the authors' code). Every module runs once per forward, so any of them can be a margin layer.

Input: (B, in_channels, H, W), (B, 3, 32, 32) for CIFAR-10, as the data pipeline provides it
(the network does no normalization); any H, W >= 4 works thanks to the global pooling.
Output: logits (B, num_classes).
"""

from __future__ import annotations

import torch
from torch import nn

STAGE_CHANNELS = (16, 32, 64)


class PreActBlock(nn.Module):
    """Pre-activation wide basic block, with dropout between its two convolutions."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.projection = stride != 1 or in_channels != out_channels
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
            if self.projection
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.relu1(self.bn1(x))
        out = self.conv2(self.dropout(self.relu2(self.bn2(self.conv1(activated)))))
        return out + self.shortcut(activated if self.projection else x)


class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor``; ``depth`` = 6n + 4 (16, 22, 28, 40, ...).

    Args:
        depth: number of weighted layers, 6n + 4 with n >= 1.
        widen_factor: channel multiplier k.
        num_classes: number of logits.
        in_channels: image channels.
        dropout: dropout probability inside each block (the WRN paper used 0.3 in places).
    """

    DEFAULT_MARGIN_LAYERS = ("input", "stage1", "stage2", "stage3")

    def __init__(
        self,
        depth: int = 28,
        widen_factor: int = 10,
        num_classes: int = 10,
        in_channels: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"depth must be 6n + 4 with n >= 1 (16, 28, 40, ...), got {depth}")
        if widen_factor < 1:
            raise ValueError(f"widen_factor must be >= 1, got {widen_factor}")
        blocks_per_stage = (depth - 4) // 6
        width = STAGE_CHANNELS[0]
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        stages = []
        for index, base in enumerate(STAGE_CHANNELS):
            channels = base * widen_factor
            blocks = []
            for block in range(blocks_per_stage):
                stride = 2 if index > 0 and block == 0 else 1
                blocks.append(PreActBlock(width, channels, stride, dropout))
                width = channels
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        self.bn = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (B, C, H, W) to logits (B, num_classes)."""
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(self.flatten(self.pool(self.relu(self.bn(x)))))

"""The common form of the small datasets before any protocol or conversion is applied."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class RawSplits:
    """A small image dataset as stored on disk.

    Images are uint8 tensors of shape (N, C, H, W) with pixel values 0..255; labels are int64
    tensors of shape (N,) with values in [0, len(classes)). ``source`` says where it was read from.
    """

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    classes: tuple[str, ...]
    source: str

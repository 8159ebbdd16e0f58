"""An in-memory image dataset with optional per-item augmentation."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset


class TensorImageDataset(Dataset):
    """Images float32 (N, C, H, W) and labels int64 (N,) held in memory.

    Item ``i`` is ``(augment(images[i]) or images[i], labels[i])``: a float32 (C, H, W) tensor and
    a 0-d int64 tensor, so a standard DataLoader collates batches (B, C, H, W) and (B,). The
    augmentation draws from torch's global RNG, which DataLoader seeds per worker. Works with any
    sampler, including Lightning's automatic DistributedSampler.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if images.dtype != torch.float32:
            raise TypeError(f"images must be float32, got {images.dtype}")
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
        if labels.dtype != torch.int64:
            raise TypeError(f"labels must be int64, got {labels.dtype}")
        if labels.shape != images.shape[:1]:
            raise ValueError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
        self.images = images
        self.labels = labels
        self.augment = augment

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        if self.augment is not None:
            image = self.augment(image)
        return image, self.labels[index]

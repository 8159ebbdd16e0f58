"""The dataset classes ``build_datasets`` returns: tensors in memory, or image files decoded.

Both yield ``(image float32 (C, H, W), label int64 0-d)`` items, so a standard DataLoader
collates batches (B, C, H, W) and (B,), with any sampler (Lightning's DistributedSampler too).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image
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


class ImageFileDataset(Dataset):
    """Image files decoded on access: item ``i`` is ``(transform(image), labels[i])``.

    ``reader`` maps a path to an RGB PIL image; ``transform`` maps that to a float32 (C, H, W)
    tensor; labels are int64 (N,), items' labels 0-d int64 tensors.
    """

    def __init__(
        self,
        reader: Callable[[str], Image.Image],
        paths: list[str],
        labels: torch.Tensor,
        transform: Callable[[Image.Image], torch.Tensor],
    ) -> None:
        if labels.dtype != torch.int64:
            raise TypeError(f"labels must be int64, got {labels.dtype}")
        if labels.shape != (len(paths),):
            raise ValueError(f"labels must have shape ({len(paths)},), got {tuple(labels.shape)}")
        self.reader = reader
        self.paths = paths
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.reader(self.paths[index])), self.labels[index]

"""Augmentation and preprocessing, by name.

Augment names: ``"none"``; ``"crop-flip"`` (the CIFAR recipe: random crop after 4-pixel zero
padding, then a horizontal flip with probability 1/2); ``"random-resized-crop"`` (the ImageNet
recipe: RandomResizedCrop to the image size, then a horizontal flip; image files only).
File images (PIL, RGB) come out as float32 (3, S, S) in [0, 1], optionally normalised with the
ImageNet mean and standard deviation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms import v2

AUGMENTS = ("none", "crop-flip", "random-resized-crop")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_PADDING = 4
EVAL_RESIZE_RATIO = 256 / 224


def tensor_augment(augment: str, size: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Per-item augmentation of an in-memory (C, size, size) image, or None for ``"none"``."""
    if augment == "none":
        return None
    if augment == "crop-flip":
        return v2.Compose([v2.RandomCrop(size, padding=CROP_PADDING), v2.RandomHorizontalFlip()])
    raise ValueError(
        f"augment={augment!r} is not available for in-memory datasets; "
        "expected 'none' or 'crop-flip'"
    )


def image_transforms(augment: str, size: int, normalize: bool) -> tuple[v2.Compose, v2.Compose]:
    """(train, eval) transforms from an RGB PIL image to float32 (3, size, size).

    Eval: Resize(round(size * 256 / 224)) + CenterCrop(size) after ``"random-resized-crop"``
    (Resize 256 / CenterCrop 224 at the default size), else Resize(size) + CenterCrop(size).
    Train: the augmentation named (``"none"``: the same as Resize(size) + CenterCrop(size)).
    """
    fit = [v2.Resize(size), v2.CenterCrop(size)]
    if augment == "random-resized-crop":
        train = [v2.RandomResizedCrop(size), v2.RandomHorizontalFlip()]
        evaluate = [v2.Resize(round(size * EVAL_RESIZE_RATIO)), v2.CenterCrop(size)]
    elif augment == "crop-flip":
        train = [*fit, v2.RandomCrop(size, padding=CROP_PADDING), v2.RandomHorizontalFlip()]
        evaluate = fit
    elif augment == "none":
        train = evaluate = fit
    else:
        raise ValueError(f"augment={augment!r}; expected one of {AUGMENTS}")
    tail = [v2.ToDtype(torch.float32, scale=True)]
    if normalize:
        tail.append(v2.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return (
        v2.Compose([v2.ToImage(), *train, *tail]),
        v2.Compose([v2.ToImage(), *evaluate, *tail]),
    )

"""What to load (``DataConfig``) and what comes back (``DatasetBundle``).

Dataset names: ``"mnist-subset"`` (the packaged 5000/3000 MNIST subset, the offline default),
``"mnist"``, ``"fashion-mnist"``, ``"cifar10"`` (in-memory tensors in [0, 1], never normalised;
from the python batches or from an ImageFolder tree or zip of its images, decoded once)
and ``"folder"`` (an ImageFolder directory or .zip given as ``data_dir``, decoded per item).
Option values are checked when the config is made: a bad one raises ValueError naming the
argument, its value and what was expected. Nothing is coerced, except that a path-like
``data_dir`` is stored as ``str`` (so the config serialises to YAML as-is).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from torch.utils.data import Dataset

from largemargin.data.transforms import AUGMENTS
from largemargin.errors import bad_value

DATASET_NAMES = ("mnist-subset", "mnist", "fashion-mnist", "cifar10", "folder")
IN_MEMORY_AUGMENTS = ("none", "crop-flip")
FOLDER_IMAGE_SIZE = 224


@dataclass(frozen=True)
class _Defaults:
    image_size: int
    augment: str
    normalize: bool


_DEFAULTS = {
    "mnist-subset": _Defaults(28, "none", False),
    "mnist": _Defaults(28, "none", False),
    "fashion-mnist": _Defaults(28, "none", False),
    "cifar10": _Defaults(32, "crop-flip", False),
    "folder": _Defaults(FOLDER_IMAGE_SIZE, "random-resized-crop", True),
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, where its files are, and the paper's protocols (see ``protocols``).

    Attributes:
        name: the dataset: "mnist-subset" (bundled, offline), "mnist", "fashion-mnist",
            "cifar10" or "folder" (an ImageFolder directory or .zip; its test and val images
            are taken round-robin over the classes, so any first N cover them evenly).
        data_dir: the data root for mnist / fashion-mnist / cifar10 (None: $LARGEMARGIN_DATA,
            else ~/.cache/largemargin/data); for cifar10 also an ImageFolder directory or .zip
            of its 32x32 images (train/<class>/, test/<class>/), decoded once into memory and
            cached (``data.decoded``); the ImageFolder directory or .zip for "folder"
            (required); must be None for "mnist-subset".
        train_subset: None (all), a float fraction in (0, 1] or an int count (a multiple of the
            number of classes) of a class-balanced training subset, taken after the validation
            split.
        label_noise: fraction in [0, 1] of training labels replaced by another class.
        val_split: float fraction in [0, 1) or int count held out of the training set.
        seed: int >= 0 seeding all three protocols.
        image_size: side in pixels; None is the native size (28 MNIST, 32 CIFAR-10) or 224 for
            "folder"; in-memory datasets accept only their native size.
        augment: training augmentation, one of ``transforms.AUGMENTS``; None is the dataset's
            default ("none" for MNIST-likes, "crop-flip" for cifar10, "random-resized-crop"
            for folder).
        normalize: ImageNet mean/std normalisation, "folder" only; None is True for "folder",
            False otherwise.
        download: let torchvision download mnist / fashion-mnist / cifar10 when absent.
    """

    name: str = "mnist-subset"
    data_dir: str | None = None
    train_subset: int | float | None = None
    label_noise: float = 0.0
    val_split: int | float = 0
    seed: int = 0
    image_size: int | None = None
    augment: str | None = None
    normalize: bool | None = None
    download: bool = True

    def __post_init__(self) -> None:
        if self.name not in DATASET_NAMES:
            raise bad_value("name", self.name, f"one of {DATASET_NAMES}")
        in_memory = self.name != "folder"
        if self.data_dir is not None:
            if not isinstance(self.data_dir, (str, os.PathLike)):
                raise bad_value("data_dir", self.data_dir, "a path (str or os.PathLike) or None")
            object.__setattr__(self, "data_dir", os.fspath(self.data_dir))
        if self.name == "mnist-subset" and self.data_dir is not None:
            raise bad_value(
                "data_dir",
                self.data_dir,
                "None for name='mnist-subset' (it ships with "
                "the package); use name='mnist' to read MNIST files from a folder",
            )
        if self.name == "folder" and self.data_dir is None:
            raise bad_value("data_dir", None, "the ImageFolder directory or .zip for name='folder'")
        subset = self.train_subset
        if not (
            subset is None
            or (isinstance(subset, float) and 0 < subset <= 1)
            or (_is_int(subset) and subset > 0)
        ):
            raise bad_value(
                "train_subset", subset, "None, a float fraction in (0, 1] or an int > 0"
            )
        noise = self.label_noise
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise <= 1:
            raise bad_value("label_noise", noise, "a fraction in [0, 1]")
        val = self.val_split
        if not ((isinstance(val, float) and 0 <= val < 1) or (_is_int(val) and val >= 0)):
            raise bad_value("val_split", val, "a float fraction in [0, 1) or an int count >= 0")
        if not (_is_int(self.seed) and self.seed >= 0):
            raise bad_value("seed", self.seed, "an int >= 0")
        native = _DEFAULTS[self.name].image_size
        if self.image_size is not None:
            if not (_is_int(self.image_size) and self.image_size >= 1):
                raise bad_value("image_size", self.image_size, "None or an int >= 1")
            if in_memory and self.image_size != native:
                raise bad_value(
                    "image_size",
                    self.image_size,
                    f"None or {native} for {self.name!r} (in-memory datasets are not resized)",
                )
        allowed = IN_MEMORY_AUGMENTS if in_memory else AUGMENTS
        if not (self.augment is None or self.augment in allowed):
            raise bad_value("augment", self.augment, f"None or one of {allowed} for {self.name!r}")
        if not (self.normalize is None or isinstance(self.normalize, bool)):
            raise bad_value("normalize", self.normalize, "None, True or False")
        if in_memory and self.normalize:
            raise bad_value(
                "normalize",
                self.normalize,
                f"None or False for {self.name!r} (in-memory "
                "datasets stay in [0, 1]; normalise inside the model)",
            )
        if not isinstance(self.download, bool):
            raise bad_value("download", self.download, "True or False")

    @property
    def effective_image_size(self) -> int:
        """``image_size``, or the dataset's default when it is None."""
        return self.image_size if self.image_size is not None else _DEFAULTS[self.name].image_size

    @property
    def effective_augment(self) -> str:
        """``augment``, or the dataset's default when it is None."""
        return self.augment if self.augment is not None else _DEFAULTS[self.name].augment

    @property
    def effective_normalize(self) -> bool:
        """``normalize``, or the dataset's default when it is None."""
        return self.normalize if self.normalize is not None else _DEFAULTS[self.name].normalize


@dataclass(frozen=True)
class DatasetBundle:
    """The datasets of one run and what a model, an attack and a run record need to know.

    Each dataset's item is ``(image float32 (C, H, W), label int64 0-d)`` with
    ``input_shape == (C, H, W)``. ``val`` is None without a validation split. ``input_range``
    is the (smallest, largest) value any input element can take over all channels: (0.0, 1.0)
    without normalisation; with it, channel c spans ((0 - mean[c]) / std[c], (1 - mean[c]) /
    std[c]), and ``mean`` / ``std`` are given (else None). ``info`` holds plain Python values
    (YAML/JSON ready): the source, sizes, effective options and the protocol record.
    """

    train: Dataset
    val: Dataset | None
    test: Dataset
    num_classes: int
    input_shape: tuple[int, int, int]
    input_range: tuple[float, float]
    classes: tuple[str, ...]
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    info: dict[str, Any]

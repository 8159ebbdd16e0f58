"""``build_datasets``: the one entry point from a ``DataConfig`` to a ``DatasetBundle``."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from largemargin.data.config import DataConfig, DatasetBundle
from largemargin.data.datasets import ImageFileDataset, TensorImageDataset
from largemargin.data.decoded import load_decoded
from largemargin.data.image_folder import FileList, list_image_folder
from largemargin.data.protocols import ProtocolResult, apply_protocols
from largemargin.data.sources import (
    CIFAR10_CLASSES,
    RawSplits,
    load_cifar10,
    load_mnist_family,
    load_mnist_subset,
)
from largemargin.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    image_transforms,
    tensor_augment,
)


def _load_raw(cfg: DataConfig) -> RawSplits:
    if cfg.name == "mnist-subset":
        return load_mnist_subset()
    if cfg.name == "cifar10":
        if _is_image_folder(cfg.data_dir):
            return _cifar10_from_images(Path(cfg.data_dir))
        return load_cifar10(cfg.data_dir, cfg.download)
    return load_mnist_family(cfg.name, cfg.data_dir, cfg.download)


def _is_image_folder(data_dir: str | None) -> bool:
    """Whether ``data_dir`` is a zip, or a directory with a ``train/`` folder: an ImageFolder
    tree rather than CIFAR-10's python batches."""
    if data_dir is None:
        return False
    path = Path(data_dir).expanduser()
    return (path.is_file() and zipfile.is_zipfile(path)) or (path / "train").is_dir()


def _cifar10_from_images(path: Path) -> RawSplits:
    """CIFAR-10 from an ImageFolder tree or zip of its 32x32 images (``data.decoded``: decoded
    once, cached); its class folders must be CIFAR-10's ten classes. The test images are taken
    round-robin over the classes, as a folder's are."""
    listing = list_image_folder(path)
    if listing.classes != CIFAR10_CLASSES:
        raise ValueError(
            f"data_dir={str(path)!r}: its train/ classes {list(listing.classes)} are not "
            f"CIFAR-10's {list(CIFAR10_CLASSES)}; use name='folder' for another dataset"
        )
    return load_decoded(replace(listing, test=_class_interleaved(listing.test)), 32)


def _protocols(cfg: DataConfig, labels: torch.Tensor, num_classes: int) -> ProtocolResult:
    return apply_protocols(
        labels,
        num_classes,
        val_split=cfg.val_split,
        train_subset=cfg.train_subset,
        label_noise=cfg.label_noise,
        seed=cfg.seed,
    )


def _info(
    cfg: DataConfig,
    source: str,
    sizes: tuple[int, int, int],
    num_classes: int,
    input_shape: tuple[int, int, int],
    record: dict[str, Any],
) -> dict[str, Any]:
    return {
        "name": cfg.name,
        "source": source,
        "num_classes": num_classes,
        "num_train": sizes[0],
        "num_val": sizes[1],
        "num_test": sizes[2],
        "input_shape": list(input_shape),
        "image_size": cfg.effective_image_size,
        "augment": cfg.effective_augment,
        "normalize": cfg.effective_normalize,
        "protocols": record,
    }


def _unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 to float32 in [0, 1]."""
    return images.to(torch.float32).div_(255)


def _build_in_memory(cfg: DataConfig) -> DatasetBundle:
    raw = _load_raw(cfg)
    num_classes = len(raw.classes)
    result = _protocols(cfg, raw.train_labels, num_classes)
    val_idx = result.val_indices
    train = TensorImageDataset(
        _unit(raw.train_images[result.train_indices]),
        result.train_labels,
        tensor_augment(cfg.effective_augment, cfg.effective_image_size),
    )
    val = (
        TensorImageDataset(_unit(raw.train_images[val_idx]), raw.train_labels[val_idx])
        if len(val_idx)
        else None
    )
    test = TensorImageDataset(_unit(raw.test_images), raw.test_labels)
    shape = tuple(raw.train_images.shape[1:])
    sizes = (len(train), len(val_idx), len(test))
    return DatasetBundle(
        train=train,
        val=val,
        test=test,
        num_classes=num_classes,
        input_shape=shape,
        input_range=(0.0, 1.0),
        classes=raw.classes,
        mean=None,
        std=None,
        info=_info(cfg, raw.source, sizes, num_classes, shape, result.record),
    )


def _class_interleaved(files: FileList) -> FileList:
    """``files`` reordered round-robin over the classes: every class's first image (in class
    order), then every class's second, and so on; within a class the order is kept. A folder
    lists its images class by class, so without this the first N images of an evaluation
    split (``largemargin attack`` and ``margins`` take the first ``max_examples``) would all be
    of one class."""
    labels = files.labels
    rank = torch.empty_like(labels)
    for c in labels.unique():
        members = (labels == c).nonzero().squeeze(1)
        rank[members] = torch.arange(len(members))
    order = torch.argsort(rank * (int(labels.max()) + 1) + labels, stable=True)
    return FileList([files.paths[i] for i in order.tolist()], labels[order])


def _build_folder(cfg: DataConfig) -> DatasetBundle:
    listing = list_image_folder(cfg.data_dir)
    if listing.val is not None and cfg.val_split != 0:
        raise ValueError(
            f"val_split={cfg.val_split!r}: expected 0, because {cfg.data_dir} has its "
            "own val/ folder (used as the validation split beside test/)"
        )
    num_classes = len(listing.classes)
    result = _protocols(cfg, listing.train.labels, num_classes)
    size, normalize = cfg.effective_image_size, cfg.effective_normalize
    train_tf, eval_tf = image_transforms(cfg.effective_augment, size, normalize)
    paths, reader = listing.train.paths, listing.reader
    train = ImageFileDataset(
        reader, [paths[i] for i in result.train_indices.tolist()], result.train_labels, train_tf
    )
    if listing.val is not None:
        own_val = _class_interleaved(listing.val)
        val = ImageFileDataset(reader, own_val.paths, own_val.labels, eval_tf)
    elif len(result.val_indices):
        val_paths = [paths[i] for i in result.val_indices.tolist()]
        val = ImageFileDataset(reader, val_paths, listing.train.labels[result.val_indices], eval_tf)
    else:
        val = None
    test_files = _class_interleaved(listing.test)
    test = ImageFileDataset(reader, test_files.paths, test_files.labels, eval_tf)
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if normalize else (None, None)
    if normalize:
        low = min(-m / s for m, s in zip(mean, std, strict=True))
        high = max((1 - m) / s for m, s in zip(mean, std, strict=True))
    else:
        low, high = 0.0, 1.0
    shape = (3, size, size)
    sizes = (len(train), len(val) if val is not None else 0, len(test))
    source = str(listing.root.absolute())
    info = _info(cfg, source, sizes, num_classes, shape, result.record)
    info.update(layout=listing.layout, split_dirs=dict(listing.split_dirs))
    return DatasetBundle(
        train=train,
        val=val,
        test=test,
        num_classes=num_classes,
        input_shape=shape,
        input_range=(low, high),
        classes=listing.classes,
        mean=mean,
        std=std,
        info=info,
    )


def build_datasets(cfg: DataConfig | None = None) -> DatasetBundle:
    """Load the dataset ``cfg`` names (default ``DataConfig()``: the packaged MNIST subset), apply
    its protocols (validation split, then balanced subset, then label noise; see ``protocols``)
    and return train / val / test datasets with their shapes, input range and a record ``info``.

    Raises DataNotFoundError (a FileNotFoundError) when files are absent and cannot be
    downloaded, ValueError for option values that do not fit the data (e.g. a subset larger than
    a class).
    """
    if cfg is None:
        cfg = DataConfig()
    if not isinstance(cfg, DataConfig):
        raise TypeError(f"cfg must be a DataConfig, got {type(cfg).__name__}")
    return _build_folder(cfg) if cfg.name == "folder" else _build_in_memory(cfg)

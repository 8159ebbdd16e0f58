"""Datasets for large margin training: MNIST (with a packaged offline subset), Fashion-MNIST,
CIFAR-10 and any ImageFolder directory or zip, with the paper's protocols (validation split,
class-balanced subsets, uniform label noise), seeded and recorded.

    from largemargin.data import DataConfig, build_datasets
    bundle = build_datasets(DataConfig("mnist", data_dir="~/data", train_subset=0.01))
    image, label = bundle.train[0]   # float32 (1, 28, 28) in [0, 1], int64 0-d

Files are read where they are and never written beside them; torchvision downloads only
absent datasets (see ``sources`` for the folders looked in).

Modules: ``config`` (what to load, what comes back), ``build`` (``build_datasets``), ``sources``
(where each in-memory dataset's files are, read as stored), ``image_folder`` (listing an
ImageFolder directory or zip), ``readers`` (the file formats, parsed safely), ``protocols``
(validation split, balanced subset, label noise), ``datasets`` (the dataset classes) and
``transforms`` (augmentation and preprocessing).
"""

from largemargin.data.build import build_datasets
from largemargin.data.config import DATASET_NAMES, DataConfig, DatasetBundle
from largemargin.data.datasets import ImageFileDataset, TensorImageDataset
from largemargin.data.image_folder import list_image_folder
from largemargin.data.protocols import (
    ProtocolResult,
    apply_protocols,
    balanced_subset,
    uniform_label_noise,
    validation_split,
)
from largemargin.data.sources import ENV_VAR, DataNotFoundError, default_cache_dir
from largemargin.data.transforms import AUGMENTS, IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "AUGMENTS",
    "DATASET_NAMES",
    "ENV_VAR",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DataConfig",
    "DataNotFoundError",
    "DatasetBundle",
    "ImageFileDataset",
    "ProtocolResult",
    "TensorImageDataset",
    "apply_protocols",
    "balanced_subset",
    "build_datasets",
    "default_cache_dir",
    "list_image_folder",
    "uniform_label_noise",
    "validation_split",
]

"""Datasets for large margin training: MNIST (with a packaged offline subset), Fashion-MNIST,
CIFAR-10 and any ImageFolder directory or zip, with the paper's protocols (validation split,
class-balanced subsets, uniform label noise), seeded and recorded.

    from largemargin.data import DataConfig, build_datasets
    bundle = build_datasets(DataConfig("mnist", data_dir="~/data", train_subset=0.01))
    image, label = bundle.train[0]   # float32 (1, 28, 28) in [0, 1], int64 0-d

Files are read where they are and never written beside them; torchvision downloads only
absent datasets (see ``locations`` for the folders looked in).
"""

from largemargin.data.build import build_datasets
from largemargin.data.config import DATASET_NAMES, DataConfig, DatasetBundle
from largemargin.data.datasets import TensorImageDataset
from largemargin.data.errors import DataNotFoundError
from largemargin.data.image_folder import ImageFileDataset, list_image_folder
from largemargin.data.locations import ENV_VAR, default_cache_dir
from largemargin.data.protocols import (
    ProtocolResult,
    apply_protocols,
    balanced_subset,
    uniform_label_noise,
    validation_split,
)
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

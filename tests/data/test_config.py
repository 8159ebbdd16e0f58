"""DataConfig: every bad value is one ValueError naming the argument, its value and the need."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from largemargin.data import DataConfig, build_datasets

ROWS = [
    # (overrides, message fragment)
    ({"name": "imagenet"}, "name='imagenet': expected one of"),
    ({"name": "mnist-subset", "data_dir": "/x"}, "data_dir='/x': expected None for"),
    ({"name": "folder"}, "data_dir=None: expected the ImageFolder directory or .zip"),
    ({"data_dir": 3, "name": "mnist"}, "data_dir=3: expected a path"),
    ({"train_subset": 0.0}, "train_subset=0.0: expected None, a float fraction in (0, 1]"),
    ({"train_subset": 1.5}, "train_subset=1.5:"),
    ({"train_subset": 0}, "train_subset=0:"),
    ({"train_subset": True}, "train_subset=True:"),
    ({"train_subset": "600"}, "train_subset='600':"),
    ({"label_noise": 1.01}, "label_noise=1.01: expected a fraction in [0, 1]"),
    ({"label_noise": False}, "label_noise=False:"),
    ({"val_split": 1.0}, "val_split=1.0: expected a float fraction in [0, 1) or an int"),
    ({"val_split": -5}, "val_split=-5:"),
    ({"seed": -1}, "seed=-1: expected an int >= 0"),
    ({"seed": 1.0}, "seed=1.0:"),
    ({"image_size": 32}, "image_size=32: expected None or 28 for 'mnist-subset'"),
    ({"name": "folder", "data_dir": "d", "image_size": 0}, "image_size=0: expected None or an int"),
    ({"augment": "random-resized-crop"}, "augment='random-resized-crop': expected None or one of"),
    ({"name": "folder", "data_dir": "d", "augment": "flip"}, "augment='flip':"),
    ({"normalize": True}, "normalize=True: expected None or False for 'mnist-subset'"),
    ({"name": "folder", "data_dir": "d", "normalize": 1}, "normalize=1: expected None, True"),
    ({"download": "yes"}, "download='yes': expected True or False"),
]


@pytest.mark.parametrize(("overrides", "fragment"), ROWS, ids=[str(r[0]) for r in ROWS])
def test_bad_values(overrides, fragment):
    with pytest.raises(ValueError) as info:
        DataConfig(**overrides)
    assert fragment in str(info.value)


def test_defaults_and_effective_options():
    cfg = DataConfig()
    assert (cfg.effective_image_size, cfg.effective_augment, cfg.effective_normalize) == (
        28,
        "none",
        False,
    )
    folder = DataConfig("folder", data_dir=Path("/some/imagenet"))
    assert folder.data_dir == "/some/imagenet" and isinstance(folder.data_dir, str)
    assert (folder.effective_image_size, folder.effective_augment, folder.effective_normalize) == (
        224,
        "random-resized-crop",
        True,
    )
    assert DataConfig("cifar10").effective_augment == "crop-flip"
    assert yaml.safe_load(yaml.safe_dump(asdict(folder))) == asdict(folder)


def test_build_datasets_rejects_other_objects():
    with pytest.raises(TypeError, match="cfg must be a DataConfig, got dict"):
        build_datasets({"name": "mnist"})

"""MNIST / Fashion-MNIST files: both layouts, nothing written, clear errors when absent."""

from __future__ import annotations

import os

import pytest
import torch

from largemargin.data import DataConfig, DataNotFoundError, build_datasets
from largemargin.data import sources as mnist_module
from largemargin.data.sources import IDX_FILES, load_mnist_family

from .conftest import write_fake_mnist, write_idx


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_real_mnist_from_the_flat_folder(mnist_dir):
    bundle = build_datasets(DataConfig("mnist", data_dir=str(mnist_dir), download=False))
    assert (len(bundle.train), len(bundle.test), bundle.val) == (60000, 10000, None)
    image, label = bundle.train[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert label.dtype == torch.int64 and int(label) == 5
    assert int(bundle.test[0][1]) == 7
    assert float(bundle.train.images.min()) >= 0.0 and float(bundle.train.images.max()) == 1.0
    assert bundle.input_shape == (1, 28, 28) and bundle.input_range == (0.0, 1.0)
    assert bundle.num_classes == 10 and bundle.info["source"] == str(mnist_dir.absolute())


def test_torchvision_layout_of_symlinks_is_read_in_place(tmp_path, mnist_dir):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in IDX_FILES:
        (raw / f"{stem}.gz").symlink_to(mnist_dir / f"{stem}.gz")
    before = _tree(tmp_path)
    splits = load_mnist_family("mnist", str(tmp_path), download=True)
    assert _tree(tmp_path) == before  # nothing extracted or downloaded beside the files
    assert splits.train_images.shape == (60000, 1, 28, 28)
    assert splits.train_images.dtype == torch.uint8
    assert splits.test_labels.shape == (10000,) and splits.test_labels.dtype == torch.int64
    assert splits.source == str(raw)


def test_env_var_names_the_data_root(monkeypatch, mnist_dir):
    monkeypatch.setenv("LARGEMARGIN_DATA", str(mnist_dir.parent))  # finds <root>/mnist
    splits = load_mnist_family("mnist", None, download=False)
    assert int(splits.train_labels[0]) == 5


def test_uncompressed_files_and_fashion_layout(tmp_path):
    arrays = write_fake_mnist(tmp_path / "FashionMNIST" / "raw", gz=False)
    write_fake_mnist(tmp_path / "MNIST" / "raw", n_train=30)  # must not be picked for fashion
    bundle = build_datasets(DataConfig("fashion-mnist", data_dir=str(tmp_path), download=False))
    assert len(bundle.train) == 20 and len(bundle.test) == 10
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte"][3]).float() / 255
    torch.testing.assert_close(bundle.train[3][0][0], expected)
    assert bundle.test.labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert bundle.classes[0] == "T-shirt/top"


def test_absent_files_name_what_to_put_where(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        build_datasets(DataConfig("mnist", data_dir=str(tmp_path), download=False))
    message = str(info.value)
    for stem in IDX_FILES:
        assert f"{stem}.gz" in message
    assert str(tmp_path / "MNIST" / "raw") in message and "Download is off" in message
    assert "LARGEMARGIN_DATA" in message
    assert isinstance(info.value, FileNotFoundError)


def test_partial_folder_lists_the_missing_files(tmp_path):
    write_fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match=rf"{tmp_path}: missing t10k-labels-idx1-ubyte\.gz"):
        load_mnist_family("mnist", str(tmp_path), download=False)


def test_failed_download_becomes_the_clear_error(tmp_path, monkeypatch):
    calls = []

    class Offline:
        def __init__(self, root, train, download):
            calls.append((root, download))
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    family = mnist_module._FAMILIES["mnist"]
    monkeypatch.setitem(
        mnist_module._FAMILIES, "mnist", mnist_module._Family(family.title, family.folders, Offline)
    )
    with pytest.raises(DataNotFoundError, match=r"Downloading into .* failed: Error downloading"):
        load_mnist_family("mnist", None, download=True)
    # With neither data_dir nor $LARGEMARGIN_DATA, the download goes to the per-user cache.
    assert calls == [(os.path.join(os.environ["XDG_CACHE_HOME"], "largemargin", "data"), True)]


def test_labels_out_of_range_are_rejected(tmp_path):
    arrays = write_fake_mnist(tmp_path)
    labels = arrays["train-labels-idx1-ubyte"].copy()
    labels[0] = 10
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(ValueError, match=r"label 10 found, expected labels 0\.\.9"):
        load_mnist_family("mnist", str(tmp_path), download=False)

"""Finding each dataset's files: MNIST / Fashion-MNIST in both layouts and CIFAR-10 as a folder
or the unextracted archive, nothing written, clear errors when absent; the packaged MNIST subset:
balanced, real, attributed, and rebuilt identically by the script."""

from __future__ import annotations

import importlib.util
import os
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from largemargin.data import DataConfig, DataNotFoundError, build_datasets, sources
from largemargin.data.readers import read_idx
from largemargin.data.sources import (
    ARCHIVE,
    BATCH_FOLDER,
    IDX_FILES,
    load_cifar10,
    load_mnist_family,
)

from .conftest import write_cifar_archive, write_cifar_folder, write_fake_mnist, write_idx

ASSETS = resources.files("largemargin.data") / "assets"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_mnist_subset.py"


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

    family = sources._FAMILIES["mnist"]
    monkeypatch.setitem(
        sources._FAMILIES, "mnist", sources._Family(family.title, family.folders, Offline)
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


# CIFAR-10


@pytest.mark.parametrize("writer", [write_cifar_folder, write_cifar_archive])
def test_batches_become_nchw_tensors(tmp_path, writer):
    writer(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    splits = load_cifar10(str(tmp_path), download=False)
    assert sorted(tmp_path.rglob("*")) == before
    assert splits.train_images.shape == (20, 3, 32, 32) and splits.train_images.dtype == torch.uint8
    assert splits.test_images.shape == (4, 3, 32, 32)
    assert splits.train_images[:, 0, 5, 7].tolist() == list(range(20))  # channel-first layout
    assert bool((splits.train_images[:, 1] == 200).all())
    assert splits.test_labels.tolist() == [0, 1, 2, 3]
    assert splits.train_labels.dtype == torch.int64


def test_bundle_defaults_to_crop_flip_on_train_only(tmp_path):
    write_cifar_folder(tmp_path)
    bundle = build_datasets(DataConfig("cifar10", data_dir=str(tmp_path), download=False))
    assert bundle.input_shape == (3, 32, 32) and bundle.info["augment"] == "crop-flip"
    assert bundle.train.augment is not None and bundle.test.augment is None
    torch.manual_seed(0)
    crops = torch.stack([bundle.train[0][0] for _ in range(20)])
    assert crops.shape == (20, 3, 32, 32)
    assert not torch.equal(crops.amin(0), crops.amax(0))  # padding/crop/flip vary per draw
    torch.testing.assert_close(bundle.test[1][0][1], torch.full((32, 32), 200 / 255))


def test_absent_names_the_archive_and_the_folder(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_cifar10(str(tmp_path), download=False)
    message = str(info.value)
    assert ARCHIVE in message and f"{tmp_path / BATCH_FOLDER}: missing all six" in message
    assert 'name="folder"' in message


def test_partial_folder_lists_missing_batches(tmp_path):
    write_cifar_folder(tmp_path)
    (tmp_path / BATCH_FOLDER / "data_batch_3").unlink()
    with pytest.raises(DataNotFoundError, match="missing data_batch_3"):
        load_cifar10(str(tmp_path), download=False)


# The packaged MNIST subset


def test_default_config_is_the_offline_subset():
    bundle = build_datasets()
    assert DataConfig().name == "mnist-subset"
    assert (len(bundle.train), len(bundle.test), bundle.val) == (5000, 3000, None)
    assert torch.bincount(bundle.train.labels).tolist() == [500] * 10
    assert torch.bincount(bundle.test.labels).tolist() == [300] * 10
    assert int(bundle.train[0][1]) == 5 and int(bundle.test[0][1]) == 7  # MNIST's first labels
    assert bundle.train.images.shape == (5000, 1, 28, 28)
    assert bundle.train.images.dtype == torch.float32
    assert float(bundle.train.images.min()) == 0.0 and float(bundle.train.images.max()) == 1.0
    assert bundle.info["source"].endswith("assets/mnist_subset.npz")


def test_asset_is_small_and_attributed():
    assert (ASSETS / "mnist_subset.npz").stat().st_size < 3_000_000
    license_text = (ASSETS / "MNIST_SUBSET_LICENSE.md").read_text()
    for needle in ("CC BY-SA 3.0", "LeCun", "Cortes", "Burges", "build_mnist_subset.py"):
        assert needle in license_text


def test_asset_is_the_first_images_of_each_digit_of_real_mnist(mnist_dir):
    labels = read_idx(mnist_dir / "train-labels-idx1-ubyte.gz")
    images = read_idx(mnist_dir / "train-images-idx3-ubyte.gz")
    with np.load(str(ASSETS / "mnist_subset.npz")) as npz:
        index, x, y = npz["train_index"], npz["x_train"], npz["y_train"]
    np.testing.assert_array_equal(x, images[index])
    np.testing.assert_array_equal(y, labels[index])
    for digit in range(10):
        np.testing.assert_array_equal(index[y == digit], np.flatnonzero(labels == digit)[:500])


@pytest.mark.slow
def test_script_rebuilds_identical_arrays(mnist_dir, tmp_path):
    spec = importlib.util.spec_from_file_location("build_mnist_subset", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "rebuilt.npz"
    assert script.main(["--mnist-dir", str(mnist_dir), "--out", str(out)]) == 0
    with np.load(out) as new, np.load(str(ASSETS / "mnist_subset.npz")) as shipped:
        assert sorted(new.files) == sorted(shipped.files)
        for key in shipped.files:
            assert new[key].dtype == shipped[key].dtype
            np.testing.assert_array_equal(new[key], shipped[key])

"""The packaged MNIST subset: balanced, real, attributed, and rebuilt identically by the script."""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from largemargin.data import DataConfig, build_datasets
from largemargin.data.idx import read_idx

ASSETS = resources.files("largemargin.data") / "assets"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_mnist_subset.py"


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

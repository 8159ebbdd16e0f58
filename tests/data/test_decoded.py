"""CIFAR-10 from an ImageFolder zip or tree of its images: decoded once into memory, cached with
a checksum beside the data (else in the user cache), decoded again when stale or damaged."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import largemargin.data.decoded as decoded
from largemargin.data import DataConfig, build_datasets
from largemargin.data.datasets import TensorImageDataset
from largemargin.data.sources import CIFAR10_CLASSES


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")  # lossless: pixels come back exactly
    return buffer.getvalue()


def _pixels(seed: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def write_cifar_zip(path, train_per_class=2, test_per_class=2, classes=CIFAR10_CLASSES, seed=0):
    """A CIFAR-10-shaped ImageFolder zip of random 32x32 PNGs; returns {member: pixels}."""
    images = {}
    with zipfile.ZipFile(path, "w") as archive:
        for s, (split, n) in enumerate((("train", train_per_class), ("test", test_per_class))):
            for c, cls in enumerate(classes):
                for i in range(n):
                    name = f"{split}/{cls}/{i:04d}.png"
                    images[name] = _pixels(seed * 100000 + s * 10000 + c * 100 + i)
                    archive.writestr(name, _png(images[name]))
    return images


def as_chw(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels).permute(2, 0, 1).float() / 255


def test_images_decode_once_into_memory_with_a_checksummed_cache_beside_the_zip(tmp_path, capfd):
    path = tmp_path / "cifar.zip"
    images = write_cifar_zip(path)
    bundle = build_datasets(DataConfig("cifar10", data_dir=str(path), augment="none"))
    assert "decoding 40 images of" in capfd.readouterr().err
    assert isinstance(bundle.test, TensorImageDataset) and bundle.classes == CIFAR10_CLASSES
    assert (len(bundle.train), len(bundle.test)) == (20, 20) and bundle.input_shape == (3, 32, 32)
    # test images round-robin over the classes, pixels exactly the files'
    assert [int(bundle.test[i][1]) for i in range(12)] == [*range(10), 0, 1]
    torch.testing.assert_close(bundle.test[1][0], as_chw(images["test/automobile/0000.png"]))
    torch.testing.assert_close(bundle.test[10][0], as_chw(images["test/airplane/0001.png"]))
    cache = tmp_path / "cifar.zip.decoded32.pt"
    assert cache.is_file()
    again = build_datasets(DataConfig("cifar10", data_dir=str(path), augment="none"))
    assert "decoding" not in capfd.readouterr().err  # read from the cache
    torch.testing.assert_close(again.test[3][0], bundle.test[3][0])
    assert bundle.info["source"] == str(path.absolute())


def test_a_damaged_or_stale_cache_is_decoded_again(tmp_path, capfd):
    path = tmp_path / "cifar.zip"
    write_cifar_zip(path)
    build_datasets(DataConfig("cifar10", data_dir=str(path)))
    cache = tmp_path / "cifar.zip.decoded32.pt"
    saved = torch.load(cache, weights_only=True)
    saved["test"][0][0, 0, 0, 0] ^= 1  # one pixel changed: the checksum no longer matches
    torch.save(saved, cache)
    capfd.readouterr()
    build_datasets(DataConfig("cifar10", data_dir=str(path)))
    assert "decoding 40 images" in capfd.readouterr().err
    cache.write_bytes(b"not a torch file")
    build_datasets(DataConfig("cifar10", data_dir=str(path)))
    assert "decoding 40 images" in capfd.readouterr().err
    images = write_cifar_zip(path, seed=1)  # the source changed: new pixels, same names
    bundle = build_datasets(DataConfig("cifar10", data_dir=str(path), augment="none"))
    assert "decoding 40 images" in capfd.readouterr().err
    torch.testing.assert_close(bundle.test[0][0], as_chw(images["test/airplane/0000.png"]))


def test_the_cache_goes_to_the_user_cache_when_the_data_folder_is_read_only(
    tmp_path, monkeypatch, capfd
):
    path = tmp_path / "cifar.zip"
    write_cifar_zip(path)
    real = decoded.write_atomic

    def refuse_beside_the_data(target, data):
        if target.parent == tmp_path:
            raise PermissionError(f"read-only: {target}")
        return real(target, data)

    monkeypatch.setattr(decoded, "write_atomic", refuse_beside_the_data)
    build_datasets(DataConfig("cifar10", data_dir=str(path)))
    err = capfd.readouterr().err
    assert "cached at " in err and "/decoded/" in err
    assert not (tmp_path / "cifar.zip.decoded32.pt").exists()
    build_datasets(DataConfig("cifar10", data_dir=str(path)))
    assert "decoding" not in capfd.readouterr().err


def test_a_directory_tree_decodes_too(tmp_path):
    path = tmp_path / "cifar.zip"
    images = write_cifar_zip(path, train_per_class=1, test_per_class=1)
    tree = tmp_path / "tree"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tree)
    bundle = build_datasets(DataConfig("cifar10", data_dir=str(tree), augment="none"))
    torch.testing.assert_close(bundle.test[4][0], as_chw(images["test/deer/0000.png"]))
    assert (tree / ".largemargin-decoded32.pt").is_file()


def test_other_classes_or_sizes_are_refused(tmp_path):
    other = tmp_path / "other.zip"
    write_cifar_zip(other, classes=("cat", "dog"))
    with pytest.raises(ValueError, match=r"are not CIFAR-10's .*use name='folder'"):
        build_datasets(DataConfig("cifar10", data_dir=str(other)))
    big = tmp_path / "big.zip"
    write_cifar_zip(big)
    with zipfile.ZipFile(big, "a") as archive:
        archive.writestr("train/cat/9999.png", _png(_pixels(5, size=40)))
    with pytest.raises(ValueError, match=r"train/cat/9999.png is 40x40 pixels; expected"):
        build_datasets(DataConfig("cifar10", data_dir=str(big)))


def test_a_folder_marked_read_only_is_left_untouched_even_for_root(tmp_path, capfd):
    data = tmp_path / "shared"
    data.mkdir()
    path = data / "cifar.zip"
    write_cifar_zip(path, train_per_class=1, test_per_class=1)
    data.chmod(0o555)
    try:
        build_datasets(DataConfig("cifar10", data_dir=str(path)))
    finally:
        data.chmod(0o755)
    assert sorted(p.name for p in data.iterdir()) == ["cifar.zip"]
    assert "/decoded/" in capfd.readouterr().err

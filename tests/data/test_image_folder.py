"""ImageFolder directories and zips: listing, transforms, labels, worker processes."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Subset

from largemargin.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DataConfig,
    DataNotFoundError,
    build_datasets,
    list_image_folder,
)


@pytest.fixture
def imagenet_tree(tmp_path, imagenet_dir):
    """train/<label>/<file> and val/<label>/<file> symlinks to the 20 sample images."""
    root = tmp_path / "imagenet"
    for path in sorted(imagenet_dir.glob("imagenet_*.jpg")):
        label = path.stem.split("_")[2]
        for split in ("train", "val"):
            (root / split / label).mkdir(parents=True, exist_ok=True)
            (root / split / label / path.name).symlink_to(path)
    return root


def _png(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 6), color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_imagenet_sample_directory(imagenet_tree):
    bundle = build_datasets(DataConfig("folder", data_dir=str(imagenet_tree)))
    labels = sorted({p.name for p in (imagenet_tree / "train").iterdir()})
    assert bundle.classes == tuple(labels) and bundle.num_classes == 19  # 609 appears twice
    assert bundle.info["split_dirs"] == {"train": "train", "test": "val"}
    assert bundle.info["layout"] == "directory" and bundle.val is None
    assert (len(bundle.train), len(bundle.test)) == (20, 20)
    for i in range(0, 20, 7):
        path = bundle.test.paths[i]
        assert bundle.classes[int(bundle.test.labels[i])] == path.split("/")[1]
        assert path.split("/")[2].split(".")[0].split("_")[2] == path.split("/")[1]
    batch, targets = next(iter(DataLoader(bundle.test, batch_size=4)))
    assert batch.shape == (4, 3, 224, 224) and batch.dtype == torch.float32
    assert targets.dtype == torch.int64
    low, high = bundle.input_range
    assert low - 1e-5 <= float(batch.min()) and float(batch.max()) <= high + 1e-5  # float32
    assert bundle.mean == IMAGENET_MEAN and bundle.std == IMAGENET_STD
    torch.testing.assert_close(bundle.test[0][0], bundle.test[0][0])  # eval is deterministic
    assert bundle.train[0][0].shape == (3, 224, 224)


def test_imagenet_sample_eval_is_resize_256_center_crop_224(imagenet_tree):
    cfg = DataConfig("folder", data_dir=str(imagenet_tree), normalize=False)
    bundle = build_datasets(cfg)
    image, _ = bundle.test[0]
    with Image.open(imagenet_tree / bundle.test.paths[0]) as pil:
        expected = pil.convert("RGB").resize((256, 256), Image.BILINEAR).crop((16, 16, 240, 240))
    expected = torch.from_numpy(np.array(expected)).permute(2, 0, 1).float() / 255
    assert bundle.input_range == (0.0, 1.0) and bundle.mean is None
    assert float((image - expected).abs().mean()) < 0.02


@pytest.mark.slow
def test_cifar_jpeg_zip_at_32_pixels(cifar_zip):
    cfg = DataConfig(
        "folder",
        data_dir=str(cifar_zip),
        image_size=32,
        augment="crop-flip",
        normalize=False,
        train_subset=20,
        label_noise=0.5,
        val_split=0.1,
    )
    bundle = build_datasets(cfg)
    assert bundle.classes[:3] == ("airplane", "automobile", "bird") and bundle.num_classes == 10
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (20, 5000, 10000)
    assert bundle.info["layout"] == "zip" and bundle.input_shape == (3, 32, 32)
    assert bundle.info["protocols"]["label_noise"]["changed"] == 10
    noisy = sum(
        bundle.classes[int(label)] != path.split("/")[1]
        for path, label in zip(bundle.train.paths, bundle.train.labels, strict=True)
    )
    assert noisy == 10
    assert bundle.test.paths[0] == "test/airplane/0000.jpg"
    image, label = bundle.test[0]
    assert image.shape == (3, 32, 32) and 0.0 <= float(image.min()) <= float(image.max()) <= 1.0
    assert int(label) == 0
    with zipfile.ZipFile(cifar_zip) as zf, Image.open(zf.open("test/airplane/0000.jpg")) as pil:
        direct = torch.from_numpy(np.array(pil.convert("RGB"))).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(image, direct)  # 32x32 eval is the identity
    assert bundle.train[0][0].shape == (3, 32, 32)


@pytest.mark.slow
def test_zip_dataset_in_worker_processes_and_pickle(cifar_zip):
    bundle = build_datasets(
        DataConfig("folder", data_dir=str(cifar_zip), image_size=32, augment="none")
    )
    first = bundle.test[0][0]  # the parent process opens the zip first
    clone = pickle.loads(pickle.dumps(bundle.test))
    torch.testing.assert_close(clone[0][0], first)
    indices = [0, 1, 1000, 1001, 2000, 2001, 9998, 9999]
    loader = DataLoader(Subset(bundle.test, indices), batch_size=4, num_workers=2)
    batches = list(loader)
    labels = torch.cat([y for _, y in batches])
    assert labels.tolist() == [i % 10 for i in indices]  # 1000 per class, interleaved
    torch.testing.assert_close(batches[0][0][0], first)


def test_wrapped_zip_skips_hidden_and_uses_val_and_test(tmp_path):
    archive_path = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for split, n in (("train", 3), ("val", 1), ("test", 2)):
            for cls, color in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
                for i in range(n):
                    archive.writestr(f"tiny/{split}/{cls}/{i}.png", _png(color))
        archive.writestr("tiny/train/cat/._0.png", b"AppleDouble junk")
        archive.writestr("tiny/train/cat/notes.txt", b"not an image")
        archive.writestr("__MACOSX/tiny/train/cat/0.png", b"junk")
    listing = list_image_folder(archive_path)
    assert listing.classes == ("cat", "dog")
    assert listing.train.paths[0] == "tiny/train/cat/0.png" and len(listing.train.paths) == 6
    assert listing.split_dirs == {"train": "train", "test": "test", "val": "val"}
    cfg = DataConfig("folder", data_dir=str(archive_path), image_size=8, normalize=False)
    bundle = build_datasets(cfg)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (6, 2, 4)
    image, label = bundle.test[3]
    assert image.shape == (3, 8, 8) and int(label) == 1
    torch.testing.assert_close(image[:, 4, 4], torch.tensor([0.0, 0.0, 1.0]))  # blue dog
    with pytest.raises(ValueError, match=r"val_split=0.5: expected 0, because .* own val/"):
        build_datasets(DataConfig("folder", data_dir=str(archive_path), val_split=0.5))


def test_missing_splits_and_unknown_classes(tmp_path):
    with pytest.raises(DataNotFoundError, match="no ImageFolder dataset at"):
        list_image_folder(tmp_path / "absent")
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "train" / "a" / "x.png").write_bytes(_png((0, 0, 0)))
    with pytest.raises(DataNotFoundError, match=r"holds images in \['train'\]; expected .*val/"):
        list_image_folder(tmp_path)
    (tmp_path / "test" / "b").mkdir(parents=True)
    (tmp_path / "test" / "b" / "y.png").write_bytes(_png((0, 0, 0)))
    with pytest.raises(
        ValueError, match=r"test/ has 1 classes that train/ lacks \(first: \['b'\]\)"
    ):
        list_image_folder(tmp_path)


@pytest.mark.parametrize(
    "name", ["../x.png", "train/../../x.png", "/abs/x.png", "C:/x.png", "a\\..\\..\\x.png"]
)
def test_a_zip_member_leaving_the_root_is_refused(tmp_path, name):
    archive_path = tmp_path / "escape.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("train/cat/0.png", _png((255, 0, 0)))
        archive.writestr("test/cat/0.png", _png((255, 0, 0)))
        archive.writestr(zipfile.ZipInfo(name), _png((0, 0, 255)))
    before = sorted(tmp_path.parent.rglob("*"))
    with pytest.raises(ValueError, match=r"escape.zip: member .* leaves the archive's root"):
        build_datasets(DataConfig("folder", data_dir=str(archive_path)))
    assert sorted(tmp_path.parent.rglob("*")) == before  # nothing extracted anywhere


def test_a_file_that_is_not_a_zip_is_named(tmp_path):
    path = tmp_path / "images.zip"
    path.write_bytes(b"\x89PNG not a zip")
    with pytest.raises(ValueError, match=r"images.zip: not a zip archive; expected a directory"):
        build_datasets(DataConfig("folder", data_dir=str(path)))


def test_a_truncated_jpeg_in_a_zip_is_named_when_read(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(buffer, format="JPEG")
    archive_path = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("train/cat/0.png", _png((255, 0, 0)))
        archive.writestr("test/cat/0.jpg", buffer.getvalue()[:300])
    bundle = build_datasets(DataConfig("folder", data_dir=str(archive_path), image_size=8))
    assert bundle.train[0][0].shape == (3, 8, 8)
    with pytest.raises(ValueError, match=r"tiny.zip:test/cat/0.jpg: cannot decode the image"):
        bundle.test[0]


def test_evaluation_splits_interleave_the_classes(tmp_path):
    """A folder lists images class by class; the test and val splits go round-robin over the
    classes, so that their first N images (what `attack --max_examples` takes) cover them."""
    counts = {"ant": 3, "bee": 1, "cat": 2}
    archive_path = tmp_path / "three.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for split in ("train", "val", "test"):
            for name, n in counts.items():
                for i in range(n):
                    archive.writestr(f"{split}/{name}/{i}.png", _png((40 * i, 0, 0)))
    bundle = build_datasets(DataConfig("folder", data_dir=str(archive_path), image_size=8))
    expected = ["ant/0", "bee/0", "cat/0", "ant/1", "cat/1", "ant/2"]
    for split in (bundle.test, bundle.val):
        assert [p.split("/", 1)[1].removesuffix(".png") for p in split.paths] == expected
        assert [bundle.classes[int(c)] for c in split.labels] == [e[:3] for e in expected]
    assert [p.split("/")[1] for p in bundle.train.paths] == ["ant"] * 3 + ["bee"] + ["cat"] * 2

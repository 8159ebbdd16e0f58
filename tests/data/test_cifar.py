"""CIFAR-10 pickle batches: folder or unextracted archive, same tensors; clear error when absent."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from largemargin.data import DataConfig, DataNotFoundError, build_datasets
from largemargin.data.cifar import ARCHIVE, BATCH_FOLDER, TEST_BATCHES, TRAIN_BATCHES, load_cifar10
from tests.payloads import Touch


def _batch(n: int, offset: int) -> dict:
    data = np.zeros((n, 3072), dtype=np.uint8)
    data[:, :1024] = np.arange(offset, offset + n)[:, None]  # red channel carries the index
    data[:, 1024:2048] = 200  # green constant
    return {"data": data, "labels": [(offset + i) % 10 for i in range(n)]}


def _batches(protocol: int = pickle.DEFAULT_PROTOCOL) -> dict[str, bytes]:
    names = TRAIN_BATCHES + TEST_BATCHES
    return {name: pickle.dumps(_batch(4, 4 * i), protocol) for i, name in enumerate(names)}


def _write_folder(root, batches: dict[str, bytes] | None = None):
    folder = root / BATCH_FOLDER
    folder.mkdir(parents=True)
    for name, blob in (batches or _batches()).items():
        (folder / name).write_bytes(blob)


def _write_archive(root, batches: dict[str, bytes] | None = None):
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(root / ARCHIVE, "w:gz") as tar:
        for name, blob in (batches or _batches()).items():
            info = tarfile.TarInfo(f"{BATCH_FOLDER}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


@pytest.mark.parametrize("writer", [_write_folder, _write_archive])
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
    _write_folder(tmp_path)
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
    _write_folder(tmp_path)
    (tmp_path / BATCH_FOLDER / "data_batch_3").unlink()
    with pytest.raises(DataNotFoundError, match="missing data_batch_3"):
        load_cifar10(str(tmp_path), download=False)


def test_malformed_batch_is_rejected(tmp_path):
    _write_folder(tmp_path)
    bad = {"data": np.zeros((2, 100), dtype=np.uint8), "labels": [0, 1]}
    (tmp_path / BATCH_FOLDER / "test_batch").write_bytes(pickle.dumps(bad))
    with pytest.raises(ValueError, match=r"test_batch: data of dtype uint8, shape \(2, 100\)"):
        load_cifar10(str(tmp_path), download=False)


def _numpy1_protocol2(blob: bytes) -> bytes:
    """A protocol-2 pickle as numpy 1 wrote it (the distributed batches name numpy.core)."""
    return blob.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5, "numpy 1"])
def test_every_pickle_protocol_of_numpy_batches_loads(tmp_path, protocol):
    if protocol == "numpy 1":
        batches = {name: _numpy1_protocol2(blob) for name, blob in _batches(2).items()}
        assert all(b"cnumpy.core.multiarray\n_reconstruct" in blob for blob in batches.values())
    else:
        batches = _batches(protocol)
    _write_folder(tmp_path, batches)
    splits = load_cifar10(str(tmp_path), download=False)
    assert splits.train_images[:, 0, 5, 7].tolist() == list(range(20))
    assert splits.test_labels.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("writer", [_write_folder, _write_archive])
def test_a_batch_with_a_pickle_payload_runs_nothing(tmp_path, writer):
    marker = tmp_path / "marker"
    batches = _batches()
    evil = _batch(4, 20)
    evil["labels"] = [0, 1, 2, Touch(marker)]
    batches["test_batch"] = pickle.dumps(evil)
    writer(tmp_path / "data", batches)
    with pytest.raises(ValueError) as info:
        load_cifar10(str(tmp_path / "data"), download=False)
    message = str(info.value)
    assert "test_batch: it names pathlib.Path.touch, which a CIFAR-10 batch never holds" in message
    assert "nothing in the file was run" in message and "\n" not in message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("blob", "fragment"),
    [
        (bytes(range(256)) * 4, "not a readable pickle"),
        (pickle.dumps([1, 2, 3]), "expected a CIFAR-10 python batch"),
        (pickle.dumps({"data": np.zeros((1, 3072), np.uint8)}), "expected a CIFAR-10 python batch"),
        (pickle.dumps(np.zeros(3, dtype=object)), "expected a CIFAR-10 python batch"),
    ],
)
def test_a_batch_that_is_not_one_is_named(tmp_path, blob, fragment):
    batches = _batches()
    batches["data_batch_2"] = blob
    _write_folder(tmp_path, batches)
    with pytest.raises(ValueError, match=f"data_batch_2: .*{fragment}"):
        load_cifar10(str(tmp_path), download=False)

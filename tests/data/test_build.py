"""build_datasets on in-memory data: protocols applied to train only, loaders, records."""

from __future__ import annotations

import pytest
import torch
import yaml
from torch.utils.data import DataLoader, DistributedSampler

from largemargin.data import DataConfig, build_datasets
from largemargin.data.sources import load_mnist_subset


def test_protocols_touch_train_only():
    raw = load_mnist_subset()
    cfg = DataConfig(val_split=500, train_subset=0.5, label_noise=0.3, seed=7)
    bundle = build_datasets(cfg)
    assert len(bundle.val) == 500 and len(bundle.train) == 2250  # round(0.5 * 4500 / 10) = 225
    assert torch.bincount(bundle.train.labels).sum() == 2250
    torch.testing.assert_close(bundle.test.images, raw.test_images.float() / 255)
    assert torch.equal(bundle.test.labels, raw.test_labels)
    record = bundle.info["protocols"]
    # Recover each image's clean label from its pixels (the 5000 subset images are distinct).
    lookup = {raw.train_images[i].numpy().tobytes(): int(raw.train_labels[i]) for i in range(5000)}
    for image, label in (bundle.val[i] for i in range(0, 500, 50)):  # validation labels clean
        assert lookup[(image * 255).round().to(torch.uint8).numpy().tobytes()] == int(label)
    changed = sum(  # training labels noised exactly as recorded
        lookup[(bundle.train.images[i] * 255).round().to(torch.uint8).numpy().tobytes()]
        != int(bundle.train.labels[i])
        for i in range(len(bundle.train))
    )
    assert changed == record["label_noise"]["changed"] == 675
    assert record["label_noise"]["fraction_changed"] == pytest.approx(0.3)
    assert bundle.info["num_train"] == 2250 and bundle.info["num_val"] == 500
    assert yaml.safe_load(yaml.safe_dump(bundle.info)) == bundle.info


def test_same_seed_same_data_other_seed_other_data():
    a = build_datasets(DataConfig(train_subset=100, label_noise=0.2, seed=1))
    b = build_datasets(DataConfig(train_subset=100, label_noise=0.2, seed=1))
    c = build_datasets(DataConfig(train_subset=100, label_noise=0.2, seed=2))
    assert torch.equal(a.train.images, b.train.images)
    assert torch.equal(a.train.labels, b.train.labels)
    assert not torch.equal(a.train.images, c.train.images)


def test_subset_too_large_names_the_option():
    with pytest.raises(ValueError, match=r"train_subset=6000 asks for 600 examples per class"):
        build_datasets(DataConfig(train_subset=6000))


def test_dataloader_and_distributed_sampler():
    bundle = build_datasets(DataConfig(train_subset=40))
    loader = DataLoader(bundle.train, batch_size=16, shuffle=True)
    images, labels = next(iter(loader))
    assert images.shape == (16, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (16,) and labels.dtype == torch.int64
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(bundle.train, num_replicas=2, rank=rank, shuffle=False)
        for _, y in DataLoader(bundle.train, batch_size=8, sampler=sampler):
            seen.append(y)
    assert torch.cat(seen).sort().values.tolist() == bundle.train.labels.sort().values.tolist()

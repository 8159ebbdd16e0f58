"""Validation split, class-balanced subset, uniform label noise: exact, seeded, in order."""

from __future__ import annotations

import pytest
import torch

from largemargin.data import (
    apply_protocols,
    balanced_subset,
    uniform_label_noise,
    validation_split,
)


def _labels(n_per_class=(120, 100, 90, 150)):
    parts = [torch.full((n,), c, dtype=torch.int64) for c, n in enumerate(n_per_class)]
    order = torch.randperm(sum(n_per_class), generator=torch.Generator().manual_seed(1))
    return torch.cat(parts)[order]


def test_validation_split_fraction_and_count():
    labels = _labels()
    train, val = validation_split(labels, 0.1, seed=0)
    assert len(val) == 46 and len(train) == 414
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(460))
    assert torch.equal(val, val.sort().values)
    train, val = validation_split(labels, 7, seed=0)
    assert len(val) == 7
    train, val = validation_split(labels, 0, seed=0)
    assert len(val) == 0 and len(train) == 460


@pytest.mark.parametrize("bad", [1.0, -0.1, 460, -1, True, "0.1", None])
def test_validation_split_rejects(bad):
    with pytest.raises(ValueError, match=r"val_split=.*expected a float fraction in \[0, 1\)"):
        validation_split(_labels(), bad, seed=0)


def test_balanced_subset_has_equal_counts_per_class():
    labels = _labels()
    chosen = balanced_subset(labels, 40, num_classes=4, seed=0)
    assert torch.bincount(labels[chosen], minlength=4).tolist() == [10, 10, 10, 10]
    assert len(set(chosen.tolist())) == 40
    chosen = balanced_subset(labels, 0.5, num_classes=4, seed=0)  # round(0.5 * 460 / 4) = 58
    assert torch.bincount(labels[chosen], minlength=4).tolist() == [58] * 4


def test_balanced_subset_rejects_what_it_cannot_honour():
    labels = _labels()
    with pytest.raises(ValueError, match="multiple of the 4 classes"):
        balanced_subset(labels, 42, num_classes=4, seed=0)
    message = r"asks for 115 examples per class.*class 2 has 90.*subset is 360"
    with pytest.raises(ValueError, match=message):
        balanced_subset(labels, 1.0, num_classes=4, seed=0)
    with pytest.raises(ValueError, match="asks for 0 examples per class"):
        balanced_subset(labels, 0.001, num_classes=4, seed=0)
    with pytest.raises(ValueError, match="labels must lie in"):
        balanced_subset(labels, 8, num_classes=3, seed=0)


def test_noise_changes_exactly_the_fraction_and_never_keeps_a_label():
    labels = torch.arange(10000) % 10
    noisy, changed = uniform_label_noise(labels, 0.37, num_classes=10, seed=5)
    assert int(changed.sum()) == 3700
    assert torch.equal(noisy != labels, changed)
    assert torch.equal(labels, torch.arange(10000) % 10)  # input untouched
    offsets = (noisy[changed] - labels[changed]) % 10
    counts = torch.bincount(offsets, minlength=10)
    assert counts[0] == 0
    assert int(counts[1:].min()) > 3700 / 9 * 0.8 and int(counts[1:].max()) < 3700 / 9 * 1.2


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_noise_extremes(fraction):
    labels = torch.arange(50) % 5
    noisy, changed = uniform_label_noise(labels, fraction, num_classes=5, seed=0)
    assert int(changed.sum()) == round(50 * fraction)
    assert int((noisy != labels).sum()) == round(50 * fraction)


@pytest.mark.parametrize("bad", [-0.1, 1.5, True, "0.2"])
def test_noise_rejects(bad):
    with pytest.raises(ValueError, match=r"label_noise=.*expected a fraction in \[0, 1\]"):
        uniform_label_noise(torch.arange(10) % 2, bad, num_classes=2, seed=0)


def test_apply_protocols_order_seeds_and_record():
    labels = _labels()
    result = apply_protocols(labels, 4, val_split=60, train_subset=80, label_noise=0.25, seed=3)
    train, val = result.train_indices, result.val_indices
    assert len(val) == 60 and len(train) == 80
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert torch.bincount(labels[train], minlength=4).tolist() == [20] * 4  # balanced, clean
    assert int((result.train_labels != labels[train]).sum()) == 20 == int(result.changed.sum())
    record = result.record
    assert record["order"] == ["val_split", "train_subset", "label_noise"]
    assert record["seed"] == 3 and record["val_split"] == {"requested": 60, "count": 60}
    assert record["train_subset"] == {"requested": 80, "per_class": 20, "count": 80}
    assert record["label_noise"] == {"requested": 0.25, "changed": 20, "fraction_changed": 0.25}
    assert sum(record["train_label_counts"]) == 80

    again = apply_protocols(labels, 4, val_split=60, train_subset=80, label_noise=0.25, seed=3)
    assert torch.equal(again.train_indices, train)
    assert torch.equal(again.train_labels, result.train_labels)
    clean = apply_protocols(labels, 4, val_split=60, train_subset=80, label_noise=0.0, seed=3)
    assert torch.equal(clean.train_indices, train)  # the noise level does not move the subset
    other = apply_protocols(labels, 4, val_split=60, train_subset=80, label_noise=0.25, seed=4)
    assert not torch.equal(other.val_indices, val)

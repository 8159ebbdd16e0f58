"""The paper's data protocols: validation split, class-balanced subset, uniform label noise.

Applied to a training set in this order, by ``apply_protocols``:

1. validation split: ``val_split`` examples drawn uniformly from the clean training set;
2. class-balanced subset of what remains: the same number of examples of every class;
3. uniform label noise on that subset: exactly ``round(label_noise * n)`` labels replaced, each
   by a class drawn uniformly among the C - 1 other classes.

Validation and test labels are never noised. Each step draws from its own random stream derived
from ``seed`` (numpy's SeedSequence of ``[step, seed]``), so e.g. changing the noise level keeps
the same subset. A fraction is a float, a count an int; bools and other types are rejected.
All returned indices are sorted int64 tensors, positions in the ``labels`` given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

_VAL_STREAM, _SUBSET_STREAM, _NOISE_STREAM = 0, 1, 2
ORDER = ("val_split", "train_subset", "label_noise")


def _rng(stream: int, seed: int) -> np.random.Generator:
    return np.random.default_rng([stream, seed])


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_fraction(value: object) -> bool:
    return isinstance(value, float)


def _check_labels(labels: torch.Tensor, num_classes: int) -> np.ndarray:
    if labels.dtype != torch.int64 or labels.ndim != 1:
        raise TypeError(
            f"labels must be a 1-D int64 tensor, got {labels.dtype} {tuple(labels.shape)}"
        )
    array = labels.numpy()
    if array.size and not 0 <= array.min() <= array.max() < num_classes:
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got [{array.min()}, {array.max()}]"
        )
    return array


def _sorted_tensor(index: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.sort(index).astype(np.int64))


def validation_split(
    labels: torch.Tensor, val_split: float | int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train_indices, val_indices)``: ``val_split`` examples (a count, or a fraction in (0, 1)
    rounded to the nearest count) drawn uniformly without replacement; 0 gives no validation."""
    n = len(labels)
    if _is_fraction(val_split) and 0.0 <= val_split < 1.0:
        count = round(val_split * n)
        if val_split > 0 and count == 0:
            raise ValueError(f"val_split={val_split} of {n} examples rounds to 0 examples")
    elif _is_count(val_split) and 0 <= val_split < n:
        count = val_split
    else:
        raise ValueError(
            f"val_split={val_split!r}; expected a float fraction in [0, 1) or an int "
            f"count in [0, {n}) of the {n} training examples"
        )
    order = _rng(_VAL_STREAM, seed).permutation(n)
    return _sorted_tensor(order[count:]), _sorted_tensor(order[:count])


def balanced_subset(
    labels: torch.Tensor, train_subset: float | int, num_classes: int, seed: int
) -> torch.Tensor:
    """Sorted indices of a class-balanced subset: ``k`` examples of every class, drawn uniformly
    within each class. An int is the total ``k * num_classes`` (a multiple of ``num_classes``);
    a float fraction f in (0, 1] gives ``k = round(f * len(labels) / num_classes)``. Raises
    ValueError when a class has fewer than ``k`` examples."""
    array = _check_labels(labels, num_classes)
    n = len(array)
    if _is_fraction(train_subset) and 0.0 < train_subset <= 1.0:
        per_class = round(train_subset * n / num_classes)
    elif _is_count(train_subset) and train_subset > 0 and train_subset % num_classes == 0:
        per_class = train_subset // num_classes
    else:
        raise ValueError(
            f"train_subset={train_subset!r}; expected a float fraction in (0, 1] or "
            f"a positive int count that is a multiple of the {num_classes} classes"
        )
    counts = np.bincount(array, minlength=num_classes)
    if per_class == 0 or per_class > counts.min():
        smallest = int(counts.argmin())
        raise ValueError(
            f"train_subset={train_subset!r} asks for {per_class} examples per class, but it must "
            f"be between 1 and {counts.min()} (class {smallest} has {counts.min()} of the {n} "
            f"training examples): the largest class-balanced subset is "
            f"{counts.min() * num_classes}; use train_subset=None for the full training set"
        )
    rng = _rng(_SUBSET_STREAM, seed)
    chosen = [rng.permutation(np.flatnonzero(array == c))[:per_class] for c in range(num_classes)]
    return _sorted_tensor(np.concatenate(chosen))


def uniform_label_noise(
    labels: torch.Tensor, label_noise: float, num_classes: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(noisy_labels, changed)``: exactly ``round(label_noise * n)`` positions, drawn uniformly,
    get a label drawn uniformly among the ``num_classes - 1`` others; ``changed`` is the bool
    (n,) mask of those positions. ``labels`` itself is not modified."""
    array = _check_labels(labels, num_classes)
    if (
        isinstance(label_noise, bool)
        or not isinstance(label_noise, (int, float))
        or not (0 <= label_noise <= 1)
    ):
        raise ValueError(f"label_noise={label_noise!r}; expected a fraction in [0, 1]")
    count = round(label_noise * len(array))
    if count and num_classes < 2:
        raise ValueError(f"label noise needs at least 2 classes, got num_classes={num_classes}")
    rng = _rng(_NOISE_STREAM, seed)
    where = rng.permutation(len(array))[:count]
    noisy = array.copy()
    noisy[where] = (array[where] + rng.integers(1, num_classes, size=count)) % num_classes
    changed = np.zeros(len(array), dtype=bool)
    changed[where] = True
    return torch.from_numpy(noisy), torch.from_numpy(changed)


@dataclass(frozen=True)
class ProtocolResult:
    """Positions (sorted int64) of the training and validation examples in the original training
    set, the training labels after noise (int64, aligned with ``train_indices``), the bool mask of
    noised ones, and ``record``: plain Python values describing what was done (its
    ``train_label_counts`` counts the training labels after noise, per class)."""

    train_indices: torch.Tensor
    val_indices: torch.Tensor
    train_labels: torch.Tensor
    changed: torch.Tensor
    record: dict[str, Any]


def apply_protocols(
    labels: torch.Tensor,
    num_classes: int,
    *,
    val_split: float | int = 0,
    train_subset: float | int | None = None,
    label_noise: float = 0.0,
    seed: int = 0,
) -> ProtocolResult:
    """Validation split, then class-balanced subset (None: keep all), then label noise."""
    _check_labels(labels, num_classes)
    train_idx, val_idx = validation_split(labels, val_split, seed)
    subset_record = None
    if train_subset is not None:
        kept = balanced_subset(labels[train_idx], train_subset, num_classes, seed)
        train_idx = train_idx[kept]
        subset_record = {
            "requested": train_subset,
            "per_class": len(kept) // num_classes,
            "count": len(kept),
        }
    noisy, changed = uniform_label_noise(labels[train_idx], label_noise, num_classes, seed)
    n_changed = int(changed.sum())
    record = {
        "order": list(ORDER),
        "seed": seed,
        "val_split": {"requested": val_split, "count": len(val_idx)},
        "train_subset": subset_record,
        "label_noise": {
            "requested": label_noise,
            "changed": n_changed,
            "fraction_changed": n_changed / len(noisy) if len(noisy) else 0.0,
        },
        "train_label_counts": torch.bincount(noisy, minlength=num_classes).tolist(),
    }
    return ProtocolResult(train_idx, val_idx, noisy, changed, record)

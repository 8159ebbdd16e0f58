"""The datasets a grid can train on, and what a grid needs to know of each.

``"mnist"``: the paper's MNIST network and the losses of ``grid.LOSSES`` (``grid.mnist_run``);
``"cifar10"``: configs/cifar10-cpu.yaml's ResNet-9 and the losses of
``cifar10_runs.CIFAR10_LOSSES`` (``cifar10_runs.cifar10_run``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from largemargin.errors import bad_value
from largemargin.experiments.cifar10_runs import CIFAR10_LOSSES, CIFAR10_TRAIN, cifar10_run
from largemargin.experiments.grid import LOSSES, mnist_run
from largemargin.training.config import LossConfig, RunConfig


@dataclass(frozen=True)
class GridData:
    """``title``: the dataset's name in reports; ``train_size``: its training images;
    ``losses``: the loss labels its grids compare; ``make_run``: the run builder
    (``grid.mnist_run``'s arguments)."""

    title: str
    train_size: int
    losses: dict[str, LossConfig]
    make_run: Callable[..., RunConfig]


GRID_DATA = {
    "mnist": GridData("MNIST", 60000, LOSSES, mnist_run),
    "cifar10": GridData("CIFAR-10", CIFAR10_TRAIN, CIFAR10_LOSSES, cifar10_run),
}


def grid_data(dataset: str, losses: Sequence[str]) -> GridData:
    """The dataset ``dataset`` of a grid comparing ``losses``; ValueError naming
    ``grid.dataset`` or ``grid.losses`` when either is unknown."""
    if dataset not in GRID_DATA:
        raise bad_value("grid.dataset", dataset, f"one of {list(GRID_DATA)}")
    data = GRID_DATA[dataset]
    for loss in losses:
        if loss not in data.losses:
            raise bad_value("grid.losses", loss, f"labels of {list(data.losses)}")
    return data

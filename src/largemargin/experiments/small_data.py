"""`largemargin reproduce small-data | cifar10-small-data`: test accuracy of models trained on
small subsets of MNIST or CIFAR-10.

The paper's claim: with little training data the large margin loss generalises better than
cross-entropy, and the gap closes as data grows. Each loss of the grid's ``losses`` (labels of
``grid.LOSSES`` for MNIST, of ``cifar10_runs.CIFAR10_LOSSES`` for CIFAR-10) is trained on
class-balanced subsets (drawn per seed) of the training set, from well under 1% to all of it:
MNIST on the paper's network (``grid.mnist_run``), CIFAR-10 on configs/cifar10-cpu.yaml's
ResNet-9 (``cifar10_runs.cifar10_run``). Every run takes exactly ``steps`` optimiser steps (the
trainer's ``max_steps``; the one-cycle schedule spans those steps), whatever the subset's size:
small subsets are seen for many epochs, the last one possibly cut short. The report gives each
loss's training-step cost relative to cross-entropy too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from largemargin.experiments.grid import (
    LOSSES,
    Cell,
    grid_cells,
    report_setting_grid,
    run_grid,
    write_grid_record,
)
from largemargin.experiments.grid_data import GRID_DATA, grid_data

MNIST_TRAIN = GRID_DATA["mnist"].train_size


@dataclass
class SmallDataGrid:
    """``sizes``: training images per run (multiples of 10, at most the training set's
    60000 or 50000); ``steps``: the optimiser steps of every run; ``batch_size``; ``losses``:
    labels of ``grid.LOSSES`` (MNIST, default: all of them) or of
    ``cifar10_runs.CIFAR10_LOSSES`` (CIFAR-10); ``dataset``: "mnist" or "cifar10"."""

    sizes: list[int]
    seeds: list[int]
    steps: int
    batch_size: int
    losses: list[str] = field(default_factory=lambda: list(LOSSES))
    dataset: Literal["mnist", "cifar10"] = "mnist"

    def epochs(self, size: int) -> int:
        """Epochs, the last possibly partial, that ``steps`` steps take on ``size`` images."""
        return math.ceil(self.steps / math.ceil(size / self.batch_size))


FULL = SmallDataGrid(
    sizes=[80, 160, 300, 600, 1200, 3000, 6000, 15000, 30000, 60000],
    seeds=[0, 1, 2],
    steps=5000,
    batch_size=128,
)
QUICK = SmallDataGrid(
    sizes=[100, 500],
    seeds=[0, 1, 2],
    steps=1000,
    batch_size=64,
    losses=[
        "cross-entropy",
        "margin l-inf",
        "margin l-inf, all competitors",
        "margin l-inf, logit, second-order",
    ],
)


CIFAR10_SMALL_DATA_LOSSES = [
    "cross-entropy",
    "margin l2",
    "margin l-inf",
    "margin l2, logit, second-order",
]
CIFAR10_QUICK = SmallDataGrid(
    sizes=[1000, 5000],
    seeds=[0, 1],
    steps=300,
    batch_size=128,
    losses=CIFAR10_SMALL_DATA_LOSSES,
    dataset="cifar10",
)
CIFAR10_FULL = SmallDataGrid(
    sizes=[500, 1000, 2500, 5000, 10000, 25000, 50000],
    seeds=[0, 1, 2],
    steps=5000,
    batch_size=128,
    losses=CIFAR10_SMALL_DATA_LOSSES,
    dataset="cifar10",
)


def cells(grid: SmallDataGrid, data_dir: str | None, run_dir: Path) -> list[Cell]:
    """Every run of the grid, size by size."""
    data = grid_data(grid.dataset, grid.losses)
    if grid.steps < 1:
        raise ValueError(f"steps={grid.steps!r}: expected an int >= 1")
    full = data.train_size
    for size in grid.sizes:
        if not 0 < size <= full:
            raise ValueError(f"sizes: {size} is not in [1, {full}]")
    return grid_cells(
        grid.sizes,
        grid.losses,
        grid.seeds,
        prefix=lambda size: f"n{size}",
        options=lambda size: {
            "epochs": grid.epochs(size),
            "max_steps": grid.steps,
            "train_subset": None if size == full else size,
        },
        data_dir=data_dir,
        batch_size=grid.batch_size,
        run_dir=run_dir,
        make_run=data.make_run,
    )


def run(grid: SmallDataGrid, data_dir: str | None, folder: Path) -> str:
    """Train the grid into ``folder``; write results.csv, accuracy.png and grid.yaml; return
    the markdown accuracy and step-cost tables."""
    todo = cells(grid, data_dir, folder / "runs")
    write_grid_record(
        folder, {**asdict(grid), "epochs": {n: grid.epochs(n) for n in grid.sizes}}, todo
    )
    outcomes = run_grid(todo)
    data = GRID_DATA[grid.dataset]
    full, name = data.train_size, data.title
    return report_setting_grid(
        outcomes,
        folder,
        setting_name="train_size",
        setting_header="training images",
        show=lambda n: f"{int(n)} ({n / full:.2%})",
        title=f"{name} training subsets, {grid.steps} steps per run; seeds {grid.seeds}",
        test_set=f"the 10000 {name} test images",
        xlabel="training images",
        log_x=True,
    )

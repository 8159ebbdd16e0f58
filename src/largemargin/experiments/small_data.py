"""`largemargin reproduce small-data`: test accuracy of MNIST models trained on small subsets.

The paper's claim: with little training data the large margin loss generalises better than
cross-entropy, and the gap closes as data grows. Each loss of the grid's ``losses`` (labels of
``grid.LOSSES``) is trained on class-balanced subsets (drawn per seed) of the MNIST training set,
from well under 1% to all of it. Every run takes exactly ``steps`` optimiser steps (the trainer's
``max_steps``; the one-cycle schedule spans those steps), whatever the subset's size: small
subsets are seen for many epochs, the last one possibly cut short. The report gives each loss's
training-step cost relative to cross-entropy too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from largemargin.experiments.grid import (
    LOSSES,
    Cell,
    mnist_cells,
    report_setting_grid,
    run_grid,
    write_grid_record,
)

MNIST_TRAIN = 60000


@dataclass
class SmallDataGrid:
    """``sizes``: training images per run (multiples of 10, at most 60000); ``steps``: the
    optimiser steps of every run; ``batch_size``; ``losses``: labels of ``grid.LOSSES``
    (default: all of them)."""

    sizes: list[int]
    seeds: list[int]
    steps: int
    batch_size: int
    losses: list[str] = field(default_factory=lambda: list(LOSSES))

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


def cells(grid: SmallDataGrid, data_dir: str | None, run_dir: Path) -> list[Cell]:
    """Every run of the grid, size by size."""
    if grid.steps < 1:
        raise ValueError(f"steps={grid.steps!r}: expected an int >= 1")
    for size in grid.sizes:
        if not 0 < size <= MNIST_TRAIN:
            raise ValueError(f"sizes: {size} is not in [1, {MNIST_TRAIN}]")
    return mnist_cells(
        grid.sizes,
        grid.losses,
        grid.seeds,
        prefix=lambda size: f"n{size}",
        options=lambda size: {
            "epochs": grid.epochs(size),
            "max_steps": grid.steps,
            "train_subset": None if size == MNIST_TRAIN else size,
        },
        data_dir=data_dir,
        batch_size=grid.batch_size,
        run_dir=run_dir,
    )


def run(grid: SmallDataGrid, data_dir: str | None, folder: Path) -> str:
    """Train the grid into ``folder``; write results.csv, accuracy.png and grid.yaml; return
    the markdown accuracy and step-cost tables."""
    todo = cells(grid, data_dir, folder / "runs")
    write_grid_record(
        folder, {**asdict(grid), "epochs": {n: grid.epochs(n) for n in grid.sizes}}, todo
    )
    outcomes = run_grid(todo)
    return report_setting_grid(
        outcomes,
        folder,
        setting_name="train_size",
        setting_header="training images",
        show=lambda n: f"{int(n)} ({n / MNIST_TRAIN:.2%})",
        title=f"MNIST training subsets, {grid.steps} steps per run; seeds {grid.seeds}",
        test_set="the 10000 MNIST test images",
        xlabel="training images",
        log_x=True,
    )

"""`largemargin reproduce small-data`: test accuracy of MNIST models trained on small subsets.

The paper's claim: with little training data the large margin loss generalises better than
cross-entropy, and the gap closes as data grows. Every loss of ``grid.LOSSES`` is trained on
class-balanced subsets (drawn per seed) of the MNIST training set, from well under 1% to all
of it. Small subsets get more epochs so that every run takes about the same number of
optimiser steps (``steps``), never fewer than ``min_epochs`` epochs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from largemargin.experiments.grid import (
    LOSSES,
    Cell,
    accuracy_table,
    mnist_cells,
    plot_accuracy_grid,
    run_grid,
    write_grid_record,
    write_outcomes_csv,
)

MNIST_TRAIN = 60000


@dataclass
class SmallDataGrid:
    """``sizes``: training images per run (multiples of 10, at most 60000); ``steps``: the
    optimiser steps each run aims at; ``min_epochs``; ``batch_size``."""

    sizes: list[int]
    seeds: list[int]
    steps: int
    min_epochs: int
    batch_size: int
    losses: list[str] = field(default_factory=lambda: list(LOSSES))

    def epochs(self, size: int) -> int:
        """Epochs for a training set of ``size`` images."""
        return max(self.min_epochs, math.ceil(self.steps / math.ceil(size / self.batch_size)))


FULL = SmallDataGrid(
    sizes=[80, 160, 300, 600, 1200, 3000, 6000, 15000, 30000, 60000],
    seeds=[0, 1, 2],
    steps=5000,
    min_epochs=10,
    batch_size=128,
)
QUICK = SmallDataGrid(
    sizes=[100, 500, 2500], seeds=[0, 1, 2], steps=300, min_epochs=1, batch_size=64
)


def cells(grid: SmallDataGrid, data_dir: str | None, run_dir: Path) -> list[Cell]:
    """Every run of the grid, size by size."""
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
            "train_subset": None if size == MNIST_TRAIN else size,
        },
        data_dir=data_dir,
        batch_size=grid.batch_size,
        run_dir=run_dir,
    )


def run(grid: SmallDataGrid, data_dir: str | None, folder: Path) -> str:
    """Train the grid into ``folder``; write results.csv, accuracy.png and grid.yaml; return
    the markdown table."""
    todo = cells(grid, data_dir, folder / "runs")
    write_grid_record(
        folder, {**asdict(grid), "epochs": {n: grid.epochs(n) for n in grid.sizes}}, todo
    )
    outcomes = run_grid(todo)
    write_outcomes_csv(outcomes, "train_size", folder / "results.csv")
    title = f"MNIST training subsets, about {grid.steps} steps per run; seeds {grid.seeds}"
    plot_accuracy_grid(
        outcomes, folder / "accuracy.png", xlabel="training images", title=title, log_x=True
    )
    table = accuracy_table(
        outcomes, "training images", lambda n: f"{int(n)} ({n / MNIST_TRAIN:.2%})"
    )
    return (
        f"{title}. Test accuracy (%) on the 10000 MNIST test images, mean ± sd over seeds.\n\n"
        f"{table}"
    )

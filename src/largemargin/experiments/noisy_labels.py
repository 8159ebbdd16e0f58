"""`largemargin reproduce noisy-labels | cifar10-noisy-labels`: test accuracy of MNIST or
CIFAR-10 models trained on noisy labels.

The paper's claim: the large margin loss keeps its test accuracy better than cross-entropy as a
growing fraction of training labels is replaced by a wrong class. A fraction ``noise`` of the
training labels (chosen per seed) is replaced by a uniformly drawn other class; the test labels
are clean. Each loss of the grid's ``losses`` (labels of ``grid.LOSSES`` for MNIST, of
``cifar10_runs.CIFAR10_LOSSES`` for CIFAR-10, see ``grid_data``) is trained for each noise level
and seed. The report marks runs whose training collapsed to a constant or uniform
output (the closest-competitor losses do above 50% noise, see ``largemargin.training.collapse``)
and gives each loss's training-step cost relative to cross-entropy.
"""

from __future__ import annotations

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


@dataclass
class NoisyLabelsGrid:
    """``noise``: fractions of wrong training labels; ``train_size``: class-balanced training
    images (None: all of them); ``epochs``, ``batch_size``: the budget of every run;
    ``losses``: labels of the dataset's losses (MNIST default: all of ``grid.LOSSES``);
    ``dataset``: "mnist" or "cifar10"."""

    noise: list[float]
    seeds: list[int]
    train_size: int | None
    epochs: int
    batch_size: int
    losses: list[str] = field(default_factory=lambda: list(LOSSES))
    dataset: Literal["mnist", "cifar10"] = "mnist"


FULL = NoisyLabelsGrid(
    noise=[0.0, 0.2, 0.4, 0.6, 0.8], seeds=[0, 1, 2], train_size=None, epochs=30, batch_size=128
)
QUICK = NoisyLabelsGrid(
    noise=[0.0, 0.2, 0.4, 0.6, 0.8],
    seeds=[0, 1],
    train_size=2000,
    epochs=6,
    batch_size=64,
    losses=[
        "cross-entropy",
        "margin l2",
        "margin l-inf",
        "margin l2, all competitors",
        "margin l-inf, all competitors",
        "margin l-inf + cross-entropy",
    ],
)


# Sized from the ResNet-9 step costs of the CIFAR-10 small-data grid to about an hour on 2 CPU
# cores; not yet run.
CIFAR10_QUICK = NoisyLabelsGrid(
    noise=[0.0, 0.4, 0.6, 0.8],
    seeds=[0, 1],
    train_size=4000,
    epochs=8,
    batch_size=128,
    losses=["cross-entropy", "margin l2, margin alone", "margin l2, all competitors"],
    dataset="cifar10",
)
CIFAR10_FULL = NoisyLabelsGrid(
    noise=[0.0, 0.2, 0.4, 0.6, 0.8],
    seeds=[0, 1, 2],
    train_size=None,
    epochs=26,
    batch_size=512,
    losses=["cross-entropy", "margin l2, margin alone", "margin l2, all competitors"],
    dataset="cifar10",
)


def cells(grid: NoisyLabelsGrid, data_dir: str | None, run_dir: Path) -> list[Cell]:
    """Every run of the grid, noise level by noise level."""
    data = grid_data(grid.dataset, grid.losses)
    return grid_cells(
        grid.noise,
        grid.losses,
        grid.seeds,
        prefix=lambda noise: f"noise{noise:g}",
        options=lambda noise: {
            "epochs": grid.epochs,
            "train_subset": grid.train_size,
            "label_noise": noise,
        },
        data_dir=data_dir,
        batch_size=grid.batch_size,
        run_dir=run_dir,
        make_run=data.make_run,
    )


def run(grid: NoisyLabelsGrid, data_dir: str | None, folder: Path) -> str:
    """Train the grid into ``folder``; write results.csv, accuracy.png and grid.yaml; return
    the markdown accuracy and step-cost tables."""
    todo = cells(grid, data_dir, folder / "runs")
    write_grid_record(folder, asdict(grid), todo)
    outcomes = run_grid(todo)
    data = GRID_DATA[grid.dataset]
    size = f"all {data.train_size}" if grid.train_size is None else f"{grid.train_size}"
    return report_setting_grid(
        outcomes,
        folder,
        setting_name="label_noise",
        setting_header="label noise",
        show=lambda n: f"{n:.0%}",
        title=f"{data.title}, {size} training images with noisy labels, {grid.epochs} epochs; "
        f"seeds {grid.seeds}",
        test_set=f"the 10000 clean {data.title} test images",
        xlabel="fraction of wrong training labels",
    )

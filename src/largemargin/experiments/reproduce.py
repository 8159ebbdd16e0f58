"""`largemargin reproduce NAME [--quick]`: the paper's experiments, one command each.

Each run writes ``<out>/<NAME>[-quick]/<timestamp>/`` holding ``results.md`` (the table, printed
too, with the command and the machine), ``results.csv`` (one line per training run), PNG plots,
``grid.yaml`` (the grid, its seeds and every run's complete config) and ``runs/`` (one
``largemargin train`` folder per run). Experiments:

- ``noisy-labels``: MNIST with 0-80% wrong training labels (``noisy_labels``);
- ``cifar10-noisy-labels``: the same on CIFAR-10 with a ResNet-9 (``noisy_labels``,
  ``cifar10_runs``);
- ``small-data``: MNIST training subsets from 0.13% to 100% (``small_data``);
- ``cifar10-small-data``: CIFAR-10 training subsets from 1% to 100% on a ResNet-9
  (``small_data``, ``cifar10_runs``);
- ``adversarial``: accuracy under FGSM, iterative FGSM and PGD, and the first-order vs true
  margin agreement (``adversarial``);
- ``robust-training``: the margin loss beside FGSM, PGD and TRADES adversarial training at
  equal training wall-clock (``robust_training``);
- ``toy``: decision boundaries of cross-entropy and margin models on 2-D data
  (``toy_boundaries``);
- ``cifar10``, ``imagenet``: the large-scale recipes, GPU jobs; ``--quick`` smoke-tests them
  (``recipes``).

``--quick`` runs a reduced grid, stated in the report. ``--resume FOLDER`` (or ``--resume last``,
the newest folder of that experiment under ``--out``) continues a grid that was stopped, in its
own folder: runs that finished are taken from their folders, a run stopped after a checkpoint
continues from it, and the report is rebuilt from every run's record, as the uninterrupted grid
would have written it (``experiments.resume``). Measured on 2 CPU cores, two grids side
by side with one thread each: noisy-labels 56 minutes, adversarial 62 minutes (Square and
AutoAttack dominate), small-data 54 minutes (its all-competitors margin loss costs about 4x a
cross-entropy step); alone, with two threads: cifar10-small-data 42 minutes.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import torch

from largemargin.experiments import (
    adversarial,
    noisy_labels,
    recipes,
    robust_training,
    small_data,
    toy_boundaries,
)
from largemargin.experiments.progress import format_duration
from largemargin.files import write_atomic
from largemargin.training.quiet import run_summaries


class Grid(NamedTuple):
    """A grid experiment: its ``module`` (whose ``run(grid, data_dir, folder)`` trains it), the
    report's ``title``, and the names of the module's full and --quick grids (looked up when
    the experiment runs)."""

    module: ModuleType
    title: str
    full: str = "FULL"
    quick: str = "QUICK"


GRIDS = {
    "noisy-labels": Grid(noisy_labels, "Robustness to noisy labels"),
    "cifar10-noisy-labels": Grid(
        noisy_labels, "Robustness to noisy labels on CIFAR-10", "CIFAR10_FULL", "CIFAR10_QUICK"
    ),
    "small-data": Grid(small_data, "Generalisation from small training sets"),
    "cifar10-small-data": Grid(
        small_data,
        "Generalisation from small CIFAR-10 training sets",
        "CIFAR10_FULL",
        "CIFAR10_QUICK",
    ),
    "adversarial": Grid(adversarial, "Robustness to adversarial perturbations"),
    "robust-training": Grid(
        robust_training, "Robust training: the margin beside adversarial training"
    ),
    "toy": Grid(toy_boundaries, "Decision boundaries on a 2-D problem"),
}
RECIPES = {"cifar10": "CIFAR-10 recipe", "imagenet": "ImageNet recipe"}
EXPERIMENTS = (*GRIDS, *RECIPES)


@dataclass
class ReproduceConfig:
    """``name``: one of ``EXPERIMENTS``;
    ``quick``: the reduced grid; ``out``: where the experiment's folder goes; ``data_dir``: the
    dataset's files (MNIST: the folder of its four .gz files; CIFAR-10: the python batches'
    folder, or an ImageFolder directory or .zip; ImageNet: an ImageFolder directory), None for
    the default data root (downloading MNIST and CIFAR-10 when absent); ``seeds``: replace the
    grid's seeds; ``verbose``: also print Lightning's per-run messages (devices, why fitting
    stopped)."""

    name: str
    quick: bool = False
    out: str = "runs/reproduce"
    data_dir: str | None = None
    seeds: list[int] | None = None
    verbose: bool = False
    grid: dict | None = None
    resume: str | None = None


def _machine() -> str:
    if torch.cuda.is_available():
        where = f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    else:
        where = f"{os.cpu_count()} CPU cores, no GPU"
    return f"{where}, torch {torch.__version__}, Python {platform.python_version()}"


def command(cfg: ReproduceConfig) -> str:
    """The command line that runs ``cfg``."""
    parts = ["largemargin reproduce", cfg.name]
    if cfg.quick:
        parts.append("--quick")
    if cfg.data_dir is not None:
        parts.append(f"--data.data_dir {cfg.data_dir}")
    if cfg.seeds is not None:
        parts.append(f"--seeds '{cfg.seeds}'")
    if cfg.grid:
        parts.append(f"--grid '{json.dumps(cfg.grid)}'")
    if cfg.out != ReproduceConfig.out:
        parts.append(f"--out {cfg.out}")
    return " ".join(parts)


def _changed(grid, changes: dict | None):
    """``grid`` (a grid dataclass) with the fields ``changes`` names replaced."""
    if not changes:
        return grid
    known = {f.name for f in fields(grid)}
    for key in changes:
        if key not in known:
            raise ValueError(
                f"grid.{key}: not a setting of this grid; expected one of {sorted(known)}"
            )
    return replace(grid, **changes)


def _experiment_folder(cfg: ReproduceConfig) -> Path:
    """Where the experiment writes: a new timestamped folder, or the one ``resume`` names."""
    parent = Path(cfg.out) / f"{cfg.name}{'-quick' if cfg.quick else ''}"
    if cfg.resume is None:
        return parent / time.strftime("%Y%m%d-%H%M%S")
    if cfg.resume == "last":
        earlier = sorted(p for p in parent.glob("*") if (p / "runs").is_dir())
        if not earlier:
            raise ValueError(f"resume='last': no earlier run of this experiment in {parent}")
        return earlier[-1]
    folder = Path(cfg.resume)
    if not (folder / "runs").is_dir():
        raise ValueError(
            f"resume={cfg.resume!r}: expected the folder of an earlier run of this experiment "
            "(one holding runs/), or 'last'"
        )
    return folder


def _check(cfg: ReproduceConfig) -> None:
    if cfg.name not in EXPERIMENTS:
        raise ValueError(f"name={cfg.name!r}: expected one of {list(EXPERIMENTS)}")
    if cfg.seeds is not None and (
        not cfg.seeds
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in cfg.seeds)
    ):
        raise ValueError(f"seeds={cfg.seeds!r}: expected None or a non-empty list of ints >= 0")
    if len(set(cfg.seeds or [])) != len(cfg.seeds or []):
        raise ValueError(f"seeds={cfg.seeds!r}: expected distinct seeds")


def _run(cfg: ReproduceConfig, folder: Path) -> tuple[str, str]:
    """Run the experiment into ``folder``; its title and the report's body."""
    if cfg.name in GRIDS:
        module, title, full, quick = GRIDS[cfg.name]
        grid = _changed(getattr(module, quick if cfg.quick else full), cfg.grid)
        if cfg.seeds is not None:
            grid = replace(grid, seeds=list(cfg.seeds))
        return title, module.run(grid, cfg.data_dir, folder)
    grid = _changed(recipes.recipe_grid(cfg.name, cfg.quick, cfg.data_dir), cfg.grid)
    if cfg.seeds is not None:
        grid = replace(grid, seeds=list(cfg.seeds))
    return RECIPES[cfg.name], recipes.run(grid, folder)


def reproduce(cfg: ReproduceConfig) -> Path:
    """Run the experiment; print and write its report; return its folder."""
    _check(cfg)
    folder = _experiment_folder(cfg)
    start = time.perf_counter()
    with run_summaries(cfg.verbose):
        title, body = _run(cfg, folder)
    seconds = time.perf_counter() - start
    wall = format_duration(seconds)
    report = (
        f"# {title}{' (quick grid)' if cfg.quick else ''}\n\n"
        f"Command: `{command(cfg)}`\n\n{body}\n\n"
        f"Wall time {wall} on {_machine()}.\n"
    )
    write_atomic(folder / "results.md", report)
    print("\n" + report)
    print(f"folder: {folder} (results.md, results.csv, grid.yaml, PNG plots)")
    return folder

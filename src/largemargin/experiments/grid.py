"""A grid of training runs and its summary: what every `largemargin reproduce` experiment shares.

A grid crosses one varied setting (label-noise fraction, training-set size, ...) with the losses
compared and the seeds. Each cell is one ``largemargin train`` run with its own folder (config,
metrics, logs, final checkpoint). The summary is a markdown table of test accuracy, mean ± sample
standard deviation over seeds, one row per setting and one column per loss, with a dagger on
cells where a seed's training collapsed (``largemargin.training.collapse``); a table of each
loss's training-step cost relative to cross-entropy; a CSV with one line per run; and a plot of
accuracy against the setting with ± sd error bars.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml
from matplotlib.figure import Figure

from largemargin.data import DataConfig
from largemargin.experiments.progress import RunProgress, format_duration
from largemargin.files import save_figure, write_atomic, write_csv
from largemargin.training.config import (
    LossConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainerConfig,
    recipe,
    to_dict,
)
from largemargin.training.run import train

MNIST_MARGIN_LAYERS = ["input", "block1", "block2"]

# The losses the paper compares. The margin losses are the reference MNIST recipe's (gamma 10000,
# alpha 4, top-k 1, eps 1e-6, element-count weights, softmax scores, margin loss alone) with the
# norm changed.
LOSSES: dict[str, LossConfig] = {
    "cross-entropy": LossConfig(kind="cross_entropy"),
    "hinge": LossConfig(kind="hinge"),
    "margin l1": recipe(norm=1),
    "margin l2": recipe(norm=2),
    "margin l-inf": recipe(norm="inf"),
    # Variants for adversarial robustness (the adversarial experiment compares them): logit
    # scores (the paper's equation) and/or the second-order gradient; gamma in the units of
    # norm_scale "dim" (at the input, l-inf: 784 x pixels, so gamma 100 is about 0.13 pixels).
    "margin l-inf, second-order": recipe(norm="inf", second_order=True),
    "margin l-inf, logit": recipe(norm="inf", score="logit"),
    "margin l-inf, logit, second-order": recipe(norm="inf", score="logit", second_order=True),
    "margin l-inf, logit, second-order, gamma 100": recipe(
        norm="inf", score="logit", second_order=True, gamma=100.0
    ),
    "margin l-inf, logit, second-order, gamma 10": recipe(
        norm="inf", score="logit", second_order=True, gamma=10.0
    ),
    # Noise-robust variants. "all competitors": the recipe summed over all 9 competitors instead
    # of the closest one, which keeps learning worth more than a constant output up to 90% label
    # noise (the closest competitor alone: up to 50%; see largemargin.training.collapse).
    # "+ cross-entropy": the recipe divided by gamma (a term of about 1) plus cross-entropy.
    "margin l2, all competitors": recipe(norm=2, top_k=9, aggregation="sum"),
    "margin l-inf, all competitors": recipe(norm="inf", top_k=9, aggregation="sum"),
    "margin l-inf + cross-entropy": replace(
        recipe(norm="inf"), cross_entropy_weight=1.0, margin_scale=10000.0
    ),
}
BASELINE = "cross-entropy"
"""The loss that step costs are compared with."""
COLLAPSE_MARK = "†"


@dataclass(frozen=True)
class Cell:
    """One run of a grid: the varied ``setting``'s value, the ``loss`` label, the ``seed`` and
    the complete run config."""

    setting: float
    loss: str
    seed: int
    config: RunConfig


@dataclass
class Outcome:
    """A finished cell: test accuracy in [0, 1], training wall time in seconds, run folder;
    ``collapsed``: its final training epoch's predictions collapsed (metrics.json
    ``collapse``); ``step_seconds``: its median training-step time (metrics.json, NaN when
    no step was timed)."""

    cell: Cell
    test_accuracy: float
    train_seconds: float
    folder: Path
    collapsed: bool = False
    step_seconds: float = math.nan


def mnist_run(
    *,
    data_dir: str | None,
    loss: str,
    seed: int,
    epochs: int,
    batch_size: int,
    run_dir: Path,
    name: str,
    train_subset: int | float | None = None,
    label_noise: float = 0.0,
    margin_layers: Sequence[str] = MNIST_MARGIN_LAYERS,
    max_steps: int = -1,
) -> RunConfig:
    """The run config of one MNIST cell: the paper's MNIST network, the loss ``LOSSES[loss]``
    (margin on ``margin_layers``), Adam with a one-cycle schedule (configs/mnist-15min.yaml's
    optimiser) over the run's length, no validation pass, no test margins, a checkpoint at the
    end only. The run stops after ``epochs`` epochs or ``max_steps`` optimiser steps (-1: no
    step limit), whichever comes first. ``train_subset`` and ``label_noise`` are
    ``DataConfig``'s protocols, seeded by ``seed``; ``data_dir`` holds MNIST's four .gz files
    (None: the default data root, downloading when absent)."""
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r}: expected one of {list(LOSSES)}")
    return RunConfig(
        data=DataConfig(
            name="mnist",
            data_dir=data_dir,
            train_subset=train_subset,
            label_noise=label_noise,
            seed=seed,
        ),
        model=ModelConfig(name="mnist_reference", margin_layers=list(margin_layers)),
        loss=replace(LOSSES[loss]),
        optim=OptimConfig(),
        trainer=TrainerConfig(
            epochs=epochs,
            max_steps=max_steps,
            batch_size=batch_size,
            check_val_every_n_epoch=epochs + 1,
            checkpoint_every_n_epochs=epochs,
            log_margin_every_n_steps=0,
            eval_margins=False,
            progress_bar=False,
        ),
        seed=seed,
        run_dir=str(run_dir),
        name=name,
    )


def slug(label: str) -> str:
    """``label`` as part of a run or file name: every run of characters other than letters,
    digits, ``_`` and ``.`` becomes one ``-`` ("margin l-inf, input+hidden" ->
    "margin-l-inf-input-hidden")."""
    return re.sub(r"[^\w.]+", "-", label)


def mnist_cells(
    settings: Sequence[float],
    losses: Sequence[str],
    seeds: Sequence[int],
    *,
    prefix: Callable[[float], str],
    options: Callable[[float], dict],
    data_dir: str | None,
    batch_size: int,
    run_dir: Path,
) -> list[Cell]:
    """One ``mnist_run`` per setting, loss and seed, in that order. Each run is named
    ``<prefix(setting)>-<loss>-seed<seed>``; ``options(setting)`` gives the setting's other
    ``mnist_run`` arguments (epochs, max_steps, train_subset, label_noise)."""
    return [
        Cell(
            setting,
            loss,
            seed,
            mnist_run(
                data_dir=data_dir,
                loss=loss,
                seed=seed,
                batch_size=batch_size,
                run_dir=run_dir,
                name=f"{prefix(setting)}-{slug(loss)}-seed{seed}",
                **options(setting),
            ),
        )
        for setting in settings
        for loss in losses
        for seed in seeds
    ]


def run_grid(
    cells: Sequence[Cell], on_trained: Callable[[Cell, object], None] | None = None
) -> list[Outcome]:
    """Train every cell in order, printing one line per finished run (runs done / total, its
    accuracy and time, the time elapsed and an estimate of the time left); return the outcomes.
    ``on_trained(cell, model)``, when given, sees each trained model (in eval mode) before the
    next run starts (the adversarial experiment attacks it there)."""
    outcomes = []
    progress = RunProgress(len(cells))
    for cell in cells:
        start = time.perf_counter()
        run = train(cell.config)
        accuracy = float(run.metrics["test"]["acc"])
        collapsed = run.metrics.get("collapse") is not None
        outcomes.append(
            Outcome(
                cell,
                accuracy,
                run.metrics["train_seconds"],
                run.folder,
                collapsed=collapsed,
                step_seconds=run.metrics["step_seconds"],
            )
        )
        if on_trained is not None:
            on_trained(cell, run.module.model.eval())
        took = format_duration(time.perf_counter() - start)
        print(
            f"{progress.finished()} | {cell.config.name}: test accuracy {accuracy:.2%}"
            f"{' (collapsed)' if collapsed else ''} ({took})",
            flush=True,
        )
    return outcomes


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def format_spread(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    """``mean ± sd`` of ``values`` times ``scale``; the mean alone for one value."""
    mean, sd = mean_sd(values)
    if math.isnan(sd):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {sd * scale:.{digits}f}"


def _by_setting_and_loss(outcomes: Sequence[Outcome]) -> dict[float, dict[str, list[float]]]:
    table: dict[float, dict[str, list[float]]] = {}
    for o in outcomes:
        table.setdefault(o.cell.setting, {}).setdefault(o.cell.loss, []).append(o.test_accuracy)
    return table


def accuracy_table(
    outcomes: Sequence[Outcome], setting_name: str, show: Callable[[float], str] = str
) -> str:
    """Markdown table of test accuracy (%), mean ± sd over seeds: a row per setting (named by
    ``show``), a column per loss; the best mean of each row in bold; a ``†`` after a cell where
    any seed's training collapsed, explained by a footnote line under the table."""
    grid = _by_setting_and_loss(outcomes)
    collapsed = {(o.cell.setting, o.cell.loss) for o in outcomes if o.collapsed}
    losses = list(dict.fromkeys(o.cell.loss for o in outcomes))
    lines = [
        f"| {setting_name} | " + " | ".join(losses) + " |",
        "| --- " * (len(losses) + 1) + "|",
    ]
    for setting, row in grid.items():
        best = max(mean_sd(v)[0] for v in row.values())
        cells = []
        for loss in losses:
            values = row.get(loss)
            if not values:
                cells.append("")
                continue
            text = format_spread(values, 100)
            text = f"**{text}**" if mean_sd(values)[0] == best else text
            cells.append(f"{text} {COLLAPSE_MARK}" if (setting, loss) in collapsed else text)
        lines.append(f"| {show(setting)} | " + " | ".join(cells) + " |")
    if collapsed:
        lines += [
            "",
            f"{COLLAPSE_MARK} the training predictions of at least one seed collapsed to chance "
            "(a constant or uniform output) by the final epoch: run folder metrics.json "
            "`collapse`.",
        ]
    return "\n".join(lines)


def cost_table(outcomes: Sequence[Outcome]) -> str:
    """Markdown table of each loss's training-step cost: the median over its runs of their
    median step time (ms), and that as a multiple of ``BASELINE``'s in the same grid ("-" when
    the grid has no ``BASELINE`` run). Runs with no timed step are left out."""
    times: dict[str, list[float]] = {}
    for o in outcomes:
        times.setdefault(o.cell.loss, [])
        if not math.isnan(o.step_seconds):
            times[o.cell.loss].append(o.step_seconds)
    medians = {loss: float(np.median(t)) if t else math.nan for loss, t in times.items()}
    base = medians.get(BASELINE, math.nan)
    lines = [
        f"| loss | median training step (ms) | vs {BASELINE} |",
        "| --- | --- | --- |",
    ]
    for loss, seconds in medians.items():
        ratio = "-" if math.isnan(base) or math.isnan(seconds) else f"{seconds / base:.2f}x"
        step = "-" if math.isnan(seconds) else f"{seconds * 1e3:.1f}"
        lines.append(f"| {loss} | {step} | {ratio} |")
    return "\n".join(lines)


def write_outcomes_csv(outcomes: Sequence[Outcome], setting_name: str, path: Path) -> Path:
    """One line per run: setting, loss, seed, test accuracy, whether training collapsed,
    training seconds, median step seconds, run folder."""
    rows = [
        {
            setting_name: o.cell.setting,
            "loss": o.cell.loss,
            "seed": o.cell.seed,
            "test_accuracy": round(o.test_accuracy, 6),
            "collapsed": o.collapsed,
            "train_seconds": round(o.train_seconds, 1),
            "step_seconds": round(o.step_seconds, 5),
            "run_folder": str(o.folder),
        }
        for o in outcomes
    ]
    return write_csv(rows, path)


def plot_accuracy_grid(
    outcomes: Sequence[Outcome],
    path: Path,
    *,
    xlabel: str,
    title: str,
    log_x: bool = False,
) -> Path:
    """Test accuracy (%) against the setting, one line per loss, error bars ± sd over seeds."""
    grid = _by_setting_and_loss(outcomes)
    settings = sorted(grid)
    losses = list(dict.fromkeys(o.cell.loss for o in outcomes))
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    for loss in losses:
        xs = [s for s in settings if loss in grid[s]]
        stats = [mean_sd(grid[s][loss]) for s in xs]
        means = np.array([m for m, _ in stats]) * 100
        sds = np.nan_to_num(np.array([sd for _, sd in stats])) * 100
        ax.errorbar(xs, means, yerr=sds, marker="o", capsize=3, label=loss)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return save_figure(fig, path)


def write_grid_record(folder: Path, spec: dict, cells: Sequence[Cell]) -> Path:
    """``grid.yaml``: the experiment's grid (settings, losses, seeds, budget) and the complete
    run config of every cell, so that any single run can be repeated with ``largemargin train``."""
    record = {
        "grid": spec,
        "runs": {cell.config.name: to_dict(cell.config) for cell in cells},
    }
    return write_atomic(folder / "grid.yaml", yaml.safe_dump(record, sort_keys=False))

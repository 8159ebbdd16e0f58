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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

from largemargin.data import DataConfig
from largemargin.errors import bad_value
from largemargin.experiments.progress import RunProgress, format_duration
from largemargin.experiments.resume import train_or_reuse
from largemargin.files import write_atomic, write_csv
from largemargin.models import default_margin_layers
from largemargin.report import (
    format_spread,
    markdown_table,
    mean_sd,
    plot_accuracy_vs_setting,
    slug,
)
from largemargin.training.config import (
    LossConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainerConfig,
    recipe,
    to_dict,
)

MNIST_MARGIN_LAYERS = tuple(default_margin_layers("mnist_reference"))
"""The paper's MNIST network's margin layers (the input and both conv blocks), as the reference
recipe."""

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
    """One run of a grid: the ``loss`` label, the ``seed``, the complete run config and the
    value of the grid's varied setting (None for a grid that varies none beyond loss and
    seed)."""

    loss: str
    seed: int
    config: RunConfig
    setting: float | None = None


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


def grid_trainer(
    base: TrainerConfig, *, epochs: int, max_steps: int, batch_size: int, eval_margins: bool
) -> TrainerConfig:
    """``base`` as a grid cell trains: ``epochs`` epochs or ``max_steps`` steps (-1: no limit),
    no validation pass, a checkpoint at the end only, no training-margin logging, test margins
    only with ``eval_margins``, no progress bar (the grid prints a line per run)."""
    return replace(
        base,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        check_val_every_n_epoch=epochs + 1,
        checkpoint_every_n_epochs=epochs,
        log_margin_every_n_steps=0,
        eval_margins=eval_margins,
        progress_bar=False,
    )


def mnist_run(
    *,
    loss: str | LossConfig,
    seed: int,
    epochs: int,
    batch_size: int,
    run_dir: Path,
    name: str,
    data_dir: str | None = None,
    dataset: str = "mnist",
    train_subset: int | float | None = None,
    label_noise: float = 0.0,
    margin_layers: Sequence[str] = MNIST_MARGIN_LAYERS,
    max_steps: int = -1,
    lr: float = OptimConfig.lr,
    eval_margins: bool = False,
) -> RunConfig:
    """The run config of one MNIST run, a grid's cell or the demo's: the paper's MNIST network,
    the loss ``loss`` (a label of ``LOSSES``, or a config; a copy either way) with its margin
    on ``margin_layers``, Adam with a one-cycle schedule peaking at ``lr``
    (configs/mnist-15min.yaml's optimiser) over the run's length, no validation pass, test
    margins only with ``eval_margins``, a checkpoint at the end only. The run stops after
    ``epochs`` epochs or ``max_steps`` optimiser steps (-1: no step limit), whichever comes
    first. ``dataset``: "mnist" (the full set; ``data_dir`` holds its four .gz files, None: the
    default data root, downloading when absent) or "mnist-subset" (the bundled subset, offline).
    ``train_subset`` and ``label_noise`` are ``DataConfig``'s protocols, seeded by ``seed``."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise bad_value("loss", loss, f"one of {list(LOSSES)} or a LossConfig")
        loss = LOSSES[loss]
    if dataset not in ("mnist", "mnist-subset"):
        raise bad_value("dataset", dataset, "'mnist' or 'mnist-subset'")
    return RunConfig(
        data=DataConfig(
            name=dataset,
            data_dir=data_dir,
            train_subset=train_subset,
            label_noise=label_noise,
            seed=seed,
        ),
        model=ModelConfig(name="mnist_reference", margin_layers=list(margin_layers)),
        loss=replace(loss),
        optim=OptimConfig(lr=lr),
        trainer=grid_trainer(
            TrainerConfig(),
            epochs=epochs,
            max_steps=max_steps,
            batch_size=batch_size,
            eval_margins=eval_margins,
        ),
        seed=seed,
        run_dir=str(run_dir),
        name=name,
    )


def grid_cells(
    settings: Sequence[float],
    losses: Sequence[str],
    seeds: Sequence[int],
    *,
    prefix: Callable[[float], str],
    options: Callable[[float], dict],
    data_dir: str | None,
    batch_size: int,
    run_dir: Path,
    make_run: Callable[..., RunConfig] = mnist_run,
) -> list[Cell]:
    """One ``make_run`` (``mnist_run``, or ``cifar10_runs.cifar10_run`` which takes the same
    arguments) per setting, loss and seed, in that order. Each run is named
    ``<prefix(setting)>-<loss>-seed<seed>``; ``options(setting)`` gives the setting's other
    arguments (epochs, max_steps, train_subset, label_noise)."""
    return [
        Cell(
            loss,
            seed,
            make_run(
                data_dir=data_dir,
                loss=loss,
                seed=seed,
                batch_size=batch_size,
                run_dir=run_dir,
                name=f"{prefix(setting)}-{slug(loss)}-seed{seed}",
                **options(setting),
            ),
            setting,
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
    A cell whose folder already holds its finished run is taken from there, and one stopped
    after a checkpoint continues from it (``experiments.resume``), so a grid run again into its
    own folder trains only what is missing. ``on_trained(cell, model)``, when given, sees each
    trained model (in eval mode) before the next run starts (the adversarial experiment attacks
    it there)."""
    outcomes = []
    progress = RunProgress(len(cells))
    for cell in cells:
        start = time.perf_counter()
        run = train_or_reuse(cell.config)
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
            on_trained(cell, run.model)
        took = format_duration(time.perf_counter() - start)
        print(
            f"{progress.finished()} | {cell.config.name}: test accuracy {accuracy:.2%}"
            f"{' (collapsed)' if collapsed else ''} "
            f"({took}{'' if run.trained_now else ', trained before'})",
            flush=True,
        )
    return outcomes


def _accuracies(outcomes: Sequence[Outcome]) -> dict[str, dict[float | None, list[float]]]:
    """Test accuracies by loss, then setting (one per seed), in the order of ``outcomes``."""
    found: dict[str, dict[float | None, list[float]]] = {}
    for o in outcomes:
        found.setdefault(o.cell.loss, {}).setdefault(o.cell.setting, []).append(o.test_accuracy)
    return found


def accuracy_table(
    outcomes: Sequence[Outcome],
    setting_name: str,
    show: Callable[[float | None], str] = str,
) -> str:
    """Markdown table of test accuracy (%), mean ± sd over seeds: a row per setting (named by
    ``show``; one row when the cells have no setting), a column per loss; the best mean of
    each row in bold; a ``†`` after a cell where any seed's training collapsed, explained by a
    footnote line under the table."""
    accuracies = _accuracies(outcomes)
    collapsed = {(o.cell.setting, o.cell.loss) for o in outcomes if o.collapsed}
    rows = []
    for setting in dict.fromkeys(o.cell.setting for o in outcomes):
        means = {
            loss: mean_sd(by_setting[setting])[0]
            for loss, by_setting in accuracies.items()
            if setting in by_setting
        }
        cells = []
        for loss, by_setting in accuracies.items():
            text = format_spread(by_setting.get(setting, []), 100)
            if text and means[loss] == max(means.values()):
                text = f"**{text}**"
            cells.append(f"{text} {COLLAPSE_MARK}" if (setting, loss) in collapsed else text)
        rows.append([show(setting), *cells])
    lines = [markdown_table([setting_name, *accuracies], rows)]
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
    rows = []
    for loss, seconds in medians.items():
        ratio = "-" if math.isnan(base) or math.isnan(seconds) else f"{seconds / base:.2f}x"
        step = "-" if math.isnan(seconds) else f"{seconds * 1e3:.1f}"
        rows.append([loss, step, ratio])
    return markdown_table(["loss", "median training step (ms)", f"vs {BASELINE}"], rows)


def write_outcomes_csv(
    outcomes: Sequence[Outcome], path: Path, *, setting_name: str | None = None
) -> Path:
    """One line per run: the setting (a column named ``setting_name``; None: the cells have no
    setting, no column), loss, seed, test accuracy, whether training collapsed, training
    seconds, median step seconds, run folder."""
    if any((o.cell.setting is None) != (setting_name is None) for o in outcomes):
        raise bad_value(
            "setting_name",
            setting_name,
            "a column name exactly when the cells have a setting (None when they have none)",
        )
    rows = [
        {
            **({} if setting_name is None else {setting_name: o.cell.setting}),
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


def report_setting_grid(
    outcomes: Sequence[Outcome],
    folder: Path,
    *,
    setting_name: str,
    setting_header: str,
    show: Callable[[float | None], str],
    title: str,
    test_set: str,
    xlabel: str,
    log_x: bool = False,
) -> str:
    """The files and text of a grid that varies one setting (label noise, training-set size).

    Writes ``results.csv`` (the setting's column named ``setting_name``) and ``accuracy.png``
    (test accuracy (%) against the setting, one line per loss, error bars ± sd over seeds) in
    ``folder``. Returns markdown: ``title``, the accuracy table (``accuracy_table``, rows
    headed ``setting_header`` and named by ``show``) on ``test_set``, and the step-cost table.
    """
    write_outcomes_csv(outcomes, folder / "results.csv", setting_name=setting_name)
    plot_accuracy_vs_setting(
        _accuracies(outcomes),
        folder / "accuracy.png",
        xlabel=xlabel,
        ylabel="test accuracy (%)",
        title=title,
        log_x=log_x,
    )
    table = accuracy_table(outcomes, setting_header, show)
    return (
        f"{title}. Test accuracy (%) on {test_set}, mean ± sd over seeds.\n\n{table}\n\n"
        "Training-step cost (median over the grid's runs of each run's median step time):"
        f"\n\n{cost_table(outcomes)}"
    )


def write_grid_record(folder: Path, spec: dict, cells: Sequence[Cell]) -> Path:
    """``grid.yaml``: the experiment's grid (settings, losses, seeds, budget) and the complete
    run config of every cell, so that any single run can be repeated with ``largemargin train``."""
    record = {
        "grid": spec,
        "runs": {cell.config.name: to_dict(cell.config) for cell in cells},
    }
    return write_atomic(folder / "grid.yaml", yaml.safe_dump(record, sort_keys=False))

"""`largemargin demo`: cross-entropy against the large margin loss on a small training set.

Offline, on the MNIST subset bundled with the package. For each seed it trains the paper's MNIST
network twice on the same class-balanced training set of ``train_size`` images (default 1000:
the paper's claims are strongest with little data): once with cross-entropy, once with the large
margin loss (l-inf margin on the input and both conv blocks, as the reference recipe), with the
same optimiser and budget. It prints test accuracy on the 3000 bundled test images, the median
first-order l-inf input margin of the correctly classified test images (in pixel units: how far
every pixel must change, linearised, before the prediction flips), and training time. The table
gives mean ± standard deviation over the seeds, so a reader can tell an effect from noise.
Writes the run folders, ``results.json``, ``results.md`` and ``margins.png`` (margins of all
seeds pooled) under ``run_dir``.

The runs train ``workers`` at a time, each in a process of its own with an equal share of the
torch threads: the paper's small MNIST network does not use two threads fully in one process,
so two one-thread runs side by side finish the demo sooner (on this project's 2-core machine,
174 s against 199 s one after another; docs/benchmarks.md). Each run's result depends on its
seed alone, not on ``workers``, up to the floating-point order of a different thread count.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from largemargin.analysis import first_order_margins, plot_margin_cdfs
from largemargin.data import DataConfig, build_datasets
from largemargin.experiments.grid import mnist_run
from largemargin.experiments.progress import RunProgress
from largemargin.files import write_atomic
from largemargin.report import format_spread, markdown_table
from largemargin.training.config import LossConfig, RunConfig
from largemargin.training.quiet import run_summaries
from largemargin.training.run import train


@dataclass
class DemoConfig:
    """The demo's settings; one pair of runs per seed, so the table shows the spread.

    Attributes:
        run_dir: where the demo's folders go (a new timestamped folder inside it).
        train_size: class-balanced training images (a multiple of 10, at most 5000).
        epochs: training epochs of every run.
        batch_size: training batch size.
        lr: the peak learning rate (Adam, one-cycle schedule).
        seeds: one pair of runs (cross-entropy, large margin) per seed: initialisation,
            subset and batch order.
        verbose: also print Lightning's per-run messages (devices, why fitting stopped).
        workers: runs trained side by side, each in its own process with
            ``torch.get_num_threads() // workers`` threads (at least 1); 1: one after another
            in this process.
    """

    run_dir: str = "runs/demo"
    train_size: int = 1000
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    verbose: bool = False
    workers: int = 2


def _check(cfg: DemoConfig) -> None:
    """Raise ValueError naming the first bad setting, before anything is trained or written."""

    def is_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    size = cfg.train_size
    if not (is_int(size) and 10 <= size <= 5000 and size % 10 == 0):
        raise ValueError(f"train_size={size!r}: expected a multiple of 10 in [10, 5000]")
    for name in ("epochs", "batch_size", "workers"):
        value = getattr(cfg, name)
        if not (is_int(value) and value >= 1):
            raise ValueError(f"{name}={value!r}: expected an int >= 1")
    if not (isinstance(cfg.lr, (int, float)) and math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ValueError(f"lr={cfg.lr!r}: expected a finite number > 0")
    if not cfg.seeds:
        raise ValueError("seeds must hold at least one seed, got []")
    if not all(is_int(s) and s >= 0 for s in cfg.seeds) or len(set(cfg.seeds)) != len(cfg.seeds):
        raise ValueError(f"seeds={cfg.seeds!r}: expected distinct ints >= 0")


def run_demo(cfg: DemoConfig) -> dict:
    """Train both models for every seed, print the comparison table, write the results; return
    them: per loss, the per-seed test accuracies, median margins and training times."""
    _check(cfg)
    print(
        f"largemargin demo: cross-entropy vs the large margin loss, the paper's MNIST network, "
        f"{cfg.train_size} bundled MNIST training images, {cfg.epochs} epochs, seeds "
        f"{cfg.seeds}: {2 * len(cfg.seeds)} runs",
        flush=True,
    )
    return _run(cfg)


def _run(cfg: DemoConfig) -> dict:
    folder = Path(cfg.run_dir) / time.strftime("%Y%m%d-%H%M%S")
    kinds = ("cross_entropy", "large_margin")
    # seed-major order: the runs of both losses take turns on the workers
    jobs = [(kind, seed) for seed in cfg.seeds for kind in kinds]
    configs = {job: _run_config(cfg, *job, folder) for job in jobs}
    done: dict[tuple[str, int], dict] = {}
    progress = RunProgress(len(jobs))

    def finished(job: tuple[str, int], outcome: dict) -> None:
        done[job] = outcome
        print(f"{progress.finished()} | {Path(outcome['run_folder']).name} trained", flush=True)

    workers = min(cfg.workers, len(jobs))
    if workers == 1:
        for job in jobs:
            finished(job, _train_and_measure(configs[job], cfg.verbose))
    else:
        threads = max(1, torch.get_num_threads() // workers)
        with ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded torch
            initializer=torch.set_num_threads,
            initargs=(threads,),
        ) as pool:
            futures = {
                pool.submit(_train_and_measure, configs[job], cfg.verbose): job for job in jobs
            }
            for future in as_completed(futures):
                finished(futures[future], future.result())

    results: dict[str, dict] = {}
    margins: dict[str, list[torch.Tensor]] = {}
    for kind in kinds:
        outcomes = [done[(kind, seed)] for seed in cfg.seeds]
        results[kind] = {
            key: [o[key] for o in outcomes]
            for key in ("test_accuracy", "median_input_margin_linf", "train_seconds", "run_folder")
        }
        margins[kind] = [o["margins"] for o in outcomes]
    table = _table(cfg, results)
    print("\n" + table)
    write_atomic(folder / "results.md", table + "\n")
    write_atomic(folder / "results.json", json.dumps(results, indent=2) + "\n")
    plot_margin_cdfs(
        {k.replace("_", " "): {"input (l-inf, pixels)": torch.cat(m)} for k, m in margins.items()},
        folder / "margins.png",
    )
    print(
        f"\nrun folders: {folder}/<loss>-seed<N> (config.yaml, metrics.json, logs/, "
        "tensorboard/, checkpoints/)"
    )
    print(f"table: {folder}/results.md; plot of the input margins: {folder}/margins.png")
    return results


def _run_config(cfg: DemoConfig, kind: str, seed: int, folder: Path) -> RunConfig:
    """The demo's run of loss ``kind`` for ``seed``."""
    return mnist_run(
        dataset="mnist-subset",
        loss=LossConfig(kind=kind),
        seed=seed,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        run_dir=folder,
        name=f"{kind}-seed{seed}",
        train_subset=cfg.train_size,
    )


def _train_and_measure(config: RunConfig, verbose: bool) -> dict:
    """Train one run and measure its model on the bundled test images: test accuracy, the
    first-order l-inf input margins (pixels) of the correctly classified ones and their median,
    the training seconds and the run folder. Runs in a worker process or in this one."""
    with run_summaries(verbose):
        run = train(config)
    test = build_datasets(DataConfig(name="mnist-subset")).test
    m = first_order_margins(
        run.module.model, DataLoader(test, batch_size=1000), ["input"], norm="inf", score="logit"
    )["input"]
    correct = m > 0  # the signed logit-gap distance is positive iff correctly classified
    return {
        "test_accuracy": float(correct.float().mean()),
        "median_input_margin_linf": float(m[correct].median()),
        "train_seconds": run.metrics["train_seconds"],
        "run_folder": str(run.folder),
        "margins": m[correct],
    }


def _table(cfg: DemoConfig, results: dict[str, dict]) -> str:
    n = len(cfg.seeds)
    table = markdown_table(
        ["loss", "test accuracy (%)", "median l-inf input margin (pixels)", "training time (s)"],
        [
            [
                kind.replace("_", " "),
                format_spread(r["test_accuracy"], 100, 2),
                format_spread(r["median_input_margin_linf"], 1, 4),
                f"{sum(r['train_seconds']) / n:.0f} per run",
            ]
            for kind, r in results.items()
        ],
    )
    return (
        f"MNIST (bundled subset), {cfg.train_size} training images, {cfg.epochs} epochs, "
        f"3000 test images; mean ± sd over {n} seed(s) {cfg.seeds}\n\n{table}"
    )

"""`largemargin demo`: cross-entropy against the large margin loss on a small training set.

Offline, on the MNIST subset bundled with the package: trains the paper's MNIST network twice on
the same class-balanced training set of ``train_size`` images (default 1000: the paper's claims
are strongest with little data), once with cross-entropy and once with the large margin loss
(l-inf margin on the input and both conv blocks, as the reference recipe), with the same
optimiser and budget, then prints test accuracy on the 3000 bundled test images, the median
first-order l-inf input margin of the correctly classified test images (in pixel units: how far
a change of every pixel must go, linearised, before the prediction flips), and training time.
Writes both run folders, ``results.json``, ``results.md`` and ``margins.png`` under ``run_dir``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import largemargin as lm
from largemargin.analysis import plot_margin_cdfs
from largemargin.data import DataConfig, build_datasets
from largemargin.files import write_atomic
from largemargin.training.config import (
    LossConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainerConfig,
)
from largemargin.training.run import train

LAYERS = ["input", "block1", "block2"]


@dataclass
class DemoConfig:
    """``run_dir``: where the demo's folders go (a new timestamped folder inside it);
    ``train_size``: class-balanced training images (a multiple of 10, at most 5000);
    ``epochs``, ``batch_size``, ``lr`` (Adam, one-cycle schedule), ``seed``."""

    run_dir: str = "runs/demo"
    train_size: int = 1000
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0


def _run_config(cfg: DemoConfig, kind: str, folder: Path) -> RunConfig:
    return RunConfig(
        data=DataConfig(name="mnist-subset", train_subset=cfg.train_size, seed=cfg.seed),
        model=ModelConfig(name="mnist_reference", margin_layers=LAYERS),
        loss=LossConfig(kind=kind),
        optim=OptimConfig(name="adam", lr=cfg.lr, eps=1e-8, schedule="onecycle"),
        trainer=TrainerConfig(
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            check_val_every_n_epoch=cfg.epochs + 1,
            log_margin_every_n_steps=0,
            progress_bar=False,
        ),
        seed=cfg.seed,
        run_dir=str(folder),
        name=kind,
    )


def input_margins(model: torch.nn.Module, dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """First-order l-inf input margins (pixel units, logit scores) and correctness, per example."""
    model.eval()
    margins, correct = [], []
    for x, y in DataLoader(dataset, batch_size=1000):
        logits, layers = lm.forward_with_layers(model, x, ["input"])
        d = lm.margin_distances(logits, y, layers, norm="inf", score="logit")
        margins.append(d[:, 0, 0])
        correct.append(logits.argmax(1) == y)
    return torch.cat(margins), torch.cat(correct)


def run_demo(cfg: DemoConfig) -> dict:
    """Train both models, print the comparison table, write the results; return them."""
    folder = Path(cfg.run_dir) / time.strftime("%Y%m%d-%H%M%S")
    results: dict[str, dict] = {}
    margins: dict[str, torch.Tensor] = {}
    for kind in ("cross_entropy", "large_margin"):
        run = train(_run_config(cfg, kind, folder))
        test = build_datasets(DataConfig(name="mnist-subset")).test
        m, correct = input_margins(run.module.model, test)
        margins[kind] = m[correct]
        results[kind] = {
            "test_accuracy": float(correct.float().mean()),
            "median_input_margin_linf": float(m[correct].median()),
            "train_seconds": run.metrics["train_seconds"],
            "run_folder": str(run.folder),
        }
    table = _table(cfg, results)
    print("\n" + table)
    write_atomic(folder / "results.md", table + "\n")
    write_atomic(folder / "results.json", json.dumps(results, indent=2) + "\n")
    plot_margin_cdfs(
        {k.replace("_", " "): {"input (l-inf, pixels)": m} for k, m in margins.items()},
        folder / "margins.png",
    )
    print(
        f"\nrun folders: {folder}/cross_entropy, {folder}/large_margin "
        f"(config.yaml, metrics.json, logs/, tensorboard/, checkpoints/)"
    )
    print(f"table: {folder}/results.md; plot of the input margins: {folder}/margins.png")
    return results


def _table(cfg: DemoConfig, results: dict[str, dict]) -> str:
    lines = [
        f"MNIST (bundled subset), {cfg.train_size} training images, {cfg.epochs} epochs, "
        "3000 test images",
        "",
        "| loss | test accuracy | median l-inf input margin (pixels) | training time (s) |",
        "| --- | --- | --- | --- |",
    ]
    for kind, r in results.items():
        lines.append(
            f"| {kind.replace('_', ' ')} | {r['test_accuracy']:.2%} | "
            f"{r['median_input_margin_linf']:.4f} | {r['train_seconds']:.0f} |"
        )
    return "\n".join(lines)

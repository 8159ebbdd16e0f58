"""`largemargin attack`: accuracy of a trained checkpoint under attack, for a list of epsilons.

Attacks the test split of the run's dataset (or another one), in eval mode, within the
dataset's valid input range, and writes ``<out>/<attack>-<norm>.csv`` and ``.png``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from largemargin.attacks import accuracy_under_attack, plot_accuracy_vs_eps, write_csv
from largemargin.data import DataConfig, build_datasets
from largemargin.training.evaluate import load_checkpoint


@dataclass
class AttackConfig:
    """``checkpoint``: a ``largemargin train`` checkpoint; ``attack``: fgsm, iterative_fgsm, pgd
    or autoattack; ``norm``: "inf" or 2; ``epsilons``: perturbation sizes in input units;
    ``steps``: iterations of iterative attacks; ``max_examples``: the first N test images (None:
    all); ``data``: evaluate on another dataset (None: the run's own); ``out``: output folder
    (None: ``<run folder>/attacks``); ``trust_model_code``: rebuild a model given by import path,
    which imports and runs that code (only for checkpoints whose model code you trust)."""

    checkpoint: str
    attack: str = "pgd"
    norm: str = "inf"
    epsilons: list[float] = field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2, 0.3])
    steps: int = 20
    max_examples: int | None = 1000
    batch_size: int = 250
    data: DataConfig | None = None
    out: str | None = None
    device: str = "cpu"
    trust_model_code: bool = False


def attack_checkpoint(cfg: AttackConfig) -> tuple[list[dict], Path]:
    """Run the attack for every epsilon; return the rows and the CSV path (PNG beside it)."""
    model, run = load_checkpoint(cfg.checkpoint, trust_model_code=cfg.trust_model_code)
    data = cfg.data if cfg.data is not None else replace(run.data, download=False)
    bundle = build_datasets(data)
    test = bundle.test
    if cfg.max_examples is not None:
        if cfg.max_examples < 1:
            raise ValueError(f"max_examples={cfg.max_examples}: expected None or an int >= 1")
        test = Subset(test, range(min(cfg.max_examples, len(test))))
    low, high = bundle.input_range
    if cfg.attack == "autoattack":  # works on inputs in [0, 1] only
        kwargs: dict = {"n_classes": bundle.num_classes}
    else:
        kwargs = {"clip_min": low, "clip_max": high}
        if cfg.attack != "fgsm":
            kwargs["steps"] = cfg.steps
    rows = accuracy_under_attack(
        model.to(cfg.device),
        DataLoader(test, batch_size=cfg.batch_size),
        cfg.attack,
        cfg.epsilons,
        norm=cfg.norm,
        device=torch.device(cfg.device),
        **kwargs,
    )
    out = Path(cfg.out) if cfg.out else Path(cfg.checkpoint).resolve().parent.parent / "attacks"
    csv_path = write_csv(rows, out / f"{cfg.attack}-{cfg.norm}.csv")
    label = f"{run.loss.kind} ({Path(cfg.checkpoint).resolve().parent.parent.name})"
    plot_accuracy_vs_eps(
        {label: rows},
        csv_path.with_suffix(".png"),
        title=f"{cfg.attack}, l-{cfg.norm}, {data.name}",
    )
    return rows, csv_path

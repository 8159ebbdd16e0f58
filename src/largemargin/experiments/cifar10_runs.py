"""The run config of one CIFAR-10 grid cell, built on ``configs/cifar10-cpu.yaml``.

Every CIFAR-10 grid trains the preset's network (ResNet-9 at width 16, channels-last, margin on
the input and the three stage outputs) with its SGD one-cycle optimiser, the learning rate
scaled linearly from the preset's 0.4 at batch 512 to the grid's batch size, and crop-and-flip
augmentation. The margin losses compared (``CIFAR10_LOSSES``) are that of
``configs/cifar10-resnet.yaml``, the paper's setup (l2, softmax scores, gamma 5000 in the
units of norm_scale "dim", alpha 4, closest competitor, plus cross-entropy), with the margin
term divided by 10 gamma (``PAPER_MARGIN_SCALE``) instead of gamma, and variants of it with one
or two options changed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from largemargin.data import DataConfig
from largemargin.errors import bad_value
from largemargin.experiments.grid import grid_trainer
from largemargin.experiments.recipes import load_preset
from largemargin.training.config import LossConfig, RunConfig

PRESET = "cifar10-cpu.yaml"
PRESET_BATCH = 512
CIFAR10_TRAIN = 50000

PAPER_MARGIN_SCALE = 50000.0
"""The margin term's divisor in the CIFAR-10 grids: 10 gamma. At the preset's gamma (1/5000)
the margin term held ResNet-9 at chance (11.5% test accuracy after 120 steps on 1000 images,
with or without gradient clipping at norm 5, while cross-entropy reached 44.7%); a tenth of it
trains (46.0%)."""


_PAPER_LOSS = load_preset("cifar10-resnet.yaml").loss


def _paper_margin(**changes: object) -> LossConfig:
    """The paper's CIFAR-10 loss (configs/cifar10-resnet.yaml, read once) with the margin
    options ``changes`` and the margin term divided by ``PAPER_MARGIN_SCALE``."""
    return replace(
        _PAPER_LOSS,
        margin=replace(_PAPER_LOSS.margin, **changes),
        margin_scale=PAPER_MARGIN_SCALE,
    )


CIFAR10_LOSSES: dict[str, LossConfig] = {
    "cross-entropy": LossConfig(kind="cross_entropy"),
    "margin l2": _paper_margin(),
    "margin l-inf": _paper_margin(norm="inf"),
    "margin l2, logit, second-order": _paper_margin(score="logit", second_order=True),
    # For label noise, the margin alone (no cross-entropy to fit the wrong labels), still
    # divided by gamma: with the closest competitor, and summed over all 9 competitors (the
    # noise-robust variant of grid.LOSSES).
    "margin l2, margin alone": replace(_paper_margin(), cross_entropy_weight=0.0),
    "margin l2, all competitors": replace(
        _paper_margin(top_k=9, aggregation="sum"), cross_entropy_weight=0.0
    ),
}


def cifar10_run(
    *,
    loss: str | LossConfig,
    seed: int,
    epochs: int,
    batch_size: int,
    run_dir: Path,
    name: str,
    data_dir: str | None = None,
    train_subset: int | float | None = None,
    label_noise: float = 0.0,
    max_steps: int = -1,
    eval_margins: bool = False,
) -> RunConfig:
    """The run config of one CIFAR-10 grid cell: ``configs/cifar10-cpu.yaml`` with the loss
    ``loss`` (a label of ``CIFAR10_LOSSES``, or a config), learning rate 0.4 x batch_size / 512,
    no validation pass, test margins only with ``eval_margins``, a checkpoint at the end only.
    The run stops after ``epochs`` epochs or ``max_steps`` optimiser steps (-1: no limit).
    ``data_dir``: the CIFAR-10 python batches' folder or an ImageFolder tree or zip of its
    images (None: the default data root). ``train_subset`` and ``label_noise`` are
    ``DataConfig``'s protocols, seeded by ``seed``. The arguments are ``grid.mnist_run``'s."""
    if isinstance(loss, str):
        if loss not in CIFAR10_LOSSES:
            raise bad_value("loss", loss, f"one of {list(CIFAR10_LOSSES)} or a LossConfig")
        loss = CIFAR10_LOSSES[loss]
    base = load_preset(PRESET)
    return replace(
        base,
        data=DataConfig(
            name="cifar10",
            data_dir=data_dir,
            train_subset=train_subset,
            label_noise=label_noise,
            seed=seed,
        ),
        loss=replace(loss),
        optim=replace(base.optim, lr=base.optim.lr * batch_size / PRESET_BATCH),
        trainer=grid_trainer(
            base.trainer,
            epochs=epochs,
            max_steps=max_steps,
            batch_size=batch_size,
            eval_margins=eval_margins,
        ),
        seed=seed,
        run_dir=str(run_dir),
        name=name,
    )

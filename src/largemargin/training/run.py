"""Train one model from a ``RunConfig``: one folder per run with its config, metrics,
checkpoints and logs.

Run folder layout::

    <run_dir>/<name>/config.yaml        the resolved config, plus the data record
    <run_dir>/<name>/metrics.json       final metrics (test accuracy and margins, timing,
                                        ``collapse``: the final epoch's ``Collapse`` record
                                        when its predictions collapsed, else null, and
                                        ``catastrophic_overfitting``: single-step adversarial
                                        training's first overfitted epoch, else null)
    <run_dir>/<name>/logs/version_N/metrics.csv   per-step and per-epoch logs (one version
                                        per launch: a resumed run adds the next), the
                                        learning rate of every step (``lr-<optimiser>``)
                                        included
    <run_dir>/<name>/tensorboard/version_N/       the same logs for TensorBoard
    <run_dir>/<name>/mlruns/ or wandb/  with ``trainer.tracker`` (``training.tracking``)
    <run_dir>/<name>/checkpoints/last.ckpt   rewritten every
                                        trainer.checkpoint_every_n_epochs epochs
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only

from largemargin.core import check_layer_names
from largemargin.data import build_datasets
from largemargin.files import write_atomic
from largemargin.models import build_model, default_margin_layers
from largemargin.training.checkpoint import read_checkpoint
from largemargin.training.config import RunConfig, to_dict, validate, validate_for
from largemargin.training.loaders import BundleDataModule
from largemargin.training.module import MarginClassifier
from largemargin.training.overfitting import OverfitGuard
from largemargin.training.quiet import lightning_noise_filtered
from largemargin.training.timing import StepTimer
from largemargin.training.tracking import run_loggers

_NAME_VAR = "LARGEMARGIN_RUN_NAME"


@dataclass
class RunResult:
    """Where the run went and what it measured (the content of metrics.json)."""

    folder: Path
    metrics: dict
    module: MarginClassifier


def _run_name(cfg: RunConfig) -> str:
    """The run's folder name. Processes of one distributed run must agree on it: a launch by
    torchrun or SLURM needs an explicit ``name``; a single-node launch by Lightning hands rank 0's
    name to the processes it starts through the environment."""
    if cfg.name:
        return cfg.name
    if os.environ.get(_NAME_VAR):
        return os.environ[_NAME_VAR]
    if int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", "1"))) > 1:
        raise ValueError(
            "name=None: a run launched on several processes (torchrun, SLURM) needs "
            "an explicit name, so that every process writes to the same folder"
        )
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.loss.kind}"
    os.environ[_NAME_VAR] = name
    return name


def _run_folder(cfg: RunConfig) -> Path:
    folder = Path(cfg.run_dir) / _run_name(cfg)
    fresh = cfg.resume is None and rank_zero_only.rank == 0
    if fresh and folder.exists() and any(folder.iterdir()):
        raise ValueError(
            f"run folder {folder} already exists: choose another name, or resume it with "
            "resume='last'"
        )
    return folder


def _resume_path(cfg: RunConfig, folder: Path) -> str | None:
    """The checkpoint to resume from, checked with the safe reader before Lightning loads it
    (so a file that is not a ``largemargin train`` checkpoint gets a one-line ValueError);
    Lightning then reads it weights-only too, so nothing in it is run."""
    if cfg.resume is None:
        return None
    path = folder / "checkpoints" / "last.ckpt" if cfg.resume == "last" else Path(cfg.resume)
    if not path.is_file():
        raise ValueError(f"resume={cfg.resume!r}: no checkpoint at {path}")
    read_checkpoint(path)
    return str(path)


def prepare(cfg: RunConfig):
    """Check the config, load the data and build the model: every error a run can meet before
    training starts (settings against the data's classes and the model's layers included), so
    that a bad setting fails before the run folder exists. Returns (bundle, model, margin
    layers)."""
    validate(cfg)
    bundle = build_datasets(cfg.data)
    L.seed_everything(cfg.seed, workers=True, verbose=False)  # seeds the model's initialisation
    try:
        model = build_model(
            cfg.model.name,
            num_classes=bundle.num_classes,
            in_channels=bundle.input_shape[0],
            **cfg.model.kwargs,
        )
    except TypeError as error:  # kwargs the constructor does not take, a factory's non-Module
        raise ValueError(
            f"model.kwargs={cfg.model.kwargs!r}: cannot build model {cfg.model.name!r} with "
            f"them ({error})"
        ) from error
    layers = check_layer_names(
        model, cfg.model.margin_layers or default_margin_layers(cfg.model.name)
    )
    validate_for(cfg, bundle.num_classes, len(layers))
    return bundle, model, layers


def _overfit_guard(cfg: RunConfig, bundle) -> OverfitGuard | None:
    """The catastrophic-overfitting guard of a single-step adversarial run, on
    ``adversarial.overfit_check_examples`` training images drawn once with the run's seed;
    None for other runs."""
    adv = cfg.adversarial
    if adv.attack != "fgsm" or adv.overfit_check_examples == 0:
        return None
    n = min(adv.overfit_check_examples, len(bundle.train))
    order = torch.randperm(len(bundle.train), generator=torch.Generator().manual_seed(cfg.seed))
    pairs = [bundle.train[int(i)] for i in order[:n]]
    x = torch.stack([p[0] for p in pairs])
    y = torch.as_tensor([int(p[1]) for p in pairs])
    stats = None if bundle.mean is None else (bundle.mean, bundle.std)
    return OverfitGuard(adv, x, y, stats)


def train(cfg: RunConfig) -> RunResult:
    """Train, test and record one run; returns its folder and final metrics. Lightning's
    messages that say nothing to the user are filtered meanwhile (``training.quiet``)."""
    with lightning_noise_filtered():
        return _train(cfg)


def _train(cfg: RunConfig) -> RunResult:
    bundle, model, layers = prepare(cfg)
    folder = _run_folder(cfg)
    ckpt_path = _resume_path(cfg, folder)
    record = to_dict(cfg)
    record["data_info"] = bundle.info
    record["model_shape"] = {
        "num_classes": bundle.num_classes,
        "in_channels": bundle.input_shape[0],
    }
    if rank_zero_only.rank == 0:  # other processes of a distributed run write nothing here
        write_atomic(folder / "config.yaml", yaml.safe_dump(record, sort_keys=False))

    tr = cfg.trainer
    module = MarginClassifier(
        model,
        cfg.loss,
        cfg.optim,
        list(layers),
        log_margin_every_n_steps=tr.log_margin_every_n_steps,
        eval_margins=tr.eval_margins,
        margin_examples=tr.margin_examples,
        adversarial=cfg.adversarial,
        pixel_stats=None if bundle.mean is None else (bundle.mean, bundle.std),
    )
    module.run_config = record
    data = BundleDataModule(
        bundle,
        batch_size=tr.batch_size,
        eval_batch_size=tr.eval_batch_size,
        num_workers=tr.num_workers,
        seed=cfg.seed,
    )
    timer = StepTimer()
    guard = _overfit_guard(cfg, bundle)
    loggers = run_loggers(folder, folder.name, tr.tracker)
    if tr.tracker is not None:
        loggers[-1].log_hyperparams(record)
    trainer = L.Trainer(
        default_root_dir=folder,
        max_epochs=tr.epochs,
        max_steps=tr.max_steps,
        max_time=tr.max_time,
        accelerator=tr.accelerator,
        devices=tr.devices,
        num_nodes=tr.num_nodes,
        strategy=tr.strategy,
        precision=tr.precision,
        gradient_clip_val=cfg.optim.grad_clip_norm,
        gradient_clip_algorithm="norm",
        # at most one epoch, so that a small training set still logs (and Lightning does not warn)
        log_every_n_steps=max(
            1, min(tr.log_every_n_steps, math.ceil(len(bundle.train) / tr.batch_size))
        ),
        check_val_every_n_epoch=tr.check_val_every_n_epoch,
        enable_progress_bar=tr.progress_bar,
        enable_model_summary=False,
        deterministic=tr.deterministic,
        inference_mode=False,  # validation measures margins, which needs gradients
        num_sanity_val_steps=0,
        logger=loggers,
        callbacks=[
            ModelCheckpoint(  # last.ckpt alone, overwritten: one file written per save
                dirpath=folder / "checkpoints",
                filename="last",
                save_top_k=1,
                enable_version_counter=False,
                every_n_epochs=tr.checkpoint_every_n_epochs,
                save_on_train_epoch_end=True,  # also when validation is rare or never runs
            ),
            timer,
            LearningRateMonitor(logging_interval="step"),
            *([] if guard is None else [guard]),
        ],
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    train_seconds = time.perf_counter() - start
    tested = trainer.test(module, datamodule=data, verbose=False)[0]
    metrics = {
        "test": {k.removeprefix("test/"): float(v) for k, v in tested.items()},
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "train_seconds": train_seconds,
        **timer.summary(),
        "collapse": None if module.collapse is None else module.collapse.as_dict(),
        "catastrophic_overfitting": (
            None if guard is None or guard.found is None else guard.found.as_dict()
        ),
    }
    if trainer.is_global_zero:
        write_atomic(folder / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return RunResult(folder=folder, metrics=metrics, module=module)

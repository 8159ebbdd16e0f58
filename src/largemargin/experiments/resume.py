"""Training a grid's run, or taking it from its folder: what lets an interrupted grid continue.

Before a grid (``run_grid``, and the robust-training grid's timing runs) trains a run, it looks
in the run's folder, so that ``largemargin reproduce NAME --resume`` into the folder of a grid
that was stopped trains only what is missing:

- ``metrics.json`` present (a run writes it last, in one atomic step, so it exists only when
  the run finished): the run is taken as it is, its metrics read back and its model rebuilt
  from ``checkpoints/last.ckpt`` (for the grid's ``on_trained``: the adversarial grids read
  the robustness suite's report back from the folder's ``robustness.json``, and attack the
  reloaded model, the same weights as in the uninterrupted grid, only for what they do not
  keep there: AutoAttack and the margin measurements);
- no metrics but ``checkpoints/last.ckpt`` (a run stopped after a checkpoint): it continues from
  that checkpoint, which the trainer does bit-identically;
- neither (a run stopped before its first checkpoint, or a new folder): what the stopped run
  left is removed, and it trains from the start.

A continued run's ``train_seconds`` counts its continuation only (its ``step_seconds``, the
median step, is unaffected).

A folder whose ``config.yaml`` records another config than the run's (other than where the run
folder lives, or how it was resumed) is an error, never overwritten: the folder holds a
different experiment.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import torch
import yaml

from largemargin.training.checkpoint_eval import load_checkpoint
from largemargin.training.config import RunConfig, to_dict
from largemargin.training.run import train

NOT_COMPARED = ("run_dir", "resume", "data_info", "model_shape")
"""The keys of a run's config.yaml that may differ between a grid and its continuation: where
the folders live (a relative or absolute path to the same place), how the run was resumed, and
what the data and model turned out to be (which follow from the rest)."""


@dataclass
class FinishedRun:
    """A run of a grid, trained now or earlier: its folder, its ``metrics.json`` content and
    whether it was trained now (False: taken from its folder). ``model``: its trained model
    (eval mode), rebuilt from ``checkpoints/last.ckpt`` on first use for a run taken from its
    folder, so a caller that needs the metrics alone reads no checkpoint."""

    folder: Path
    metrics: dict
    trained_now: bool
    trained: torch.nn.Module | None = field(default=None, repr=False)

    @cached_property
    def model(self) -> torch.nn.Module:
        if self.trained is not None:
            return self.trained.eval()
        # trusted: the checkpoint's config was checked to be the grid's own
        model, _ = load_checkpoint(self.folder / "checkpoints" / "last.ckpt", trust_model_code=True)
        return model.eval()


def run_folder(config: RunConfig) -> Path:
    """Where the run of ``config`` writes (a grid names every run)."""
    if not config.name:
        raise ValueError("name=None: a grid's run needs a name, its folder inside the grid")
    return Path(config.run_dir) / config.name


def _same_config(config: RunConfig, folder: Path) -> None:
    """Raise ValueError unless ``folder``'s config.yaml records ``config`` (``NOT_COMPARED``
    aside)."""
    recorded = yaml.safe_load((folder / "config.yaml").read_text()) or {}
    wanted = to_dict(config)
    for key in NOT_COMPARED:
        recorded.pop(key, None)
        wanted.pop(key, None)
    if recorded != wanted:
        differ = sorted(k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k))
        raise ValueError(
            f"run folder {folder} holds a run of another config (it differs in {differ}): "
            "continue a grid only in the folder of the same grid, or start a new one"
        )


def train_or_reuse(config: RunConfig) -> FinishedRun:
    """The finished run of ``config``: read from its folder when that holds it, else trained
    (continued from the folder's last checkpoint when it has one). See the module docstring."""
    folder = run_folder(config)
    checkpoint = folder / "checkpoints" / "last.ckpt"
    if (folder / "config.yaml").is_file():
        _same_config(config, folder)
    if (folder / "metrics.json").is_file() and checkpoint.is_file():
        metrics = json.loads((folder / "metrics.json").read_text())
        return FinishedRun(folder, metrics, trained_now=False)
    if checkpoint.is_file():
        config = replace(config, resume="last")
    elif folder.exists():
        shutil.rmtree(folder)  # a stopped run's files, with no checkpoint to continue from
    run = train(config)
    return FinishedRun(run.folder, run.metrics, trained_now=True, trained=run.module.model)

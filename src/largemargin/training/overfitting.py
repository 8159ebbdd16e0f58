"""Catastrophic overfitting of single-step adversarial training (Wong, Rice and Kolter, "Fast
is better than free", 2020): within an epoch the model learns to defeat the one FGSM step it
is trained on, and its accuracy under PGD falls towards 0 while its FGSM accuracy stays high.

``OverfitGuard`` measures both on a fixed small training sample at each training epoch's end
(model in eval mode, pixel units, the run's eps and norm; FGSM: one step of eps from the clean
input; PGD: ``CHECK_PGD_STEPS`` steps of 2.5 eps / steps from a random start), logs them as
``train/overfit_check/fgsm_acc`` and ``train/overfit_check/pgd_acc``, and flags an epoch as
overfitted when its FGSM accuracy exceeds its PGD accuracy by at least ``FGSM_GAP`` and its
PGD accuracy either collapsed against its best earlier epoch (at least ``PGD_DROP`` below it
and at most ``PGD_RATIO`` of it) or is at most ``PGD_FLOOR`` while FGSM accuracy is at
least ``FGSM_HIGH``. The first such epoch warns once
(``CatastrophicOverfittingWarning``) and is recorded in metrics.json
(``catastrophic_overfitting``); with ``early_stop`` the run stops there and the weights of
the best PGD epoch are restored (Wong et al.'s remedy), before the last checkpoint and the test.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import lightning as L
import torch
from torch import nn

from largemargin.attacks import fgsm, pgd, pixel_space, to_pixels
from largemargin.torch_utils import eval_mode
from largemargin.training.config import AdversarialConfig

CHECK_PGD_STEPS = 10
"""PGD steps of the check: stronger than the 7 of PGD training, cheap on a small sample."""
FGSM_GAP = 0.3
"""FGSM accuracy at least this (absolute fraction) above PGD accuracy: robust to the training
attack only."""
PGD_DROP = 0.2
"""PGD accuracy at least this far below its best earlier epoch ..."""
PGD_RATIO = 0.5
"""... and at most this share of it counts as a collapse."""
PGD_FLOOR = 0.1
"""Or PGD accuracy at most this, from the first epoch on (overfitting within the first epoch),
..."""
FGSM_HIGH = 0.5
"""... while FGSM accuracy is at least this (a model that is simply not robust yet is not
flagged)."""


class CatastrophicOverfittingWarning(UserWarning):
    """Single-step adversarial training stopped being robust to multi-step attacks."""


@dataclass(frozen=True)
class Overfitting:
    """An overfitted epoch (1-based ``epoch``): the sample's accuracies in [0, 1] under PGD
    and FGSM, the best PGD accuracy before it and its epoch, whether the run stopped there
    with those weights restored, and the message (cause and remedy)."""

    epoch: int
    pgd_accuracy: float
    fgsm_accuracy: float
    best_pgd_accuracy: float
    best_epoch: int
    stopped_early: bool
    message: str

    def as_dict(self) -> dict:
        """Plain types, for metrics.json."""
        return asdict(self)


class OverfitGuard(L.Callback):
    """Watches a single-step adversarial run (see the module docstring). ``x``, ``y``: the
    fixed training sample (N, ...) and (N,), as the loader gives it; ``pixel_stats``: the
    data's (mean, std), None for pixel inputs."""

    def __init__(
        self,
        cfg: AdversarialConfig,
        x: torch.Tensor,
        y: torch.Tensor,
        pixel_stats: tuple[Sequence[float], Sequence[float]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.stats = pixel_stats
        self.x = x if pixel_stats is None else to_pixels(x, *pixel_stats)
        self.y = y
        self.best_pgd = -1.0
        self.best_epoch = 0
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.found: Overfitting | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        fgsm_acc, pgd_acc = self.accuracies(pl_module.model)
        pl_module.log("train/overfit_check/fgsm_acc", fgsm_acc, sync_dist=False)
        pl_module.log("train/overfit_check/pgd_acc", pgd_acc, sync_dist=False)
        if self.found is None and overfitted(fgsm_acc, pgd_acc, self.best_pgd):
            stop = self.cfg.early_stop and self.best_weights is not None
            self.found = Overfitting(
                epoch=epoch,
                pgd_accuracy=pgd_acc,
                fgsm_accuracy=fgsm_acc,
                best_pgd_accuracy=max(self.best_pgd, 0.0),
                best_epoch=self.best_epoch,
                stopped_early=stop,
                message=_message(epoch, fgsm_acc, pgd_acc, self.best_pgd, stop),
            )
            if trainer.is_global_zero:
                warnings.warn(self.found.message, CatastrophicOverfittingWarning, stacklevel=2)
            if stop:
                pl_module.model.load_state_dict(self.best_weights)
                trainer.should_stop = True
                return
        if pgd_acc > self.best_pgd:
            self.best_pgd, self.best_epoch = pgd_acc, epoch
            if self.cfg.early_stop:
                self.best_weights = copy.deepcopy(pl_module.model.state_dict())

    @torch.no_grad()
    def accuracies(self, model: nn.Module) -> tuple[float, float]:
        """(FGSM accuracy, PGD accuracy) of ``model`` on the sample, eval mode, in [0, 1]."""
        device = next(model.parameters()).device
        net = model if self.stats is None else pixel_space(model, *self.stats).to(device)
        x, y = self.x.to(device), self.y.to(device)
        eps, norm = self.cfg.eps, self.cfg.norm
        rng = torch.Generator(device=device).manual_seed(0)
        with eval_mode(net):
            x_fgsm = fgsm(net, x, y, eps, norm=norm)
            x_pgd = pgd(net, x, y, eps, norm=norm, steps=CHECK_PGD_STEPS, generator=rng)
            fgsm_acc = (net(x_fgsm).argmax(1) == y).float().mean().item()
            pgd_acc = (net(x_pgd).argmax(1) == y).float().mean().item()
        return fgsm_acc, pgd_acc

    def state_dict(self) -> dict:
        return {
            "best_pgd": self.best_pgd,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
            "found": None if self.found is None else self.found.as_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.best_pgd, self.best_epoch = state["best_pgd"], state["best_epoch"]
        self.best_weights = state["best_weights"]
        self.found = None if state["found"] is None else Overfitting(**state["found"])


def overfitted(fgsm_acc: float, pgd_acc: float, best_pgd: float) -> bool:
    """The rule of the module docstring; accuracies in [0, 1], ``best_pgd`` < 0: no earlier
    epoch."""
    if fgsm_acc - pgd_acc < FGSM_GAP:
        return False
    collapsed = best_pgd - pgd_acc >= PGD_DROP and pgd_acc <= PGD_RATIO * best_pgd
    return collapsed or (pgd_acc <= PGD_FLOOR and fgsm_acc >= FGSM_HIGH)


def _message(epoch: int, fgsm_acc: float, pgd_acc: float, best_pgd: float, stop: bool) -> str:
    before = f", {best_pgd:.1%} at its best epoch" if best_pgd >= 0 else ""
    what = (
        "training stopped and the best epoch's weights were restored"
        if stop
        else "set adversarial.early_stop true to stop and keep the best epoch's weights"
    )
    return (
        f"epoch {epoch}: catastrophic overfitting of single-step adversarial training: on the "
        f"check sample PGD accuracy is {pgd_acc:.1%}{before}, while FGSM accuracy is "
        f"{fgsm_acc:.1%}; the model defeats its one training step, not the attack. Remedies: "
        f"{what}; a smaller FGSM step (adversarial.step_size), or PGD training "
        "(adversarial.attack pgd)."
    )

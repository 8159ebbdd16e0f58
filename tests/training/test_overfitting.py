"""The catastrophic-overfitting guard: its rule, one warning, the record, and early stopping with
the best PGD epoch's weights restored (the guard driven epoch by epoch with set accuracies)."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from largemargin.training.config import AdversarialConfig
from largemargin.training.overfitting import (
    CatastrophicOverfittingWarning,
    OverfitGuard,
    overfitted,
)


@pytest.mark.parametrize(
    ("fgsm_acc", "pgd_acc", "best_pgd", "flagged"),
    [
        (0.90, 0.70, 0.75, False),  # robust to both
        (0.95, 0.05, -1.0, True),  # the first epoch already defeats only its own step
        (0.40, 0.05, -1.0, False),  # simply not robust yet (FGSM low too)
        (0.95, 0.20, 0.60, True),  # PGD collapsed against its best epoch
        (0.95, 0.45, 0.60, False),  # a dip, not a collapse (above half its best)
        (0.60, 0.35, 0.60, False),  # FGSM not far enough above PGD
    ],
)
def test_the_rule(fgsm_acc, pgd_acc, best_pgd, flagged):
    assert overfitted(fgsm_acc, pgd_acc, best_pgd) is flagged


class Module:
    """What the guard touches of a LightningModule: ``model`` and ``log``."""

    def __init__(self) -> None:
        self.model = nn.Linear(3, 2)
        self.logged: list[tuple[str, float]] = []

    def log(self, name: str, value: float, **kwargs) -> None:
        self.logged.append((name, value))


def drive(guard: OverfitGuard, accuracies: list[tuple[float, float]]):
    """Run the guard's epoch ends with the (FGSM, PGD) accuracies given, changing the weights
    each epoch (the weight row 0 holds the epoch number); returns the module, the trainer and
    the warnings."""
    module = Module()
    trainer = SimpleNamespace(current_epoch=0, is_global_zero=True, should_stop=False)
    script = iter(accuracies)
    guard.accuracies = lambda model: next(script)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in range(len(accuracies)):
            with torch.no_grad():
                module.model.weight.fill_(float(epoch + 1))
            trainer.current_epoch = epoch
            guard.on_train_epoch_end(trainer, module)
            if trainer.should_stop:
                break
    return module, trainer, [w for w in caught if w.category is CatastrophicOverfittingWarning]


def make_guard(early_stop: bool) -> OverfitGuard:
    cfg = AdversarialConfig(attack="fgsm", eps=0.1, early_stop=early_stop)
    return OverfitGuard(cfg, torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))


def test_it_warns_once_and_records_the_first_overfitted_epoch():
    guard = make_guard(early_stop=False)
    module, trainer, warned = drive(guard, [(0.7, 0.5), (0.8, 0.6), (0.97, 0.02), (0.98, 0.0)])
    assert len(warned) == 1 and not trainer.should_stop
    message = str(warned[0].message)
    assert message.startswith("epoch 3: catastrophic overfitting")
    assert "adversarial.early_stop true" in message and "adversarial.step_size" in message
    found = guard.found.as_dict()
    assert found["epoch"] == 3 and found["best_epoch"] == 2 and not found["stopped_early"]
    assert found["pgd_accuracy"] == 0.02 and found["best_pgd_accuracy"] == 0.6
    assert ("train/overfit_check/pgd_acc", 0.0) in module.logged  # every epoch is logged
    assert module.model.weight.detach()[0, 0].item() == 4.0  # nothing restored


def test_early_stop_restores_the_best_pgd_epoch():
    guard = make_guard(early_stop=True)
    module, trainer, warned = drive(guard, [(0.7, 0.5), (0.8, 0.6), (0.8, 0.55), (0.97, 0.02)])
    assert trainer.should_stop and len(warned) == 1
    assert "training stopped and the best epoch's weights were restored" in str(warned[0].message)
    assert guard.found.epoch == 4 and guard.found.stopped_early and guard.found.best_epoch == 2
    assert module.model.weight.detach()[0, 0].item() == 2.0  # the weights of epoch 2, the best PGD


def test_its_state_survives_a_checkpoint():
    guard = make_guard(early_stop=True)
    drive(guard, [(0.7, 0.5), (0.97, 0.02)])
    again = make_guard(early_stop=True)
    again.load_state_dict(guard.state_dict())
    assert again.found == guard.found and again.best_epoch == 1 and again.best_pgd == 0.5

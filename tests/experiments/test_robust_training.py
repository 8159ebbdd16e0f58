"""The robust-training grid's cells: equal wall-clock through step budgets, the baseline first."""

from dataclasses import replace
from pathlib import Path

import pytest

from largemargin.experiments import reproduce, robust_training
from largemargin.experiments.grid import BASELINE

GRID = robust_training.RobustTrainingGrid(
    seeds=[0, 1], train_size=640, batch_size=64, budgets=[10.0, 20.0]
)
COSTS = {label: 0.01 * (i + 1) for i, label in enumerate(robust_training.METHODS)}


def test_every_method_gets_the_budget_over_its_step_cost(tmp_path: Path):
    cells = robust_training.cells(GRID, COSTS, None, tmp_path)
    assert len(cells) == len(GRID.budgets) * len(GRID.methods) * len(GRID.seeds)
    for cell in cells:
        steps = cell.config.trainer.max_steps
        assert steps == round(cell.setting / COSTS[cell.loss])
        assert cell.config.trainer.epochs * 10 >= steps  # 640 / 64 = 10 steps an epoch
        loss, adversarial = robust_training.METHODS[cell.loss]
        assert cell.config.adversarial == adversarial
        assert cell.config.adversarial is not adversarial  # a copy, not the shared default
        assert cell.config.loss == loss
    for budget in GRID.budgets:
        at = [c for c in cells if c.setting == budget]
        assert [c.loss for c in at[: len(GRID.seeds)]] == [BASELINE] * len(GRID.seeds)


def test_trades_and_adversarial_methods_are_configured_as_named():
    trades_loss, trades_adv = robust_training.METHODS["TRADES (beta 6)"]
    assert trades_loss.trades_beta == 6.0 and trades_adv.attack == "pgd"
    assert robust_training.METHODS["margin + FGSM-RS"][1].attack == "fgsm"
    assert robust_training.METHODS["margin + FGSM-RS"][0].kind == "large_margin"
    assert robust_training.METHODS[BASELINE][1].attack is None


@pytest.mark.parametrize(
    "change, named",
    [
        ({"methods": ["hinge-ish"]}, "methods"),
        ({"methods": ["FGSM-RS"]}, "methods"),
        ({"budgets": [0.0]}, "budgets"),
        ({"budgets": [float("nan")]}, "budgets"),
        ({"epsilons": [1.5]}, "epsilons"),
        ({"autoattack_groups": ["nope"]}, "autoattack_groups"),
        ({"calibration_steps": 2}, "calibration_steps"),
    ],
)
def test_bad_grid_is_refused_naming_the_field(change, named, tmp_path: Path):
    with pytest.raises(ValueError, match=named):
        robust_training.cells(replace(GRID, **change), COSTS, None, tmp_path)
    assert not any(tmp_path.iterdir())


def test_reproduce_knows_the_grid():
    assert reproduce.GRIDS["robust-training"][0] is robust_training
    assert robust_training.QUICK.seeds and len(robust_training.QUICK.seeds) >= 2

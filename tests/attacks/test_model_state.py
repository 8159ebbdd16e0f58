"""Attacks run the model in eval mode, restore every module's mode, even on exception, and
never touch parameters' gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from largemargin.attacks import (
    accuracy_under_attack,
    evaluate_robustness,
    fgsm,
    iterative_fgsm,
    pgd,
    square,
)

ATTACKS = {
    "fgsm": lambda m, x, y: fgsm(m, x, y, 0.1),
    "iterative_fgsm": lambda m, x, y: iterative_fgsm(m, x, y, 0.5, steps=3, norm=2),
    "pgd": lambda m, x, y: pgd(m, x, y, 0.1, steps=2, restarts=2),
    "pgd-margin": lambda m, x, y: pgd(m, x, y, 0.1, steps=2, restarts=2, loss="margin"),
    "square": lambda m, x, y: square(m, x, y, 0.1, n_queries=5),
    "evaluate_robustness": lambda m, x, y: evaluate_robustness(
        m, x, y, [0.1], steps=2, restarts=1, square_queries=3, batch_size=4
    ),
    "accuracy_under_attack": lambda m, x, y: accuracy_under_attack(m, (x, y), "pgd", [0, 0.1]),
}


class ModeRecorder(nn.Module):
    """Identity that records the ``training`` flag of every forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(self.training)
        return x


class Explode(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


def model_with_state() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        ModeRecorder(),
        nn.Linear(6, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(8, 3),
    )


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_uses_eval_mode_and_restores_train_mode_and_leaves_grads_alone(name):
    model = model_with_state().train()
    bn = model[2]
    running_mean = bn.running_mean.clone()
    x, y = torch.rand(10, 6), torch.randint(0, 3, (10,))
    x_before = x.clone()

    out = ATTACKS[name](model, x, y)

    assert model[0].seen and not any(model[0].seen)  # every forward in eval mode
    assert all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(bn.running_mean, running_mean)  # batch norm ran in eval mode
    assert torch.equal(x, x_before)
    if isinstance(out, torch.Tensor):
        assert not out.requires_grad


@pytest.mark.parametrize("name", ATTACKS)
def test_each_module_gets_its_own_mode_back(name):
    model = model_with_state().train()
    model[2].eval()  # frozen batch norm inside a training model

    ATTACKS[name](model, torch.rand(10, 6), torch.randint(0, 3, (10,)))

    assert [m.training for m in model] == [True, True, False, True, True, True]


@pytest.mark.parametrize("name", ATTACKS)
def test_modes_are_restored_when_the_model_raises(name):
    model = nn.Sequential(nn.Linear(6, 3), nn.Dropout(), Explode()).train()

    with pytest.raises(RuntimeError, match="boom"):
        ATTACKS[name](model, torch.rand(4, 6), torch.randint(0, 3, (4,)))

    assert all(m.training for m in model.modules())


def test_existing_parameter_gradients_are_not_accumulated_into():
    model = model_with_state()
    for p in model.parameters():
        p.grad = torch.ones_like(p)

    for name in ATTACKS:
        ATTACKS[name](model, torch.rand(10, 6), torch.randint(0, 3, (10,)))

    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in model.parameters())


def test_attacks_work_inside_no_grad():
    model, x, y = model_with_state(), torch.rand(10, 6), torch.randint(0, 3, (10,))
    expected = fgsm(model, x, y, 0.1)
    with torch.no_grad():
        assert torch.equal(fgsm(model, x, y, 0.1), expected)


@pytest.mark.parametrize("name", ATTACKS)
def test_an_input_that_requires_grad_gets_no_grad_and_no_graph(name):
    model = model_with_state()
    x = torch.rand(10, 6).requires_grad_()

    out = ATTACKS[name](model, x, torch.randint(0, 3, (10,)))

    assert x.grad is None
    if isinstance(out, torch.Tensor):
        assert not out.requires_grad and out.grad_fn is None

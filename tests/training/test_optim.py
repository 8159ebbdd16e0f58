"""Optimisers and schedules: AdamW's decay is decoupled (applied by the optimiser, no L2 term in
the loss), the other optimisers' is an L2 term; every schedule ends on the run's last step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from largemargin.training import LossConfig, MarginClassifier, OptimConfig
from largemargin.training.optim import build_optimizer, build_schedule


def _module(name: str, weight_decay: float) -> MarginClassifier:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    optim = OptimConfig(name=name, weight_decay=weight_decay)
    return MarginClassifier(model, LossConfig(kind="cross_entropy"), optim, ["input"])


def _batch():
    return torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])


def test_adamw_decays_the_weights_itself_and_adds_no_l2_term_to_the_loss():
    module = _module("adamw", 0.1)
    terms = module.objective(module.model, *_batch())
    assert set(terms.parts) == {"cross_entropy"}
    optimizer = build_optimizer(module.optim_cfg, module.model)
    assert isinstance(optimizer, torch.optim.AdamW)
    before = [p.detach().clone() for p in module.model.parameters()]
    for p in module.model.parameters():
        p.grad = torch.zeros_like(p)  # no gradient: the step is the decay alone
    optimizer.step()
    lr = module.optim_cfg.lr
    for old, new in zip(before, module.model.parameters(), strict=True):
        torch.testing.assert_close(new.detach(), old * (1 - lr * 0.1))


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adam"])
def test_other_optimisers_add_weight_decay_to_the_loss_as_l2(name):
    module = _module(name, 0.1)
    terms = module.objective(module.model, *_batch())
    squares = sum(p.pow(2).sum() for p in module.model.parameters())
    torch.testing.assert_close(terms.parts["weight_decay"], 0.5 * 0.1 * squares)
    optimizer = build_optimizer(module.optim_cfg, module.model)
    assert all(group["weight_decay"] == 0 for group in optimizer.param_groups)


@pytest.mark.parametrize(
    ("schedule", "final"), [("cosine", 0.0), ("onecycle", 1e-2 / 25 / 1e4), ("constant", 1e-2)]
)
@pytest.mark.parametrize("steps", [2, 7])
def test_schedule_reaches_its_final_value_on_the_last_step(schedule, final, steps):
    cfg = OptimConfig(name="sgd", lr=1e-2, schedule=schedule)
    optimizer = build_optimizer(cfg, nn.Linear(2, 2))
    scheduler = build_schedule(cfg, optimizer, steps)
    used = []
    for _ in range(steps):  # as Lightning: optimiser step, then schedule step
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert len(used) == steps and used[-1] == pytest.approx(final, abs=1e-15)
    assert max(used) <= 1e-2 * (1 + 1e-12)

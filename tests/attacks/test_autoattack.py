"""The AutoAttack wrapper: its install hint, its arguments and guards (on a stand-in), and
the real torchattacks attack on a linear model whose boundary distances are exact."""

from __future__ import annotations

import sys
import types
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from largemargin.attacks import autoattack
from tests.attacks.toy import exact_distances, linear_model


def test_missing_library_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # makes the import fail
    x, y = torch.rand(2, 1, 5, 5), torch.tensor([0, 1])
    model = nn.Sequential(nn.Flatten(), nn.Linear(25, 4))
    with pytest.raises(ImportError, match=r"pip install largemargin\[robust\]"):
        autoattack(model, x, y, 0.1, n_classes=4)


class FakeAutoAttack:
    """Stands in for torchattacks.AutoAttack: records its arguments and the model's mode,
    calls ``backward`` through the model (as FAB does) and reseeds the global RNG."""

    calls: ClassVar[list[dict]] = []

    def __init__(self, model, **kwargs):
        self.model, self.kwargs = model, kwargs

    def __call__(self, x, y):
        FakeAutoAttack.calls.append({**self.kwargs, "training": self.model.training})
        x = x.clone().requires_grad_()
        F.cross_entropy(self.model(x), y).backward()
        torch.manual_seed(self.kwargs["seed"])
        if self.kwargs["eps"] > 1:
            raise RuntimeError("boom")
        return (x + 0.01).detach()


@pytest.mark.parametrize(("norm", "name"), [("inf", "Linf"), (2, "L2")])
def test_wrapper_passes_its_arguments_and_guards_the_model_and_the_rng(monkeypatch, norm, name):
    monkeypatch.setitem(
        sys.modules, "torchattacks", types.SimpleNamespace(AutoAttack=FakeAutoAttack)
    )
    FakeAutoAttack.calls.clear()
    model = nn.Sequential(nn.Flatten(), nn.Linear(25, 4), nn.Dropout()).train()
    x, y = torch.rand(3, 1, 5, 5), torch.tensor([0, 1, 3])
    rng_state = torch.random.get_rng_state()

    x_adv = autoattack(model, x, y, 0.25, norm=norm, n_classes=4, seed=7)
    with pytest.raises(RuntimeError, match="boom"):
        autoattack(model, x, y, 2.0, norm=norm, n_classes=4)

    expected = {"norm": name, "eps": 0.25, "version": "standard", "n_classes": 4, "seed": 7}
    assert FakeAutoAttack.calls[0] == {**expected, "training": False}
    torch.testing.assert_close(x_adv, x + 0.01)
    assert all(m.training for m in model.modules())
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert torch.equal(torch.random.get_rng_state(), rng_state)


@pytest.mark.parametrize(("norm", "dual"), [("inf", 1), ("2", 2)])
def test_autoattack_breaks_every_example_within_reach_and_stays_in_the_ball(norm, dual):
    pytest.importorskip("torchattacks")
    # Four classes, logits W x + b: each example's exact distance to the boundary is known
    # (see toy). With eps just beyond the largest one the attack must flip every example
    # while staying in the ball (where no example farther than eps could flip). An eps below
    # some distances would send those examples on to Square's 5000 queries: seconds a test.
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(4, 36, generator=g)
    bias = -0.5 * weight.sum(dim=1)
    x = 0.35 + 0.3 * torch.rand(12, 1, 6, 6, generator=g)
    model = nn.Sequential(nn.Flatten(), linear_model(weight, bias), nn.Dropout()).train()
    y, dist = exact_distances(weight, bias, x, dual)
    eps = 1.05 * dist.max().item()
    assert dist.max() > 2 * dist.median()  # some examples need nearly all of eps
    rng_state = torch.random.get_rng_state()

    x_adv = autoattack(model, x, y, eps, norm=norm, n_classes=4)

    # the model's modes, its gradients and the global RNG are as they were
    assert all(m.training for m in model.modules())
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    delta = (x_adv - x).flatten(1).norm(p=float(norm), dim=1)
    assert (delta <= eps * (1 + 1e-4)).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (model.eval()(x_adv).argmax(dim=1) != y).all()

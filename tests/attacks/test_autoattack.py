"""The AutoAttack wrapper: its install hint, its arguments and guards (on a stand-in for the
reference code), and the real pyautoattack on linear models whose boundary distances are
exact."""

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
    monkeypatch.setitem(sys.modules, "pyautoattack", None)  # makes the import fail
    x, y = torch.rand(2, 1, 5, 5), torch.tensor([0, 1])
    model = nn.Sequential(nn.Flatten(), nn.Linear(25, 4))
    with pytest.raises(ImportError, match=r"pyautoattack.*pip install largemargin\[robust\]"):
        autoattack(model, x, y, 0.1, n_classes=4)


class FakeAutoAttack:
    """Stands in for pyautoattack.AutoAttack: records its arguments, its settings when run and
    the model's mode, calls ``backward`` through the model (as FAB does), reseeds the global
    RNG and clears the trace function (as its dynamic-defence check does)."""

    calls: ClassVar[list[dict]] = []

    def __init__(self, model, **kwargs):
        self.model, self.kwargs, self.verbose = model, kwargs, True
        self.apgd_targeted = types.SimpleNamespace(n_target_classes=9)
        self.fab = types.SimpleNamespace(n_target_classes=9)

    def run_standard_evaluation(self, x, y, *, batch_size):
        FakeAutoAttack.calls.append(
            {
                **self.kwargs,
                "training": self.model.training,
                "verbose": self.verbose,
                "targets": (self.apgd_targeted.n_target_classes, self.fab.n_target_classes),
                "batch_size": batch_size,
            }
        )
        x = x.clone().requires_grad_()
        F.cross_entropy(self.model(x), y).backward()
        torch.manual_seed(self.kwargs["seed"])
        sys.settrace(None)
        if self.kwargs["eps"] > 1:
            raise RuntimeError("boom")
        return (x + 0.01).detach(), y


def _tracer(frame, event, arg):
    return None


@pytest.mark.parametrize(("norm", "name"), [("inf", "Linf"), (2, "L2")])
def test_wrapper_passes_its_arguments_and_guards_the_model_and_the_rng(monkeypatch, norm, name):
    monkeypatch.setitem(
        sys.modules, "pyautoattack", types.SimpleNamespace(AutoAttack=FakeAutoAttack)
    )
    FakeAutoAttack.calls.clear()
    model = nn.Sequential(nn.Flatten(), nn.Linear(25, 4), nn.Dropout()).train()
    x, y = torch.rand(3, 1, 5, 5), torch.tensor([0, 1, 3])
    rng_state = torch.random.get_rng_state()
    previous = sys.gettrace()
    sys.settrace(_tracer)
    try:
        x_adv = autoattack(model, x, y, 0.25, norm=norm, n_classes=4, seed=7, batch_size=2)
        with pytest.raises(RuntimeError, match="boom"):
            autoattack(model, x, y, 2.0, norm=norm, n_classes=4)
        tracer = sys.gettrace()
    finally:
        sys.settrace(previous)

    expected = {"norm": name, "eps": 0.25, "version": "standard", "seed": 7, "device": x.device}
    assert FakeAutoAttack.calls[0] == {
        **expected,
        "training": False,
        "verbose": False,
        "targets": (3, 3),  # every other class of four, not the published nine
        "batch_size": 2,
    }
    assert tracer is _tracer
    torch.testing.assert_close(x_adv, x + 0.01)
    assert all(m.training for m in model.modules())
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert torch.equal(torch.random.get_rng_state(), rng_state)


@pytest.mark.parametrize(("norm", "dual"), [("inf", 1), ("2", 2)])
def test_autoattack_breaks_every_example_within_reach_and_stays_in_the_ball(norm, dual, capsys):
    pytest.importorskip("pyautoattack", reason="the reference AutoAttack is an optional extra")
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

    # the model's modes, its gradients and the global RNG are as they were; nothing printed
    assert all(m.training for m in model.modules())
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    assert capsys.readouterr() == ("", "")
    delta = (x_adv - x).flatten(1).norm(p=float(norm), dim=1)
    assert (delta <= eps * (1 + 1e-4)).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (model.eval()(x_adv).argmax(dim=1) != y).all()


@pytest.mark.slow
def test_standard_version_on_mnist_sized_images_flips_exactly_the_reachable_ones():
    pytest.importorskip("pyautoattack", reason="the reference AutoAttack is an optional extra")
    # Ten classes on 28 x 28 images, a small l-inf eps: the examples closer to the boundary
    # than eps must flip, the farther ones cannot; all four attacks of the standard version
    # run on the survivors (Square's 5000 queries on a few images).
    g = torch.Generator().manual_seed(1)
    weight = torch.randn(10, 784, generator=g) / 28
    x = torch.rand(6, 1, 28, 28, generator=g)
    bias = -(x.flatten(1) @ weight.T).mean(dim=0)
    model = nn.Sequential(nn.Flatten(), linear_model(weight, bias))
    y, dist = exact_distances(weight, bias, x, 1)
    eps = dist.median().item()
    near, far = dist < 0.95 * eps, dist > 1.05 * eps
    assert near.sum() >= 2 and far.sum() >= 2

    x_adv = autoattack(model, x, y, eps, n_classes=10)

    assert (x_adv - x).abs().max() <= eps * (1 + 1e-5)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    flipped = model(x_adv).argmax(dim=1) != y
    assert flipped[near].all() and not flipped[far].any()

"""The robustness suite: each gradient-masking check on a model built to fail it and on one
built to pass it, the per-example worst case, transfer, determinism, the report and its
arguments."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from largemargin.attacks import RobustnessReport, evaluate_robustness
from largemargin.attacks import robustness as robustness_module
from largemargin.attacks.robustness import CHECK_NAMES
from largemargin.torch_utils import per_example
from tests.attacks.toy import linear_model

ERASE, ITERATIVE, BELOW_CLEAN, ZERO_GRAD, GRADIENT_FREE = CHECK_NAMES
FAST = {"steps": 10, "restarts": 1, "square_queries": 200}


@pytest.fixture(scope="module")
def problem():
    """A linear model on 48 images of 6 x 6 pixels in [0, 1], four classes, the labels its own
    predictions except four wrong ones (so clean accuracy is below 1)."""
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(4, 36, generator=g)
    bias = -0.5 * weight.sum(dim=1)
    x = torch.rand(48, 1, 6, 6, generator=g)
    model = nn.Sequential(nn.Flatten(), linear_model(weight, bias))
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    y[:4] = (y[:4] + 1) % 4
    return model, weight, bias, x, y


def by_name(report: RobustnessReport) -> dict[str, dict]:
    return {c["check"]: c for c in report.checks}


def accuracy(report: RobustnessReport, attack: str, eps: float) -> float:
    (row,) = [r for r in report.rows if r["attack"] == attack and r["eps"] == eps]
    return row["accuracy"]


class Floor(nn.Module):
    """Quantises the input to quarters: a step function, zero gradient everywhere."""

    def forward(self, x):
        return torch.floor(x * 4) / 4


class _Misleading(torch.autograd.Function):
    """Identity whose backward returns the true gradient at the stored data points and its
    negative anywhere else (a stand-in for shattered gradients)."""

    @staticmethod
    def forward(ctx, x, data):
        ctx.save_for_backward(x, data)
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        x, data = ctx.saved_tensors
        at_data = (x.flatten(1)[:, None] == data.flatten(1)[None]).all(dim=2).any(dim=1)
        sign = torch.where(at_data, 1.0, -1.0).to(grad)
        return grad * per_example(sign, grad), None


class Misleading(nn.Module):
    def __init__(self, inner: nn.Module, data: torch.Tensor):
        super().__init__()
        self.inner, self.data = inner, data

    def forward(self, x):
        return self.inner(_Misleading.apply(x, self.data))


class Memoriser(nn.Module):
    """One-hot logits of the label of the nearest stored point in l-inf (ties: the first).
    With binary stored images, every point within l-inf 0.5 of one of them is strictly
    nearest to it, except on the ties at exactly 0.5, such as the mid-grey image: robust to
    almost every perturbation of size 0.5, yet not robust at all (grey is one class)."""

    def __init__(self, data: torch.Tensor, labels: torch.Tensor, n_classes: int):
        super().__init__()
        self.data, self.labels, self.n_classes = data.flatten(1), labels, n_classes

    def forward(self, x):
        dist = (x.flatten(1)[:, None] - self.data[None]).abs().amax(dim=2)
        onehot = F.one_hot(self.labels[dist.argmin(dim=1)], self.n_classes).to(x.dtype)
        return onehot + 0 * x.flatten(1).sum(dim=1, keepdim=True)  # differentiable, flat


def test_a_linear_model_passes_every_check(problem):
    model, _, _, x, y = problem

    report = evaluate_robustness(model, x, y, [0.0, 0.05, 0.1], **FAST)

    assert all(c["passed"] for c in report.checks), report.to_markdown()
    assert not report.masking_suspected
    assert [c["check"] for c in report.checks] == list(CHECK_NAMES)
    assert report.clean_accuracy == pytest.approx(44 / 48)
    assert report.zero_gradient_share == 0.0
    assert [w["eps"] for w in report.worst] == [0.0, 0.05, 0.1, 0.5]  # 0.5: erase_eps
    assert report.worst[0]["accuracy"] == report.clean_accuracy
    assert report.worst[-1]["accuracy"] == 0.0
    assert accuracy(report, "pgd-margin", 0.1) < 0.3
    assert "gradient masking suspected" not in report.to_markdown()


def test_a_step_function_has_zero_gradients_and_square_breaks_it(problem):
    model, _, _, x, y = problem
    stepped = nn.Sequential(Floor(), model)
    y = stepped(x).argmax(dim=1)

    report = evaluate_robustness(stepped, x, y, [0.1], **FAST)

    checks = by_name(report)
    assert report.zero_gradient_share == 1.0
    assert not checks[ZERO_GRAD]["passed"] and "100.0%" in checks[ZERO_GRAD]["detail"]
    assert not checks[GRADIENT_FREE]["passed"] and "square" in checks[GRADIENT_FREE]["detail"]
    assert accuracy(report, "square", 0.1) < accuracy(report, "pgd-margin", 0.1) - 0.3
    assert report.masking_suspected
    text = report.to_markdown()
    assert f"gradient masking suspected**: {ZERO_GRAD}; {GRADIENT_FREE}" in text
    assert f"- FAIL: {ZERO_GRAD}:" in text and f"- pass: {ERASE}:" in text


def test_a_saturated_softmax_fails_the_zero_gradient_check_and_pgd_margin_breaks_it(problem):
    model, weight, bias, x, y = problem
    saturated = nn.Sequential(nn.Flatten(), linear_model(1000 * weight, 1000 * bias))

    report = evaluate_robustness(saturated, x, y, [0.1], attacks=["pgd-ce", "pgd-margin"], **FAST)
    honest = evaluate_robustness(model, x, y, [0.1], attacks=["pgd-margin"], **FAST)

    assert report.zero_gradient_share > 0.8
    assert not by_name(report)[ZERO_GRAD]["passed"] and report.masking_suspected
    # the same decision boundary as the unsaturated model: the margin loss sees it
    assert accuracy(report, "pgd-margin", 0.1) == pytest.approx(
        accuracy(honest, "pgd-margin", 0.1), abs=0.05
    )
    assert accuracy(report, "pgd-ce", 0.1) > accuracy(report, "pgd-margin", 0.1) + 0.3


def test_gradients_that_mislead_away_from_the_data_fail_the_iterative_and_clean_checks(problem):
    model, _, _, x, y = problem

    report = evaluate_robustness(Misleading(model, x), x, y, [0.1], **FAST)

    checks = by_name(report)
    assert not checks[ITERATIVE]["passed"] and "pgd-ce" in checks[ITERATIVE]["detail"]
    assert not checks[BELOW_CLEAN]["passed"]
    assert accuracy(report, "pgd-ce", 0.1) > report.clean_accuracy
    assert accuracy(report, "fgsm", 0.1) < accuracy(report, "pgd-ce", 0.1) - 0.2
    assert checks[ZERO_GRAD]["passed"]  # its gradients are not zero, just wrong


@pytest.mark.slow
def test_a_memoriser_that_no_attack_moves_fails_the_erase_check():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 2, (24, 1, 8, 8), generator=g).float()
    y = torch.arange(24) % 4

    report = evaluate_robustness(Memoriser(x, y, 4), x, y, [0.1], **FAST)

    checks = by_name(report)
    assert report.worst[-1]["eps"] == 0.5 and report.worst[-1]["accuracy"] == 1.0
    assert not checks[ERASE]["passed"]
    assert "100.0% at eps 0.5" in checks[ERASE]["detail"]
    assert "largest class share 25.0%" in checks[ERASE]["detail"]
    # the mid-grey image is one class for all of them: the ball hides no robustness
    grey = torch.full((1, 1, 8, 8), 0.5)
    assert (Memoriser(x, y, 4)(grey).argmax(dim=1) == y).float().mean() == 0.25


def test_transfer_from_a_reference_model_breaks_a_step_function(problem):
    model, _, _, x, y = problem
    stepped = nn.Sequential(Floor(), model)
    y = stepped(x).argmax(dim=1)

    report = evaluate_robustness(
        stepped, x, y, [0.1], attacks=["pgd-margin"], reference_model=model, **FAST
    )
    fair = evaluate_robustness(model, x, y, [0.1], attacks=["pgd-margin"], reference_model=model)

    assert accuracy(report, "transfer", 0.1) < accuracy(report, "pgd-margin", 0.1) - 0.3
    detail = by_name(report)[GRADIENT_FREE]["detail"]
    assert not by_name(report)[GRADIENT_FREE]["passed"] and "transfer" in detail
    # crafted on the model itself, transfer is PGD again: no failure
    assert by_name(fair)[GRADIENT_FREE]["passed"]


def test_worst_case_is_per_example_over_all_attacks(monkeypatch):
    # logits (x0 - 0.5, 0.5 - x0): every example is class 0 at x0 = 0.9, 0.4 from the
    # boundary. Stand-in attacks flip fixed examples by setting x0 = 0.1; PGD at eps 0.01
    # flips none. The worst case must count the union of the flipped sets.
    model = nn.Sequential(
        nn.Flatten(), linear_model(torch.tensor([[1.0, 0], [-1, 0]]), torch.tensor([-0.5, 0.5]))
    )
    x = torch.full((10, 1, 1, 2), 0.9)
    y = torch.zeros(10, dtype=torch.long)

    def flipping(indices):
        def attack(model, x, y, eps, **kwargs):
            out = x.clone()
            out[indices, 0, 0, 0] = 0.1
            return out

        return attack

    monkeypatch.setattr(robustness_module, "fgsm", flipping([0, 1, 2]))
    monkeypatch.setattr(robustness_module, "square", flipping([2, 3]))
    report = evaluate_robustness(model, x, y, [0.01], **FAST)

    assert accuracy(report, "fgsm", 0.01) == 0.7
    assert accuracy(report, "square", 0.01) == 0.8
    assert accuracy(report, "pgd-ce", 0.01) == 1.0
    assert report.worst[0] == {"eps": 0.01, "accuracy": 0.6, "n": 10}


def test_two_calls_give_the_same_report_and_the_seed_matters(problem):
    model, _, _, x, y = problem
    kwargs = {"attacks": ["pgd-ce", "square"], "steps": 3, "restarts": 2, "square_queries": 3}

    first = evaluate_robustness(model, x, y, [0.05], **kwargs)
    second = evaluate_robustness(model, x, y, [0.05], **kwargs)
    other = evaluate_robustness(model, x, y, [0.05], seed=1, **kwargs)

    assert dataclasses.asdict(first) == dataclasses.asdict(second)
    assert first.rows != other.rows


def test_erase_eps_among_the_epsilons_gets_the_whole_set_and_the_erase_attacks(problem):
    model, _, _, x, y = problem

    report = evaluate_robustness(model, x, y, [0.1, 0.3], attacks=["fgsm"], erase_eps=0.3, **FAST)

    assert [(r["attack"], r["eps"]) for r in report.rows] == [
        ("fgsm", 0.1),
        ("fgsm", 0.3),
        ("pgd-margin", 0.3),
        ("square", 0.3),
    ]
    assert "0.3 (fgsm, pgd-margin, square)" in by_name(report)[ERASE]["detail"]


def test_l2_with_its_default_erase_eps(problem):
    model, _, _, x, y = problem

    report = evaluate_robustness(model, x, y, [0.5], norm=2, **FAST)

    assert report.norm == 2.0
    assert [w["eps"] for w in report.worst] == [0.5, 3.0]  # 0.5 sqrt(36)
    assert report.worst[-1]["accuracy"] == 0.0
    assert not report.masking_suspected, report.to_markdown()


def test_markdown_table_and_progress_bar(problem, capsys):
    model, _, _, x, y = problem

    report = evaluate_robustness(
        model, x, y, [0.0, 0.1], attacks=["fgsm", "square"], progress=True, batch_size=20, **FAST
    )

    text = report.to_markdown()
    lines = text.splitlines()
    header = "| eps | fgsm | square | pgd-margin | worst case |"
    assert header in lines
    row = lines[lines.index(header) + 2]
    assert row == f"| 0 | {44 / 48:.1%} | {44 / 48:.1%} | - | {44 / 48:.1%} |"
    assert lines[lines.index(header) + 4].startswith("| 0.5 | - | 0.0% | 0.0% | 0.0% |")
    assert "(fgsm, square, pgd-margin)" in lines[0]
    # 3 batches for each of (fgsm, 0.1), (square, 0.1), (pgd-margin, 0.5), (square, 0.5)
    assert "12/12" in capsys.readouterr().err


BAD = {
    "unknown attack": ({"attacks": ["cw"]}, r"attacks must be distinct names from .*'cw'"),
    "duplicate attack": ({"attacks": ["fgsm", "fgsm"]}, r"attacks must be distinct"),
    "transfer by name": ({"attacks": ["transfer"]}, r"added by passing reference_model"),
    "no epsilons": ({"epsilons": []}, r"epsilons must be a non-empty sequence"),
    "negative eps": ({"epsilons": [0.1, -0.1]}, r"eps must be a finite number >= 0"),
    "zero erase_eps": ({"erase_eps": 0.0}, r"erase_eps must be > 0"),
    "unbounded range": (
        {"clip_min": -float("inf")},
        r"erase_eps must be given when the input range is unbounded",
    ),
    "autoattack off [0, 1]": (
        {"attacks": ["autoattack"], "clip_min": -1.0, "erase_eps": 0.5},
        r"'autoattack', which needs inputs in \[0, 1\]",
    ),
    "dlr on two classes": ({"attacks": ["pgd-dlr"], "two": True}, r"'pgd-dlr'.*>= 3 classes"),
    "zero square_queries": ({"square_queries": 0}, r"square_queries must be an int >= 1"),
    "negative seed": ({"seed": -1}, r"seed must be an int >= 0"),
    "bad norm": ({"norm": 1}, r"norm must be 'inf' or 2"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_arguments(case):
    kwargs, message = BAD[case]
    kwargs = dict(kwargs)
    classes = 2 if kwargs.pop("two", False) else 4
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, classes))
    x, y = torch.rand(3, 1, 2, 2), torch.tensor([0, 1, 1])
    epsilons = kwargs.pop("epsilons", [0.1])
    with pytest.raises(ValueError, match=message):
        evaluate_robustness(model, x, y, epsilons, **kwargs)

"""The adversarial experiment: its variants, and a shrunk end-to-end run on real MNIST."""

from __future__ import annotations

import csv
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from largemargin.experiments import adversarial

HAS_AUTOATTACK = adversarial.HAS_AUTOATTACK  # the optional extra largemargin[robust]


def test_cells_train_the_baseline_first_and_every_variant(tmp_path):
    g = adversarial.QUICK
    cells = adversarial.cells(g, "/mnist", tmp_path)
    assert [c.loss for c in cells[: len(g.seeds)]] == ["cross-entropy"] * len(g.seeds)
    loss = {c.loss: (c.config.loss, c.config.model.margin_layers) for c in cells}
    assert loss["cross-entropy"][0].kind == "cross_entropy"
    reference = loss["reference (softmax, first-order)"][0].margin
    assert (reference.score, reference.second_order, reference.gamma) == ("prob", False, 10000.0)
    second = loss["logit, second-order, gamma 100"][0].margin
    assert (second.score, second.second_order, second.gamma) == ("logit", True, 100.0)
    assert loss["logit, second-order, input only"][1] == ["input"]
    assert loss["logit, second-order"][1] == ["input", "block1", "block2"]
    assert len({c.config.name for c in cells}) == len(cells) == len(g.models) * len(g.seeds)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"models": ["margin l7"]}, "models: 'margin l7' is not one of"),
        ({"models": ["logit, first-order"]}, "must include 'cross-entropy'"),
        ({"autoattack_models": ["nope"]}, "models: 'nope' is not one of"),
        ({"epsilons": [0.0, 0.1]}, r"epsilons: expected radii in \(0, 1\]"),
    ],
)
def test_bad_grids_are_refused_before_training(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        adversarial.cells(replace(adversarial.QUICK, **change), None, tmp_path)


@pytest.mark.slow
def test_adversarial_end_to_end(tmp_path, mnist_dir):
    g = adversarial.AdversarialGrid(
        seeds=[0],
        train_size=200,
        epochs=2,
        batch_size=50,
        epsilons=[0.1, 0.3],
        steps=3,
        square_queries=30,
        attack_examples=40,
        autoattack_examples=8 if HAS_AUTOATTACK else 0,
        autoattack_models=["cross-entropy"],
        margin_examples=12,
        models=["cross-entropy", "logit, first-order"],
    )
    report = adversarial.run(g, str(mnist_dir), tmp_path)
    assert "### Headline" in report and "worst case 0.1" in report
    assert "| cross-entropy |" in report and "| logit, first-order |" in report
    rows = list(csv.DictReader((tmp_path / "attacks.csv").open()))
    for model in g.models:
        clean = [
            float(r["accuracy"]) for r in rows if r["model"] == model and r["attack"] == "clean"
        ]
        assert len(clean) == 1
        for eps in ("0.1", "0.3"):
            at = {
                r["attack"]: float(r["accuracy"])
                for r in rows
                if r["model"] == model and r["eps"] == eps
            }
            assert {"fgsm", "pgd-ce", "pgd-margin", "square", "worst case"} <= set(at)
            # the worst case is per example over the set: never above any single attack
            assert at["worst case"] <= min(v for k, v in at.items() if k != "worst case")
            assert at["worst case"] <= clean[0]
    autoattack = [(r["model"], r["eps"], r["n"]) for r in rows if r["attack"] == "autoattack"]
    expected = [("cross-entropy", "0.1", "8"), ("cross-entropy", "0.3", "8")]
    assert autoattack == (expected if HAS_AUTOATTACK else [])
    assert "not run" in report  # the other model's AutoAttack cells
    transfer = {r["model"] for r in rows if r["attack"].startswith("transfer")}
    assert transfer == {"logit, first-order"}  # from the cross-entropy model, not to itself
    checks = list(csv.DictReader((tmp_path / "checks.csv").open()))
    assert {c["model"] for c in checks} == set(g.models)
    assert all(c["passed"] in ("True", "False") for c in checks)
    agreement = list(csv.DictReader((tmp_path / "agreement.csv").open()))
    assert [(a["model"], a["norm"]) for a in agreement] == [
        (m, n) for m in g.models for n in ("l2", "l-inf")
    ]
    for name in ("accuracy_vs_eps.png", "true_margins.png", "agreement-cross-entropy-l2.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert "Gradient-masking checks" in report and "First-order vs true input margin" in report


def test_suite_reports_are_kept_in_the_run_folder_and_read_back_for_the_same_settings(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    x, y = torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    grid = SimpleNamespace(
        attack_examples=6, epsilons=[0.05, 0.2], steps=3, restarts=1, square_queries=10
    )
    record = tmp_path / "robustness.json"
    first = adversarial.suite_report(grid, model, x, y, None, 0, record)
    assert record.is_file()

    class Untouchable(torch.nn.Module):
        def forward(self, x):
            raise AssertionError("attacked again although the report was kept")

    assert adversarial.suite_report(grid, Untouchable(), x, y, None, 0, record) == first
    # other settings (here: the seed of the random starts) attack again, and overwrite it
    again = adversarial.suite_report(grid, model, x, y, None, 1, record)
    assert again.n == first.n and record.is_file()
    with pytest.raises(AssertionError, match="attacked again"):
        adversarial.suite_report(grid, Untouchable(), x, y, None, 2, record)

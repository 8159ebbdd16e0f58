"""The adversarial experiment: its models, and a shrunk end-to-end run on real MNIST."""

from __future__ import annotations

import csv
from dataclasses import replace

import pytest

from largemargin.experiments import adversarial


def test_models_include_cross_entropy_and_the_l_inf_input_margin(tmp_path):
    g = adversarial.QUICK
    assert g.epsilons[0] == 0.0 and g.epsilons[-1] == pytest.approx(0.3)
    cells = adversarial.cells(g, "/mnist", tmp_path)
    layers = {
        c.loss: (c.config.loss.kind, c.config.loss.norm, c.config.model.margin_layers)
        for c in cells
    }
    assert layers["cross-entropy"][0] == "cross_entropy"
    assert layers["margin l-inf, input"] == ("large_margin", "inf", ["input"])
    assert len({c.config.name for c in cells}) == len(cells) == len(g.models) * len(g.seeds)
    with pytest.raises(ValueError, match="models: 'margin l7' is not one of"):
        adversarial.cells(replace(g, models=["margin l7"]), None, tmp_path)


def test_adversarial_end_to_end(tmp_path, mnist_dir, capsys):
    g = adversarial.AdversarialGrid(
        seeds=[0],
        train_size=200,
        epochs=2,
        batch_size=50,
        epsilons=[0.0, 0.1, 0.3],
        steps={"iterative_fgsm": 3, "pgd": 3},
        attack_examples=60,
        margin_examples=20,
        models=["cross-entropy", "margin l-inf, input"],
    )
    report = adversarial.run(g, str(mnist_dir), tmp_path)
    assert "### FGSM" in report and "### iterative FGSM" in report and "### PGD" in report
    assert "| eps | cross-entropy | margin l-inf, input |" in report
    rows = list(csv.DictReader((tmp_path / "attacks.csv").open()))
    assert len(rows) == 2 * 3 * 3  # models x attacks x epsilons
    for model in g.models:
        for attack in ("fgsm", "iterative_fgsm", "pgd"):
            acc = {
                float(r["eps"]): float(r["accuracy"])
                for r in rows
                if r["model"] == model and r["attack"] == attack
            }
            assert all(r["n"] == "60" for r in rows)
            assert acc[0.3] <= acc[0.0]  # an attack never helps the model here
        clean = {r["accuracy"] for r in rows if r["model"] == model and r["eps"] == "0.0"}
        assert len(clean) == 1  # eps 0 is the clean accuracy, whatever the attack
    agreement = list(csv.DictReader((tmp_path / "agreement.csv").open()))
    assert [(a["model"], a["norm"]) for a in agreement] == [
        (m, n) for m in g.models for n in ("l2", "l-inf")
    ]
    for a in agreement:
        assert int(a["count"]) > 0 and float(a["median_true"]) > 0
        if a["norm"] == "l-inf":
            assert float(a["median_true"]) < 1.0  # pixels live in [0, 1]
    for name in (
        "accuracy_vs_eps.png",
        "true_margins.png",
        "agreement-cross-entropy-l2.png",
        "agreement-margin-l-inf-input-l-inf.png",
    ):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert "First-order vs true input margin" in report

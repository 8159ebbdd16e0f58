"""The step benchmark's bookkeeping: floors scale the one-row cost, and target verdicts."""

from __future__ import annotations

import pytest

from tests.benchmarks._load import load

bench_step = load("bench_step")


def test_floor_is_cross_entropy_plus_rows_times_the_measured_one_row_cost():
    variants = bench_step.make_variants()
    ratios = {"floor, first-order, 1 row": 1.25, "floor, second-order, 1 row": 1.75}
    assert bench_step.floor_ratio(variants["margin, first-order"], ratios) == pytest.approx(1.25)
    assert bench_step.floor_ratio(
        variants["margin, first-order, top_k=9, sum"], ratios
    ) == pytest.approx(1 + 9 * 0.25)
    assert bench_step.floor_ratio(
        variants["margin, second-order, top_k=9, sum"], ratios
    ) == pytest.approx(1 + 9 * 0.75)
    assert bench_step.floor_ratio(variants["cross-entropy"], ratios) is None


def test_every_target_of_the_issue_is_in_the_table():
    targets = {n: v.target for n, v in bench_step.make_variants().items() if v.target}
    assert targets == {
        "margin, first-order": 1.35,
        "margin, second-order": 2.0,
        "margin, first-order, top_k=5": 3.0,
        "margin, first-order, top_k=9, sum": 4.0,
        "margin, second-order, top_k=9, sum": 8.0,
    }
    assert bench_step.met(1.35, 1.35) == "met"
    assert bench_step.met(1.36, 1.35) == "not met"
    assert bench_step.met(1.29, 1.3, higher_is_better=True) == "not met"


def test_adversarial_training_rows_take_one_step_and_move_the_weights():
    variants = bench_step.make_variants()
    for name in [
        "FGSM-RS adversarial training",
        "PGD-7 adversarial training",
        "TRADES, 5 steps",
        "margin, second-order + FGSM-RS",
    ]:
        model, opt, x, y = bench_step.setup(8, "cpu")
        before = [p.detach().clone() for p in model.parameters()]
        bench_step.step(variants[name].loss, model, opt, x, y)
        assert any(not p.equal(b) for p, b in zip(model.parameters(), before, strict=True)), name
        assert variants[name].target is None

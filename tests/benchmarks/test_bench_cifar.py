"""The residual-network step benchmark: its rows, targets and tables on a tiny batch."""

from __future__ import annotations

import pytest
import torch

from tests.benchmarks._load import load

bench_cifar = load("bench_cifar")


def test_targets_are_the_issues_and_floors_scale_with_competitors():
    variants = bench_cifar.make_variants("cifar_resnet20")
    assert variants["margin, first-order"].target == 1.4
    assert variants["margin, second-order"].target == 2.5
    ratios = {"floor, first-order, 1 row": 1.2, "floor, second-order, 1 row": 2.0}
    floor = bench_cifar.b.floor_ratio
    assert floor(variants["margin, first-order, top_k=9, sum"], ratios) == pytest.approx(2.8)
    assert floor(variants["margin, second-order"], ratios) == pytest.approx(2.0)


@pytest.mark.parametrize("network", bench_cifar.NETWORKS)
def test_every_row_times_a_finite_step(network):
    table = bench_cifar.step_table(network, rounds=1, batch=4)
    lines = table.splitlines()
    assert len(lines) == 2 + len(bench_cifar.make_variants(network))
    assert "| margin, second-order |" in table and "<= 2.50x" in table
    model, _, x, y = bench_cifar.b.setup(4, "cpu", model_name=network, image=bench_cifar.IMAGE)
    for name, variant in bench_cifar.make_variants(network).items():
        loss = variant.loss(model, x, y)
        assert loss.ndim == 0 and torch.isfinite(loss) and loss.requires_grad, name


def test_profile_lists_operators_and_totals():
    table = bench_cifar.profile(batch=2, top=3)
    assert table.splitlines()[0].startswith("| operator (self CPU) |")
    assert len(table.splitlines()) == 2 + 3 + 1 and "| total |" in table

"""compare_margins on inputs whose statistics are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from largemargin.analysis import compare_margins
from largemargin.analysis.agreement import rank


def test_identical_margins_agree_perfectly():
    true = np.array([0.1, 0.5, 0.2, 0.9])
    got = compare_margins(true.copy(), true)
    assert got == {
        "spearman": 1.0,
        "median_ratio": 1.0,
        "within_2x": 1.0,
        "count": 4,
        "not_found": 0,
        "not_found_share": 0.0,
    }


def test_reversed_order_and_scaled_values():
    true = torch.tensor([1.0, 2.0, 3.0, 4.0])
    first = torch.tensor([12.0, 9.0, 6.0, 3.0])  # ratios 12, 4.5, 2, 0.75; order reversed
    got = compare_margins(first, true)
    assert got["spearman"] == pytest.approx(-1.0)
    assert got["median_ratio"] == pytest.approx((4.5 + 2.0) / 2)
    assert got["within_2x"] == pytest.approx(0.5)  # 2 and 0.75 (the bounds are inclusive)


def test_ties_get_average_ranks_like_scipy():
    np.testing.assert_array_equal(rank(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1.0, 3.5, 2.0])
    # Pearson of ranks [1, 2.5, 2.5, 4] and [1, 2, 3, 4] = 4.5 / sqrt(4.5 * 5)
    got = compare_margins(np.array([1.0, 2.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    assert got["spearman"] == pytest.approx(4.5 / math.sqrt(4.5 * 5))


def test_misclassified_and_not_found_examples_are_left_out_and_counted():
    first = np.array([-0.2, 0.3, 0.5, 0.4, 0.2, 0.1])
    true = np.array([0.0, np.nan, 0.5, 0.2, 0.4, np.nan])
    got = compare_margins(first, true)
    assert got["not_found"] == 2 and got["not_found_share"] == pytest.approx(2 / 6)
    assert got["count"] == 3  # ratios 1, 2, 0.5
    assert got["median_ratio"] == pytest.approx(1.0)
    assert got["within_2x"] == pytest.approx(1.0)
    assert got["spearman"] == pytest.approx(0.5)  # ranks [3, 2, 1] vs [3, 1, 2]


def test_degenerate_inputs():
    got = compare_margins(np.array([1.0]), np.array([2.0]))
    assert math.isnan(got["spearman"]) and got["median_ratio"] == 0.5 and got["count"] == 1
    empty = compare_margins(np.array([0.0]), np.array([0.0]))
    assert empty["count"] == 0 and math.isnan(empty["median_ratio"])
    none = compare_margins(np.array([]), np.array([]))
    assert none["not_found"] == 0 and math.isnan(none["not_found_share"])
    with pytest.raises(ValueError, match="same length"):
        compare_margins(np.ones(3), np.ones(2))

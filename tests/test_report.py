"""Reporting: markdown tables, mean ± sd spreads, slugs and the standard accuracy plots."""

from __future__ import annotations

import math

import numpy as np
import pytest

from largemargin import report
from largemargin.report import (
    format_spread,
    markdown_table,
    mean_sd,
    plot_accuracy_vs_eps,
    plot_accuracy_vs_setting,
    slug,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_markdown_table_has_header_separator_and_one_line_per_row():
    table = markdown_table(["eps", "fgsm", "n"], [["0.1", "50.0%", 3], [0.2, "", None]])
    assert table.splitlines() == [
        "| eps | fgsm | n |",
        "| --- | --- | --- |",
        "| 0.1 | 50.0% | 3 |",
        "| 0.2 |  | None |",
    ]
    assert markdown_table(["only"], []) == "| only |\n| --- |"


def test_markdown_table_refuses_ragged_rows_and_no_columns():
    with pytest.raises(ValueError, match=r"rows\[1\] has 1 cells, expected one per header \(2\)"):
        markdown_table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(ValueError, match="headers must name at least one column"):
        markdown_table([], [])


def test_mean_and_sample_sd():
    mean, sd = mean_sd([0.9, 0.8, 1.0])
    assert mean == pytest.approx(0.9) and sd == pytest.approx(0.1)
    assert math.isnan(mean_sd([0.5])[1])
    assert all(math.isnan(v) for v in mean_sd([0.5, math.nan]))
    with pytest.raises(ValueError, match="values must hold at least one number"):
        mean_sd([])


def test_spread_shows_the_mean_alone_when_the_sd_is_nan():
    assert format_spread([0.9, 0.8, 1.0], 100, 1) == "90.0 ± 10.0"
    assert format_spread([0.25], 100, 2) == "25.00"
    assert format_spread([0.001234, 0.001236], 1, 4) == "0.0012 ± 0.0000"
    assert format_spread([0.5, math.nan], 100, 1) == "nan"  # a failed value is not averaged away
    assert format_spread([], 100, 1) == ""
    assert format_spread([], 100, 1, missing="not run") == "not run"


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("margin l-inf", "margin-l-inf"),
        ("margin l-inf, input+hidden", "margin-l-inf-input-hidden"),
        ("large_margin", "large_margin"),
        ("runs/../x y", "runs-..-x-y"),
    ],
)
def test_slug_makes_labels_safe_name_parts(label, expected):
    assert slug(label) == expected


@pytest.fixture
def drawn(monkeypatch):
    """Keeps the figure a plot function saves, instead of writing it."""
    figures = []

    def keep(fig, path):
        figures.append(fig)
        return path

    monkeypatch.setattr(report, "save_figure", keep)
    return figures


def _line(ax, index=0):
    """x, y and the half-length of each error bar of the ``index``-th error-bar line."""
    container = ax.containers[index]
    data, _, (bars,) = container.lines
    half = [abs(seg[1][1] - seg[0][1]) / 2 for seg in bars.get_segments()]
    return list(data.get_xdata()), list(data.get_ydata()), half


def test_accuracy_vs_setting_draws_means_with_sd_bars_per_label(drawn):
    plot_accuracy_vs_setting(
        {"ce": {1000: [0.9, 0.8, 1.0], 100: [0.5]}, "margin": {100: [0.6, 0.6]}},
        "unused.png",
        xlabel="training images",
        title="t",
        log_x=True,
    )
    (fig,) = drawn
    ax = fig.axes[0]
    x, y, half = _line(ax, 0)
    assert x == [100, 1000]  # sorted
    assert y == pytest.approx([50.0, 90.0])
    assert half == pytest.approx([0.0, 10.0])  # one value: no bar
    assert _line(ax, 1)[:2] == ([100], pytest.approx([60.0]))
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "training images"
    assert ax.get_ylabel() == "accuracy (%)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ce", "margin"]


def test_accuracy_vs_eps_pools_rows_of_the_same_eps(drawn):
    rows = [
        {"eps": 0.0, "accuracy": 0.9},
        {"eps": 0.1, "accuracy": 0.4},
        {"eps": 0.0, "accuracy": 1.0},
        {"eps": 0.1, "accuracy": 0.6},
    ]
    plot_accuracy_vs_eps({"model": rows}, "unused.png", xlabel="eps (pixels)")
    ax = drawn[0].axes[0]
    x, y, half = _line(ax)
    assert x == [0.0, 0.1]
    assert y == pytest.approx([95.0, 50.0])
    sds = [np.std([0.9, 1.0], ddof=1), np.std([0.4, 0.6], ddof=1)]
    assert half == pytest.approx([100 * sd for sd in sds])
    assert ax.get_ylim() == (0, 101) and ax.get_xlabel() == "eps (pixels)"


def test_plots_are_written_as_png_files_alone(tmp_path):
    setting = plot_accuracy_vs_setting({"ce": {0.2: [0.9]}}, tmp_path / "a" / "s.png", xlabel="x")
    eps = plot_accuracy_vs_eps({"m": [{"eps": 0.1, "accuracy": 0.5}]}, tmp_path / "a" / "e.png")
    for path in (setting, eps):
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["e.png", "s.png"]


@pytest.mark.parametrize(
    ("plot", "message"),
    [
        (lambda p: plot_accuracy_vs_setting({}, p, xlabel="x"), "accuracies must map"),
        (lambda p: plot_accuracy_vs_setting({"ce": {}}, p, xlabel="x"), "accuracies must map"),
        (lambda p: plot_accuracy_vs_setting({"ce": {1: []}}, p, xlabel="x"), r"\{1: 0\}"),
        (lambda p: plot_accuracy_vs_eps({}, p), "rows_by_model must map"),
        (lambda p: plot_accuracy_vs_eps({"m": []}, p), r"\{'m': 0\}"),
    ],
)
def test_plots_refuse_empty_input_and_write_nothing(tmp_path, plot, message):
    with pytest.raises(ValueError, match=message):
        plot(tmp_path / "p.png")
    assert list(tmp_path.iterdir()) == []

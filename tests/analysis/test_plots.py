"""Figures are written as non-empty PNGs, atomically, with no temporary file left behind."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from largemargin.analysis import plot_margin_agreement, plot_margin_cdfs, save_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png_alone(path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_size > 1000
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_margin_cdfs(tmp_path):
    rng = np.random.default_rng(0)
    margins = {
        "cross-entropy": {"input": rng.normal(0.1, 0.05, 50), "block1": torch.rand(50)},
        "large margin": {"input": np.append(rng.normal(0.3, 0.05, 48), [np.inf, np.nan])},
    }
    path = plot_margin_cdfs(margins, tmp_path / "out" / "cdf.png")
    assert path == tmp_path / "out" / "cdf.png"
    assert_png_alone(path)
    with pytest.raises(ValueError, match="no margins"):
        plot_margin_cdfs({}, tmp_path / "empty.png")


def test_margin_agreement_overwrites_in_place(tmp_path):
    path = tmp_path / "agreement.png"
    path.write_bytes(b"old")
    true = torch.rand(40) + 0.1
    first = true * (1 + 0.3 * torch.randn(40)).abs()
    first[0], true[1] = -0.1, 0.0
    plot_margin_agreement(first, true, path)
    assert_png_alone(path)


def test_failed_save_leaves_target_and_no_temporary_file(tmp_path):
    path = tmp_path / "fig.png"
    path.write_bytes(b"old")

    class Broken(Figure):
        def savefig(self, *args, **kwargs):
            handle = args[0]
            handle.write(b"partial")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(Broken(), path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_not_found_margins_are_counted_in_legend_and_title(tmp_path, monkeypatch):
    drawn: list[Figure] = []
    monkeypatch.setattr(
        "largemargin.analysis.plots.save_figure", lambda fig, path: drawn.append(fig) or path
    )
    true = np.array([0.2, np.nan, 0.4, np.nan, 0.0])
    plot_margin_cdfs({"lm": {"true input": true}, "ce": {"true input": true[:1]}}, tmp_path / "a")
    plot_margin_agreement(np.array([0.3, 0.1, 0.5, 0.2, -0.1]), true, tmp_path / "b")
    legend = [t.get_text() for t in drawn[0].axes[0].get_legend().get_texts()]
    assert legend == ["lm (2 not found)", "ce"]
    assert "not found=2" in drawn[1].axes[0].get_title()
    assert not list(tmp_path.iterdir())

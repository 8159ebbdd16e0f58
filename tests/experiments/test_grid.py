"""The grid machinery: run configs, spreads, the accuracy table, its CSV and plot."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import yaml

from largemargin.experiments.grid import (
    LOSSES,
    Cell,
    Outcome,
    accuracy_table,
    format_spread,
    mean_sd,
    mnist_run,
    plot_accuracy_grid,
    slug,
    write_grid_record,
    write_outcomes_csv,
)
from largemargin.training.config import validate


def _config(loss="margin l2", seed=0, **kw):
    return mnist_run(
        data_dir="/data/mnist",
        loss=loss,
        seed=seed,
        epochs=4,
        batch_size=32,
        run_dir=Path("/tmp/runs"),
        name=f"{loss}-{seed}",
        **kw,
    )


def _outcomes(table: dict[float, dict[str, list[float]]]) -> list[Outcome]:
    out = []
    for setting, row in table.items():
        for loss, accuracies in row.items():
            for seed, accuracy in enumerate(accuracies):
                cell = Cell(setting, loss, seed, _config(seed=seed))
                out.append(Outcome(cell, accuracy, 1.5 * seed, Path(f"/runs/{loss}-{seed}")))
    return out


@pytest.mark.parametrize("loss", list(LOSSES))
def test_mnist_run_is_a_valid_config_with_the_loss_and_protocols(loss):
    cfg = _config(loss, seed=3, train_subset=200, label_noise=0.4, margin_layers=["input"])
    validate(cfg)
    assert cfg.loss == LOSSES[loss] and cfg.loss is not LOSSES[loss]  # a copy, not shared
    assert (cfg.data.name, cfg.data.train_subset, cfg.data.label_noise) == ("mnist", 200, 0.4)
    assert cfg.data.seed == cfg.seed == 3
    assert cfg.model.margin_layers == ["input"]
    assert cfg.trainer.checkpoint_every_n_epochs == cfg.trainer.epochs == 4
    assert cfg.trainer.check_val_every_n_epoch > cfg.trainer.epochs  # no validation pass


def test_margin_losses_differ_only_in_norm():
    norms = {name: cfg.norm for name, cfg in LOSSES.items() if cfg.kind == "large_margin"}
    assert norms == {"margin l1": 1, "margin l2": 2, "margin l-inf": "inf"}
    assert LOSSES["margin l1"].gamma == LOSSES["margin l-inf"].gamma == 10000.0


def test_mnist_run_rejects_an_unknown_loss():
    with pytest.raises(ValueError, match="loss='softmax': expected one of"):
        _config("softmax")


def test_mean_and_sample_sd():
    mean, sd = mean_sd([0.9, 0.8, 1.0])
    assert mean == pytest.approx(0.9) and sd == pytest.approx(0.1)
    assert math.isnan(mean_sd([0.5])[1])
    assert format_spread([0.9, 0.8, 1.0], 100, 1) == "90.0 ± 10.0"
    assert format_spread([0.25], 100, 2) == "25.00"


def test_accuracy_table_rows_columns_and_bold_best():
    outcomes = _outcomes(
        {
            0.0: {"cross-entropy": [0.9, 0.92], "margin l2": [0.95, 0.93]},
            0.4: {"cross-entropy": [0.7, 0.8], "margin l2": [0.6, 0.62]},
        }
    )
    table = accuracy_table(outcomes, "noise", lambda n: f"{n:.0%}").splitlines()
    assert table[0] == "| noise | cross-entropy | margin l2 |"
    assert table[2] == "| 0% | 91.00 ± 1.41 | **94.00 ± 1.41** |"
    assert table[3] == "| 40% | **75.00 ± 7.07** | 61.00 ± 1.41 |"


def test_outcomes_csv_has_one_line_per_run(tmp_path):
    outcomes = _outcomes({100: {"hinge": [0.5, 0.25]}})
    path = write_outcomes_csv(outcomes, "train_size", tmp_path / "r.csv")
    rows = list(csv.DictReader(path.open()))
    assert [(r["train_size"], r["loss"], r["seed"], r["test_accuracy"]) for r in rows] == [
        ("100", "hinge", "0", "0.5"),
        ("100", "hinge", "1", "0.25"),
    ]
    assert rows[1]["run_folder"] == "/runs/hinge-1"


def test_plot_and_grid_record(tmp_path):
    outcomes = _outcomes({100: {"hinge": [0.5, 0.6]}, 1000: {"hinge": [0.9]}})
    png = plot_accuracy_grid(outcomes, tmp_path / "a.png", xlabel="n", title="t", log_x=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = write_grid_record(tmp_path, {"seeds": [0, 1]}, [o.cell for o in outcomes[:2]])
    loaded = yaml.safe_load(record.read_text())
    assert loaded["grid"] == {"seeds": [0, 1]}
    assert loaded["runs"]["margin l2-1"]["seed"] == 1
    assert loaded["runs"]["margin l2-0"]["loss"]["norm"] == 2


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

"""The grid machinery: run configs, the accuracy and cost tables, the CSV and plot."""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from largemargin.experiments.grid import (
    LOSSES,
    MNIST_MARGIN_LAYERS,
    Cell,
    Outcome,
    accuracy_table,
    cost_table,
    mnist_run,
    report_setting_grid,
    write_grid_record,
    write_outcomes_csv,
)
from largemargin.training.config import LossConfig, validate


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


def _outcomes(
    table: dict[float, dict[str, list[float]]],
    collapsed: set[tuple[float, str, int]] = frozenset(),
    step_seconds: dict[str, list[float]] | None = None,
) -> list[Outcome]:
    """Outcomes of a made-up grid; ``collapsed`` holds the (setting, loss, seed) that
    collapsed; ``step_seconds[loss]`` the step times of that loss's runs, in order."""
    out = []
    steps = {loss: iter(times) for loss, times in (step_seconds or {}).items()}
    for setting, row in table.items():
        for loss, accuracies in row.items():
            for seed, accuracy in enumerate(accuracies):
                cell = Cell(loss, seed, _config(seed=seed), setting)
                out.append(
                    Outcome(
                        cell,
                        accuracy,
                        1.5 * seed,
                        Path(f"/runs/{loss}-{seed}"),
                        collapsed=(setting, loss, seed) in collapsed,
                        step_seconds=next(steps[loss]) if loss in steps else math.nan,
                    )
                )
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


def _changed(loss: LossConfig, **options) -> LossConfig:
    """``loss`` with its margin options changed."""
    return replace(loss, margin=replace(loss.margin, **options))


def test_margin_losses_differ_only_in_norm():
    recipe = {"margin l1": 1, "margin l2": 2, "margin l-inf": "inf"}
    for name, norm in recipe.items():
        assert LOSSES[name] == _changed(LOSSES["margin l-inf"], norm=norm)
    assert LOSSES["margin l1"].margin.gamma == LOSSES["margin l-inf"].margin.gamma == 10000.0
    reference = LOSSES["margin l-inf"].margin
    assert reference.top_k == 1 and reference.aggregation == "min"


def test_noise_robust_variants_change_only_what_their_label_says():
    for norm, name in [(2, "margin l2"), ("inf", "margin l-inf")]:
        assert LOSSES[f"{name}, all competitors"] == _changed(
            LOSSES["margin l-inf"], norm=norm, top_k=9, aggregation="sum"
        )
    reference = LOSSES["margin l-inf"]
    assert LOSSES["margin l-inf + cross-entropy"] == replace(
        reference, cross_entropy_weight=1.0, margin_scale=reference.margin.gamma
    )


def test_mnist_run_rejects_an_unknown_loss():
    with pytest.raises(ValueError, match="loss='softmax': expected one of"):
        _config("softmax")


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


def test_accuracy_table_marks_cells_where_a_seed_collapsed():
    outcomes = _outcomes(
        {
            0.0: {"cross-entropy": [0.9, 0.92], "margin l2": [0.95, 0.93]},
            0.6: {"cross-entropy": [0.7, 0.66], "margin l2": [0.7, 0.1]},
        },
        collapsed={(0.6, "margin l2", 1)},
    )
    table = accuracy_table(outcomes, "noise", lambda n: f"{n:.0%}").splitlines()
    assert table[2] == "| 0% | 91.00 ± 1.41 | **94.00 ± 1.41** |"
    assert table[3] == "| 60% | **68.00 ± 2.83** | 40.00 ± 42.43 † |"
    assert table[4] == ""
    assert table[5].startswith("† the training predictions of at least one seed collapsed")
    assert "metrics.json `collapse`" in table[5]
    assert "†" not in accuracy_table(_outcomes({0.0: {"hinge": [0.5]}}), "noise")


def test_cost_table_compares_median_step_times_with_cross_entropy():
    outcomes = _outcomes(
        {
            0.0: {"cross-entropy": [0.9, 0.9], "margin l2": [0.9, 0.9], "hinge": [0.5]},
            0.2: {"cross-entropy": [0.9], "margin l2": [0.9], "hinge": [0.5]},
        },
        step_seconds={
            "cross-entropy": [0.010, 0.012, 0.020],
            "margin l2": [0.030, 0.036, 0.600],
            "hinge": [math.nan, math.nan],
        },
    )
    lines = cost_table(outcomes).splitlines()
    assert lines[0] == "| loss | median training step (ms) | vs cross-entropy |"
    assert lines[2:] == [
        "| cross-entropy | 12.0 | 1.00x |",
        "| margin l2 | 36.0 | 3.00x |",
        "| hinge | - | - |",
    ]
    only_margin = [o for o in outcomes if o.cell.loss == "margin l2"]
    assert cost_table(only_margin).splitlines()[2] == "| margin l2 | 36.0 | - |"


def test_outcomes_csv_has_one_line_per_run(tmp_path):
    outcomes = _outcomes(
        {100: {"hinge": [0.5, 0.25]}},
        collapsed={(100, "hinge", 1)},
        step_seconds={"hinge": [0.25, 0.5]},
    )
    path = write_outcomes_csv(outcomes, tmp_path / "r.csv", setting_name="train_size")
    rows = list(csv.DictReader(path.open()))
    assert [(r["train_size"], r["loss"], r["seed"], r["test_accuracy"]) for r in rows] == [
        ("100", "hinge", "0", "0.5"),
        ("100", "hinge", "1", "0.25"),
    ]
    assert [(r["collapsed"], r["step_seconds"]) for r in rows] == [
        ("False", "0.25"),
        ("True", "0.5"),
    ]
    assert rows[1]["run_folder"] == "/runs/hinge-1"


def test_setting_grid_report_and_grid_record(tmp_path):
    outcomes = _outcomes({100: {"hinge": [0.5, 0.6]}, 1000: {"hinge": [0.9]}})
    text = report_setting_grid(
        outcomes,
        tmp_path,
        setting_name="train_size",
        setting_header="images",
        show=lambda n: f"{n:g} images",
        title="T",
        test_set="the test set",
        xlabel="n",
        log_x=True,
    )
    assert (tmp_path / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [r["train_size"] for r in rows] == ["100", "100", "1000"]
    assert text.startswith("T. Test accuracy (%) on the test set, mean ± sd over seeds.")
    assert "| images | hinge |" in text and "| 100 images | **55.00 ± 7.07** |" in text
    assert "Training-step cost" in text
    record = write_grid_record(tmp_path, {"seeds": [0, 1]}, [o.cell for o in outcomes[:2]])
    loaded = yaml.safe_load(record.read_text())
    assert loaded["grid"] == {"seeds": [0, 1]}
    assert loaded["runs"]["margin l2-1"]["seed"] == 1
    assert loaded["runs"]["margin l2-0"]["loss"]["margin"]["norm"] == 2


def test_mnist_run_takes_a_loss_config_and_the_bundled_subset():
    loss = LOSSES["margin l2"]
    cfg = mnist_run(
        dataset="mnist-subset",
        loss=loss,
        seed=1,
        epochs=2,
        batch_size=16,
        lr=1e-3,
        run_dir=Path("/tmp/runs"),
        name="demo",
        train_subset=100,
        eval_margins=True,
    )
    validate(cfg)
    assert cfg.loss == loss and cfg.loss is not loss
    assert (cfg.data.name, cfg.data.data_dir, cfg.data.train_subset) == ("mnist-subset", None, 100)
    assert cfg.optim.lr == 1e-3 and cfg.trainer.eval_margins
    assert cfg.model.margin_layers == list(MNIST_MARGIN_LAYERS) == ["input", "block1", "block2"]
    with pytest.raises(ValueError, match="dataset='cifar10': expected 'mnist' or 'mnist-subset'"):
        _config(dataset="cifar10")


def test_cells_without_a_setting_give_one_row_and_no_setting_column(tmp_path):
    outcomes = [
        Outcome(Cell(loss, 0, _config()), accuracy, 1.0, Path(f"/runs/{loss}"))
        for loss, accuracy in [("cross-entropy", 0.5), ("margin l2", 0.75)]
    ]
    table = accuracy_table(outcomes, "model", lambda _: "resnet").splitlines()
    assert table[0] == "| model | cross-entropy | margin l2 |"
    assert table[2:] == ["| resnet | 50.00 | **75.00** |"]
    rows = list(csv.DictReader(write_outcomes_csv(outcomes, tmp_path / "r.csv").open()))
    assert list(rows[0])[:3] == ["loss", "seed", "test_accuracy"]
    with pytest.raises(ValueError, match="setting_name='size': expected a column name exactly"):
        write_outcomes_csv(outcomes, tmp_path / "s.csv", setting_name="size")
    assert not (tmp_path / "s.csv").exists()

"""The noisy-labels and small-data grids: the runs they make, the quick budgets they promise, and
one shrunk end-to-end run through `largemargin reproduce` on real MNIST."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from largemargin.cli.main import main
from largemargin.experiments import noisy_labels, small_data
from largemargin.experiments.grid import LOSSES


def test_noisy_labels_grid_covers_the_paper_levels_its_losses_and_seeds(tmp_path):
    cells = noisy_labels.cells(noisy_labels.QUICK, "/mnist", tmp_path)
    g = noisy_labels.QUICK
    assert g.noise == [0.0, 0.2, 0.4, 0.6, 0.8] and len(g.seeds) >= 2
    assert len(cells) == len(g.noise) * len(g.losses) * len(g.seeds)
    assert len({c.config.name for c in cells}) == len(cells)
    for c in cells:
        assert c.config.data.label_noise == c.setting
        assert c.config.data.train_subset == g.train_size
        assert c.config.seed == c.seed and c.config.loss == LOSSES[c.loss]
    assert noisy_labels.FULL.train_size is None  # the full grid trains on all of MNIST
    assert noisy_labels.FULL.losses == list(LOSSES)


def test_noisy_labels_quick_grid_compares_the_noise_robust_variants():
    losses = noisy_labels.QUICK.losses
    assert set(losses) <= set(LOSSES)
    assert {"cross-entropy", "margin l2", "margin l-inf"} <= set(losses)
    robust = [LOSSES[name] for name in losses if "all competitors" in name]
    assert len(robust) == 2
    assert all(cfg.margin.top_k == 9 and cfg.margin.aggregation == "sum" for cfg in robust)
    assert {cfg.margin.norm for cfg in robust} == {2, math.inf}


def test_small_data_epochs_cover_the_step_budget():
    g = small_data.SmallDataGrid(sizes=[100, 6400], seeds=[0], steps=300, batch_size=64)
    assert g.epochs(100) == 150  # 2 steps per epoch
    assert g.epochs(6400) == 3  # 100 steps per epoch
    assert g.epochs(60000) == 1  # 938 steps per epoch: one partial epoch
    assert small_data.FULL.sizes[0] / small_data.MNIST_TRAIN < 0.002  # "well under 1%"
    assert small_data.FULL.sizes[-1] == small_data.MNIST_TRAIN  # ... to 100%
    assert min(small_data.QUICK.sizes) / small_data.MNIST_TRAIN < 0.01
    assert set(small_data.QUICK.losses) <= set(LOSSES)


def test_small_data_cells_stop_at_the_same_step_count(tmp_path):
    g = small_data.SmallDataGrid(sizes=[100, 60000], seeds=[1], steps=10, batch_size=64)
    cells = small_data.cells(g, None, tmp_path)
    sizes = {c.setting: c.config.data.train_subset for c in cells}
    assert sizes == {100: 100, 60000: None}
    for c in cells:
        trainer = c.config.trainer
        assert trainer.max_steps == 10
        assert trainer.epochs * math.ceil(c.setting / 64) >= 10  # the epochs never stop it first
    with pytest.raises(ValueError, match="sizes: 70000 is not in"):
        small_data.cells(replace(g, sizes=[70000]), None, tmp_path)
    with pytest.raises(ValueError, match="steps=0: expected an int >= 1"):
        small_data.cells(replace(g, steps=0), None, tmp_path)


@pytest.mark.slow
def test_reproduce_small_data_end_to_end(tmp_path, monkeypatch, mnist_dir, capsys):
    tiny = small_data.SmallDataGrid(
        sizes=[50, 100],
        seeds=[0],
        steps=3,
        batch_size=50,
        losses=["hinge", "margin l2"],
    )
    monkeypatch.setattr(small_data, "QUICK", tiny)
    argv = ["reproduce", "small-data", "--quick", "--data.data_dir", str(mnist_dir)]
    assert main([*argv, "--out", str(tmp_path), "--seeds", "[4, 5]"]) == 0
    out = capsys.readouterr().out
    (folder,) = (tmp_path / "small-data-quick").iterdir()
    report = (folder / "results.md").read_text()
    assert report.strip() in out
    assert "Command: `largemargin reproduce small-data --quick --data.data_dir" in report
    assert "| training images | hinge | margin l2 |" in report
    assert "| 50 (0.08%) |" in report and "| 100 (0.17%) |" in report and " ± " in report
    rows = list(csv.DictReader((folder / "results.csv").open()))
    assert len(rows) == 2 * 2 * 2  # sizes x losses x the two seeds given
    assert {r["seed"] for r in rows} == {"4", "5"}
    assert all(0.0 <= float(r["test_accuracy"]) <= 1.0 for r in rows)
    assert (folder / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    record = yaml.safe_load((folder / "grid.yaml").read_text())
    assert record["grid"]["seeds"] == [4, 5] and record["grid"]["epochs"] == {50: 3, 100: 2}
    assert "| loss | median training step (ms) | vs cross-entropy |" in report
    assert "| hinge |" in report.split("vs cross-entropy |")[1]
    assert {r["collapsed"] for r in rows} <= {"True", "False"}
    for row in rows:  # every run is a complete `largemargin train` folder
        run = Path(row["run_folder"])
        assert (run / "config.yaml").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
        config = yaml.safe_load((run / "config.yaml").read_text())
        assert config["seed"] == int(row["seed"]) and config["data"]["train_subset"] == int(
            row["train_size"]
        )
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["steps"] == 3  # 3 epochs of 1 step, or 2 epochs of 2 steps cut at 3
        assert "collapse" in metrics
        assert not any("margin" in key for key in metrics["test"])  # eval_margins off in grids
    assert not list(folder.rglob(".*.tmp"))


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["noisy"], "name='noisy': expected one of ['noisy-labels'"),
        (["small-data", "--seeds", "[]"], "seeds=[]: expected None or a non-empty list"),
        (["small-data", "--seeds", "[1, 1]"], "seeds=[1, 1]: expected distinct seeds"),
        (["small-data", "--seeds", "[-1]"], "seeds=[-1]"),
        (["small-data", "--grid", "{budget: 3}"], "grid.budget: not a setting of this grid"),
        (["robust-training", "--grid", "{budgets: [-5]}"], "budgets: expected seconds > 0"),
        (["small-data", "--resume", "last"], "resume='last': no earlier run of this experiment"),
    ],
)
def test_reproduce_rejects_bad_arguments_before_training(tmp_path, capsys, flags, fragment):
    assert main(["reproduce", *flags, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("largemargin reproduce: error:") and fragment in err
    assert list(tmp_path.iterdir()) == []


def test_reproduce_grid_changes_replace_the_named_settings_and_show_in_the_command():
    from largemargin.experiments import robust_training
    from largemargin.experiments.reproduce import ReproduceConfig, _changed, command

    changed = _changed(robust_training.QUICK, {"budgets": [60.0], "autoattack_examples": 0})
    assert changed.budgets == [60.0] and changed.autoattack_examples == 0
    assert changed.seeds == robust_training.QUICK.seeds  # the rest as it was
    assert _changed(robust_training.QUICK, None) is robust_training.QUICK
    cfg = ReproduceConfig(name="robust-training", quick=True, grid={"budgets": [60.0]})
    assert (
        command(cfg)
        == "largemargin reproduce robust-training --quick --grid '{\"budgets\": [60.0]}'"
    )

"""CIFAR-10 grid cells (configs/cifar10-cpu.yaml with a grid's loss and budget) and the
CIFAR-10 small-data grid, with one shrunk end-to-end run on the CIFAR-10 JPEG zip."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest

from largemargin.cli.main import main
from largemargin.experiments import noisy_labels, small_data
from largemargin.experiments.cifar10_runs import CIFAR10_LOSSES, PAPER_MARGIN_SCALE, cifar10_run
from largemargin.experiments.recipes import load_preset
from largemargin.training import validate


def test_cifar10_run_is_the_preset_with_the_grids_loss_budget_and_scaled_lr(tmp_path):
    cfg = cifar10_run(
        loss="margin l-inf",
        seed=3,
        epochs=4,
        batch_size=128,
        run_dir=tmp_path,
        name="cell",
        data_dir="/cifar",
        train_subset=1000,
        max_steps=30,
    )
    validate(cfg)
    preset = load_preset("cifar10-cpu.yaml")
    assert cfg.model == preset.model and cfg.model.name == "cifar_resnet9_w16"
    assert cfg.loss == CIFAR10_LOSSES["margin l-inf"]
    assert cfg.optim == replace(preset.optim, lr=pytest.approx(0.1))
    assert (cfg.data.name, cfg.data.data_dir, cfg.data.train_subset) == ("cifar10", "/cifar", 1000)
    assert cfg.data.seed == cfg.seed == 3
    t = cfg.trainer
    assert (t.epochs, t.max_steps, t.batch_size, t.checkpoint_every_n_epochs) == (4, 30, 128, 4)
    assert t.check_val_every_n_epoch > t.epochs and not t.eval_margins and not t.progress_bar
    with pytest.raises(ValueError, match="loss"):
        cifar10_run(loss="margin l7", seed=0, epochs=1, batch_size=8, run_dir=tmp_path, name="x")


def test_cifar10_losses_are_the_paper_setup_and_one_change_each():
    paper = replace(load_preset("cifar10-resnet.yaml").loss, margin_scale=PAPER_MARGIN_SCALE)
    assert 10 * paper.margin.gamma == PAPER_MARGIN_SCALE
    assert CIFAR10_LOSSES["margin l2"] == paper
    assert CIFAR10_LOSSES["margin l-inf"] == replace(
        paper, margin=replace(paper.margin, norm="inf")
    )
    second = CIFAR10_LOSSES["margin l2, logit, second-order"].margin
    assert second == replace(paper.margin, score="logit", second_order=True)
    assert CIFAR10_LOSSES["cross-entropy"].kind == "cross_entropy"
    alone = CIFAR10_LOSSES["margin l2, margin alone"]
    assert alone == replace(paper, cross_entropy_weight=0.0)
    summed = CIFAR10_LOSSES["margin l2, all competitors"]
    assert summed.cross_entropy_weight == 0.0
    assert summed.margin == replace(paper.margin, top_k=9, aggregation="sum")


def test_cifar10_noisy_labels_cells(tmp_path):
    g = noisy_labels.CIFAR10_QUICK
    assert g.dataset == "cifar10" and {0.0, 0.4, 0.6, 0.8} <= set(g.noise) and len(g.seeds) >= 2
    cells = noisy_labels.cells(g, "/cifar", tmp_path)
    assert len(cells) == len(g.noise) * len(g.losses) * len(g.seeds)
    for c in cells:
        assert c.config.model.name == "cifar_resnet9_w16"
        assert c.config.data.label_noise == c.setting
        assert c.config.data.train_subset == g.train_size
        assert c.config.loss == CIFAR10_LOSSES[c.loss]
    with pytest.raises(ValueError, match=r"grid\.losses"):
        noisy_labels.cells(replace(g, losses=["margin l-inf + cross-entropy"]), None, tmp_path)


def test_cifar10_small_data_cells(tmp_path):
    g = small_data.CIFAR10_QUICK
    assert g.dataset == "cifar10" and len(g.seeds) >= 2
    assert {1000, 5000} <= set(g.sizes)
    assert g.losses == [
        "cross-entropy",
        "margin l2",
        "margin l-inf",
        "margin l2, logit, second-order",
    ]
    cells = small_data.cells(g, "/cifar", tmp_path)
    assert len(cells) == len(g.sizes) * len(g.losses) * len(g.seeds)
    for c in cells:
        assert c.config.model.name == "cifar_resnet9_w16"
        assert c.config.data.train_subset == c.setting and c.config.trainer.max_steps == g.steps
        assert c.config.loss == CIFAR10_LOSSES[c.loss]
    full = small_data.cells(replace(g, sizes=[50000], losses=["cross-entropy"]), None, tmp_path)
    assert full[0].config.data.train_subset is None
    with pytest.raises(ValueError, match="sizes: 60000 is not in"):
        small_data.cells(replace(g, sizes=[60000]), None, tmp_path)
    with pytest.raises(ValueError, match=r"grid\.losses"):
        small_data.cells(replace(g, losses=["margin l-inf, all competitors"]), None, tmp_path)
    with pytest.raises(ValueError, match=r"grid\.dataset"):
        small_data.cells(replace(g, dataset="svhn"), None, tmp_path)


@pytest.mark.slow
def test_reproduce_cifar10_small_data_end_to_end(tmp_path, monkeypatch, cifar_zip, capsys):
    tiny = replace(
        small_data.CIFAR10_QUICK,
        sizes=[100],
        seeds=[0],
        steps=2,
        batch_size=50,
        losses=["cross-entropy", "margin l2"],
    )
    monkeypatch.setattr(small_data, "CIFAR10_QUICK", tiny)
    argv = ["reproduce", "cifar10-small-data", "--quick", "--data.data_dir", str(cifar_zip)]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    (folder,) = (tmp_path / "cifar10-small-data-quick").iterdir()
    report = (folder / "results.md").read_text()
    assert report.strip() in capsys.readouterr().out
    assert "CIFAR-10 training subsets, 2 steps per run" in report
    assert "| training images | cross-entropy | margin l2 |" in report
    assert "| 100 (0.20%) |" in report
    rows = list(csv.DictReader((folder / "results.csv").open()))
    assert [r["loss"] for r in rows] == ["cross-entropy", "margin l2"]
    assert all(0.0 <= float(r["test_accuracy"]) <= 1.0 for r in rows)
    for row in rows:
        metrics = json.loads((Path(row["run_folder"]) / "metrics.json").read_text())
        assert metrics["steps"] == 2
        assert metrics["test"]["acc"] == pytest.approx(float(row["test_accuracy"]), abs=1e-6)


def test_every_reproduce_grid_names_grids_its_module_has():
    from largemargin.experiments.reproduce import GRIDS

    for name, grid in GRIDS.items():
        for attribute in (grid.full, grid.quick):
            assert hasattr(grid.module, attribute), (name, attribute)
    assert GRIDS["cifar10-small-data"].quick == "CIFAR10_QUICK"
    assert GRIDS["cifar10-noisy-labels"].module is noisy_labels

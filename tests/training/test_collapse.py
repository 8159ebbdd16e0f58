"""Collapse detection: the decision on hand-made counts, the on-device tally, and two training
runs on the bundled MNIST subset, one built to collapse (60% label noise, the reference margin
loss) and one clean."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from largemargin.data import DataConfig
from largemargin.training import LossConfig, OptimConfig, RunConfig, TrainerConfig, recipe, train
from largemargin.training.collapse import (
    CHANCE_TOLERANCE,
    LARGEST_SHARE_LIMIT,
    UNIFORM_TOLERANCE,
    Collapse,
    CollapseWarning,
    PredictionTally,
    find_collapse,
    remedy,
)


def test_constant_predictions_collapse():
    counts = [0, 0, 980, 0, 0, 0, 20, 0, 0, 0]
    found = find_collapse(counts, correct=102, max_probability_sum=900.0, epoch=3)
    assert isinstance(found, Collapse)
    assert found.epoch == found.first_epoch == 3
    assert found.train_accuracy == pytest.approx(0.102)
    assert found.largest_class_share == pytest.approx(0.98)
    assert found.mean_max_probability == pytest.approx(0.9)
    assert "collapsed to chance at epoch 3" in found.message
    assert "train accuracy 10.2%" in found.message
    assert "one class predicted for 98% of examples" in found.message


def test_uniform_output_collapses_even_when_predictions_spread():
    counts = [100] * 10
    found = find_collapse(
        counts,
        correct=110,
        max_probability_sum=1000 * 0.104,
        epoch=5,
        first_epoch=2,
        remedy="try X",
    )
    assert found is not None and (found.epoch, found.first_epoch) == (5, 2)
    assert "near-uniform output, mean top probability 0.10" in found.message
    assert found.message.endswith("; try X")


def test_healthy_histograms_are_not_collapsed():
    spread = [100] * 10
    assert find_collapse(spread, correct=900, max_probability_sum=950.0, epoch=1) is None
    # Trained on 80% wrong labels: accuracy on those labels near chance, but the outputs vary
    # and are confident, so the model learned something.
    assert find_collapse(spread, correct=127, max_probability_sum=930.0, epoch=6) is None
    # Mostly one class, but far above chance: an unbalanced dataset learned, not a collapse.
    skewed = [950] + [50 / 9] * 9
    assert find_collapse(skewed, correct=950, max_probability_sum=990.0, epoch=1) is None
    assert find_collapse([0] * 10, correct=0, max_probability_sum=0.0, epoch=1) is None


def test_thresholds_are_inclusive_limits():
    assert (CHANCE_TOLERANCE, LARGEST_SHARE_LIMIT, UNIFORM_TOLERANCE) == (0.05, 0.9, 0.05)
    constant = [900, 100] + [0] * 8
    assert find_collapse(constant, correct=150, max_probability_sum=800, epoch=1)
    assert not find_collapse(constant, correct=151, max_probability_sum=800, epoch=1)
    assert not find_collapse([901, 99] + [0] * 8, correct=151, max_probability_sum=800, epoch=1)
    spread = [100] * 10
    assert find_collapse(spread, correct=100, max_probability_sum=150, epoch=1)
    assert not find_collapse(spread, correct=100, max_probability_sum=151, epoch=1)
    assert not find_collapse([899, 101] + [0] * 8, correct=100, max_probability_sum=800, epoch=1)
    with pytest.raises(ValueError, match="counts: expected one count per class"):
        find_collapse([5], correct=1, max_probability_sum=1.0, epoch=1)


def test_tally_sums_batches_and_resets():
    tally = PredictionTally()
    assert tally.take() is None
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    tally.update(logits, torch.tensor([0, 0, 0]))
    tally.update(logits[:1].to(torch.bfloat16), torch.tensor([1]))
    stats = tally.take()
    assert stats.dtype == torch.float32 and stats.shape == (5,)
    top = torch.softmax(logits, 1).amax(1)
    assert stats[:3].tolist() == [3.0, 1.0, 0.0]  # argmax of the all-zero row is class 0
    assert stats[3].item() == 2.0  # rows 0 and 2 of the first batch
    assert stats[4].item() == pytest.approx(float(top.sum() + top[0]), rel=1e-2)
    assert tally.take() is None


def test_remedy_names_the_all_competitors_setting_for_the_closest_competitor_losses():
    assert "`--loss.margin.top_k 9 --loss.margin.aggregation sum`" in remedy(LossConfig(), 10)
    assert "configs/mnist-noisy-labels.yaml" in remedy(LossConfig(), 10)
    assert "`--loss.margin.top_k 99" in remedy(recipe(top_k=99, aggregation="min"), 100)
    assert "cross-entropy" in remedy(LossConfig(kind="hinge"), 10)
    robust = remedy(recipe(top_k=9, aggregation="sum"), 10)
    assert "top_k" not in robust and "9/10 label noise" in robust


def _run(tmp_path: Path, name: str, noise: float) -> RunConfig:
    return RunConfig(
        data=DataConfig(train_subset=1000, label_noise=noise, seed=0),
        loss=LossConfig(),  # the reference recipe: closest competitor, gamma 1e4, alpha 4
        optim=OptimConfig(),
        trainer=TrainerConfig(
            epochs=3,
            batch_size=64,
            check_val_every_n_epoch=4,
            checkpoint_every_n_epochs=3,
            log_margin_every_n_steps=0,
            progress_bar=False,
        ),
        run_dir=str(tmp_path),
        name=name,
    )


@pytest.mark.slow
def test_a_run_on_mostly_wrong_labels_reports_its_collapse(tmp_path):
    with pytest.warns(CollapseWarning, match="collapsed to chance at epoch") as caught:
        result = train(_run(tmp_path, "noisy", 0.6))
    (warned,) = [w for w in caught if w.category is CollapseWarning]  # once, when it began
    assert "--loss.margin.top_k 9 --loss.margin.aggregation sum" in str(warned.message)
    record = json.loads((tmp_path / "noisy" / "metrics.json").read_text())["collapse"]
    assert record is not None and record["epoch"] == 3 and record["first_epoch"] <= 3
    assert record["train_accuracy"] <= 0.1 + CHANCE_TOLERANCE
    assert "collapsed to chance" in record["message"]
    assert result.metrics["test"]["acc"] < 0.2  # the model is useless, as reported
    log = (tmp_path / "noisy" / "logs" / "version_0" / "metrics.csv").read_text()
    assert "train/largest_class_share" in log and "train/mean_max_prob" in log


@pytest.mark.slow
def test_a_clean_run_stays_silent(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        result = train(_run(tmp_path, "clean", 0.0))
    assert json.loads((tmp_path / "clean" / "metrics.json").read_text())["collapse"] is None
    assert result.metrics["test"]["acc"] > 0.8

"""Training runs end to end on the bundled MNIST subset: run folder, resume, checkpoints."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning.fabric.utilities.cloud_io as cloud_io
import pytest
import torch
import yaml

from largemargin.data import DataConfig, DataNotFoundError
from largemargin.training import (
    LossConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainerConfig,
    from_dict,
    train,
)
from largemargin.training.timing import StepTimer


def tiny(tmp_path: Path, name: str, **overrides) -> RunConfig:
    values = dict(
        data=DataConfig(train_subset=100, val_split=100),
        optim=OptimConfig(name="sgd", lr=0.01),
        trainer=TrainerConfig(
            epochs=2,
            batch_size=50,
            eval_batch_size=1000,
            progress_bar=False,
            log_margin_every_n_steps=1,
            log_every_n_steps=1,
        ),
        run_dir=str(tmp_path),
        name=name,
    )
    values.update(overrides)
    return RunConfig(**values)


def _weights(result) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in result.module.model.state_dict().items()}


@pytest.mark.slow
def test_run_folder_holds_config_metrics_logs_and_checkpoint(tmp_path):
    cfg = tiny(tmp_path, "run")
    result = train(cfg)
    folder = tmp_path / "run"
    assert result.folder == folder
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert saved["data_info"]["protocols"]["train_subset"]["count"] == 100
    assert saved.pop("model_shape") == {"num_classes": 10, "in_channels": 1}
    saved.pop("data_info")
    assert from_dict(saved) == cfg
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["acc"] <= 1.0
    assert set(metrics["test"]) >= {
        "logit_margin/input",
        "logit_margin/block1",
        "logit_margin/block2",
    }
    assert all(abs(metrics["test"][f"logit_margin/{n}"]) < 1e3 for n in ("input", "block1"))
    assert metrics["steps"] == 4 and 0.0 <= metrics["data_wait_share"] < 1.0
    rows = list(csv.DictReader((folder / "logs" / "version_0" / "metrics.csv").open()))
    header = list(rows[0])
    # the learning-rate monitor: the lr of each of the 4 steps, one-cycle ending at its final value
    lrs = [float(r["lr-SGD"]) for r in rows if r["lr-SGD"]]
    assert len(lrs) == 4 and lrs[-1] == pytest.approx(0.01 / 25 / 1e4, rel=1e-9)
    for column in (
        "train/margin_step",
        "train/weight_decay_step",
        "train/acc_step",
        "train/margin/input",
        "val/acc",
        "val/logit_margin/block2",
    ):
        assert column in header
    assert [p.name for p in (folder / "checkpoints").iterdir()] == ["last.ckpt"]  # one file
    assert list((folder / "tensorboard").rglob("events.out.tfevents.*"))


class Crash(Exception):
    pass


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path, monkeypatch):
    """A run killed after its first epoch, resumed with the same config (one-cycle schedule,
    whose shape depends on the run's length), ends where an uninterrupted run ends."""
    straight = train(tiny(tmp_path, "straight"))

    def crash_at_second_epoch(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(StepTimer, "on_train_epoch_start", crash_at_second_epoch, raising=False)
        with pytest.raises(Crash):
            train(tiny(tmp_path, "resumed"))
    resumed = train(tiny(tmp_path, "resumed", resume="last"))
    assert resumed.metrics["steps"] == straight.metrics["steps"] == 4
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    result = train(
        tiny(tmp_path, "run", trainer=TrainerConfig(epochs=1, batch_size=50, progress_bar=False))
    )
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    before = path.read_bytes()
    names = sorted(p.name for p in path.parent.iterdir())

    class Interrupted(Exception):
        pass

    class FailingFile:
        """Writes half of the data, then the process 'dies'."""

        def __init__(self, real):
            self.real = real

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.real.__exit__(*exc)

        def write(self, data):
            self.real.write(data[: len(data) // 2])
            raise Interrupted

    real_open = cloud_io.fsspec.core.url_to_fs

    def failing_url_to_fs(url, **kwargs):
        fs, path_ = real_open(url, **kwargs)
        original = fs.open
        monkeypatch.setattr(fs, "open", lambda *a, **k: FailingFile(original(*a, **k)))
        return fs, path_

    monkeypatch.setattr(cloud_io.fsspec.core, "url_to_fs", failing_url_to_fs)
    with pytest.raises(Interrupted):
        result.module.trainer.save_checkpoint(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == names  # no temporary file left


@pytest.mark.parametrize("kind", ["cross_entropy", "hinge"])
@pytest.mark.slow
def test_other_losses_train(tmp_path, kind):
    result = train(tiny(tmp_path, kind, loss=LossConfig(kind=kind)))
    assert result.metrics["steps"] == 4


def test_bad_layer_name_fails_before_any_folder_is_made(tmp_path):
    cfg = tiny(tmp_path, "bad", model=ModelConfig(margin_layers=["input", "block9"]))
    with pytest.raises(ValueError, match=r"unknown layer name\(s\) \['block9'\].*block2"):
        train(cfg)
    assert not (tmp_path / "bad").exists()


def test_missing_dataset_fails_before_any_folder_is_made(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = tiny(
        tmp_path, "nodata", data=DataConfig(name="mnist", data_dir=str(empty), download=False)
    )
    with pytest.raises(DataNotFoundError, match="train-images-idx3-ubyte"):
        train(cfg)
    assert not (tmp_path / "nodata").exists()


@pytest.mark.slow
def test_existing_run_folder_is_not_overwritten(tmp_path):
    train(
        tiny(tmp_path, "once", trainer=TrainerConfig(epochs=1, batch_size=50, progress_bar=False))
    )
    with pytest.raises(ValueError, match="already exists"):
        train(tiny(tmp_path, "once"))


@pytest.mark.slow
def test_bf16_mixed_precision_trains_with_finite_margins(tmp_path):
    result = train(
        tiny(
            tmp_path,
            "bf16",
            trainer=TrainerConfig(
                epochs=1,
                batch_size=50,
                precision="bf16-mixed",
                progress_bar=False,
                log_margin_every_n_steps=1,
            ),
        )
    )
    test = result.metrics["test"]
    assert all(value == value and abs(value) != float("inf") for value in test.values())
    assert result.metrics["steps"] == 2


@pytest.mark.slow
def test_same_seed_same_model_whatever_ran_before(tmp_path):
    first = train(
        tiny(tmp_path, "a", trainer=TrainerConfig(epochs=1, batch_size=50, progress_bar=False))
    )
    torch.rand(1000)  # disturb the global RNG between runs
    second = train(
        tiny(tmp_path, "b", trainer=TrainerConfig(epochs=1, batch_size=50, progress_bar=False))
    )
    a, b = _weights(first), _weights(second)
    assert all(torch.equal(a[k], b[k]) for k in a)

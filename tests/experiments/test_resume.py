"""A grid stopped and run again into its folder trains only what is missing and reports what the
uninterrupted grid reports; a killed run continues from its checkpoint; a folder of another
experiment is never overwritten."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint

import largemargin.experiments.resume as resume_module
import largemargin.training.run as run_module
from largemargin.experiments.grid import Cell, accuracy_table, mnist_run, run_grid
from largemargin.experiments.reproduce import ReproduceConfig, _experiment_folder
from largemargin.experiments.resume import train_or_reuse
from largemargin.training.config import to_dict


class Stopped(Exception):
    """Stands for the grid process being killed."""


def _cells(run_dir: Path) -> list[Cell]:
    """Four tiny runs on the bundled subset: two losses, two seeds, a checkpoint every epoch."""
    out = []
    for loss in ("cross-entropy", "hinge"):
        for seed in (0, 1):
            config = mnist_run(
                dataset="mnist-subset",
                loss=loss,
                seed=seed,
                epochs=2,
                batch_size=25,
                run_dir=run_dir,
                name=f"{loss}-seed{seed}",
                train_subset=50,
            )
            config = replace(config, trainer=replace(config.trainer, checkpoint_every_n_epochs=1))
            out.append(Cell(loss, seed, config))
    return out


def _counting_train(monkeypatch, stop_at: int | None = None) -> list[str]:
    """Record the name (and resume setting) of every run trained; raise Stopped instead of
    training the ``stop_at``-th one (1-based)."""
    calls: list[str] = []
    real = resume_module.train

    def train(config):
        calls.append(f"{config.name} resume={config.resume}")
        if stop_at is not None and len(calls) == stop_at:
            raise Stopped
        return real(config)

    monkeypatch.setattr(resume_module, "train", train)
    return calls


def _run_folder_metrics(outcomes) -> list[dict]:
    return [json.loads((o.folder / "metrics.json").read_text())["test"] for o in outcomes]


@pytest.mark.slow
def test_a_grid_stopped_after_its_second_run_trains_only_the_rest(tmp_path, monkeypatch, capsys):
    whole = run_grid(_cells(tmp_path / "whole" / "runs"))

    calls = _counting_train(monkeypatch, stop_at=3)
    with pytest.raises(Stopped):
        run_grid(_cells(tmp_path / "stopped" / "runs"))
    assert len(calls) == 3
    calls.clear()
    again = run_grid(_cells(tmp_path / "stopped" / "runs"))
    out = capsys.readouterr().out

    # the two finished runs are taken from their folders; only the other two train
    assert calls == ["hinge-seed0 resume=None", "hinge-seed1 resume=None"]
    assert out.count("trained before)") == 2
    assert [o.test_accuracy for o in again] == [o.test_accuracy for o in whole]
    assert accuracy_table(again, "grid") == accuracy_table(whole, "grid")
    assert _run_folder_metrics(again) == _run_folder_metrics(whole)


@pytest.mark.slow
def test_a_run_killed_after_a_checkpoint_continues_from_it_bit_identically(tmp_path, monkeypatch):
    (cell,) = [c for c in _cells(tmp_path / "whole") if c.config.name == "hinge-seed1"]
    whole = train_or_reuse(cell.config)
    assert whole.trained_now

    class KilledAfterFirstSave(ModelCheckpoint):
        def on_train_epoch_end(self, trainer, module):
            super().on_train_epoch_end(trainer, module)
            raise Stopped  # the process dies right after epoch 1's checkpoint

    config = replace(cell.config, run_dir=str(tmp_path / "killed"))
    with monkeypatch.context() as patch:
        patch.setattr(run_module, "ModelCheckpoint", KilledAfterFirstSave)
        with pytest.raises(Stopped):
            train_or_reuse(config)
    folder = tmp_path / "killed" / "hinge-seed1"
    assert (folder / "checkpoints" / "last.ckpt").is_file()
    assert not (folder / "metrics.json").exists()

    calls = _counting_train(monkeypatch)
    continued = train_or_reuse(config)
    assert calls == ["hinge-seed1 resume=last"]
    assert continued.metrics["steps"] == whole.metrics["steps"] == 4
    assert continued.metrics["test"] == whole.metrics["test"]
    weights = zip(
        continued.model.state_dict().values(), whole.model.state_dict().values(), strict=True
    )
    assert all(a.equal(b) for a, b in weights)


@pytest.mark.slow
def test_a_run_stopped_before_any_checkpoint_trains_again_from_the_start(tmp_path, monkeypatch):
    cell = _cells(tmp_path)[0]
    first = train_or_reuse(cell.config)
    (first.folder / "metrics.json").unlink()
    for ckpt in (first.folder / "checkpoints").iterdir():
        ckpt.unlink()
    (first.folder / "stray.txt").write_text("left by the stopped run")

    calls = _counting_train(monkeypatch)
    again = train_or_reuse(cell.config)
    assert calls == ["cross-entropy-seed0 resume=None"]
    assert not (again.folder / "stray.txt").exists()
    assert again.metrics["test"] == first.metrics["test"]


def test_a_folder_of_another_config_is_refused_and_kept(tmp_path):
    cell = _cells(tmp_path)[0]
    folder = tmp_path / cell.config.name
    folder.mkdir()
    other = replace(cell.config, seed=7)
    (folder / "config.yaml").write_text(yaml.safe_dump(to_dict(other)))
    with pytest.raises(ValueError, match=r"holds a run of another config .*\['seed'\]"):
        train_or_reuse(cell.config)
    assert (folder / "config.yaml").is_file()


def test_a_grid_run_needs_a_name(tmp_path):
    config = replace(_cells(tmp_path)[0].config, name=None)
    with pytest.raises(ValueError, match="name=None: a grid's run needs a name"):
        train_or_reuse(config)


def test_reproduce_resume_finds_the_folder_to_continue(tmp_path):
    parent = tmp_path / "noisy-labels-quick"
    for stamp in ("20261201-100000", "20261202-090000"):
        (parent / stamp / "runs").mkdir(parents=True)
    (parent / "20261203-080000").mkdir()  # no runs/: not a grid's folder
    cfg = ReproduceConfig(name="noisy-labels", quick=True, out=str(tmp_path), resume="last")
    assert _experiment_folder(cfg) == parent / "20261202-090000"
    named = replace(cfg, resume=str(parent / "20261201-100000"))
    assert _experiment_folder(named) == parent / "20261201-100000"
    fresh = _experiment_folder(replace(cfg, resume=None))
    assert fresh.parent == parent and not fresh.exists()


def test_reproduce_resume_names_a_bad_folder(tmp_path):
    cfg = ReproduceConfig(name="small-data", quick=True, out=str(tmp_path), resume="last")
    with pytest.raises(ValueError, match="resume='last': no earlier run of this experiment"):
        _experiment_folder(cfg)
    with pytest.raises(ValueError, match=r"resume='/nowhere': expected the folder of an earlier"):
        _experiment_folder(replace(cfg, resume="/nowhere"))

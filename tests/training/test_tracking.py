"""Where a run logs: the tracker setting is checked before anything is written; with a tracker
installed, a run logs its metrics and config to it, offline, under the run folder."""

from __future__ import annotations

import importlib.util

import pytest

from largemargin.cli.main import main
from largemargin.data import DataConfig
from largemargin.training import OptimConfig, RunConfig, TrainerConfig, train
from largemargin.training.config import check_tracker


def test_unknown_tracker_is_named():
    with pytest.raises(ValueError, match=r"trainer.tracker='neptune': expected None or one of"):
        check_tracker("neptune")


@pytest.mark.parametrize(
    ("tracker", "hint"), [("mlflow", "largemargin[track]"), ("wandb", "wandb")]
)
def test_a_tracker_that_is_not_installed_fails_before_anything_is_written(
    tmp_path, monkeypatch, capfd, tracker, hint
):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == tracker else real(name, *a)
    )
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--trainer.tracker", tracker]) == 2
    err = capfd.readouterr().err
    assert err.startswith(f"largemargin train: error: trainer.tracker={tracker!r}: the {tracker} ")
    assert f"pip install {hint}" in err.replace("'", "") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def _tiny(tmp_path, tracker: str) -> RunConfig:
    return RunConfig(
        data=DataConfig(train_subset=100, val_split=100),
        optim=OptimConfig(name="sgd", lr=0.01),
        trainer=TrainerConfig(
            epochs=1,
            batch_size=25,
            progress_bar=False,
            log_every_n_steps=1,
            eval_margins=False,
            tracker=tracker,
        ),
        run_dir=str(tmp_path),
        name="tracked",
    )


@pytest.mark.slow
def test_mlflow_gets_metrics_learning_rates_and_config_in_the_run_folder(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    run_dir = tmp_path / "runs"
    monkeypatch.chdir(tmp_path)  # nothing may land outside the run folder
    result = train(_tiny(run_dir, "mlflow"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    store = result.folder / "mlflow" / "mlflow.db"
    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{store.resolve()}")
    experiment = client.get_experiment_by_name("largemargin")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["mlflow.runName"] == "tracked"
    lrs = [m.value for m in client.get_metric_history(run.info.run_id, "lr-SGD")]
    assert len(lrs) == 4 and lrs[-1] == pytest.approx(0.01 / 25 / 1e4, rel=1e-6)
    assert "val/acc" in run.data.metrics and run.data.params["optim/name"] == "sgd"


@pytest.mark.slow
def test_wandb_logs_offline_in_the_run_folder(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    result = train(_tiny(tmp_path, "wandb"))
    (run,) = (result.folder / "wandb").glob("offline-run-*")
    assert list(run.glob("run-*.wandb"))  # the offline log that `wandb sync` uploads

"""Where a run's logs go: CSV and TensorBoard always, and optionally one experiment tracker.

Trackers (``TrainerConfig.tracker``, checked by ``config.check_tracker``), each working
offline, writing under the run folder:

- ``"mlflow"``: MLflow with a local SQLite store, ``<run folder>/mlflow/mlflow.db`` (experiment
  "largemargin", one MLflow run per launch, named after the run; the config as its
  parameters); browse it with ``mlflow ui --backend-store-uri sqlite:///<run
  folder>/mlflow/mlflow.db`` (the ``mlflow`` package). Needs ``pip install 'largemargin[track]'``.
- ``"wandb"``: Weights & Biases in offline mode, ``<run folder>/wandb`` (project
  "largemargin"); ``wandb sync`` uploads it later. Needs ``pip install wandb``.
"""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger


def run_loggers(folder: Path, name: str, tracker: str | None) -> list[Logger]:
    """CSV (``logs/``) and TensorBoard (``tensorboard/``) loggers in ``folder``, plus the
    ``tracker``'s (see the module docstring) when given."""
    loggers: list[Logger] = [
        CSVLogger(folder, name="logs"),
        TensorBoardLogger(folder, name="tensorboard"),
    ]
    if tracker == "mlflow":
        from lightning.pytorch.loggers import MLFlowLogger

        store = Path(folder).resolve() / "mlflow"
        store.mkdir(parents=True, exist_ok=True)
        loggers.append(
            MLFlowLogger(
                experiment_name="largemargin",
                run_name=name,
                tracking_uri=f"sqlite:///{store / 'mlflow.db'}",
                artifact_location=(store / "artifacts").as_uri(),
            )
        )
    elif tracker == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        loggers.append(
            WandbLogger(name=name, save_dir=str(folder), offline=True, project="largemargin")
        )
    return loggers

"""Accuracy and first-order margins of a trained checkpoint on a dataset's test split."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import largemargin as lm
from largemargin.data import DataConfig, build_datasets
from largemargin.models import build_model, default_margin_layers
from largemargin.training.config import RunConfig, from_dict
from largemargin.training.objective import Objective


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, RunConfig]:
    """Rebuild the model of a ``largemargin train`` checkpoint and load its weights (eval mode).

    The checkpoint is a pickle (Lightning's format, with RNG states): load only files you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint={str(path)!r}: no such file")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    record = ckpt.get("largemargin_config") if isinstance(ckpt, dict) else None
    if record is None:
        raise ValueError(f"checkpoint={str(path)!r}: not written by `largemargin train`")
    record = dict(record)
    shape = record.pop("model_shape")
    record.pop("data_info", None)
    cfg = from_dict(record)
    model = build_model(
        cfg.model.name,
        num_classes=shape["num_classes"],
        in_channels=shape["in_channels"],
        **cfg.model.kwargs,
    )
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    model.load_state_dict(state)
    return model.eval(), cfg


def evaluate(
    checkpoint: str | Path,
    *,
    data: DataConfig | None = None,
    batch_size: int = 1000,
    device: str = "cpu",
) -> dict:
    """Test accuracy and mean first-order margin per margin layer (the run's loss options) of
    ``checkpoint`` on ``data``'s test split (default: the run's own data config)."""
    model, cfg = load_checkpoint(checkpoint)
    data = data if data is not None else replace(cfg.data, download=False)
    bundle = build_datasets(data)
    model = model.to(device)
    layers = cfg.model.margin_layers or default_margin_layers(cfg.model.name)
    objective = Objective(cfg.loss, list(layers), weight_decay=0.0)
    correct, count = 0, 0
    sums = dict.fromkeys(layers, 0.0)
    for x, y in DataLoader(bundle.test, batch_size=batch_size):
        x, y = x.to(device), y.to(device)
        logits, acts = lm.forward_with_layers(model, x, list(layers))
        margins = objective.measure(logits, y, acts)
        correct += int((logits.argmax(1) == y).sum())
        count += len(y)
        for name, value in margins.items():
            sums[name] += float(value) * len(y)
    return {
        "checkpoint": str(checkpoint),
        "dataset": data.name,
        "examples": count,
        "accuracy": correct / count,
        "mean_margin": {name: total / count for name, total in sums.items()},
    }

"""Accuracy and logit margins of a trained checkpoint on a dataset's test split."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import largemargin as lm
from largemargin.data import DataConfig, build_datasets
from largemargin.models import build_model, default_margin_layers
from largemargin.training.config import RunConfig, from_dict
from largemargin.training.objective import logit_margins


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
    """Test accuracy and logit margins per margin layer of ``checkpoint`` on ``data``'s test
    split (default: the run's own data config), in eval mode.

    ``mean_logit_margin`` and ``median_logit_margin`` map each margin layer to the mean and
    median over the test examples of ``objective.logit_margins``: the signed first-order
    distance to the closest competitor with logit scores and no norm scale, in that layer's
    own units measured in the run's lp norm (negative: misclassified), whatever the training
    score. The same quantity as the run's ``test/logit_margin/<layer>`` metric.
    """
    model, cfg = load_checkpoint(checkpoint)
    data = data if data is not None else replace(cfg.data, download=False)
    bundle = build_datasets(data)
    model = model.to(device)
    layers = list(cfg.model.margin_layers or default_margin_layers(cfg.model.name))
    correct, count = 0, 0
    parts: list[torch.Tensor] = []
    with torch.enable_grad():
        for x, y in DataLoader(bundle.test, batch_size=batch_size):
            x, y = x.to(device), y.to(device)
            logits, acts = lm.forward_with_layers(model, x, layers)
            parts.append(logit_margins(logits, y, acts, norm=cfg.loss.norm).cpu())
            correct += int((logits.argmax(1) == y).sum())
            count += len(y)
    margins = torch.cat(parts).T  # (L, N)
    return {
        "checkpoint": str(checkpoint),
        "dataset": data.name,
        "examples": count,
        "accuracy": correct / count,
        "norm": str(cfg.loss.norm),
        "mean_logit_margin": {n: float(m.mean()) for n, m in zip(layers, margins, strict=True)},
        "median_logit_margin": {n: float(m.median()) for n, m in zip(layers, margins, strict=True)},
    }

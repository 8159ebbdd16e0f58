"""Accuracy and logit margins of a trained checkpoint on a dataset's test split."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import largemargin as lm
from largemargin.core.norms import norm_name
from largemargin.data import DataConfig, build_datasets
from largemargin.errors import bad_value
from largemargin.models import build_model, default_margin_layers
from largemargin.models.import_path import is_import_path
from largemargin.torch_utils import pick_device
from largemargin.training.checkpoint import read_checkpoint
from largemargin.training.config import RunConfig, from_dict, migrate
from largemargin.training.objective import logit_margins


def load_checkpoint(
    path: str | Path, *, trust_model_code: bool = False
) -> tuple[torch.nn.Module, RunConfig]:
    """Rebuild the model of a ``largemargin train`` checkpoint and load its weights (eval mode).

    The file is read by ``read_checkpoint`` (weights-only unpickling: nothing in it is run). A
    run whose model is user code given by import path (``model.name: package.module:factory``)
    would import and call that code to rebuild the model, so it is refused unless
    ``trust_model_code`` is true: set it only for checkpoints whose model import path you trust.
    Raises ValueError naming ``checkpoint=<path>`` when the file is not such a checkpoint.
    """
    ckpt = read_checkpoint(path)
    where = f"checkpoint={str(path)!r}"
    record = dict(ckpt["largemargin_config"])
    shape = record.pop("model_shape")
    record.pop("data_info", None)
    try:
        cfg = from_dict(migrate(record))  # migrate: a run saved before loss.margin
    except (ValueError, TypeError) as error:
        raise ValueError(f"{where}: its config is not a run config ({error})") from error
    name = str(cfg.model.name)
    if is_import_path(name) and not trust_model_code:
        raise ValueError(
            f"{where}: its model {name!r} is user code by import path, which rebuilding it "
            "would import and run; pass trust_model_code=True (--trust_model_code true) only if "
            "you trust that code"
        )
    try:
        model = build_model(
            name,
            num_classes=shape["num_classes"],
            in_channels=shape["in_channels"],
            **cfg.model.kwargs,
        )
        state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
        model.load_state_dict(state)
    except (ValueError, TypeError, RuntimeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{where}: cannot rebuild model {name!r} from it ({first})") from error
    return model.eval(), cfg


def check_data_choice(data: DataConfig | None, data_dir: str | None) -> None:
    """Raise ValueError unless at most one of ``data`` (another dataset) and ``data_dir`` (the
    run's own dataset, read from another folder) is given."""
    if data is not None and data_dir is not None:
        raise bad_value("data_dir", data_dir, "None when data is given (set data.data_dir)")


def evaluation_data(run: DataConfig, data: DataConfig | None, data_dir: str | None) -> DataConfig:
    """The data config a checkpoint is evaluated on: ``data`` when given; else the run's own
    (``run``) with downloads off, its files looked for in ``data_dir`` when that is given (the
    run's dataset on another machine) and else where the run read them. The callers check the
    pair with ``check_data_choice`` before reading anything; ``data_dir`` is ignored when
    ``data`` is given."""
    if data is not None:
        return data
    own = replace(run, download=False)
    return own if data_dir is None else replace(own, data_dir=data_dir)


def evaluate(
    checkpoint: str | Path,
    *,
    data: DataConfig | None = None,
    data_dir: str | None = None,
    batch_size: int = 1000,
    device: str | None = None,
    trust_model_code: bool = False,
) -> dict:
    """Test accuracy and logit margins per margin layer of ``checkpoint`` on ``data``'s test
    split, in eval mode. The checkpoint is read once.

    ``data``, ``data_dir``: see ``evaluation_data`` (at most one of them).

    ``mean_logit_margin`` and ``median_logit_margin`` map each margin layer to the mean and
    median over the test examples of ``objective.logit_margins``: the signed first-order
    distance to the closest competitor with logit scores and no norm scale, in that layer's
    own units measured in the run's lp norm (negative: misclassified), whatever the training
    score. The same quantity as the run's ``test/logit_margin/<layer>`` metric.
    ``device``: None is "cuda" when available, else "cpu". ``trust_model_code``: see
    ``load_checkpoint``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise bad_value("batch_size", batch_size, "an int >= 1")
    check_data_choice(data, data_dir)
    device = pick_device(device)
    model, cfg = load_checkpoint(checkpoint, trust_model_code=trust_model_code)
    data = evaluation_data(cfg.data, data, data_dir)
    bundle = build_datasets(data)
    model = model.to(device)
    layers = list(cfg.model.margin_layers or default_margin_layers(cfg.model.name))
    correct, count = 0, 0
    parts: list[torch.Tensor] = []
    with torch.enable_grad():
        for x, y in DataLoader(bundle.test, batch_size=batch_size):
            x, y = x.to(device), y.to(device)
            logits, acts = lm.forward_with_layers(model, x, layers)
            parts.append(logit_margins(logits, y, acts, norm=cfg.loss.margin.norm).cpu())
            correct += int((logits.argmax(1) == y).sum())
            count += len(y)
    margins = torch.cat(parts).T  # (L, N)
    return {
        "checkpoint": str(checkpoint),
        "dataset": data.name,
        "examples": count,
        "accuracy": correct / count,
        "norm": norm_name(cfg.loss.margin.norm),
        "mean_logit_margin": {n: float(m.mean()) for n, m in zip(layers, margins, strict=True)},
        "median_logit_margin": {n: float(m.median()) for n, m in zip(layers, margins, strict=True)},
    }

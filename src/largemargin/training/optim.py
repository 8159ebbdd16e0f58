"""Optimiser and learning-rate schedule from an ``OptimConfig``."""

from __future__ import annotations

import math

import torch
from torch import nn

from largemargin.training.config import OptimConfig


def build_optimizer(cfg: OptimConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The optimiser over the trainable parameters. Weight decay: for "adamw", decoupled decay
    of ``cfg.weight_decay`` applied by the optimiser (w <- w - lr * weight_decay * w per step);
    for the others it is not applied here but added to the loss as an L2 term (see
    ``OptimConfig.loss_weight_decay`` and ``Objective``), as in the reference code."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, eps=cfg.eps, momentum=cfg.momentum)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, eps=cfg.eps)
    return torch.optim.AdamW(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay)


def build_schedule(
    cfg: OptimConfig, optimizer: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-step schedule (call ``step()`` after every optimiser step) over a run of
    ``total_steps`` optimiser steps: the learning rate of step ``total_steps - 1``, the last, is
    the schedule's final value (cosine: 0; one-cycle: ``lr / 25 / 1e4``)."""
    last = max(total_steps - 1, 1)
    if cfg.schedule == "staircase":
        rate, every = cfg.decay_rate, cfg.decay_steps
        factor = lambda step: rate ** (step // every)  # noqa: E731
    elif cfg.schedule == "cosine":
        factor = lambda step: 0.5 * (1 + math.cos(math.pi * min(step, last) / last))  # noqa: E731
    elif cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=cfg.lr,
            total_steps=max(total_steps, 2),
            pct_start=0.15,
            cycle_momentum=False,
        )
    else:
        factor = lambda step: 1.0  # noqa: E731
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

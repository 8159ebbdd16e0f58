"""The Lightning module: one classifier, one objective, the metrics the paper cares about."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn

import largemargin as lm
from largemargin.training.adversarial import Adversary
from largemargin.training.collapse import (
    Collapse,
    CollapseWarning,
    PredictionTally,
    find_collapse,
    remedy,
)
from largemargin.training.config import AdversarialConfig, LossConfig, OptimConfig
from largemargin.training.objective import Objective
from largemargin.training.optim import build_optimizer, build_schedule


class MarginClassifier(L.LightningModule):
    """Trains ``model`` with the objective of ``loss`` and logs, per step and per epoch:
    every loss term, accuracy, and per margin layer two batch-mean first-order margins (see
    ``training.objective``): ``train/margin/<layer>``, the training loss's own distances in
    the training score's units (with probability scores and a norm scale, not geometric);
    ``val/logit_margin/<layer>`` and ``test/logit_margin/<layer>``, the mean logit margin
    (closest competitor, no norm scale) over the first ``margin_examples`` examples of the split
    (None: all; split among processes): in that layer's units and the run's lp norm.

    Watches for collapse (``largemargin.training.collapse``): at each training epoch's end it
    logs ``train/largest_class_share`` and ``train/mean_max_prob`` from the predictions of the
    training steps, keeps their ``PredictionTally`` summed over processes (per-class counts,
    correct count, sum of the top softmax probability) in ``epoch_predictions`` and the epoch's
    ``Collapse`` or None in ``collapse``, and issues a ``CollapseWarning`` when an epoch
    collapses after one that did not.

    With ``adversarial`` (an attack set), each training batch is first made adversarial
    (``training.adversarial.Adversary``; ``pixel_stats``: the data's (mean, std), None for
    pixel inputs), or, with TRADES (``loss.trades_beta`` > 0), paired with TRADES's adversarial
    batch.

    Backpropagates to the parameters only, so naming the "input" layer costs no input gradient.
    Checkpoints carry the RNG states, so a resumed run continues exactly.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: LossConfig,
        optim: OptimConfig,
        margin_layers: list[str],
        *,
        log_margin_every_n_steps: int = 50,
        eval_margins: bool = True,
        margin_examples: int | None = None,
        adversarial: AdversarialConfig | None = None,
        pixel_stats: tuple[Sequence[float], Sequence[float]] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.loss_cfg = loss
        self.optim_cfg = optim
        self.margin_layers = lm.check_layer_names(model, margin_layers)
        self.objective = Objective(loss, self.margin_layers, optim.loss_weight_decay())
        self.log_margin_every_n_steps = log_margin_every_n_steps
        self.eval_margins = eval_margins
        self.margin_examples = margin_examples
        # examples of this process's share of margin_examples left to measure this evaluation
        # epoch (-1: no limit); reset at each epoch's start (``_start_margin_count``)
        self._margins_left = -1 if margin_examples is None else margin_examples
        self.trades = loss.trades_beta > 0
        self.adversary = None
        if adversarial is not None and adversarial.attack is not None:
            mean, std = pixel_stats if pixel_stats is not None else (None, None)
            self.adversary = Adversary(adversarial, mean, std)
        self.run_config: dict | None = None  # saved into checkpoints, to rebuild the model
        self.collapse: Collapse | None = None  # the last finished epoch's, saved in checkpoints
        self.epoch_predictions: list[float] | None = None  # the last epoch's tally, all processes
        self._tally = PredictionTally()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        every = self.log_margin_every_n_steps
        measure = every > 0 and self.global_step % every == 0
        terms = self._terms(x, y, measure)
        batch_size = len(y)
        log = dict(on_step=True, on_epoch=True, batch_size=batch_size, sync_dist=False)
        self.log("train/loss", terms.total.detach(), prog_bar=True, **log)
        for name, value in terms.parts.items():
            self.log(f"train/{name}", value.detach(), **log)
        acc = (terms.logits.detach().argmax(1) == y).float().mean()
        self.log("train/acc", acc, prog_bar=True, **log)
        self._tally.update(terms.logits, y)
        for name, value in terms.margins.items():
            self.log(
                f"train/margin/{name}", value, on_step=True, on_epoch=False, batch_size=batch_size
            )
        return terms.total

    def _terms(self, x: torch.Tensor, y: torch.Tensor, measure: bool):
        """The objective's terms of a training batch: at the clean inputs, at the adversarial
        ones (``adversarial``), or at the clean ones with TRADES's term."""
        if self.adversary is None:
            return self.objective(self.model, x, y, measure_margin=measure)
        if self.trades:
            x_adv = self.adversary.trades(self.model, x)
            return self.objective(self.model, x, y, measure_margin=measure, trades_input=x_adv)

        def objective(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor):
            return self.objective(model, inputs, labels).total

        x_adv = self.adversary(self.model, x, y, objective)
        return self.objective(self.model, x_adv, y, measure_margin=measure)

    def on_train_epoch_end(self) -> None:
        stats = self._tally.take()
        if stats is None:
            return
        stats = self.trainer.strategy.reduce(stats, reduce_op="sum").tolist()  # one host sync
        self.epoch_predictions = stats
        counts, correct, top = stats[:-2], stats[-2], stats[-1]
        examples = sum(counts)
        self.log("train/largest_class_share", max(counts) / examples, sync_dist=False)
        self.log("train/mean_max_prob", top / examples, sync_dist=False)
        before = self.collapse
        self.collapse = find_collapse(
            counts,
            correct,
            top,
            epoch=self.current_epoch + 1,
            first_epoch=None if before is None else before.first_epoch,
            remedy=remedy(self.loss_cfg, len(counts)),
        )
        if self.collapse is not None and before is None:
            rank_zero_warn(self.collapse.message, category=CollapseWarning)

    def backward(self, loss: torch.Tensor, *args, **kwargs) -> None:
        params = [p for p in self.parameters() if p.requires_grad]
        loss.backward(*args, inputs=params, **kwargs)

    def _start_margin_count(self) -> None:
        """Each process measures the logit margins on its first ``margin_examples`` /
        world size evaluation examples (all with None)."""
        if self.margin_examples is None:
            self._margins_left = -1  # no limit
        else:
            self._margins_left = math.ceil(self.margin_examples / self.trainer.world_size)

    def on_validation_epoch_start(self) -> None:
        self._start_margin_count()

    def on_test_epoch_start(self) -> None:
        self._start_margin_count()

    def _evaluate(self, batch, stage: str) -> None:
        x, y = batch
        n = len(y)
        margins: dict[str, torch.Tensor] = {}
        measured = n if self._margins_left < 0 else min(n, self._margins_left)
        if self.eval_margins and measured > 0:
            self._margins_left -= 0 if self._margins_left < 0 else measured
            with torch.enable_grad():  # the first-order margin needs gradients, even in eval
                head = x[:measured]
                logits, layers = lm.forward_with_layers(self.model, head, self.margin_layers)
                margins = self.objective.mean_logit_margins(logits, y[:measured], layers)
            if measured < n:  # the rest for accuracy only (eval mode: examples independent)
                logits = torch.cat([logits.detach(), self.model(x[measured:])])
        else:
            logits = self.model(x)
        logits = logits.detach()
        self.log(
            f"{stage}/acc",
            (logits.argmax(1) == y).float().mean(),
            prog_bar=True,
            batch_size=n,
            sync_dist=True,
        )
        self.log(
            f"{stage}/cross_entropy",
            nn.functional.cross_entropy(logits, y),
            batch_size=n,
            sync_dist=True,
        )
        for name, value in margins.items():
            self.log(f"{stage}/logit_margin/{name}", value, batch_size=measured, sync_dist=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def configure_optimizers(self):
        """The optimiser and its per-step schedule, whose length is the run's number of
        optimiser steps as Lightning counts it (per process, after the distributed sampler's
        split, bounded by ``max_steps``)."""
        optimizer = build_optimizer(self.optim_cfg, self.model)
        total = self.trainer.estimated_stepping_batches
        schedule = build_schedule(self.optim_cfg, optimizer, int(total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["largemargin_config"] = self.run_config
        checkpoint["collapse"] = None if self.collapse is None else self.collapse.as_dict()
        name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (global RNG)
        checkpoint["rng_states"] = {  # plain types, so weights-only loading accepts them
            "torch": torch.get_rng_state(),
            "numpy": (name, keys.tolist(), pos, has_gauss, cached),
            "python": random.getstate(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        collapse = checkpoint.get("collapse")
        self.collapse = None if collapse is None else Collapse(**collapse)
        states = checkpoint.get("rng_states")
        if states is not None:
            torch.set_rng_state(states["torch"])
            name, keys, pos, has_gauss, cached = states["numpy"]
            keys = np.array(keys, dtype=np.uint32)
            np.random.set_state((name, keys, pos, has_gauss, cached))  # noqa: NPY002
            random.setstate(states["python"])

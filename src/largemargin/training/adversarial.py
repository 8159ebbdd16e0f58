"""Adversarial examples for training: what ``AdversarialConfig`` asks for, made with the
attacks' one projected ascent (``largemargin.attacks.ascend``) against the model being trained.

Pixel units: with a normalised dataset (``mean``/``std`` given) the batch is mapped back to
pixels in [0, 1], perturbed there, and normalised again, so ``eps`` and the step size are in
pixels for every dataset. BatchNorm while crafting follows ``AdversarialConfig.batchnorm``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from largemargin.attacks import Normalize, ascend, to_pixels
from largemargin.core.norms import parse_norm
from largemargin.torch_utils import eval_mode
from largemargin.training.config import AdversarialConfig

#: The run's objective as the attack sees it: (model, inputs, labels) -> scalar loss.
ObjectiveLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

TRADES_START_SD = 0.001
"""TRADES's start: x + 0.001 N(0, 1) in pixels (its KL has a zero gradient at x itself)."""


@contextmanager
def batchnorm_stats_kept(model: nn.Module) -> Iterator[None]:
    """Restore every BatchNorm's running mean, variance and batch count on exit, so forward
    passes in train mode inside leave them as they were."""
    saved = [
        (module, [b.clone() if b is not None else None for b in _stats(module)])
        for module in model.modules()
        if isinstance(module, _BatchNorm) and module.track_running_stats
    ]
    try:
        yield
    finally:
        with torch.no_grad():
            for module, buffers in saved:
                for live, copy in zip(_stats(module), buffers, strict=True):
                    if live is not None:
                        live.copy_(copy)


def _stats(module: _BatchNorm) -> list[torch.Tensor | None]:
    return [module.running_mean, module.running_var, module.num_batches_tracked]


def trades_divergence(clean_logits: torch.Tensor, adv_logits: torch.Tensor) -> torch.Tensor:
    """Per-example KL(softmax(clean) || softmax(adv)), shape (N,), in nats; (N, K) logits.
    TRADES's robustness term is its batch mean."""
    return F.kl_div(
        F.log_softmax(adv_logits, dim=1),
        F.log_softmax(clean_logits, dim=1),
        reduction="none",
        log_target=True,
    ).sum(dim=1)


class Adversary:
    """Makes a training batch adversarial as ``cfg`` says.

    ``mean``, ``std``: the data's per-channel normalisation (None: inputs are pixels in
    [0, 1]). Called with the model (in train mode), a batch ``x`` (N, ...) as the loader gives
    it, labels ``y`` (N,), and the run's objective ``objective(model, x, y) -> scalar`` (for
    ``ascend: objective``), it returns a batch like ``x`` whose first
    ``floor(clean_fraction * N)`` rows are ``x``'s and whose others are perturbed, detached.
    ``trades(model, x)`` instead returns TRADES's adversarial batch for all N rows.
    """

    def __init__(
        self,
        cfg: AdversarialConfig,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        self.cfg = cfg
        self.norm = parse_norm(cfg.norm)
        self.steps = cfg.resolved_steps()
        self.step_size = cfg.resolved_step_size()
        self.normalize = None if mean is None else Normalize(mean, std)
        self._mean, self._std = mean, std

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, objective: ObjectiveLoss
    ) -> torch.Tensor:
        clean = math.floor(self.cfg.clean_fraction * len(x))
        if clean == len(x):
            return x
        xa, ya = x[clean:], y[clean:]
        if self.cfg.ascend == "objective":

            def loss(inputs: torch.Tensor) -> torch.Tensor:
                return objective(model, inputs, ya)
        else:

            def loss(inputs: torch.Tensor) -> torch.Tensor:
                return F.cross_entropy(model(inputs), ya, reduction="sum")

        perturbed = self._ascend(model, xa, loss, random_start=True)
        return torch.cat([x[:clean], perturbed]) if clean else perturbed

    def trades(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """TRADES's inner maximisation: from x + 0.001 N(0, 1), ascend the summed KL between
        the model's predictions at ``x`` (fixed) and at the perturbed input."""
        with self._mode(model), torch.no_grad():
            clean_logits = model(x).detach()

        def loss(inputs: torch.Tensor) -> torch.Tensor:
            return trades_divergence(clean_logits, model(inputs)).sum()

        return self._ascend(model, x, loss, random_start=False)

    def _ascend(
        self,
        model: nn.Module,
        x: torch.Tensor,
        loss: Callable[[torch.Tensor], torch.Tensor],
        *,
        random_start: bool,
    ) -> torch.Tensor:
        """Perturb ``x`` (loader units) in pixel space to increase ``loss(inputs)`` (inputs in
        loader units); TRADES's Gaussian start when ``random_start`` is False."""
        pixels = self._to_pixels(x.detach())

        def gradient(p: torch.Tensor) -> torch.Tensor:
            with torch.enable_grad():
                p = p.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(loss(self._from_pixels(p)), p)
            return grad

        start = None
        if not random_start:
            start = (pixels + TRADES_START_SD * torch.randn_like(pixels)).clamp(0.0, 1.0)
        with self._mode(model):
            p_adv = ascend(
                gradient,
                pixels,
                self.cfg.eps,
                steps=self.steps,
                step_size=self.step_size,
                norm=self.norm,
                start=start,
            )
        return self._from_pixels(p_adv).detach()

    def _mode(self, model: nn.Module):
        mode = self.cfg.batchnorm
        if mode == "eval":
            return eval_mode(model)
        return batchnorm_stats_kept(model) if mode == "train" else nullcontext()

    def _to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        return x if self._mean is None else to_pixels(x, self._mean, self._std)

    def _from_pixels(self, p: torch.Tensor) -> torch.Tensor:
        return p if self.normalize is None else self.normalize.to(p.device)(p)

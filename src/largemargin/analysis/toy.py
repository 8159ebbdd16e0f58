"""A 2-D toy problem in the spirit of the paper's Figure 1: cross-entropy vs large margin.

Two interleaved half-moons (two classes, 40 points each, input units of about 1) are fitted by
the same 2-64-64-2 ReLU network from the same initial weights, once with cross-entropy and once
with cross-entropy plus the large margin loss on the input layer (l2, logit scores). The
figure shows both decision boundaries with the training points and the margin band: the
contours where the first-order l2 distance to the boundary equals +-gamma.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from largemargin.analysis.agreement import compare_margins
from largemargin.analysis.first_order import first_order_margins
from largemargin.analysis.true_margin import true_margins
from largemargin.core import large_margin_loss
from largemargin.files import save_figure

GAMMA = 0.5  # target l2 margin in input units (the moons' gap is about 0.5 to 1)
ALPHA = 50.0  # large: no training point is dropped as hopelessly misclassified at the start
LEARNING_RATE = 0.01
MODELS = ("cross_entropy", "large_margin")


def moons(
    per_class: int = 40, noise: float = 0.08, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved half-moons: x (2 * per_class, 2) float32, y (2 * per_class,) int64."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(2, per_class, generator=g) * math.pi
    upper = torch.stack([torch.cos(t[0]), torch.sin(t[0])], dim=1)
    lower = torch.stack([1 - torch.cos(t[1]), 0.5 - torch.sin(t[1])], dim=1)
    x = torch.cat([upper, lower]) + noise * torch.randn(2 * per_class, 2, generator=g)
    y = torch.arange(2).repeat_interleave(per_class)
    return x, y


def mlp(seed: int) -> nn.Sequential:
    """The 2-64-64-2 ReLU network, initialised from ``seed`` (global RNG left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)
        )


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str, steps: int) -> None:
    """Full-batch Adam on ``"cross_entropy"`` or ``"large_margin"`` (cross-entropy plus the
    margin loss on the input, l2, logit scores, gamma ``GAMMA``)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    for _ in range(steps):
        inputs = x.clone().requires_grad_(True)
        logits = model(inputs)
        objective = F.cross_entropy(logits, y)
        if loss == "large_margin":
            objective = objective + large_margin_loss(
                logits, y, [inputs], gamma=GAMMA, alpha=ALPHA, norm=2, score="logit"
            )
        optimizer.zero_grad()
        objective.backward()
        optimizer.step()


def _signed_distance_grid(model: nn.Module, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """First-order l2 distance (logit score) to the boundary on a grid, positive on class 0's
    side; shape (len(ys), len(xs))."""
    gx, gy = np.meshgrid(xs, ys)
    points = torch.tensor(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=torch.float32)
    zeros = torch.zeros(len(points), dtype=torch.int64)
    field = first_order_margins(model, (points, zeros), ["input"], batch_size=len(points))
    return field["input"].numpy().reshape(gx.shape)


def toy_boundary_figure(
    path: str | os.PathLike[str], *, seed: int = 0, steps: int = 300
) -> dict[str, dict[str, object]]:
    """Train both models on the moons from ``seed``, draw them side by side at ``path`` (PNG).

    Returns, per model name (``"cross_entropy"``, ``"large_margin"``): ``train_accuracy``;
    ``mean_margin``, the mean true l2 input margin of the training points whose margin was
    found (``true_margins``, unbounded input; 0 for a misclassified point) and ``min_margin``,
    their minimum (NaN when none was found); ``not_found``, how many were not found;
    ``mean_first_order_margin`` (logit score, l2); and ``agreement``, ``compare_margins`` of
    the first-order and true margins. Takes a few seconds on 2 CPU cores.
    """
    x, y = moons(seed=seed)
    xs = np.linspace(float(x[:, 0].min()) - 0.5, float(x[:, 0].max()) + 0.5, 160)
    ys = np.linspace(float(x[:, 1].min()) - 0.5, float(x[:, 1].max()) + 0.5, 120)
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    results: dict[str, dict[str, object]] = {}
    for ax, name in zip(axes, MODELS, strict=True):
        model = mlp(seed)
        train(model, x, y, name, steps)
        with torch.no_grad():
            accuracy = float((model(x).argmax(dim=1) == y).float().mean())
        true = true_margins(model, x, y, norm=2, clip_min=-math.inf, clip_max=math.inf)
        found = true[~true.isnan()]
        first = first_order_margins(model, (x, y), ["input"])["input"]
        results[name] = {
            "train_accuracy": accuracy,
            "mean_margin": float(found.mean()) if found.numel() else math.nan,
            "min_margin": float(found.min()) if found.numel() else math.nan,
            "not_found": len(true) - found.numel(),
            "mean_first_order_margin": float(first.mean()),
            "agreement": compare_margins(first, true),
        }
        field = _signed_distance_grid(model, xs, ys)
        ax.contourf(xs, ys, field > 0, levels=[-0.5, 0.5, 1.5], colors=["#f6d5c8", "#cfe0f3"])
        ax.contour(xs, ys, field, levels=[0.0], colors="black", linewidths=1.5)
        ax.contour(
            xs, ys, field, levels=[-GAMMA, GAMMA], colors="grey", linestyles="--", linewidths=1
        )
        ax.scatter(*x[y == 0].T.numpy(), c="#1f5fa8", s=14, label="class 0")
        ax.scatter(*x[y == 1].T.numpy(), c="#c0392b", s=14, marker="s", label="class 1")
        ax.set_title(
            f"{name.replace('_', ' ')}: train acc {accuracy:.2f}, "
            f"mean l2 margin {results[name]['mean_margin']:.3f}",
            fontsize="small",
        )
        ax.set_aspect("equal")
    axes[0].legend(fontsize="small", loc="lower left")
    fig.suptitle(f"decision boundary (solid) and first-order distance = ±{GAMMA} (dashed)")
    save_figure(fig, Path(path))
    return results

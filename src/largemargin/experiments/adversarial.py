"""`largemargin reproduce adversarial`: accuracy under attack of cross-entropy and margin models,
and how well the first-order margin agrees with the true input margin.

The paper's claim: models trained with the large margin loss, above all with the l-inf margin
on the input, keep more accuracy than cross-entropy under FGSM and iterative FGSM as the l-inf
radius eps grows (0 to 0.3 on MNIST, pixels in [0, 1]). Each model below is trained per seed on
the same MNIST subset, then attacked in eval mode on the first ``attack_examples`` test images
with FGSM, iterative FGSM and PGD (random start), l-inf, inside [0, 1].

For the first seed's models, the first-order input margin (logit scores, closest of all
competitors, what the loss linearises) is compared with the true input margin (the smallest
flipping perturbation found by DeepFool and bisection) in l2 and l-inf, on the first
``margin_examples`` test images, with ``analysis.compare_margins``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from matplotlib.figure import Figure
from torch.utils.data import DataLoader

from largemargin.analysis import input_margin_agreement, plot_margin_agreement, plot_margin_cdfs
from largemargin.attacks import accuracy_under_attack
from largemargin.data import DataConfig, build_datasets
from largemargin.experiments.grid import (
    MNIST_MARGIN_LAYERS,
    Cell,
    format_spread,
    mean_sd,
    mnist_run,
    run_grid,
    slug,
    write_grid_record,
    write_outcomes_csv,
)
from largemargin.files import save_figure, write_csv

# model label -> (loss of grid.LOSSES, margin layers)
MODELS: dict[str, tuple[str, list[str]]] = {
    "cross-entropy": ("cross-entropy", MNIST_MARGIN_LAYERS),
    "margin l-inf, input": ("margin l-inf", ["input"]),
    "margin l-inf, input+hidden": ("margin l-inf", MNIST_MARGIN_LAYERS),
    "margin l2, input+hidden": ("margin l2", MNIST_MARGIN_LAYERS),
}
ATTACK_NAMES = {"fgsm": "FGSM", "iterative_fgsm": "iterative FGSM", "pgd": "PGD"}
MARGIN_NORMS = {"l2": 2, "l-inf": "inf"}


@dataclass
class AdversarialGrid:
    """``train_size`` class-balanced training images (None: all), ``epochs``, ``batch_size``;
    ``epsilons``: l-inf radii in pixel units ([0, 1] scale); ``steps``: iterations of iterative
    FGSM and PGD; ``attack_examples`` / ``margin_examples``: test images attacked / measured."""

    seeds: list[int]
    train_size: int | None
    epochs: int
    batch_size: int
    epsilons: list[float] = field(default_factory=lambda: [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    steps: dict[str, int] = field(default_factory=lambda: {"iterative_fgsm": 10, "pgd": 20})
    attack_examples: int = 1000
    margin_examples: int = 200
    models: list[str] = field(default_factory=lambda: list(MODELS))


FULL = AdversarialGrid(
    seeds=[0, 1, 2],
    train_size=None,
    epochs=30,
    batch_size=128,
    steps={"iterative_fgsm": 20, "pgd": 40},
    attack_examples=10000,
    margin_examples=1000,
)
QUICK = AdversarialGrid(
    seeds=[0, 1], train_size=3000, epochs=8, batch_size=64, attack_examples=500, margin_examples=100
)


def cells(grid: AdversarialGrid, data_dir: str | None, run_dir: Path) -> list[Cell]:
    """One run per model and seed. ``Cell.setting`` is unused (0)."""
    out = []
    for label in grid.models:
        if label not in MODELS:
            raise ValueError(f"models: {label!r} is not one of {list(MODELS)}")
        loss, layers = MODELS[label]
        for seed in grid.seeds:
            name = f"{slug(label)}-seed{seed}"
            config = mnist_run(
                data_dir=data_dir,
                loss=loss,
                seed=seed,
                epochs=grid.epochs,
                batch_size=grid.batch_size,
                run_dir=run_dir,
                name=name,
                train_subset=grid.train_size,
                margin_layers=layers,
            )
            out.append(Cell(0, label, seed, config))
    return out


class _Measurements:
    """Attacks every trained model and measures the first seed's margins (``on_trained``)."""

    def __init__(self, grid: AdversarialGrid, x: torch.Tensor, y: torch.Tensor, folder: Path):
        self.grid, self.x, self.y, self.folder = grid, x, y, folder
        self.attack_rows: list[dict] = []
        self.agreement: list[dict] = []
        self.margins: dict[str, dict[str, torch.Tensor]] = {}

    def __call__(self, cell: Cell, model: torch.nn.Module) -> None:
        g = self.grid
        x, y = self.x[: g.attack_examples], self.y[: g.attack_examples]
        for attack in ATTACK_NAMES:
            kwargs: dict = {"clip_min": 0.0, "clip_max": 1.0}
            if attack in g.steps:
                kwargs["steps"] = g.steps[attack]
            if attack == "pgd":
                kwargs["generator"] = torch.Generator().manual_seed(cell.seed)
            rows = accuracy_under_attack(model, (x, y), attack, g.epsilons, norm="inf", **kwargs)
            for row in rows:
                self.attack_rows.append(
                    {"model": cell.loss, "seed": cell.seed, "attack": attack, **row}
                )
        if cell.seed == g.seeds[0]:
            self._margins(cell.loss, model)

    def _margins(self, label: str, model: torch.nn.Module) -> None:
        x, y = self.x[: self.grid.margin_examples], self.y[: self.grid.margin_examples]
        found: dict[str, torch.Tensor] = {}
        for norm_name, p in MARGIN_NORMS.items():
            first, true, stats = input_margin_agreement(model, x, y, norm=p)
            self.agreement.append({"model": label, "norm": norm_name, **stats})
            path = self.folder / f"agreement-{slug(label)}-{norm_name}.png"
            plot_margin_agreement(first, true, path)
            found[f"true {norm_name} input margin"] = true
        self.margins[label] = found


def _attack_table(rows: list[dict], attack: str, models: list[str], epsilons: list[float]) -> str:
    lines = [
        "| eps | " + " | ".join(models) + " |",
        "| --- " * (len(models) + 1) + "|",
    ]
    for eps in epsilons:
        cells = []
        for model in models:
            values = [
                r["accuracy"]
                for r in rows
                if r["attack"] == attack and r["model"] == model and r["eps"] == eps
            ]
            cells.append(format_spread(values, 100, 1))
        lines.append(f"| {eps:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _agreement_table(agreement: list[dict]) -> str:
    lines = [
        "| model | norm | Spearman rank correlation | median first-order / true | within 2x | "
        "median true margin | median first-order margin | examples compared |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for a in agreement:
        lines.append(
            f"| {a['model']} | {a['norm']} | {a['spearman']:.2f} | {a['median_ratio']:.2f} | "
            f"{a['within_2x']:.0%} | {a['median_true']:.3f} | {a['median_first_order']:.3f} | "
            f"{a['count']} |"
        )
    return "\n".join(lines)


def _plot_attacks(rows: list[dict], models: list[str], epsilons: list[float], path: Path) -> Path:
    fig = Figure(figsize=(4.2 * len(ATTACK_NAMES), 3.6), layout="constrained")
    axes = fig.subplots(1, len(ATTACK_NAMES), squeeze=False)[0]
    for ax, (attack, title) in zip(axes, ATTACK_NAMES.items(), strict=True):
        for model in models:
            stats = [
                mean_sd(
                    [
                        r["accuracy"]
                        for r in rows
                        if r["attack"] == attack and r["model"] == model and r["eps"] == eps
                    ]
                )
                for eps in epsilons
            ]
            means = [100 * m for m, _ in stats]
            sds = [0.0 if sd != sd else 100 * sd for _, sd in stats]  # NaN sd: one seed
            ax.errorbar(epsilons, means, yerr=sds, marker="o", capsize=3, label=model)
        ax.set_title(f"{title}, l-inf", fontsize="medium")
        ax.set_xlabel("eps (pixels, [0, 1] scale)")
        ax.set_ylim(0, 101)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    axes[-1].legend(fontsize="small")
    return save_figure(fig, path)


def run(grid: AdversarialGrid, data_dir: str | None, folder: Path) -> str:
    """Train, attack and measure the grid into ``folder``; return the markdown report."""
    todo = cells(grid, data_dir, folder / "runs")
    write_grid_record(folder, asdict(grid), todo)
    test = build_datasets(DataConfig(name="mnist", data_dir=data_dir)).test
    n = max(grid.attack_examples, grid.margin_examples)
    x, y = next(iter(DataLoader(test, batch_size=n)))
    measure = _Measurements(grid, x, y, folder)
    outcomes = run_grid(todo, on_trained=measure)
    write_outcomes_csv(outcomes, "unused", folder / "results.csv")
    write_csv(measure.attack_rows, folder / "attacks.csv")
    _plot_attacks(measure.attack_rows, grid.models, grid.epsilons, folder / "accuracy_vs_eps.png")
    plot_margin_cdfs(measure.margins, folder / "true_margins.png")
    write_csv(measure.agreement, folder / "agreement.csv")
    size = "all 60000" if grid.train_size is None else str(grid.train_size)
    parts = [
        f"MNIST, {size} training images, {grid.epochs} epochs; l-inf attacks on the first "
        f"{min(grid.attack_examples, len(x))} test images; accuracy (%) mean ± sd over seeds "
        f"{grid.seeds}. Iterative FGSM: {grid.steps['iterative_fgsm']} steps; PGD: "
        f"{grid.steps['pgd']} steps, random start."
    ]
    for attack, title in ATTACK_NAMES.items():
        table = _attack_table(measure.attack_rows, attack, grid.models, grid.epsilons)
        parts.append(f"### {title}\n\n{table}")
    parts.append(
        f"### First-order vs true input margin (seed {grid.seeds[0]}, first "
        f"{grid.margin_examples} test images, correctly classified and flipped ones)\n\n"
        + _agreement_table(measure.agreement)
    )
    return "\n\n".join(parts)

"""`largemargin reproduce robust-training`: the margin loss beside adversarial training, at equal
training wall-clock.

The paper calls its loss "complementary" to adversarial input transforms. This grid puts the
margin loss (alone, and on adversarial inputs) beside what a robustness user would otherwise
pick: FGSM with random start (Wong et al., 2020), PGD-7 adversarial training (Madry et al.,
2018) and TRADES (Zhang et al., 2019), all with the project's own attacks
(``training.AdversarialConfig``).

Equal wall-clock: first every method runs ``calibration_steps`` real training steps (one short
``largemargin train`` run each, on the same data) and its median step time is read from its
``metrics.json``; each run of the grid then gets ``budget / step time`` optimiser steps, so
every method trains for about ``budget`` seconds, whatever its cost per step. Each budget in
``budgets`` is a point of the robust-accuracy-against-training-time plot.

Every trained model is attacked on the first ``attack_examples`` test images with the
robustness suite (FGSM, PGD on the cross-entropy and on the logit margin, Square, transfer from
the cross-entropy model of the same seed and budget), l-inf, and its per-example worst case is
reported at each eps. Standard AutoAttack (``largemargin[robust]``) runs for the first seed at
the largest budget on the first ``autoattack_examples`` images, for the best method of each
group of ``autoattack_groups`` (best: the highest mean suite worst case over the grid's
epsilons), since AutoAttack on a robust model costs minutes per hundred images on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from largemargin.attacks import RobustnessReport, accuracy_under_attack
from largemargin.data import DataConfig, build_datasets
from largemargin.experiments.adversarial import (
    HAS_AUTOATTACK,
    RECORD,
    accuracies_by_attack,
    attack_rows,
    masking_verdict,
    suite_report,
)
from largemargin.experiments.grid import (
    BASELINE,
    LOSSES,
    Cell,
    Outcome,
    mnist_run,
    run_grid,
    write_grid_record,
)
from largemargin.experiments.resume import run_folder, train_or_reuse
from largemargin.files import write_csv
from largemargin.report import (
    format_spread,
    markdown_table,
    mean_sd,
    plot_accuracy_vs_setting,
    slug,
)
from largemargin.training.config import AdversarialConfig, LossConfig

#: the mnist-robust preset's loss: logit scores, second order, gamma 100, l-inf, margin alone.
ROBUST_MARGIN = LOSSES["margin l-inf, logit, second-order, gamma 100"]
_CE = LOSSES[BASELINE]
_FGSM = AdversarialConfig(attack="fgsm", eps=0.1, early_stop=True)
_PGD7 = AdversarialConfig(attack="pgd", eps=0.1, steps=7)

#: method label -> (loss, adversarial training). Training radius eps 0.1 (pixels, l-inf).
METHODS: dict[str, tuple[LossConfig, AdversarialConfig]] = {
    BASELINE: (_CE, AdversarialConfig()),
    "margin (mnist-robust)": (ROBUST_MARGIN, AdversarialConfig()),
    "FGSM-RS": (_CE, _FGSM),
    "PGD-7": (_CE, _PGD7),
    "TRADES (beta 6)": (
        replace(_CE, trades_beta=6.0),
        AdversarialConfig(attack="pgd", eps=0.1, steps=5),
    ),
    "margin + FGSM-RS": (ROBUST_MARGIN, _FGSM),
    "margin + PGD-7": (ROBUST_MARGIN, _PGD7),
}
#: the groups whose best method (first seed, largest budget) standard AutoAttack evaluates.
GROUPS = {
    "adversarial training": ["FGSM-RS", "PGD-7", "TRADES (beta 6)"],
    "margin + adversarial training": ["margin + FGSM-RS", "margin + PGD-7"],
}


@dataclass
class RobustTrainingGrid:
    """``train_size`` class-balanced MNIST training images (None: all), ``batch_size``;
    ``budgets``: training seconds per run (each becomes a step budget, see the module
    docstring); ``calibration_steps``: training steps of each method's timing run;
    ``epsilons``: l-inf attack radii, pixels ([0, 1] scale); ``steps`` / ``restarts``: of each
    PGD of the suite; ``square_queries``: of Square; ``attack_examples``: test images every
    model is attacked on; ``autoattack_examples``: test images of AutoAttack (0: none);
    ``autoattack_groups``: keys of ``GROUPS`` whose best method it evaluates."""

    seeds: list[int]
    train_size: int | None
    batch_size: int
    budgets: list[float]
    calibration_steps: int = 40
    epsilons: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3])
    steps: int = 40
    restarts: int = 1
    square_queries: int = 1000
    attack_examples: int = 200
    autoattack_examples: int = 200
    autoattack_groups: list[str] = field(default_factory=lambda: list(GROUPS))
    methods: list[str] = field(default_factory=lambda: list(METHODS))


FULL = RobustTrainingGrid(
    seeds=[0, 1, 2],
    train_size=None,
    batch_size=128,
    budgets=[600.0, 1800.0],
    steps=100,
    restarts=5,
    square_queries=5000,
    attack_examples=10000,
    autoattack_examples=10000,
)
QUICK = RobustTrainingGrid(seeds=[0, 1], train_size=3000, batch_size=64, budgets=[30.0, 60.0])


def _check(grid: RobustTrainingGrid) -> None:
    for label in grid.methods:
        if label not in METHODS:
            raise ValueError(f"methods: {label!r} is not one of {list(METHODS)}")
    if BASELINE not in grid.methods:
        raise ValueError(f"methods: must include {BASELINE!r}, the transfer attack's source")
    for group in grid.autoattack_groups:
        if group not in GROUPS:
            raise ValueError(f"autoattack_groups: {group!r} is not one of {list(GROUPS)}")
    if not grid.budgets or any(not (math.isfinite(b) and b > 0) for b in grid.budgets):
        raise ValueError(f"budgets: expected seconds > 0, got {grid.budgets}")
    if not grid.epsilons or any(not 0 < eps <= 1 for eps in grid.epsilons):
        raise ValueError(f"epsilons: expected radii in (0, 1], got {grid.epsilons}")
    if grid.calibration_steps < 10:
        raise ValueError(f"calibration_steps: expected at least 10, got {grid.calibration_steps}")


def _run(
    grid: RobustTrainingGrid,
    label: str,
    seed: int,
    *,
    data_dir: str | None,
    run_dir: Path,
    name: str,
    max_steps: int,
):
    loss, adversarial = METHODS[label]
    steps_per_epoch = math.ceil((grid.train_size or 60000) / grid.batch_size)
    config = mnist_run(
        data_dir=data_dir,
        loss=loss,
        seed=seed,
        epochs=max(1, math.ceil(max_steps / steps_per_epoch)),
        max_steps=max_steps,
        batch_size=grid.batch_size,
        run_dir=run_dir,
        name=name,
        train_subset=grid.train_size,
    )
    return replace(config, adversarial=replace(adversarial))


def step_costs(grid: RobustTrainingGrid, data_dir: str | None, run_dir: Path) -> dict[str, float]:
    """Each method's median training-step time (seconds), from a ``calibration_steps``-step
    run of it (first seed), as its ``metrics.json`` records it; a first run of the baseline
    warms the process up and is discarded."""
    costs = {}
    names = [("warm-up", BASELINE)] + [(f"calibrate-{slug(m)}", m) for m in grid.methods]
    for name, label in names:
        config = _run(
            grid,
            label,
            grid.seeds[0],
            data_dir=data_dir,
            run_dir=run_dir,
            name=name,
            max_steps=grid.calibration_steps,
        )
        seconds = float(train_or_reuse(config).metrics["step_seconds"])
        if name == "warm-up":
            continue
        costs[label] = seconds
        print(f"step cost of {label}: {costs[label] * 1e3:.1f} ms", flush=True)
    return costs


def cells(
    grid: RobustTrainingGrid, costs: dict[str, float], data_dir: str | None, run_dir: Path
) -> list[Cell]:
    """One run per budget, method and seed (the baseline first in each budget: the transfer
    attacks need it), each with ``budget / costs[method]`` optimiser steps; the cell's setting
    is its budget (seconds)."""
    _check(grid)
    out = []
    for budget in grid.budgets:
        for label in [BASELINE, *(m for m in grid.methods if m != BASELINE)]:
            for seed in grid.seeds:
                steps = max(1, round(budget / costs[label]))
                config = _run(
                    grid,
                    label,
                    seed,
                    data_dir=data_dir,
                    run_dir=run_dir,
                    name=f"{budget:g}s-{slug(label)}-seed{seed}",
                    max_steps=steps,
                )
                out.append(Cell(label, seed, config, budget))
    return out


class _Measurements:
    """The robustness suite for every trained model (``on_trained``); keeps the first seed's
    models at the largest budget for AutoAttack."""

    def __init__(self, grid: RobustTrainingGrid, x: torch.Tensor, y: torch.Tensor):
        self.grid, self.x, self.y = grid, x, y
        self.baselines: dict[tuple[float, int], torch.nn.Module] = {}
        self.reports: dict[tuple[float, str, int], RobustnessReport] = {}
        self.kept: dict[str, torch.nn.Module] = {}

    def __call__(self, cell: Cell, model: torch.nn.Module) -> None:
        g = self.grid
        budget = cell.setting
        reference = None if cell.loss == BASELINE else self.baselines[budget, cell.seed]
        self.reports[budget, cell.loss, cell.seed] = suite_report(
            g, model, self.x, self.y, reference, cell.seed, run_folder(cell.config) / RECORD
        )
        if cell.loss == BASELINE:
            self.baselines[budget, cell.seed] = model
        if cell.seed == g.seeds[0] and budget == max(g.budgets):
            self.kept[cell.loss] = model

    def rows(self) -> list[dict]:
        """``adversarial.attack_rows`` of every report, with a "budget_seconds" column."""
        out = []
        for (budget, label, seed), report in self.reports.items():
            for row in attack_rows({(label, seed): report}):
                out.append({"budget_seconds": budget, **row})
        return out


def _worst_mean(rows: list[dict], budget: float, label: str, epsilons: list[float]) -> float:
    """The mean over seeds and ``epsilons`` of ``label``'s suite worst case at ``budget``."""
    values = [
        r["accuracy"]
        for r in rows
        if r["budget_seconds"] == budget
        and r["model"] == label
        and r["attack"] == "worst case"
        and r["eps"] in epsilons
    ]
    return sum(values) / len(values) if values else -1.0


def _autoattack(m: _Measurements, rows: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """Standard AutoAttack rows for the best method of each group; the group -> method map."""
    g = m.grid
    budget = max(g.budgets)
    chosen = {}
    for group in g.autoattack_groups:
        members = [label for label in GROUPS[group] if label in m.kept]
        if members:
            chosen[group] = max(members, key=lambda s: _worst_mean(rows, budget, s, g.epsilons))
    found: list[dict] = []
    if not HAS_AUTOATTACK or g.autoattack_examples == 0:
        return found, chosen
    n = g.autoattack_examples
    for group, label in chosen.items():
        print(f"AutoAttack on {label} (best of {group}), {n} images", flush=True)
        for row in accuracy_under_attack(
            m.kept[label], (m.x[:n], m.y[:n]), "autoattack", g.epsilons, norm="inf"
        ):
            found.append(
                {
                    "budget_seconds": budget,
                    "model": label,
                    "seed": g.seeds[0],
                    "attack": "autoattack",
                    **row,
                }
            )
    return found, chosen


def _headline(
    grid: RobustTrainingGrid, outcomes: list[Outcome], rows: list[dict], m: _Measurements
) -> str:
    accuracy = accuracies_by_attack(rows)  # keyed by (budget and method, attack, eps)
    header = (
        ["budget (s)", "method", "steps", "training s", "clean (10000)"]
        + [f"worst case {eps:g}" for eps in grid.epsilons]
        + [f"AutoAttack {eps:g}" for eps in grid.epsilons]
        + ["gradient masking"]
    )
    table = []
    for budget in grid.budgets:
        at = [o for o in outcomes if o.cell.setting == budget]
        for label in grid.methods:
            runs = [o for o in at if o.cell.loss == label]
            steps = sorted({o.cell.config.trainer.max_steps for o in runs})
            seconds = mean_sd([o.train_seconds for o in runs])[0]
            key = f"{budget:g}s {label}"
            cells = [
                f"{budget:g}",
                label,
                "/".join(str(s) for s in steps),
                f"{seconds:.0f}",
                format_spread([o.test_accuracy for o in runs], 100, 1),
            ]
            cells += [
                format_spread(accuracy.get((key, "worst case", eps), []), 100, 1)
                for eps in grid.epsilons
            ]
            cells += [
                format_spread(accuracy.get((key, "autoattack", eps), []), 100, 1, missing="not run")
                for eps in grid.epsilons
            ]
            reports = {(k, s): r for (b, k, s), r in m.reports.items() if b == budget}
            cells.append(masking_verdict(reports, label))
            table.append(cells)
    return markdown_table(header, table)


def run(grid: RobustTrainingGrid, data_dir: str | None, folder: Path) -> str:
    """Calibrate, train, attack and report the grid into ``folder``; return the markdown."""
    _check(grid)
    costs = step_costs(grid, data_dir, folder / "calibration")
    todo = cells(grid, costs, data_dir, folder / "runs")
    write_grid_record(folder, {**asdict(grid), "step_seconds": costs}, todo)
    test = build_datasets(DataConfig(name="mnist", data_dir=data_dir)).test
    n = max(grid.attack_examples, grid.autoattack_examples)
    x, y = next(iter(DataLoader(test, batch_size=n)))
    measure = _Measurements(grid, x, y)
    outcomes = run_grid(todo, on_trained=measure)
    rows = measure.rows()
    auto_rows, chosen = _autoattack(measure, rows)
    # the accuracy helpers key rows by "model": make it budget and method
    keyed = [{**r, "model": f"{r['budget_seconds']:g}s {r['model']}"} for r in rows + auto_rows]
    write_csv(rows + auto_rows, folder / "attacks.csv")
    write_csv(
        [
            {
                "budget_seconds": o.cell.setting,
                "method": o.cell.loss,
                "seed": o.cell.seed,
                "max_steps": o.cell.config.trainer.max_steps,
                "train_seconds": round(o.train_seconds, 1),
                "step_seconds": round(o.step_seconds, 5),
                "test_accuracy": round(o.test_accuracy, 6),
                "run_folder": str(o.folder),
            }
            for o in outcomes
        ],
        folder / "results.csv",
    )
    for eps in grid.epsilons:
        by_method: dict[str, dict[float, list[float]]] = {}
        for r in rows:
            if r["attack"] == "worst case" and r["eps"] == eps:
                by_method.setdefault(r["model"], {}).setdefault(r["budget_seconds"], []).append(
                    r["accuracy"]
                )
        plot_accuracy_vs_setting(
            by_method,
            folder / f"robust_vs_time_eps{eps:g}.png",
            xlabel="training budget (s, equal for every method)",
            ylabel=f"worst-case accuracy at eps {eps:g} (%)",
            title=f"MNIST, l-inf eps {eps:g}: suite worst case against training time",
        )
    size = "all 60000" if grid.train_size is None else str(grid.train_size)
    cost_rows = [
        [label, f"{costs[label] * 1e3:.1f}", f"{costs[label] / costs[BASELINE]:.2f}x"]
        for label in grid.methods
    ]
    picked = "; ".join(f"{group}: {label}" for group, label in chosen.items())
    parts = [
        f"MNIST, {size} training images, batch {grid.batch_size}, Adam one-cycle; every method "
        f"trains for the same budget of seconds, as a step budget from its measured step time. "
        f"Training radius l-inf eps 0.1 (FGSM-RS: step 1.25 eps, early stop on catastrophic "
        f"overfitting; PGD-7: step 2.5 eps / 7; TRADES: 5 steps). Attacks: l-inf, first "
        f"{min(grid.attack_examples, len(x))} test images; worst case over FGSM, PGD on the "
        f"cross-entropy and on the logit margin ({grid.steps} steps, {grid.restarts} random "
        f"start(s)), Square ({grid.square_queries} queries) and transfer from the "
        f"cross-entropy model of the same seed and budget. Accuracy (%) mean ± sd over seeds "
        f"{grid.seeds}; clean accuracy on all 10000 test images. "
        + (
            f"AutoAttack: standard version, first {grid.autoattack_examples} test images, seed "
            f"{grid.seeds[0]}, budget {max(grid.budgets):g} s, the best method of each group by "
            f"the suite ({picked})."
            if HAS_AUTOATTACK and grid.autoattack_examples
            else "AutoAttack: not run."
        ),
        "### Headline\n\n" + _headline(grid, outcomes, keyed, measure),
        "### Step cost (calibration runs)\n\n"
        + markdown_table(["method", "median training step (ms)", f"vs {BASELINE}"], cost_rows),
    ]
    return "\n\n".join(parts)

"""`largemargin reproduce adversarial`: which margin variant really enlarges the margin.

The paper's claim: models trained with the large margin loss, above all with the l-inf margin on
the input, keep more accuracy than cross-entropy under attack as the l-inf radius eps grows.
Each variant below is trained per seed on the same MNIST subset, then evaluated on the first
``attack_examples`` test images with the robustness suite (``attacks.evaluate_robustness``):
FGSM, PGD on the cross-entropy and on the logit margin, the gradient-free Square attack, and a
transfer attack from the cross-entropy model of the same seed. Every robustness figure is the
per-example worst case over that set; the suite's gradient-masking checks are reported per
model, and a model that any seed flags is marked. Standard AutoAttack (``largemargin[robust]``)
runs on the first ``autoattack_examples`` images for the first seed's models named in
``autoattack_models``.

For the first seed's models, the first-order input margin (logit scores, closest competitor,
what the loss linearises) is compared with the true input margin (DeepFool and bisection, with
the adversarial points of Square (l-inf) or the logit-margin PGD (l2) as further candidates) in
l2 and l-inf, on the first ``margin_examples`` test images.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader

from largemargin.analysis import input_margin_agreement, plot_margin_agreement, plot_margin_cdfs
from largemargin.attacks import RobustnessReport, accuracy_under_attack, evaluate_robustness, pgd
from largemargin.attacks import square as square_attack
from largemargin.data import DataConfig, build_datasets
from largemargin.experiments.grid import (
    BASELINE,
    MNIST_MARGIN_LAYERS,
    Cell,
    mnist_run,
    run_grid,
    write_grid_record,
    write_outcomes_csv,
)
from largemargin.experiments.resume import run_folder
from largemargin.files import write_atomic, write_csv
from largemargin.report import format_spread, markdown_table, plot_accuracy_vs_eps, slug

RECORD = "robustness.json"
"""The file in each run folder that keeps its robustness suite's report (``suite_report``)."""

if TYPE_CHECKING:  # robust_training imports this module
    from largemargin.experiments.robust_training import RobustTrainingGrid

#: model label -> (loss label of ``grid.LOSSES``, margin layers). All margins are l-inf.
MODELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "cross-entropy": ("cross-entropy", MNIST_MARGIN_LAYERS),
    "reference (softmax, first-order)": ("margin l-inf", MNIST_MARGIN_LAYERS),
    "softmax, second-order": ("margin l-inf, second-order", MNIST_MARGIN_LAYERS),
    "logit, first-order": ("margin l-inf, logit", MNIST_MARGIN_LAYERS),
    "logit, second-order": ("margin l-inf, logit, second-order", MNIST_MARGIN_LAYERS),
    "logit, second-order, gamma 100": (
        "margin l-inf, logit, second-order, gamma 100",
        MNIST_MARGIN_LAYERS,
    ),
    "logit, second-order, gamma 10": (
        "margin l-inf, logit, second-order, gamma 10",
        MNIST_MARGIN_LAYERS,
    ),
    "logit, second-order, input only": ("margin l-inf, logit, second-order", ("input",)),
}
#: standard AutoAttack is the optional extra largemargin[robust]; without it the grid says so.
HAS_AUTOATTACK = importlib.util.find_spec("pyautoattack") is not None
#: the suite's attacks; a transfer attack from the baseline of the same seed is added.
SUITE = ("fgsm", "pgd-ce", "pgd-margin", "square")
MARGIN_NORMS = {"l2": 2, "l-inf": "inf"}
#: radius of the extra candidate search for the true margin, per norm (pixels, [0, 1] scale):
#: large enough to flip nearly every MNIST digit, so the bisection has a point to shrink.
CANDIDATE_EPS = {"l2": 4.0, "l-inf": 0.3}


@dataclass
class AdversarialGrid:
    """``train_size`` class-balanced training images (None: all), ``epochs``, ``batch_size``;
    ``epsilons``: l-inf radii in pixel units ([0, 1] scale), 0 excluded (clean accuracy is
    reported apart); ``steps`` / ``restarts``: of each PGD; ``square_queries``: of Square;
    ``attack_examples``: test images every model is attacked on; ``autoattack_examples`` and
    ``autoattack_models``: the first images and the models (first seed) that standard AutoAttack
    evaluates (0 or an empty list: none); ``margin_examples``: test images whose true margins
    are measured (first seed)."""

    seeds: list[int]
    train_size: int | None
    epochs: int
    batch_size: int
    epsilons: list[float] = field(default_factory=lambda: [0.1, 0.2])
    steps: int = 20
    restarts: int = 1
    square_queries: int = 1000
    attack_examples: int = 200
    autoattack_examples: int = 100
    autoattack_models: list[str] = field(default_factory=list)
    margin_examples: int = 100
    models: list[str] = field(default_factory=lambda: list(MODELS))


FULL = AdversarialGrid(
    seeds=[0, 1, 2],
    train_size=None,
    epochs=30,
    batch_size=128,
    epsilons=[0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
    steps=100,
    restarts=5,
    square_queries=5000,
    attack_examples=10000,
    autoattack_examples=10000,
    autoattack_models=list(MODELS),
    margin_examples=1000,
)
QUICK = AdversarialGrid(
    seeds=[0, 1],
    train_size=3000,
    epochs=8,
    batch_size=64,
    attack_examples=150,
    autoattack_models=[
        "cross-entropy",
        "reference (softmax, first-order)",
        "logit, first-order",
        "logit, second-order",
    ],
)


def suite_report(
    grid: AdversarialGrid | RobustTrainingGrid,
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    reference: torch.nn.Module | None,
    seed: int,
    record: Path | None = None,
) -> RobustnessReport:
    """The robustness suite (``SUITE``, l-inf, plus transfer from ``reference`` when given) on
    the first ``grid.attack_examples`` of ``x``, ``y`` at ``grid.epsilons``, with the grid's
    PGD ``steps`` and ``restarts`` and Square's ``square_queries``; random draws from ``seed``.
    ``grid``: any grid with those fields (this one's, ``robust_training``'s).

    ``record``: a JSON file that keeps the report with the settings that made it (the run
    folder's ``robustness.json``): when it holds these settings, the report is read from it
    instead of attacking again (a grid continued with ``--resume``; its run's model is the one
    attacked before), else it is written after the attacks."""
    n = grid.attack_examples
    settings = {
        "examples": min(n, len(x)),
        "epsilons": list(grid.epsilons),
        "attacks": list(SUITE),
        "transfer": reference is not None,
        "steps": grid.steps,
        "restarts": grid.restarts,
        "square_queries": grid.square_queries,
        "seed": seed,
    }
    if record is not None and record.is_file():
        kept = json.loads(record.read_text())
        if kept.get("settings") == settings:
            return RobustnessReport(**kept["report"])
    report = evaluate_robustness(
        model,
        x[:n],
        y[:n],
        grid.epsilons,
        norm="inf",
        attacks=SUITE,
        reference_model=reference,
        steps=grid.steps,
        restarts=grid.restarts,
        square_queries=grid.square_queries,
        seed=seed,
    )
    if record is not None:
        kept = {"settings": settings, "report": asdict(report)}
        write_atomic(record, json.dumps(kept, indent=2, allow_nan=True) + "\n")
    return report


def _check(grid: AdversarialGrid) -> None:
    for label in [*grid.models, *grid.autoattack_models]:
        if label not in MODELS:
            raise ValueError(f"models: {label!r} is not one of {list(MODELS)}")
    if BASELINE not in grid.models:
        raise ValueError(f"models: must include {BASELINE!r}, the transfer attack's source")
    if not grid.epsilons or any(not 0 < eps <= 1 for eps in grid.epsilons):
        raise ValueError(f"epsilons: expected radii in (0, 1], got {grid.epsilons}")


def cells(grid: AdversarialGrid, data_dir: str | None, run_dir: Path) -> list[Cell]:
    """One run per model and seed, the baseline first (the transfer attacks need it); the
    cells vary no setting."""
    _check(grid)
    out = []
    for label in [BASELINE, *(m for m in grid.models if m != BASELINE)]:
        loss, layers = MODELS[label]
        for seed in grid.seeds:
            config = mnist_run(
                data_dir=data_dir,
                loss=loss,
                seed=seed,
                epochs=grid.epochs,
                batch_size=grid.batch_size,
                run_dir=run_dir,
                name=f"{slug(label)}-seed{seed}",
                train_subset=grid.train_size,
                margin_layers=layers,
            )
            out.append(Cell(label, seed, config))
    return out


class _Measurements:
    """Evaluates every trained model (``on_trained``): the robustness suite for each, standard
    AutoAttack and the true margins for the first seed's."""

    def __init__(self, grid: AdversarialGrid, x: torch.Tensor, y: torch.Tensor, folder: Path):
        self.grid, self.x, self.y, self.folder = grid, x, y, folder
        self.baselines: dict[int, torch.nn.Module] = {}
        self.reports: dict[tuple[str, int], RobustnessReport] = {}
        self.autoattack_rows: list[dict] = []
        self.agreement: list[dict] = []
        self.margins: dict[str, dict[str, torch.Tensor]] = {}

    def __call__(self, cell: Cell, model: torch.nn.Module) -> None:
        g = self.grid
        reference = None if cell.loss == BASELINE else self.baselines[cell.seed]
        self.reports[cell.loss, cell.seed] = suite_report(
            g, model, self.x, self.y, reference, cell.seed, run_folder(cell.config) / RECORD
        )
        if cell.loss == BASELINE:
            self.baselines[cell.seed] = model
        if cell.seed != g.seeds[0]:
            return
        if cell.loss in g.autoattack_models and g.autoattack_examples > 0 and HAS_AUTOATTACK:
            n = g.autoattack_examples
            for row in accuracy_under_attack(
                model, (self.x[:n], self.y[:n]), "autoattack", g.epsilons, norm="inf"
            ):
                self.autoattack_rows.append(
                    {"model": cell.loss, "seed": cell.seed, "attack": "autoattack", **row}
                )
        self._margins(cell.loss, model)

    def _margins(self, label: str, model: torch.nn.Module) -> None:
        g = self.grid
        x, y = self.x[: g.margin_examples], self.y[: g.margin_examples]
        found: dict[str, torch.Tensor] = {}
        for norm_name, p in MARGIN_NORMS.items():
            eps = CANDIDATE_EPS[norm_name]
            rng = torch.Generator().manual_seed(0)
            if norm_name == "l-inf":
                candidate = square_attack(
                    model, x, y, eps, norm="inf", n_queries=g.square_queries, generator=rng
                )
            else:
                candidate = pgd(
                    model, x, y, eps, norm=2, loss="margin", steps=g.steps, generator=rng
                )
            first, true, stats = input_margin_agreement(model, x, y, norm=p, adversarial=candidate)
            self.agreement.append({"model": label, "norm": norm_name, **stats})
            path = self.folder / f"agreement-{slug(label)}-{norm_name}.png"
            plot_margin_agreement(first, true, path)
            found[f"true {norm_name} input margin"] = true
        self.margins[label] = found


def attack_rows(reports: dict[tuple[str, int], RobustnessReport]) -> list[dict]:
    """One row per model, seed, attack and eps (attack "worst case": the per-example worst case
    over the suite; eps 0: clean accuracy)."""
    rows = []
    for (model, seed), report in reports.items():
        base = {"model": model, "seed": seed}
        rows.append(
            {
                **base,
                "attack": "clean",
                "eps": 0.0,
                "accuracy": report.clean_accuracy,
                "n": report.n,
            }
        )
        for row in report.rows:
            rows.append({**base, **row})
        for row in report.worst:
            rows.append({**base, "attack": "worst case", **row})
    return rows


def accuracies_by_attack(rows: list[dict]) -> dict[tuple[str, str, float], list[float]]:
    """The accuracies of ``rows`` (one per seed) by model, attack and eps."""
    found: dict[tuple[str, str, float], list[float]] = {}
    for r in rows:
        found.setdefault((r["model"], r["attack"], r["eps"]), []).append(r["accuracy"])
    return found


def masking_verdict(reports: dict[tuple[str, int], RobustnessReport], model: str) -> str:
    """ "no" or "suspected: <failed checks> (seeds ...)" for a model over its seeds."""
    failed: dict[str, list[int]] = {}
    for (label, seed), report in reports.items():
        if label == model:
            for check in report.checks:
                if not check["passed"]:
                    failed.setdefault(check["check"], []).append(seed)
    if not failed:
        return "no"
    return "**suspected**: " + "; ".join(
        f"{name} (seeds {seeds})" for name, seeds in failed.items()
    )


def _headline_table(m: _Measurements, rows: list[dict]) -> str:
    g = m.grid
    accuracy = accuracies_by_attack(rows + m.autoattack_rows)
    header = (
        ["model", "clean"]
        + [f"worst case {eps:g}" for eps in g.epsilons]
        + [f"AutoAttack {eps:g}" for eps in g.epsilons]
        + ["median true l-inf margin", "gradient masking"]
    )
    agreement = {(a["model"], a["norm"]): a for a in m.agreement}
    table = []
    for model in g.models:
        cells = [model, format_spread(accuracy[model, "clean", 0.0], 100, 1)]
        cells += [format_spread(accuracy[model, "worst case", eps], 100, 1) for eps in g.epsilons]
        cells += [
            format_spread(accuracy.get((model, "autoattack", eps), []), 100, 1, missing="not run")
            for eps in g.epsilons
        ]
        linf = agreement.get((model, "l-inf"))
        cells.append(f"{linf['median_true']:.3f}" if linf else "")
        cells.append(masking_verdict(m.reports, model))
        table.append(cells)
    return markdown_table(header, table)


def _attack_table(rows: list[dict], models: list[str], eps: float) -> str:
    attacks = list(dict.fromkeys(r["attack"] for r in rows if r["attack"] != "clean"))
    accuracy = accuracies_by_attack(rows)
    return markdown_table(
        ["model", *attacks],
        [
            [model] + [format_spread(accuracy.get((model, a, eps), []), 100, 1) for a in attacks]
            for model in models
        ],
    )


def _checks_table(reports: dict[tuple[str, int], RobustnessReport]) -> str:
    return markdown_table(
        ["model", "seed", "check", "result", "numbers"],
        [
            [model, seed, c["check"], "pass" if c["passed"] else "**FAIL**", c["detail"]]
            for (model, seed), report in reports.items()
            for c in report.checks
        ],
    )


def _agreement_table(agreement: list[dict]) -> str:
    header = [
        "model",
        "norm",
        "Spearman rank correlation",
        "median first-order / true",
        "within 2x",
        "median true margin",
        "median first-order margin",
        "not found",
        "examples compared",
    ]
    return markdown_table(
        header,
        [
            [
                a["model"],
                a["norm"],
                f"{a['spearman']:.2f}",
                f"{a['median_ratio']:.2f}",
                f"{a['within_2x']:.0%}",
                f"{a['median_true']:.3f}",
                f"{a['median_first_order']:.3f}",
                a.get("not_found", 0),
                a["count"],
            ]
            for a in agreement
        ],
    )


def run(grid: AdversarialGrid, data_dir: str | None, folder: Path) -> str:
    """Train, attack and measure the grid into ``folder``; return the markdown report."""
    todo = cells(grid, data_dir, folder / "runs")
    write_grid_record(folder, asdict(grid), todo)
    test = build_datasets(DataConfig(name="mnist", data_dir=data_dir)).test
    n = max(grid.attack_examples, grid.autoattack_examples, grid.margin_examples)
    x, y = next(iter(DataLoader(test, batch_size=n)))
    measure = _Measurements(grid, x, y, folder)
    outcomes = run_grid(todo, on_trained=measure)
    write_outcomes_csv(outcomes, folder / "results.csv")
    rows = attack_rows(measure.reports)
    write_csv(rows + measure.autoattack_rows, folder / "attacks.csv")
    checks = [
        {"model": model, "seed": seed, **check}
        for (model, seed), report in measure.reports.items()
        for check in report.checks
    ]
    write_csv(checks, folder / "checks.csv")
    plotted = [
        r
        for r in rows
        if r["attack"] == "clean" or (r["attack"] == "worst case" and r["eps"] in grid.epsilons)
    ]
    plot_accuracy_vs_eps(
        {model: [r for r in plotted if r["model"] == model] for model in grid.models},
        folder / "accuracy_vs_eps.png",
        title="worst case over FGSM, PGD (CE, margin), Square, transfer; l-inf",
        xlabel="eps (pixels, [0, 1] scale)",
        ylabel="test accuracy (%)",
    )
    plot_margin_cdfs(measure.margins, folder / "true_margins.png")
    write_csv(measure.agreement, folder / "agreement.csv")
    size = "all 60000" if grid.train_size is None else str(grid.train_size)
    parts = [
        f"MNIST, {size} training images, {grid.epochs} epochs, batch {grid.batch_size}; "
        f"l-inf attacks on the first {min(grid.attack_examples, len(x))} test images; accuracy "
        f"(%) mean ± sd over seeds {grid.seeds}. Attack set: FGSM; PGD on the cross-entropy and "
        f"on the logit margin ({grid.steps} steps, {grid.restarts} random start(s)); Square "
        f"({grid.square_queries} queries, gradient-free); transfer of both PGDs from the "
        f'cross-entropy model of the same seed. "Worst case": an example counts as robust only '
        f"if no attack of the set flips it. "
        + (
            f"AutoAttack: standard version, first {grid.autoattack_examples} test images, seed "
            f"{grid.seeds[0]}."
            if HAS_AUTOATTACK
            else "AutoAttack: not run (pip install largemargin[robust])."
        ),
        "### Headline\n\n" + _headline_table(measure, rows),
    ]
    for eps in grid.epsilons:
        parts.append(f"### Every attack at eps {eps:g}\n\n" + _attack_table(rows, grid.models, eps))
    parts.append("### Gradient-masking checks\n\n" + _checks_table(measure.reports))
    parts.append(
        f"### First-order vs true input margin (seed {grid.seeds[0]}, first "
        f"{grid.margin_examples} test images)\n\n" + _agreement_table(measure.agreement)
    )
    return "\n\n".join(parts)

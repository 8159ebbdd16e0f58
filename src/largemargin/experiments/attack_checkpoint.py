"""`largemargin attack`: the robustness of a trained checkpoint, measured so that it cannot be
fooled: accuracy under a set of attacks including a gradient-free one (and optionally a
transfer attack from a reference checkpoint), the per-example worst case over all of them, and
the gradient-masking checks of ``largemargin.attacks.evaluate_robustness``.

Attacks run in pixel space: a model trained on normalised inputs is wrapped as
``Normalize(mean, std)`` followed by the model and fed pixels in [0, 1], so eps is in pixel
units for every dataset. Writes ``robustness.md``, ``robustness.csv`` (rows and worst case),
``robustness.json`` (the report with its checks and masking flag) and ``robustness.png``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from largemargin.attacks import RobustnessReport, evaluate_robustness, pixel_space, to_pixels
from largemargin.attacks.robustness import DEFAULT_ATTACKS
from largemargin.core.norms import norm_name
from largemargin.data import DataConfig, build_datasets
from largemargin.files import write_atomic, write_csv
from largemargin.report import plot_accuracy_vs_eps
from largemargin.torch_utils import pick_device
from largemargin.training.checkpoint_eval import (
    check_data_choice,
    evaluation_data,
    load_checkpoint,
)


@dataclass
class AttackConfig:
    """What `largemargin attack` measures and where it writes.

    Attributes:
        checkpoint: a `largemargin train` checkpoint.
        attacks: the attack set (fgsm, iterative_fgsm, pgd-ce, pgd-margin, pgd-dlr, square,
            autoattack).
        reference_checkpoint: a second checkpoint on the same inputs whose PGD adversarials
            are transferred (None: no transfer attack).
        norm: "inf" or 2.
        epsilons: perturbation sizes in pixel units (inputs in [0, 1]).
        erase_eps: the radius that can erase any image (None: 0.5 for l-inf, 0.5 sqrt(pixels)
            for l2).
        steps: the steps of each PGD.
        restarts: the random restarts of each PGD.
        square_queries: Square's query budget per example.
        max_examples: the first N images of the test split (None: all).
        batch_size: images per attack batch.
        data: evaluate on another dataset, as for `largemargin train` (None: the run's own).
        data_dir: where the run's own dataset's files are now (None: where the run read
            them); None when ``data`` is given.
        out: output folder (None: <run folder>/attacks).
        device: torch device (None: "cuda" when available, else "cpu").
        seed: of every random start and search.
        progress: a progress bar over attack x eps x batches.
        trust_model_code: rebuild a model given by import path, which imports and runs that
            code (only for checkpoints whose model code you trust).
    """

    checkpoint: str
    attacks: list[str] = field(default_factory=lambda: list(DEFAULT_ATTACKS))
    reference_checkpoint: str | None = None
    norm: float | str = "inf"
    epsilons: list[float] = field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2, 0.3])
    erase_eps: float | None = None
    steps: int = 40
    restarts: int = 2
    square_queries: int = 1000
    max_examples: int | None = 1000
    batch_size: int = 250
    data: DataConfig | None = None
    data_dir: str | None = None
    out: str | None = None
    device: str | None = None
    seed: int = 0
    progress: bool = True
    trust_model_code: bool = False


def _first_examples(dataset, count: int | None, batch_size: int):
    """The first ``count`` (all if None) items of ``dataset`` as tensors x (N, ...), y (N,)."""
    n = len(dataset) if count is None else min(count, len(dataset))
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, range(n)), batch_size)
    xs, ys = zip(*((x, y) for x, y, *_ in loader), strict=True)
    return torch.cat(xs), torch.cat(ys)


def _headline(report: RobustnessReport, attacks: list[str]) -> str:
    """One line: the worst case at each eps, naming the attack set."""
    cells = ", ".join(f"{w['accuracy']:.1%} at eps {w['eps']:g}" for w in report.worst)
    flag = " (gradient masking suspected)" if report.masking_suspected else ""
    return (
        f"worst case over {', '.join(attacks)} (l-{norm_name(report.norm)}, pixel units, first "
        f"{report.n} test images): {cells}{flag}"
    )


def attack_checkpoint(cfg: AttackConfig) -> tuple[RobustnessReport, str, Path]:
    """Evaluate the checkpoint's robustness; return the report, the headline and the output
    folder (``robustness.md`` / ``.csv`` / ``.json`` / ``.png`` written there)."""
    if cfg.max_examples is not None and (
        isinstance(cfg.max_examples, bool)
        or not isinstance(cfg.max_examples, int)
        or cfg.max_examples < 1
    ):
        raise ValueError(f"max_examples={cfg.max_examples!r}: expected None or an int >= 1")
    check_data_choice(cfg.data, cfg.data_dir)
    device = pick_device(cfg.device)
    model, run = load_checkpoint(cfg.checkpoint, trust_model_code=cfg.trust_model_code)
    data = evaluation_data(run.data, cfg.data, cfg.data_dir)
    bundle = build_datasets(data)
    x, y = _first_examples(bundle.test, cfg.max_examples, cfg.batch_size)
    victim: nn.Module = model
    if bundle.mean is not None:
        x = to_pixels(x, bundle.mean, bundle.std)
        victim = pixel_space(model, bundle.mean, bundle.std)
    reference = None
    if cfg.reference_checkpoint is not None:
        reference, ref_run = load_checkpoint(
            cfg.reference_checkpoint, trust_model_code=cfg.trust_model_code
        )
        if ref_run.data.effective_normalize != data.effective_normalize:
            raise ValueError(
                f"reference_checkpoint={cfg.reference_checkpoint!r}: its model takes "
                f"{'normalised' if ref_run.data.effective_normalize else 'raw'} inputs, the "
                "attacked one does not: both must take the same inputs"
            )
        if bundle.mean is not None:
            reference = pixel_space(reference, bundle.mean, bundle.std)
        reference = reference.to(device)

    report = evaluate_robustness(
        victim.to(device),
        x.to(device),
        y.to(device),
        cfg.epsilons,
        norm=cfg.norm,
        attacks=cfg.attacks,
        reference_model=reference,
        steps=cfg.steps,
        restarts=cfg.restarts,
        square_queries=cfg.square_queries,
        erase_eps=cfg.erase_eps,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        progress=cfg.progress,
    )
    attacks = list(dict.fromkeys(r["attack"] for r in report.rows))
    headline = _headline(report, attacks)
    out = Path(cfg.out) if cfg.out else Path(cfg.checkpoint).resolve().parent.parent / "attacks"
    _write(report, headline, cfg, data.name, out)
    return report, headline, out


def _write(report: RobustnessReport, headline: str, cfg: AttackConfig, name: str, out: Path):
    """robustness.md / .csv / .json / .png in ``out``."""
    write_atomic(out / "robustness.md", f"{headline}\n\n{report.to_markdown()}")
    worst = [{"attack": "worst case", **w} for w in report.worst]
    write_csv(report.rows + worst, out / "robustness.csv")
    record = {
        **dataclasses.asdict(report),
        "norm": norm_name(report.norm),  # a label: JSON has no infinity
        "masking_suspected": report.masking_suspected,
        "checkpoint": str(cfg.checkpoint),
        "reference_checkpoint": cfg.reference_checkpoint,
        "dataset": name,
        "settings": {
            k: getattr(cfg, k)
            for k in ("steps", "restarts", "square_queries", "erase_eps", "seed", "batch_size")
        },
    }
    write_atomic(out / "robustness.json", json.dumps(record, indent=2) + "\n")
    by_attack: dict[str, list[dict]] = {}
    for row in report.rows:
        by_attack.setdefault(row["attack"], []).append(row)
    plot_accuracy_vs_eps(
        {**by_attack, "worst case": report.worst},
        out / "robustness.png",
        title=f"{name}, l-{norm_name(report.norm)}, "
        f"{Path(cfg.checkpoint).resolve().parent.parent.name}",
    )

"""`largemargin margins`: the per-layer first-order margin distributions of trained checkpoints,
overlaid, and optionally their true input margin and how well the two agree.

Measures the first ``max_examples`` test images of the first run's dataset (or ``data``), in
eval mode, with every checkpoint: the first-order margin with logit scores against the closest
of all competitor classes (``analysis.first_order_margins``). Writes to ``out``:

- ``margins.csv``: one line per model, example and measure (``first-order <layer>`` or
  ``true input``), the margin in that layer's units (first-order: signed, negative when
  misclassified; true: 0 when misclassified, ``nan`` when not found: no perturbation tried
  inside the input range flipped it, the search failed, which is not a large margin);
- ``summary.csv``: the summary rows ``measure_margins`` returns (statistics over the found
  margins, the share not found in its own column);
- ``margins.png``: the CDFs, one panel per measure, one curve per model;
- with ``true_margin``: ``agreement.csv`` and ``agreement-<model>.png``, the first-order
  against the true input margin (``analysis.input_margin_agreement``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from largemargin.analysis import (
    first_order_margins,
    input_margin_agreement,
    not_found,
    plot_margin_agreement,
    plot_margin_cdfs,
)
from largemargin.core import check_layer_names
from largemargin.core.norms import parse_norm
from largemargin.data import DataConfig, build_datasets
from largemargin.files import write_csv
from largemargin.models import default_margin_layers
from largemargin.report import markdown_table, slug
from largemargin.torch_utils import pick_device
from largemargin.training.checkpoint_eval import (
    check_data_choice,
    evaluation_data,
    load_checkpoint,
)


@dataclass
class MarginsConfig:
    """What `largemargin margins` measures and where it writes.

    Attributes:
        checkpoints: one or more `largemargin train` checkpoints, compared on the same examples.
        labels: a name per checkpoint (None: each run folder's name).
        layers: the layers measured (None: the first run's margin layers); "input" for the
            input.
        norm: p of the lp margin (any p >= 1, or "inf").
        true_margin: also find the true input margin (DeepFool and bisection, p > 1; slow:
            about a second per example on a CPU for MNIST).
        max_examples: the first N test images.
        batch_size: images per gradient batch.
        data: another dataset, as for `largemargin train` (None: the first run's).
        data_dir: where the first run's own dataset's files are now (None: where it read
            them); None when ``data`` is given.
        out: output folder (None: <first run folder>/margins).
        device: torch device (None: "cuda" when available, else "cpu").
        progress: a progress bar over each model's true-margin search.
        trust_model_code: rebuild models given by import path, which imports and runs that
            code (only for checkpoints whose model code you trust).
    """

    checkpoints: list[str]
    labels: list[str] | None = None
    layers: list[str] | None = None
    norm: float | str = 2
    true_margin: bool = False
    max_examples: int = 1000
    batch_size: int = 250
    data: DataConfig | None = None
    data_dir: str | None = None
    out: str | None = None
    device: str | None = None
    progress: bool = True
    trust_model_code: bool = False


def _check(cfg: MarginsConfig) -> list[str]:
    """Validate ``cfg``; return the model labels."""
    if not cfg.checkpoints:
        raise ValueError("checkpoints=[]: expected at least one checkpoint")
    labels = cfg.labels or [Path(c).resolve().parent.parent.name for c in cfg.checkpoints]
    if len(labels) != len(cfg.checkpoints):
        raise ValueError(
            f"labels={cfg.labels!r}: expected one label per checkpoint ({len(cfg.checkpoints)})"
        )
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels={labels!r}: expected distinct labels (pass --labels)")
    if cfg.max_examples < 1:
        raise ValueError(f"max_examples={cfg.max_examples}: expected an int >= 1")
    if cfg.batch_size < 1:
        raise ValueError(f"batch_size={cfg.batch_size}: expected an int >= 1")
    if parse_norm(cfg.norm) <= 1 and cfg.true_margin:
        raise ValueError(f"norm={cfg.norm!r}: the true margin needs p > 1")
    check_data_choice(cfg.data, cfg.data_dir)
    return labels


def _summary(name: str, values: torch.Tensor) -> dict:
    finite = values[torch.isfinite(values)]
    return {
        "measure": name,
        "examples": values.numel(),
        "misclassified": float((values <= 0).float().mean()),
        "not_found": not_found(values)[1],
        "p10": float(finite.quantile(0.1)) if finite.numel() else math.nan,
        "median": float(finite.median()) if finite.numel() else math.nan,
    }


def summary_table(summary: list[dict]) -> str:
    """The summary rows of ``measure_margins`` as a markdown table: shares in percent, the
    10th percentile and the median to 4 significant digits."""
    return markdown_table(
        ["model", "measure", "examples", "misclassified", "not found", "10th percentile", "median"],
        [
            [
                r["model"],
                r["measure"],
                r["examples"],
                f"{r['misclassified']:.1%}",
                f"{r['not_found']:.1%}",
                f"{r['p10']:.4g}",
                f"{r['median']:.4g}",
            ]
            for r in summary
        ],
    )


def measure_margins(cfg: MarginsConfig) -> tuple[list[dict], Path]:
    """Measure every checkpoint; write the files; return one summary row per model and measure
    and the output folder. A row holds model, measure, examples, ``misclassified`` (share of
    examples), ``not_found`` (share of examples without a margin: true margins not found;
    0 for first-order ones), and ``p10`` and ``median``: the 10th percentile and median of the
    finite margins only (misclassified included, not found left out)."""
    labels = _check(cfg)
    loaded = [load_checkpoint(c, trust_model_code=cfg.trust_model_code) for c in cfg.checkpoints]
    first_run = loaded[0][1]
    layers = cfg.layers or first_run.model.margin_layers
    layers = layers or default_margin_layers(first_run.model.name)
    for label, (model, _) in zip(labels, loaded, strict=True):
        try:
            check_layer_names(model, layers)
        except ValueError as error:
            raise ValueError(f"layers={layers!r} for {label}: {error}") from error
    device = pick_device(cfg.device)
    data = evaluation_data(first_run.data, cfg.data, cfg.data_dir)
    bundle = build_datasets(data)
    test = Subset(bundle.test, range(min(cfg.max_examples, len(bundle.test))))
    x, y = next(iter(DataLoader(test, batch_size=len(test))))
    x, y = x.to(device), y.to(device)
    out = Path(cfg.out) if cfg.out else Path(cfg.checkpoints[0]).resolve().parent.parent / "margins"
    by_model: dict[str, dict[str, torch.Tensor]] = {}
    agreement = []
    for label, (model, _) in zip(labels, loaded, strict=True):
        model = model.to(device)
        found = first_order_margins(
            model,
            (x, y),
            layers,
            norm=cfg.norm,
            top_k=bundle.num_classes - 1,
            batch_size=cfg.batch_size,
            device=device,
        )
        measures = {f"first-order {name}": value for name, value in found.items()}
        if cfg.true_margin:
            low, high = bundle.input_range
            first, true, stats = input_margin_agreement(
                model, x, y, norm=cfg.norm, clip_min=low, clip_max=high, progress=cfg.progress
            )
            measures["true input"] = true
            agreement.append({"model": label, **stats})
            plot_margin_agreement(first, true, out / f"agreement-{slug(label)}.png")
        by_model[label] = measures
    rows = [
        {"model": label, "example": i, "measure": name, "margin": float(v)}
        for label, measures in by_model.items()
        for name, values in measures.items()
        for i, v in enumerate(values.tolist())
    ]
    summary = [
        {"model": label, **_summary(name, values)}
        for label, measures in by_model.items()
        for name, values in measures.items()
    ]
    write_csv(rows, out / "margins.csv")
    write_csv(summary, out / "summary.csv")
    plot_margin_cdfs(by_model, out / "margins.png")
    if agreement:
        write_csv(agreement, out / "agreement.csv")
    return summary, out

"""`largemargin reproduce toy`: decision boundaries on a 2-D problem, in the spirit of the paper's
Figure 1.

For each seed, two small MLPs are trained on two interleaved half-moons (``analysis.toy``), one
with cross-entropy and one with the large margin loss (l2, input layer), and drawn side by side
with their decision boundary and first-order margin band (``toy-seed<N>.png``). The table gives
training accuracy and the true l2 margin of the training points (mean and minimum; input units),
mean ± sd over seeds. Seconds on a CPU; ``--quick`` changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from largemargin.analysis import toy_boundary_figure
from largemargin.experiments.grid import write_grid_record
from largemargin.experiments.progress import RunProgress
from largemargin.files import write_csv
from largemargin.report import format_spread, markdown_table

METRICS = {
    "train_accuracy": ("training accuracy (%)", 100, 1),
    "mean_margin": ("mean true l2 margin", 1, 3),
    "min_margin": ("smallest true l2 margin", 1, 3),
}


@dataclass
class ToyGrid:
    """``seeds``: one dataset and initialisation per seed; ``steps``: full-batch training steps."""

    seeds: list[int]
    steps: int = 300


FULL = QUICK = ToyGrid(seeds=[0, 1, 2])


def run(grid: ToyGrid, data_dir: str | None, folder: Path) -> str:
    """Draw one figure per seed into ``folder``, write results.csv; return the table.
    ``data_dir`` is unused (the data are generated)."""
    write_grid_record(folder, asdict(grid), [])
    rows = []
    progress = RunProgress(len(grid.seeds))
    for seed in grid.seeds:
        found = toy_boundary_figure(folder / f"toy-seed{seed}.png", seed=seed, steps=grid.steps)
        print(f"{progress.finished()} | seed {seed}: figure drawn", flush=True)
        for model, values in found.items():
            rows.append({"model": model, "seed": seed, **{k: values[k] for k in METRICS}})
    write_csv(rows, folder / "results.csv")
    models = list(dict.fromkeys(r["model"] for r in rows))
    table = markdown_table(
        ["loss", *(title for title, _, _ in METRICS.values())],
        [
            [model.replace("_", " ")]
            + [
                format_spread([r[key] for r in rows if r["model"] == model], scale, digits)
                for key, (_, scale, digits) in METRICS.items()
            ]
            for model in models
        ],
    )
    return (
        f"Two half-moons, 2-D, a small MLP, {grid.steps} full-batch steps; mean ± sd over seeds "
        f"{grid.seeds}. Figures: toy-seed<N>.png.\n\n{table}"
    )

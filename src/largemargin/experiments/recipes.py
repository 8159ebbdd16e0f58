"""`largemargin reproduce cifar10 | imagenet`: the paper's large-scale setups as recipes.

The full recipes are the presets ``configs/cifar10-resnet.yaml`` (ResNet-56, margin on the input
and the three stage outputs) and ``configs/imagenet-resnet50.yaml`` (ResNet-50, margin on three
stage outputs, top-k 3), each trained with the margin loss and, as the baseline, with
cross-entropy alone: GPU jobs. ``--quick`` is a smoke test that runs the same code path on a CPU
in minutes (a small network or a few images, one epoch): its accuracies are not results.

The report holds test accuracy per loss, and ``margins.png``: the per-layer first-order margin
(l2, logit scores, closest competitor) of the first ``margin_examples`` test images, for the
first seed of each loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import torch
import yaml

from largemargin.analysis import first_order_margins, plot_margin_cdfs
from largemargin.core.norms import norm_name
from largemargin.data import DataConfig, build_datasets
from largemargin.experiments.grid import (
    Cell,
    accuracy_table,
    run_grid,
    write_grid_record,
    write_outcomes_csv,
)
from largemargin.report import slug
from largemargin.training.config import LossConfig, RunConfig, from_dict, to_dict

PRESETS = {"cifar10": "cifar10-resnet.yaml", "imagenet": "imagenet-resnet50.yaml"}


def load_preset(file_name: str) -> RunConfig:
    """A preset shipped in ``largemargin/presets`` (the repository's ``configs/``)."""
    text = (resources.files("largemargin") / "presets" / file_name).read_text()
    return from_dict(yaml.safe_load(text))


@dataclass
class RecipeGrid:
    """``base``: the margin run's config (the baseline swaps in cross-entropy); ``seeds``;
    ``margin_examples``: test images whose margins are plotted; ``smoke``: a --quick run."""

    base: RunConfig
    seeds: list[int]
    margin_examples: int = 500
    smoke: bool = False
    losses: list[str] = field(default_factory=lambda: ["cross-entropy", "large margin"])


def recipe_grid(name: str, quick: bool, data_dir: str | None) -> RecipeGrid:
    """The recipe ``name`` ("cifar10" or "imagenet"), full or quick, reading ``data_dir``.

    CIFAR-10: ``data_dir`` is the folder of the python batches (data name "cifar10"), or an
    ImageFolder directory or .zip with train/ and test/ (such as a JPEG copy): read as "folder"
    at 32 x 32 pixels with crop-and-flip augmentation and no normalisation. ImageNet: an
    ImageFolder directory; with --quick, a flat folder of ``*_<class index>.jpg`` files (as
    foolbox's 20-image sample) is also accepted, laid out as ImageFolder by ``flat_to_tree``.
    """
    base = load_preset(PRESETS[name])
    if name == "cifar10" and data_dir is not None and _is_image_folder(Path(data_dir)):
        base = replace(
            base,
            data=DataConfig(
                name="folder",
                data_dir=data_dir,
                image_size=32,
                augment="crop-flip",
                normalize=False,
            ),
        )
    elif data_dir is not None:
        base = replace(base, data=replace(base.data, data_dir=data_dir))
    if not quick:
        return RecipeGrid(base=base, seeds=[0, 1, 2] if name == "cifar10" else [0])
    trainer = replace(
        base.trainer,
        epochs=1,
        precision="32-true",
        num_workers=0,
        check_val_every_n_epoch=2,
        progress_bar=False,
        log_every_n_steps=1,
    )
    if name == "cifar10":
        return RecipeGrid(
            base=replace(
                base,
                model=replace(base.model, name="cifar_resnet20"),
                data=replace(base.data, train_subset=1000),
                trainer=replace(trainer, batch_size=100, eval_batch_size=500),
            ),
            seeds=[0],
            margin_examples=200,
            smoke=True,
        )
    return RecipeGrid(
        base=replace(base, trainer=replace(trainer, batch_size=10, eval_batch_size=10)),
        seeds=[0],
        margin_examples=20,
        smoke=True,
    )


def _is_image_folder(path: Path) -> bool:
    return path.suffix == ".zip" or (path / "train").is_dir()


def flat_to_tree(source: Path, target: Path) -> Path:
    """Lay out a flat folder of ``<anything>_<class index>.jpg`` files as an ImageFolder tree
    ``target/{train,val}/<class index>/<file>`` of symlinks (the same images in both splits: a
    smoke test only). Returns ``target``."""
    files = sorted(source.glob("*_*.jpg"))
    if not files or not all(f.stem.rsplit("_", 1)[1].isdigit() for f in files):
        raise ValueError(
            f"data_dir={str(source)!r}: expected an ImageFolder directory (train/<class>/...) or "
            "a flat folder of <name>_<class index>.jpg files"
        )
    for f in files:
        label = f.stem.rsplit("_", 1)[1]
        for split in ("train", "val"):
            (target / split / label).mkdir(parents=True, exist_ok=True)
            (target / split / label / f.name).symlink_to(f.resolve())
    return target


def cells(g: RecipeGrid, run_dir: Path) -> list[Cell]:
    """The margin run and its cross-entropy baseline, per seed; the cells vary no setting."""
    out = []
    for label in g.losses:
        loss = g.base.loss if label == "large margin" else LossConfig(kind="cross_entropy")
        for seed in g.seeds:
            config = replace(
                g.base,
                loss=loss,
                seed=seed,
                data=replace(g.base.data, seed=seed),
                run_dir=str(run_dir),
                name=f"{slug(label)}-seed{seed}",
            )
            out.append(Cell(label, seed, config))
    return out


def run(g: RecipeGrid, folder: Path) -> str:
    """Train the recipe into ``folder``; return the markdown report."""
    data = g.base.data
    if data.name == "folder" and data.data_dir and not _is_image_folder(Path(data.data_dir)):
        if not g.smoke:
            raise ValueError(
                f"data_dir={data.data_dir!r}: expected an ImageFolder directory with train/ and "
                "val/ (a flat folder of sample images is for --quick only)"
            )
        tree = flat_to_tree(Path(data.data_dir), folder / "data")
        g = replace(g, base=replace(g.base, data=replace(data, data_dir=str(tree))))
    todo = cells(g, folder / "runs")
    write_grid_record(folder, {"seeds": g.seeds, "smoke": g.smoke, "base": to_dict(g.base)}, todo)
    bundle = build_datasets(replace(g.base.data, download=False))
    test = bundle.test
    margins: dict[str, dict[str, torch.Tensor]] = {}

    def measure(cell: Cell, model: torch.nn.Module) -> None:
        if cell.seed == g.seeds[0]:
            loader = torch.utils.data.DataLoader(test, batch_size=g.base.trainer.eval_batch_size)
            margins[cell.loss] = first_order_margins(
                model,
                loader,
                g.base.model.margin_layers,
                norm=2,
                max_examples=g.margin_examples,
                device=next(model.parameters()).device,
            )

    outcomes = run_grid(todo, on_trained=measure)
    write_outcomes_csv(outcomes, folder / "results.csv")
    plot_margin_cdfs(margins, folder / "margins.png")
    m = g.base.model
    description = (
        f"{m.name}, margin on {m.margin_layers} ({norm_name(g.base.loss.margin.norm)} norm, top-k "
        f"{g.base.loss.margin.top_k}), data {data.name} at {data.data_dir}, "
        f"{len(bundle.train)} training images, "
        f"{g.base.trainer.epochs} epoch(s); seeds {g.seeds}"
    )
    warning = (
        "\n\nSmoke test (--quick): the code path of the recipe on a CPU budget. These "
        "accuracies are not results."
        if g.smoke
        else ""
    )
    table = accuracy_table(outcomes, "model", lambda _: m.name)
    return f"{description}. Test accuracy (%).\n\n{table}{warning}"

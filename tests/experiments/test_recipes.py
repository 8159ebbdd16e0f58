"""The CIFAR-10 and ImageNet recipes: built from the shipped presets, and smoke-tested on the
ImageNet sample (a smaller network and image size than the recipe's, to keep it fast)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from largemargin.experiments import recipes
from largemargin.training.config import from_dict

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", ["cifar10", "imagenet"])
def test_full_recipe_is_the_repository_preset(name):
    preset = from_dict(yaml.safe_load((CONFIGS / recipes.PRESETS[name]).read_text()))
    g = recipes.recipe_grid(name, quick=False, data_dir=None)
    assert g.base == preset and not g.smoke
    assert len(g.seeds) >= 1


def test_cifar10_quick_reads_an_image_folder_zip_at_32_pixels(cifar_zip):
    g = recipes.recipe_grid("cifar10", quick=True, data_dir=str(cifar_zip))
    data = g.base.data
    assert (data.name, data.data_dir, data.image_size, data.normalize) == (
        "folder",
        str(cifar_zip),
        32,
        False,
    )
    assert g.smoke and g.base.model.name == "cifar_resnet20" and g.base.trainer.epochs == 1
    assert g.base.model.margin_layers == ["input", "stage1", "stage2", "stage3"]
    ce, margin = recipes.cells(g, Path("/runs"))
    assert ce.config.loss.kind == "cross_entropy" and margin.config.loss == g.base.loss


def test_cifar10_batches_folder_keeps_the_in_memory_dataset(tmp_path):
    g = recipes.recipe_grid("cifar10", quick=False, data_dir=str(tmp_path))
    assert g.base.data.name == "cifar10" and g.base.data.data_dir == str(tmp_path)


def test_flat_sample_is_laid_out_as_an_image_folder(tmp_path, imagenet_dir):
    tree = recipes.flat_to_tree(imagenet_dir, tmp_path / "tree")
    files = sorted(imagenet_dir.glob("*.jpg"))
    for split in ("train", "val"):
        linked = sorted(tree.glob(f"{split}/*/*.jpg"))
        assert len(linked) == len(files)
        for link in linked:
            assert link.parent.name == link.stem.rsplit("_", 1)[1] and link.resolve().is_file()
    with pytest.raises(ValueError, match="expected an ImageFolder directory"):
        recipes.flat_to_tree(tmp_path / "tree", tmp_path / "other")


def test_full_imagenet_run_refuses_the_flat_sample(tmp_path, imagenet_dir):
    g = recipes.recipe_grid("imagenet", quick=False, data_dir=str(imagenet_dir))
    with pytest.raises(ValueError, match="a flat folder of sample images is for --quick only"):
        recipes.run(g, tmp_path)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_imagenet_smoke_run_end_to_end(tmp_path, imagenet_dir):
    g = recipes.recipe_grid("imagenet", quick=True, data_dir=str(imagenet_dir))
    assert g.base.model.margin_layers == ["layer1", "layer2", "layer3"]
    assert g.base.loss.margin.top_k == 3
    g = replace(
        g,
        base=replace(
            g.base,
            model=replace(g.base.model, name="resnet18"),
            data=replace(g.base.data, image_size=64),
        ),
        margin_examples=8,
    )
    report = recipes.run(g, tmp_path)
    assert "Smoke test (--quick)" in report and "| cross-entropy | large margin |" in report
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [r["loss"] for r in rows] == ["cross-entropy", "large margin"]
    assert (tmp_path / "margins.png").read_bytes()[:4] == b"\x89PNG"
    config = yaml.safe_load((Path(rows[1]["run_folder"]) / "config.yaml").read_text())
    assert config["loss"]["kind"] == "large_margin" and config["data_info"]["num_classes"] == 19

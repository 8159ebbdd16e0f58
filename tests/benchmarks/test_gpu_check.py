"""The GPU check script, run on the CPU at its tiny size: it starts, runs one step of every
variant on both networks and writes a report with a row per variant."""

from __future__ import annotations

import json

import pytest

from largemargin.models import build_model
from tests.benchmarks._load import load

gpu_check = load("gpu_check")
bench_step = load("bench_step")


def test_tiny_cpu_run_writes_a_row_per_variant_and_marks_gpu_only_modes(tmp_path):
    report = gpu_check.main(["--out", str(tmp_path), "--device", "cpu", "--tiny"])
    text = report.read_text()
    lines = text.splitlines()
    for name in bench_step.make_variants():
        # the main tables have 7 columns; the reference comparison has 4
        rows = [line for line in lines if line.startswith(f"| {name} |") and line.count("|") == 8]
        assert len(rows) == len(gpu_check.NETWORKS), name
        assert not any("failed" in row for row in rows), rows
    # compile and bf16 sections are skipped on the CPU, and memory / sync cells say so
    assert text.count("\n" + gpu_check.NA_CPU + "\n") == 3 * len(gpu_check.NETWORKS)
    assert "| n/a on cpu | n/a on cpu |" in text
    sections = json.loads((tmp_path / "gpu_check.json").read_text())
    timed = [s["section"] for s in sections if isinstance(s["section"], dict)]
    assert [s["network"] for s in timed] == ["mnist_reference", "resnet18"]
    for section in timed:
        assert section["batch"] == 2
        assert all(row["median_ms"] > 0 for row in section["variants"].values())


def test_unknown_device_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(SystemExit):
        gpu_check.main(["--out", str(tmp_path / "out"), "--device", "tpu", "--tiny"])
    assert not (tmp_path / "out").exists()


def test_compile_leaves_margin_layers_and_their_parents_eager():
    model = build_model("mnist_reference", num_classes=10)
    gpu_check.compile_between_margin_layers(model, ["input", "block1", "block2"])
    compiled = {name for name, m in model.named_modules() if m._compiled_call_impl is not None}
    assert compiled == {
        "block1.conv",
        "block1.bn",
        "block2.conv",
        "block2.bn",
        "fc1",
        "fc2",
    }

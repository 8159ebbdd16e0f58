"""Step cost, peak memory and host syncs of the margin loss variants on one GPU, as a report.

Runs every step of ``bench_step.py`` (cross-entropy, the one-row floors, our margin variants,
the reference algorithm's port) on two networks: the reference MNIST network (batch 128, margin
on the input and both conv blocks) and torchvision's ResNet-18 on CIFAR-sized images (batch
256, 3x32x32, margin on the input and layer1-3). Each network runs in float32 and in
bf16-mixed (``torch.autocast``), each without and with ``torch.compile`` (every submodule that
is not a margin layer and holds none is compiled in place, so that the margin layers' hooks stay
in eager code; compiled code cannot be backpropagated twice, so second-order steps are expected
to fail there and are reported as such). Per variant: the median step time over interleaved
rounds (the device synchronized before and after each step, timed with ``perf_counter``), its
ratio to cross-entropy against the target, the peak allocated memory of one step above what was
allocated before it (``torch.cuda.max_memory_allocated``), and whether one step after warm-up
runs under ``torch.cuda.set_sync_debug_mode("error")`` without a device-to-host sync.

On the CPU (``--device cpu``) only float32 without compile runs; memory, bf16, compile and the
sync check are reported "n/a on cpu". ``--tiny`` (batch 2, one step of each variant, no warm-up)
is for a quick test that the script works, not for figures.

    benchmarks/gpu_check.sh OUT_DIR [--device cuda] [--rounds 10] [--tiny]

Writes OUT_DIR/gpu_check.md (rewritten after every section, so a run stopped by its time budget
keeps what it measured) and OUT_DIR/gpu_check.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_step  # benchmarks/ is not a package
from largemargin.files import write_atomic
from largemargin.models import default_margin_layers
from largemargin.report import markdown_table

NA_CPU = "n/a on cpu"


@dataclass(frozen=True)
class Network:
    model: str
    image: tuple[int, int, int]
    batch: int
    layers: list[str]


NETWORKS = {
    "mnist_reference": Network(
        "mnist_reference", (1, 28, 28), 128, list(default_margin_layers("mnist_reference"))
    ),
    "cifar resnet18": Network(
        "resnet18", (3, 32, 32), 256, ["input", *default_margin_layers("resnet18")]
    ),
}
# (label, autocast dtype or None, torch.compile)
MODES = [
    ("float32", None, False),
    ("float32, torch.compile", None, True),
    ("bf16-mixed", torch.bfloat16, False),
    ("bf16-mixed, torch.compile", torch.bfloat16, True),
]


def compile_between_margin_layers(model: nn.Module, layers: list[str]) -> None:
    """Compile in place every largest submodule that neither is a margin layer nor holds one,
    so the forward hooks that capture the margin layers stay in eager code."""
    hooked = {name for name in layers if name != "input"}

    def visit(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            if full in hooked or any(h.startswith(full + ".") for h in hooked):
                visit(child, full + ".")
            elif any(True for _ in child.parameters()) or any(True for _ in child.children()):
                child.compile()

    visit(model, "")


def prepare_compile() -> None:
    """Fresh compile caches, and settings the margin needs from torch.compile."""
    dynamo = importlib.import_module("torch._dynamo")
    dynamo.reset()
    # one cache entry per compiled block instance (ResNet-18 has 8 alike)
    dynamo.config.recompile_limit = 64
    # the margin backpropagates through the compiled graphs more than once (retain_graph)
    importlib.import_module("torch._functorch.config").donated_buffer = False


def setup(net: Network, batch: int, device: str, compiled: bool, seed: int = 0):
    """``bench_step.setup`` for ``net``, compiled between its margin layers when ``compiled``
    (in place: the optimiser's parameters are the same)."""
    model, opt, x, y = bench_step.setup(batch, device, seed, model_name=net.model, image=net.image)
    if compiled:
        compile_between_margin_layers(model, net.layers)
    return model, opt, x, y


def error_text(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:120]}".replace("|", "/")


def peak_mib(run_step, device: str) -> str:
    if not device.startswith("cuda"):
        return NA_CPU
    bench_step.sync(device)
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    run_step()
    bench_step.sync(device)
    return f"{(torch.cuda.max_memory_allocated() - base) / 2**20:.0f}"


def host_sync_check(run_step, device: str) -> str:
    if not device.startswith("cuda"):
        return NA_CPU
    bench_step.sync(device)
    torch.cuda.set_sync_debug_mode("error")
    try:
        run_step()
    except RuntimeError as exc:
        return f"syncs ({error_text(exc)})"
    finally:
        torch.cuda.set_sync_debug_mode(0)
    bench_step.sync(device)
    return "no sync"


def run_section(net: Network, mode: tuple, args) -> dict:
    """Time every variant on one network in one mode; failures are recorded per variant."""
    label, dtype, compiled = mode
    batch = args.batch or net.batch
    model, opt, x, y = setup(net, batch, args.device, compiled)
    variants = bench_step.make_variants(net.layers)
    rows: dict[str, dict] = {name: {"times": []} for name in variants}

    def runner(name):
        return lambda: bench_step.step(variants[name].loss, model, opt, x, y, dtype)

    for name in variants:  # warm-up (and compilation), memory and sync check, one by one
        try:
            for _ in range(args.warmup):
                runner(name)()
            rows[name]["memory"] = peak_mib(runner(name), args.device)
            rows[name]["sync"] = host_sync_check(runner(name), args.device)
        except Exception as exc:  # reported in the table; the run goes on
            rows[name]["error"] = error_text(exc)
            if args.verbose:
                traceback.print_exc()
    for _ in range(args.rounds):
        for name in variants:
            if "error" in rows[name]:
                continue
            bench_step.sync(args.device)
            start = time.perf_counter()
            try:
                runner(name)()
            except Exception as exc:
                rows[name]["error"] = error_text(exc)
                continue
            bench_step.sync(args.device)
            rows[name]["times"].append(time.perf_counter() - start)
    for row in rows.values():
        times = row.pop("times")
        row["median_ms"] = statistics.median(times) * 1e3 if times and "error" not in row else None
    return {"network": net.model, "batch": batch, "mode": label, "variants": rows}


def section_markdown(title: str, section: dict) -> list[str]:
    rows = section["variants"]
    variants = bench_step.make_variants()
    base = rows["cross-entropy"].get("median_ms")
    table = []
    for name, row in rows.items():
        ms = row.get("median_ms")
        if ms is None:
            table.append([name, f"failed: {row.get('error', '?')}", "-", "-", "-", "-", "-"])
            continue
        ratio = ms / base if base else None
        ratio_s = "-" if ratio is None else f"{ratio:.2f}x"
        cells = bench_step.target_cells(variants[name], ratio)
        table.append([name, f"{ms:.2f}", ratio_s, *cells, row["memory"], row["sync"]])
    headers = ["training step", "median ms", "vs cross-entropy", "target", "met?"]
    return [
        f"### {title}, {section['mode']}, batch {section['batch']}",
        "",
        markdown_table([*headers, "peak memory (MiB)", "host sync"], table),
        "",
        bench_step.reference_table({n: r.get("median_ms") for n, r in rows.items()}),
        "",
    ]


def write_report(out: Path, header: list[str], sections: list[tuple[str, dict | str]]) -> None:
    lines = list(header)
    for title, section in sections:
        if isinstance(section, str):
            lines += [f"### {title}", "", section, ""]
        else:
            lines += section_markdown(title, section)
    write_atomic(out / "gpu_check.md", "\n".join(lines))
    data = [{"title": t, "section": s} for t, s in sections]
    write_atomic(out / "gpu_check.json", json.dumps(data, indent=1))


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for the report")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per variant")
    parser.add_argument("--batch", type=int, default=None, help="override both batch sizes")
    parser.add_argument("--budget-s", type=float, default=270.0, help="skip sections after this")
    parser.add_argument("--tiny", action="store_true", help="batch 2, one step each: a smoke test")
    parser.add_argument("--verbose", action="store_true", help="print tracebacks of failures")
    args = parser.parse_args(argv)
    if args.tiny:
        args.batch, args.rounds, args.warmup = 2, 1, 0
    if args.rounds < 1 or args.warmup < 0 or (args.batch is not None and args.batch < 2):
        parser.error("--rounds must be >= 1, --warmup >= 0 and --batch >= 2")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device here (use --device cpu)")
    if not (args.device == "cpu" or args.device.startswith("cuda")):
        parser.error(f"--device must be cpu, cuda or cuda:N, got {args.device!r}")
    return args


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    header = [
        "# GPU check: step cost of the margin loss variants",
        "",
        f"torch {torch.__version__}, device {args.device} ({name}), "
        f"{args.rounds} rounds, {args.warmup} warm-up steps"
        + (", --tiny (a smoke test, not figures)" if args.tiny else ""),
        "",
    ]
    sections: list[tuple[str, dict | str]] = []
    for title, net in NETWORKS.items():
        for mode in MODES:
            label, dtype, compiled = mode
            key = f"{title}, {label}"
            if args.device == "cpu" and (dtype is not None or compiled):
                sections.append((key, NA_CPU))
            elif time.perf_counter() - started > args.budget_s:
                sections.append((key, f"skipped: past the {args.budget_s:.0f} s budget"))
            else:
                if compiled:
                    prepare_compile()
                sections.append((title, run_section(net, mode, args)))
                print(f"{key}: done at {time.perf_counter() - started:.0f} s", flush=True)
            write_report(args.out, header, sections)
    return args.out / "gpu_check.md"


if __name__ == "__main__":
    print(main())

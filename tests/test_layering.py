"""The package's layers: no module imports from a layer above its own (docs/design.md).

Read from the source with ``ast``, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import largemargin

ROOT = Path(largemargin.__file__).parent

BASE = {"errors", "files", "torch_utils", "report"}
CORE = {"core", "__init__"}  # the top level: the core's names (load_checkpoint: training only)
#: subpackage or top-level module -> the largemargin parts it may import besides itself.
ALLOWED: dict[str, set[str]] = {
    "core": set(),  # torch only
    # the core, and lazily (on first use, test below) training's load_checkpoint
    "__init__": {"core", "training"},
    "errors": set(),
    "files": set(),
    "torch_utils": set(),
    "report": {"files"},
    "data": BASE,
    "models": BASE | CORE,
    "analysis": BASE | CORE,
    "attacks": BASE | CORE,
    "training": BASE | CORE | {"data", "models", "analysis", "attacks"},
    "experiments": BASE | CORE | {"data", "models", "analysis", "attacks", "training"},
    "cli": BASE | CORE | {"data", "models", "analysis", "attacks", "training", "experiments"},
    "__main__": {"cli"},
}


def _part(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_parts(path: Path) -> set[str]:
    """The largemargin parts (subpackage or top-level module) that ``path`` imports."""
    own = _part(path)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and path.parent != ROOT:
                names = [f"largemargin.{own}"]
            elif node.level > 0:  # relative import from the package root
                names = [f"largemargin.{node.module or '__init__'}"]
            elif node.module:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "largemargin":
                found.add(parts[1] if len(parts) > 1 else "__init__")
    return found - {own}


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "assets" not in p.parts)


def test_every_part_has_a_rule():
    assert {_part(p) for p in _modules()} <= set(ALLOWED)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_from_a_layer_above_its_own(path):
    part = _part(path)
    assert _imported_parts(path) <= ALLOWED[part], (
        f"{path.relative_to(ROOT)} imports {sorted(_imported_parts(path) - ALLOWED[part])}, "
        f"outside what {part} may import: {sorted(ALLOWED[part])}"
    )


def test_the_check_sees_a_violation(tmp_path, monkeypatch):
    fake = tmp_path / "largemargin"
    (fake / "core").mkdir(parents=True)
    (fake / "core" / "bad.py").write_text("def f():\n    from largemargin.training import run\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    assert _imported_parts(fake / "core" / "bad.py") == {"training"}


def test_importing_the_package_loads_neither_torch_nor_any_layer_above_the_core():
    """The top level's names load on first use: ``load_checkpoint`` from training must not make
    the package itself depend on training (nor ``--version`` wait for torch)."""
    code = (
        "import sys, largemargin; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('largemargin.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_top_level_names_resolve_to_their_homes():
    from largemargin.core import large_margin_loss
    from largemargin.training.checkpoint_eval import load_checkpoint

    assert largemargin.large_margin_loss is large_margin_loss
    assert largemargin.load_checkpoint is load_checkpoint
    assert set(largemargin.__all__) <= set(dir(largemargin))
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        _ = largemargin.nonsense

"""The architecture, checked: data flows one way (env package -> agents -> harness), modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"dataselect_env": ("agents", "dataselect_harness", "train_agent"),  # the env imports neither above it
          "agents": ("dataselect_harness", "train_agent")}
MAX_LINES = 450
LONG_FILE_MARK = "Over 450 lines:"  # a module docstring that says why it is longer


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, at any depth (function-level imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_no_module_imports_a_layer_above_its_own(package):
    offenders = {str(p.relative_to(ROOT)): sorted(imported_modules(p) & set(LAYERS[package]))
                 for p in sorted((ROOT / package).rglob("*.py"))}
    assert not {k: v for k, v in offenders.items() if v}, f"{package} must not import {LAYERS[package]}"


def test_the_import_check_sees_function_level_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from agents.base import Agent\n    import dataselect_harness.plan\n")
    assert imported_modules(module) == {"agents", "dataselect_harness"}


def test_no_source_file_is_long_without_a_reason():
    long = []
    for path in sorted(ROOT.glob("**/*.py")):
        if any(part.startswith(".") or part in ("build", "runs", "models") for part in path.relative_to(ROOT).parts):
            continue
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES and LONG_FILE_MARK not in (ast.get_docstring(ast.parse(path.read_text())) or ""):
            long.append(f"{path.relative_to(ROOT)} ({lines} lines)")
    assert not long, f"over {MAX_LINES} lines without '{LONG_FILE_MARK} <why>' in the module docstring: {long}"

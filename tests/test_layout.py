"""The architecture, checked: data flows one way (env package -> agents -> harness), no package's modules
import each other in a circle, modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"dataselect_env": ("agents", "dataselect_harness", "train_agent"),  # the env imports neither above it
          "agents": ("dataselect_harness", "train_agent")}
PACKAGES = ("dataselect_env", "agents", "dataselect_harness")
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


def module_names(package: Path) -> dict[Path, str]:
    """Every module of the package directory ``package`` by file, named as imported (``pkg.sub.mod``,
    ``pkg`` for ``pkg/__init__.py``)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = (package.name, *path.relative_to(package).with_suffix("").parts)
        names[path] = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return names


def import_graph(package: Path) -> dict[str, set[str]]:
    """``graph[module]``: the modules of the same package that ``module`` imports, at any depth (inside
    functions too), relative (``from . import x``, ``from .x import y``) or absolute (``import pkg.x``).
    ``from M import name`` imports ``M.name`` when that is a module of the package, else ``M`` itself."""
    names = module_names(package)
    known = set(names.values())
    graph: dict[str, set[str]] = {}
    for path, name in names.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]  # what `.` means in this file
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = here.split(".")[:len(here.split(".")) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                subs = {f"{module}.{a.name}" for a in node.names} & known
                targets |= subs if len(subs) == len(node.names) else subs | {module}
        graph[name] = {t for t in targets if t in known and t != name}
    return graph


def import_cycles(package: Path) -> list[list[str]]:
    """The import circles among the modules of ``package``: each strongly connected component of
    :func:`import_graph` with more than one module (Tarjan), its modules sorted; [] when there is none."""
    graph = import_graph(package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_package_imports_itself_in_a_circle(package):
    cycles = import_cycles(ROOT / package)
    assert not cycles, f"{package}: modules that import each other (function-level imports included): {cycles}"


def test_the_cycle_check_sees_circles_through_function_level_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import f\n")
    (pkg / "a.py").write_text("def f():\n    from . import b\n")
    (pkg / "b.py").write_text("import os\n\ndef g():\n    from .sub.c import h\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("def h():\n    import pkg.a\n")
    (pkg / "d.py").write_text("from pkg import a\nfrom .sub import c\n")  # imports into the circle, not part of it
    assert import_graph(pkg) == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.sub.c"}, "pkg.sub": set(),
                                 "pkg.sub.c": {"pkg.a"}, "pkg.d": {"pkg.a", "pkg.sub.c"}}
    assert import_cycles(pkg) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    (pkg / "sub" / "c.py").write_text("def h():\n    from pkg import f\n")  # pkg/__init__.py imports a: still one
    assert import_cycles(pkg) == [["pkg", "pkg.a", "pkg.b", "pkg.sub.c"]]
    (pkg / "sub" / "c.py").write_text("def h():\n    import os\n")
    assert import_cycles(pkg) == []
    (pkg / "a.py").write_text("def f():\n    from . import b\n\nX = 1\n")
    (pkg / "b.py").write_text("def g():\n    from .a import X\n")
    assert import_cycles(pkg) == [["pkg.a", "pkg.b"]]


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

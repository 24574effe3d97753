"""The pages a newcomer reads: rendered ones current, the README short, its claims traceable.

``BENCHMARKS.md``, ``docs/environment.md`` and ``docs/code-map.md`` are rendered by
``python benchmarks/render_docs.py`` from the committed results and the docstrings; a change to either
without a new rendering fails here (the fix: run that command and commit the pages).
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAIN_JOB = 'pip install -e ".[all]" && python train_agent.py'
TESTS = 'pip install -e ".[test]" && python -m pytest -q'
README_LIMIT = 12_000  # characters: about SB3's README


def load_renderer():
    spec = importlib.util.spec_from_file_location("render_docs", ROOT / "benchmarks" / "render_docs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("render_docs", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def renderer():
    return load_renderer()


@pytest.fixture(scope="module")
def benchmarks_page(renderer, tmp_path_factory) -> str:
    """BENCHMARKS.md rendered from the committed results into a temporary file."""
    path = tmp_path_factory.mktemp("render") / "BENCHMARKS.md"
    path.write_text(renderer.render_benchmarks(), encoding="utf-8")
    return path.read_text(encoding="utf-8")


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.sb3
def test_benchmarks_page_renders_byte_for_byte_from_the_committed_results(benchmarks_page, tmp_path):
    rendered = tmp_path / "BENCHMARKS.md"
    rendered.write_text(benchmarks_page, encoding="utf-8")
    assert rendered.read_bytes() == (ROOT / "BENCHMARKS.md").read_bytes(), \
        "BENCHMARKS.md is stale: run `python benchmarks/render_docs.py` and commit it"


@pytest.mark.parametrize("page", ["docs/environment.md", "docs/code-map.md"])
def test_pages_rendered_from_docstrings_are_current(renderer, page):
    assert renderer.PAGES[page]() == (ROOT / page).read_text(encoding="utf-8"), \
        f"{page} is stale: run `python benchmarks/render_docs.py` and commit it"


def test_the_env_manual_is_the_env_docstring(renderer):
    from dataselect_env.env import DataSelectEnv
    manual = (ROOT / "docs" / "environment.md").read_text(encoding="utf-8")
    assert renderer.markdown_of_docstring(DataSelectEnv.__doc__) in manual
    assert "## Observation Space" in manual and not re.search(r"``[^`\n]+``", manual)  # reST markup converted


def test_readme_is_short_and_opens_with_the_two_commands():
    text = readme()
    assert len(text) <= README_LIMIT, f"README.md has {len(text)} characters; move detail to docs/"
    first = text.splitlines()[:40]
    assert MAIN_JOB in first and TESTS in first, "both commands, exactly, in the README's first 40 lines"
    before = "\n".join(first[:first.index(MAIN_JOB)])
    assert "download.pytorch.org/whl/cpu" in before and "DATASELECT_DATA" in before, \
        "the CPU-torch note and the data variable come before the commands"


def test_ci_runs_the_readmes_test_command():
    assert TESTS.split(" && ")[1] in (ROOT / ".ci" / "run").read_text()


@pytest.mark.sb3
def test_every_number_of_the_readmes_findings_is_on_the_rendered_page(benchmarks_page):
    text = readme()
    findings = text[text.index("## What the benchmark finds"):]
    findings = findings[:findings.index("\n## ", 1)]
    assert "python train_agent.py report benchmarks/results/suite-cpu" in findings
    numbers = set(re.findall(r"(?<![\w-])[+-]?\d+(?:,\d{3})*(?:\.\d+)?", findings.split("![")[0]))
    missing = sorted(n for n in numbers if n not in benchmarks_page)
    assert not missing, f"numbers in the README's findings that BENCHMARKS.md does not hold: {missing}"


def test_readmes_quick_example_runs_as_written(capsys):
    text = readme()
    section = text[text.index("## Quick example"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("\n```\n")]
    scope: dict = {}
    exec(code, scope)
    out = capsys.readouterr().out
    assert "test accuracy" in out and "class_balanced: test accuracy" in out
    assert scope["info"]["epoch"] == 5


@pytest.mark.sb3
def test_the_commands_beside_the_results_parse(benchmarks_page):
    """Each rebuilt ``bench`` / ``suite`` / ``train`` command is one the command line accepts."""
    import argparse

    import train_agent
    from dataselect_harness.train import add_train_arguments
    commands = re.findall(r"^python train_agent\.py .*$", benchmarks_page, flags=re.M)
    commands += re.findall(r"`(python train_agent\.py train [^`]*)`", benchmarks_page)
    assert any(" suite " in c for c in commands) and any(" bench " in c for c in commands) \
        and any(" train " in c for c in commands)
    train = argparse.ArgumentParser(prog="train", exit_on_error=False)
    add_train_arguments(train)
    for command in commands:
        argv = shlex.split(command)[2:]
        if argv[0] == "train":
            train.parse_args(argv[1:])
        else:
            train_agent.build_parser().parse_args(argv)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_links_between_the_pages_resolve():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
    broken = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and dest.suffix == ".md":
                headings = re.findall(r"^#{1,6} (.+)$", dest.read_text(encoding="utf-8"), flags=re.M)
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_cifar_tests_read_the_one_data_variable_first(monkeypatch, tmp_path):
    from conftest import SHARED_CIFAR, cifar_path
    monkeypatch.delenv("DATASELECT_DATA", raising=False)
    monkeypatch.delenv("DATASELECT_TEST_CIFAR", raising=False)
    assert cifar_path()[0] == SHARED_CIFAR
    monkeypatch.setenv("DATASELECT_TEST_CIFAR", str(tmp_path / "old"))
    assert cifar_path()[0] == tmp_path / "old"
    monkeypatch.setenv("DATASELECT_DATA", str(tmp_path / "new"))
    assert cifar_path() == (tmp_path / "new", "$DATASELECT_DATA")

"""Shared fixtures: the offline CIFAR-10 copy (when present) and small synthetic envs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from dataselect_env.hardware import keep_freed_memory

torch.set_num_threads(min(2, torch.get_num_threads()))
# The allocator setting train_agent.py's verbs apply (tune_process): CPU training at the CLI's speed. Not
# fork_safe_threads: a test that forks opts in itself, as a user's script must.
keep_freed_memory()

SHARED_CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"
# Where the tests look for CIFAR-10, in order: the variable runs read too, the one the tests read before
# (still honoured), the shared offline copy beside the clone.
CIFAR_VARIABLES = ("DATASELECT_DATA", "DATASELECT_TEST_CIFAR")


def cifar_path() -> tuple[Path, str]:
    """The CIFAR-10 copy the tests use and what named it: ``$DATASELECT_DATA``, else
    ``$DATASELECT_TEST_CIFAR``, else the shared copy at ``../shared/data/cifar10-jpeg.tar.gz``."""
    for name in CIFAR_VARIABLES:
        if os.environ.get(name):
            return Path(os.environ[name]), f"${name}"
    return SHARED_CIFAR, "the shared offline copy"


@pytest.fixture(scope="session")
def cifar_archive() -> Path:
    """Path of the CIFAR-10 copy (:func:`cifar_path`); skips the test when it is absent."""
    path, origin = cifar_path()
    if not path.exists():
        pytest.skip(f"CIFAR-10 not found at {path} ({origin}); set DATASELECT_DATA to a CIFAR-10 archive or "
                    f"image folder (or torchvision's CIFAR directory) to run it")
    return path


@pytest.fixture(scope="session")
def cifar_archive_or_none() -> Path | None:
    """Path of the CIFAR-10 copy (:func:`cifar_path`), or None when it is absent."""
    path, _ = cifar_path()
    return path if path.exists() else None


@pytest.fixture
def one_torch_thread():
    """One torch thread: on a small shared CPU, two threads' OpenMP waits make epochs ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep decoded-array caches of test data out of the user's cache, but share one per session."""
    monkeypatch.setenv("DATASELECT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def time_up_after(monkeypatch):
    """``time_up_after(n)``: ``harness.run.time_up`` says the time is up from its (n+1)-th call on
    (``--time-limit`` without waiting); ``monkeypatch.undo()`` lifts it."""
    from dataselect_harness import run

    def install(n: int) -> None:
        calls = [0]

        def time_up(deadline: float | None) -> bool:
            calls[0] += 1
            return calls[0] > n
        monkeypatch.setattr(run, "time_up", time_up)
    return install


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``sb3`` skip, saying why, where Stable-Baselines3 is not installed (it is an extra)."""
    if any(item.get_closest_marker("sb3") for item in items) and not _installed("stable_baselines3"):
        skip = pytest.mark.skip(reason="needs stable-baselines3, an extra: pip install -e '.[sb3]' (or '.[test]')")
        for item in items:
            if item.get_closest_marker("sb3"):
                item.add_marker(skip)

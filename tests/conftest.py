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


@pytest.fixture(scope="session")
def cifar_archive() -> Path:
    """Path of the shared CIFAR-10 JPEG archive; skips the test when it is absent."""
    path = Path(os.environ.get("DATASELECT_TEST_CIFAR", SHARED_CIFAR))
    if not path.exists():
        pytest.skip(f"shared CIFAR-10 copy not found at {path} (set DATASELECT_TEST_CIFAR to an archive or "
                    f"image folder of CIFAR-10 to run it)")
    return path


@pytest.fixture(scope="session")
def cifar_archive_or_none() -> Path | None:
    """Path of the shared CIFAR-10 JPEG archive, or None when it is absent."""
    path = Path(os.environ.get("DATASELECT_TEST_CIFAR", SHARED_CIFAR))
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

"""What the machine can do and the process-wide settings: precision on a (faked) CUDA device, the CUDA
training flags, and the process tuning being opt-in (importing the package changes nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import train_agent
from dataselect_env import hardware
from dataselect_env.config import TrainConfig
from dataselect_env.trainer import resolve

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_cuda(monkeypatch):
    """``fake_cuda(capability)``: torch sees one CUDA device of that compute capability, which (like
    every device since Pascal) ``is_bf16_supported`` says does bf16, natively or not."""
    def install(capability: tuple[int, int]) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    return install


@pytest.mark.parametrize("capability, precision", [
    ((6, 0), "fp32"),  # P100
    ((7, 0), "fp32"),  # V100: bf16 emulated, slower than fp32
    ((7, 5), "fp32"),  # T4
    ((8, 0), "bf16"),  # A100
    ((9, 0), "bf16"),  # H100, H200
])
def test_auto_precision_is_bf16_only_where_the_device_has_it_natively(fake_cuda, capability, precision):
    fake_cuda(capability)
    device, chosen = resolve(TrainConfig(device="auto", precision="auto"))
    assert device.type == "cuda"
    assert chosen == precision
    assert hardware.resolve_precision("fp32", device) == "fp32"  # an explicit choice stands
    assert hardware.resolve_precision("bf16", device) == "bf16"


@pytest.fixture
def cuda_flags():
    """All off for the test, then restored: the backend flags :func:`~dataselect_env.hardware.configure_cuda_training`
    sets (torch's backend modules take ``setattr`` but not monkeypatch's undo)."""
    flags = ((torch.backends.cudnn, "benchmark"), (torch.backends.cudnn, "allow_tf32"),
             (torch.backends.cuda.matmul, "allow_tf32"))
    saved = [getattr(module, flag) for module, flag in flags]
    deterministic = torch.are_deterministic_algorithms_enabled()
    for module, flag in flags:
        setattr(module, flag, False)
    yield
    for (module, flag), value in zip(flags, saved):
        setattr(module, flag, value)
    torch.use_deterministic_algorithms(deterministic)


def test_cuda_training_turns_on_cudnn_autotuning_and_tf32(cuda_flags):
    hardware.configure_cuda_training()
    assert torch.backends.cudnn.benchmark
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def test_cuda_training_leaves_autotuning_off_under_deterministic_algorithms(cuda_flags):
    torch.use_deterministic_algorithms(True)
    hardware.configure_cuda_training()
    assert not torch.backends.cudnn.benchmark


# A child's torch threads after a fork, before and after tune_process (reading the thread count runs no
# parallel op, so the child cannot deadlock even where the hook is missing).
FORK_PROBE = """
import os, torch
torch.set_num_threads(2)
import dataselect_env, gymnasium as gym
from dataselect_env import hardware

def child_threads():
    r, w = os.pipe()
    if os.fork() == 0:
        os.write(w, str(torch.get_num_threads()).encode())
        os._exit(0)
    os.close(w)
    n = int(os.read(r, 16))
    os.wait()
    return n

gym.make("DataSelect/Synthetic-v0", epochs=1).reset(seed=0)  # building and resetting an env tunes nothing either
print(child_threads(), hardware.process_tuned())
print(sorted(hardware.tune_process().items()))
print(child_threads(), hardware.process_tuned())
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "register_at_fork"), reason="needs os.fork (POSIX)")
def test_importing_the_package_tunes_nothing_tune_process_does():
    proc = subprocess.run([sys.executable, "-c", FORK_PROBE], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    before, applied, after = proc.stdout.splitlines()
    assert before == "2 False"  # no at-fork hook from importing, building or resetting
    assert "('fork_safe_threads', True)" in applied
    assert after == "1 True"  # forked children now run one torch thread


@pytest.mark.parametrize("argv, tunes", [
    (["bench", "--env", "DataSelect/Synthetic-v0"], True),
    (["suite", "smoke"], True),
    (["train", "--help"], True),
    (["report", "runs/x"], False),
])
def test_the_cli_verbs_that_train_tune_the_process(monkeypatch, argv, tunes):
    calls = []
    monkeypatch.setattr(train_agent, "tune_process", lambda: calls.append(True))
    for verb in ("bench", "suite", "report_dir", "train"):  # stand-ins: only the tuning is under test
        monkeypatch.setattr(train_agent, verb, lambda *args, **kwargs: 0)
    assert train_agent.main(argv) == 0
    assert bool(calls) == tunes

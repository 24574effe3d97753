"""What this machine can do, and the process-wide settings that make it fast.

Platform-specific code lives here and nowhere else: reading ``/proc/cpuinfo`` (bf16 support, the model name),
glibc's allocator setting, and the ``"auto"`` choices of device and precision.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")


@functools.cache  # the CPU does not change while a process runs
def _cpuinfo() -> str:
    """The text of ``/proc/cpuinfo``, or ``""`` where there is none (not Linux)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_supports_bf16() -> bool:
    """True if this CPU has native bf16 matrix instructions (AVX512-BF16 or AMX)."""
    flags = _cpuinfo()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (e.g. ``AMD EPYC 7B13``), else the platform's
    processor or machine string. Results rows carry it: timings compare only within one model."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@functools.cache  # process-wide: once is enough, however many trainers are built
def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of handing it back to the OS; True if applied.

    A training step frees and re-allocates the same few tens of MiB of activations. With glibc's
    defaults, blocks of a few MiB or more are returned to the OS (``munmap`` or heap trimming) and
    page-faulted back in on the next step: about 20,000 faults per fp32 step of the ``small`` net at
    batch 256, a large share of a CPU step's time.
    This sets ``M_MMAP_THRESHOLD`` to its maximum (32 MiB) and ``M_TRIM_THRESHOLD`` to 2 GiB, the
    effect PyTorch's CPU tuning guide gets from jemalloc or tcmalloc. It is process-wide
    and idempotent, and leaves the process's resident memory at its peak. A no-op off glibc.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))


def resolve_precision(precision: str, device: torch.device) -> str:
    """Map ``"auto"`` to ``"bf16"`` on CUDA with bf16 and on bf16-capable CPUs, else ``"fp32"``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_supports_bf16() else "fp32"


def resolve_device(device: str | torch.device) -> torch.device:
    """Map ``"auto"`` to CUDA when available, else CPU; check that CUDA exists when asked for."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)) or str(device).split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda' (or 'cuda:N'), got {device!r}")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but torch.cuda.is_available() is False")
    return dev

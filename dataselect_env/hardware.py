"""What this machine can do, and the process-wide settings that make it fast.

Platform-specific code lives here and nowhere else: reading ``/proc/cpuinfo`` (bf16 support, the model name),
the CUDA device's capability, glibc's allocator setting, the ``"auto"`` choices of device and precision,
and the CUDA backend flags a trainer sets (:func:`configure_cuda_training`).

Nothing here runs at import. The process-wide tuning (:func:`tune_process`: the allocator setting and
one torch thread in forked children) is opt-in: ``train_agent.py``'s ``bench``, ``suite`` and ``train``
verbs call it; a script of one's own may call it too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
_TUNED = False  # set by tune_process()


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


@functools.cache  # process-wide: one hook, however often it is asked for
def fork_safe_threads() -> bool:
    """Give every process forked from this one a single torch thread (``os.register_at_fork``); True if installed.

    A process forked after torch has run a parallel CPU op deadlocks at its first parallel op: GNU
    OpenMP's thread pool does not survive ``fork`` (the child waits for threads it does not have).
    ``fork`` is the default start method of gymnasium's ``AsyncVectorEnv`` (``gym.make_vec(...,
    vectorization_mode="async")``) and of ``multiprocessing`` on Linux before Python 3.14. The
    project's own workers never fork (the bench's pool spawns, SB3 and ARS workers use forkserver),
    so nothing in the package needs this; a script that forks after training does. Alternatively,
    start such workers with ``spawn`` or ``forkserver`` (``AsyncVectorEnv(..., context="forkserver")``).
    Process-wide and idempotent. A no-op where ``os.register_at_fork`` does not exist (not POSIX).
    """
    if not hasattr(os, "register_at_fork"):
        return False
    os.register_at_fork(after_in_child=lambda: torch.set_num_threads(1))
    return True


def tune_process() -> dict[str, bool]:
    """The process-wide settings for a benchmarking process: :func:`keep_freed_memory` (CPU training
    speed) and :func:`fork_safe_threads` (forked children do not deadlock). Opt-in, never run at import:
    ``train_agent.py``'s ``bench``, ``suite`` and ``train`` verbs call it, and the bench's worker
    processes when the bench's process has. Idempotent.

    :return: which settings are in force, ``{"keep_freed_memory": ..., "fork_safe_threads": ...}``.
    """
    global _TUNED
    _TUNED = True
    return {"keep_freed_memory": keep_freed_memory(), "fork_safe_threads": fork_safe_threads()}


def process_tuned() -> bool:
    """Whether :func:`tune_process` has run in this process (a parent passes it on to its workers)."""
    return _TUNED


def cuda_has_native_bf16(device: torch.device) -> bool:
    """True if CUDA ``device`` computes in bf16 natively: compute capability 8.0 (Ampere) or later.

    ``torch.cuda.is_bf16_supported()`` also says True on older devices (V100: 7.0, T4: 7.5), where bf16
    is emulated and slower than fp32; it decides nothing here.
    """
    return tuple(torch.cuda.get_device_capability(device)) >= (8, 0)


def resolve_precision(precision: str, device: torch.device) -> str:
    """Map ``"auto"`` to ``"bf16"`` where bf16 is native (CUDA compute capability >= 8.0; CPUs with
    AVX512-BF16 or AMX), else ``"fp32"`` (on CUDA with TF32 matmuls and convolutions where the device
    has them: :func:`configure_cuda_training`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if cuda_has_native_bf16(device) else "fp32"
    return "bf16" if cpu_supports_bf16() else "fp32"


def configure_cuda_training() -> None:
    """The CUDA backend flags for training, set when a trainer is built on a CUDA device (process-wide).

    - ``torch.backends.cudnn.benchmark``: cuDNN times its convolution algorithms for each new shape
      and keeps the fastest (airbench does the same); the shapes of an epoch repeat, so the timing
      pays once. Left off when ``torch.use_deterministic_algorithms(True)`` is in force: the
      algorithm it picks could differ between runs, and so could the results.
    - TF32 for fp32 matmuls and convolutions (Ampere and later; no effect before): fp32 training
      at tensor-core speed, with a 10-bit mantissa in the products and fp32 accumulation.
    """
    torch.backends.cudnn.benchmark = not torch.are_deterministic_algorithms_enabled()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


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

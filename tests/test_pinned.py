"""Pinned training trajectories: same seed, same settings -> the same numbers, release after release.

The values were recorded by running the code; a commit that changes them must mean to change
training and say so in its message (the project's rule for pinned trajectories). Accuracies are
pinned exactly: they are counts over the split, so a refactor that moves code around without
changing arithmetic leaves them bit-identical.
fp32 and one torch thread keep the CPU kernels' order of summation fixed.

History: re-pinned once, by the commit that made an epoch's batches balanced (ceil(n / B) batches
whose sizes differ by at most one, instead of full batches and a ragged remainder; the "balanced
batches" issue). The Synthetic pin's validation accuracies were re-pinned by the commit that gave
Synthetic-v0's validation split the clean labels (it had carried the training label noise; the
newcomer issue): training and the test accuracy did not change. The CIFAR pin gained a second
entry, for an AVX512 Intel Xeon, when the tests first ran on one, and a third, for an AVX512 AMD
EPYC, when they first ran there (no training change: the key became capability and vendor,
because the two AVX512 machines give different numbers).
"""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import agents
import dataselect_env  # noqa: F401  (registers the ids)
from dataselect_env.hardware import cpu_model


def trajectory(env_id: str, seed: int, keep: float, **kwargs) -> tuple[list[float], float]:
    """Validation accuracy at reset and after every epoch, and the test accuracy, of ``random`` at ``keep``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    val: list[float] = []
    try:
        info = agents.play_episode(agents.make("random", keep=keep), gym.make(env_id, **kwargs), seed,
                                   on_step=lambda info, *_: val.append(info["val_accuracy"]))
    finally:
        torch.set_num_threads(threads)
    return val, info["test_accuracy"]


def test_synthetic_trajectory_is_pinned():
    val, test = trajectory("DataSelect/Synthetic-v0", 3, 0.5, epochs=5, precision="fp32")
    assert val == [0.15600000321865082, 0.8299999833106995, 0.8600000143051147, 0.8479999899864197,
                   0.8420000076293945, 0.8479999899864197]
    assert test == 0.847000002861023


# fp32 CPU kernels differ in their last bits by instruction set and CPU (ATen and oneDNN dispatch on
# them), and four epochs of a small CIFAR run amplify that into different accuracies: one pin per
# (capability, vendor).
CIFAR_PINS = {
    # recorded on the 2-core AMD EPYC (AVX2), by the balanced-batches re-pin
    ("AVX2", "AMD"): ([0.10000000149011612, 0.18400000035762787, 0.20800000429153442, 0.2840000092983246,
              0.3160000145435333], 0.30160000920295715),
    # recorded 2026-12-02 on a 2-core Intel Xeon (AVX512, AMX), the same code; twice, the same numbers
    ("AVX512", "Intel"): ([0.10000000149011612, 0.11400000005960464, 0.24400000274181366, 0.25200000405311584,
                0.28999999165534973], 0.274399995803833),
    # recorded 2026-12-02 on a 2-core AMD EPYC (AVX512, AVX512-BF16, no AMX), at the commit before the
    # package split and after it: the same numbers
    ("AVX512", "AMD"): ([0.10000000149011612, 0.10400000214576721, 0.2240000069141388, 0.33000001311302185,
                         0.32199999690055847], 0.3215000033378601),
}


def cpu_key() -> tuple[str, str]:
    """This CPU's (torch capability, vendor), the key of :data:`CIFAR_PINS`."""
    model = cpu_model()
    vendor = "AMD" if "AMD" in model else "Intel" if "Intel" in model else model
    return torch.backends.cpu.get_cpu_capability(), vendor


@pytest.mark.cifar
def test_cifar_slice_trajectory_is_pinned(cifar_archive):
    key = cpu_key()
    if key not in CIFAR_PINS:
        pytest.skip(f"no CIFAR trajectory pinned for CPU {key}; record one with this test's call")
    val, test = trajectory("DataSelect/CIFAR10-v0", 1, 0.5, epochs=4, data_root=str(cifar_archive),
                           train_subset=2000, val_size=500, model="small", batch_size=64, lr=0.05,
                           precision="fp32", device="cpu")
    assert (val, test) == CIFAR_PINS[key]

"""Pinned training trajectories: same seed, same settings -> the same numbers, release after release.

The values were recorded by running the code; a commit that changes them must mean to change
training and say so (DEVELOPERS.md). Accuracies are pinned exactly: they are counts over the
split, so a refactor that moves code around without changing arithmetic leaves them bit-identical.
fp32 and one torch thread keep the CPU kernels' order of summation fixed.

History: re-pinned once, by the commit that made an epoch's batches balanced (ceil(n / B) batches
whose sizes differ by at most one, instead of full batches and a ragged remainder; issue 14). The
CIFAR pin gained a second entry, for AVX512 CPUs, when the tests first ran on one (no training change).
"""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import agents
import dataselect_env  # noqa: F401  (registers the ids)


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
    assert val == [0.17800000309944153, 0.671999990940094, 0.6899999976158142, 0.6859999895095825,
                   0.6840000152587891, 0.6859999895095825]
    assert test == 0.847000002861023


# fp32 CPU kernels differ in their last bits by instruction set (ATen and oneDNN dispatch on it), and
# four epochs of a small CIFAR run amplify that into different accuracies: one pin per capability.
CIFAR_PINS = {
    # recorded on the 2-core AMD EPYC (AVX2), by the issue-14 re-pin
    "AVX2": ([0.10000000149011612, 0.18400000035762787, 0.20800000429153442, 0.2840000092983246,
              0.3160000145435333], 0.30160000920295715),
    # recorded 2026-12-02 on a 2-core Intel Xeon (AVX512, AMX), the same code; twice, the same numbers
    "AVX512": ([0.10000000149011612, 0.11400000005960464, 0.24400000274181366, 0.25200000405311584,
                0.28999999165534973], 0.274399995803833),
}


@pytest.mark.cifar
def test_cifar_slice_trajectory_is_pinned(cifar_archive):
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in CIFAR_PINS:
        pytest.skip(f"no CIFAR trajectory pinned for CPU capability {capability}; record one with this test's call")
    val, test = trajectory("DataSelect/CIFAR10-v0", 1, 0.5, epochs=4, data_root=str(cifar_archive),
                           train_subset=2000, val_size=500, model="small", batch_size=64, lr=0.05,
                           precision="fp32", device="cpu")
    assert (val, test) == CIFAR_PINS[capability]

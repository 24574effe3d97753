"""Pinned training trajectories: same seed, same settings -> the same numbers, release after release.

The values were recorded by running the code; a commit that changes them must mean to change
training and say so (DEVELOPERS.md). Accuracies are pinned exactly: they are counts over the
split, so a refactor that moves code around without changing arithmetic leaves them bit-identical.
fp32 and one torch thread keep the CPU kernels' order of summation fixed.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import dataselect_env  # noqa: F401  (registers the ids)


def trajectory(env_id: str, seed: int, keep: float, **kwargs) -> tuple[list[float], float]:
    """Per-epoch validation accuracies (reset included) and the test accuracy of a random-mask episode."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        env = gym.make(env_id, **kwargs)
        obs, info = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        n = obs["samples"].shape[0]
        val, done = [info["val_accuracy"]], False
        while not done:
            mask = np.zeros(n, dtype=np.int8)
            mask[rng.permutation(n)[: round(keep * n)]] = 1
            obs, _, terminated, truncated, info = env.step(mask)
            val.append(info["val_accuracy"])
            done = terminated or truncated
        return val, info["test_accuracy"]
    finally:
        torch.set_num_threads(threads)


def test_synthetic_trajectory_is_pinned():
    val, test = trajectory("DataSelect/Synthetic-v0", 3, 0.5, epochs=5, precision="fp32")
    assert val == [0.17800000309944153, 0.6800000071525574, 0.699999988079071, 0.6940000057220459,
                   0.6940000057220459, 0.6880000233650208]
    assert test == 0.8519999980926514


@pytest.mark.cifar
def test_cifar_slice_trajectory_is_pinned(cifar_archive):
    val, test = trajectory("DataSelect/CIFAR10-v0", 1, 0.5, epochs=4, data_root=str(cifar_archive),
                           train_subset=2000, val_size=500, model="small", batch_size=64, lr=0.05,
                           precision="fp32", device="cpu")
    assert val == [0.10000000149011612, 0.11800000071525574, 0.23199999332427979, 0.30000001192092896,
                   0.3400000035762787]
    assert test == 0.3456999957561493

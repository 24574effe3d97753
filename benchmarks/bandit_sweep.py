"""The sweeps behind the defaults of ``ucb`` (``c``) and ``epsilon_greedy`` (``eps``).

Mean test accuracy on ``DataSelect/Synthetic-v0`` with and without label noise (0.2 and 0.0),
per keep fraction, over ``--seeds`` 10-epoch episodes (one torch thread), for ``random`` and a
grid of ``c`` and ``eps``; the numbers quoted in the agents' docstrings. The controllers' table
(BENCHMARKS.md section 2) comes from ``train_agent.py bench``, not from this script.

Usage::

    python benchmarks/bandit_sweep.py --seeds 0,1,2,3,4 --keep 0.3,0.5
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import gymnasium as gym
import torch

import agents
import dataselect_env  # noqa: F401  (registers the env ids)

ENV_ID = "DataSelect/Synthetic-v0"
GRID: list[tuple[str, dict[str, Any]]] = [("random", {})] + \
    [("ucb", {"c": c}) for c in (0.0, 0.5, 1.0, 2.0, 4.0)] + \
    [("epsilon_greedy", {"eps": e}) for e in (0.1, 0.25, 0.5, 0.75, 0.9)]


def mean_accuracy(name: str, kwargs: dict[str, Any], seeds: list[int], noise: float) -> float:
    """Mean final test accuracy (%) of agent ``name`` built with ``kwargs`` over ``seeds``."""
    accuracies = []
    for seed in seeds:
        env = gym.make(ENV_ID, synthetic={"label_noise": noise})
        accuracies.append(100 * agents.play_episode(agents.make(name, **kwargs), env, seed)["test_accuracy"])
        env.close()
    return statistics.mean(accuracies)


def main() -> None:
    """Print one line per (label noise, agent, parameters): the mean accuracy at each keep."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated env seeds")
    p.add_argument("--keep", default="0.3,0.5", help="comma-separated keep fractions")
    args = p.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    keeps = [float(k) for k in args.keep.split(",")]
    for noise in (0.2, 0.0):
        for name, kwargs in GRID:
            accs = [mean_accuracy(name, {**kwargs, "keep": k}, seeds, noise) for k in keeps]
            print(f"label_noise {noise}  {name} {kwargs}  keep {keeps}: {' / '.join(f'{a:.1f}' for a in accs)}",
                  flush=True)


if __name__ == "__main__":
    main()

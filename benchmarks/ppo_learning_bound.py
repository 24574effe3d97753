"""Measure the bound of the PPO learning test (``tests/test_sb3.py``): how much a PPO policy on
``LossBins``, trained 600 env steps on Synthetic data with 40% label noise at keep 0.3, beats
``random`` at the same keep, per training seed.

    python benchmarks/ppo_learning_bound.py --seeds 0-7 --out benchmarks/results/ppo_learning_bound.json

Each training seed is scored on the test's five held-out episode seeds (100-104): the mean test
accuracy of the policy minus that of ``random`` on the same episodes. The test trains three seeds
and asserts that their mean gain exceeds the bound derived here (printed at the end).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import agents  # noqa: E402
import dataselect_env  # noqa: E402, F401
from dataselect_harness.train import TrainArgs, train  # noqa: E402

ENV_ID = "DataSelect/Synthetic-v1"
NOISY = {"synthetic": {"label_noise": 0.4}}
EVAL_SEEDS = range(100, 105)
KEEP, STEPS = 0.3, 600


def gain_of(seed: int, out: Path) -> float:
    """Train one PPO policy with ``seed``; its mean test accuracy minus random's on :data:`EVAL_SEEDS`."""
    path = train(TrainArgs(algo="ppo", env=ENV_ID, interface="bins", keep=KEEP, timesteps=STEPS, seed=seed,
                           out=out / f"ppo-{seed}", env_kwargs=NOISY, progress_bar=False, threads=1))
    env = gym.make(ENV_ID, **NOISY)
    policy = [agents.play_episode(agents.make("sb3", path=path), env, s)["test_accuracy"] for s in EVAL_SEEDS]
    random = [agents.play_episode(agents.make("random", keep=KEEP), env, s)["test_accuracy"] for s in EVAL_SEEDS]
    return float(np.mean(policy) - np.mean(random))


def main() -> None:
    """Parse ``--seeds A-B`` and ``--out``; train, score, write the gains and print the bound."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0-7", help="training seeds, A-B inclusive")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/ppo_learning_bound.json"))
    a = p.parse_args()
    lo, hi = (int(x) for x in a.seeds.split("-"))
    torch.set_num_threads(1)
    gains, start = {}, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(lo, hi + 1):
            gains[seed] = gain_of(seed, Path(tmp))
            print(f"seed {seed}: gain {100 * gains[seed]:+.2f} points", flush=True)
    g = np.array(list(gains.values()))
    means3 = [g[i:i + 3].mean() for i in range(len(g) - 2)]
    result = {"env": ENV_ID, "env_kwargs": NOISY, "keep": KEEP, "timesteps": STEPS, "eval_seeds": list(EVAL_SEEDS),
              "gain_per_seed": {str(k): round(v, 4) for k, v in gains.items()}, "mean": round(float(g.mean()), 4),
              "std": round(float(g.std(ddof=1)), 4), "min_mean_of_3_consecutive": round(float(min(means3)), 4),
              "wall_time_s": round(time.perf_counter() - start, 1), "torch": torch.__version__}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

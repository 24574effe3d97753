"""Paired credit: score a training episode against ``random`` on the very same task (common random numbers).

An episode's outcome varies more with its task and seed (data, initialisation, validation split)
than with the controller, by several points against effects of about one. :class:`PairedCredit`
removes that: each episode's return is its final validation accuracy minus that of ``random`` at
the same keep on the same seed, so that the same data, the same initial weights and the same
validation split enter both (``random``'s run is played once per seed and cached). Test accuracy
never enters. The seed of each episode comes from a schedule; :func:`ars_schedule` gives each
``+delta`` / ``-delta`` pair of an ARS update (sb3-contrib) the same tasks, so that their
difference, ARS's gradient estimate, compares the two directions on equal terms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

import agents


def ars_schedule(n_delta: int, n_eval_episodes: int, base_seed: int = 0) -> Callable[[int], int]:
    """Seed of the ``r``-th unseeded reset of synchronous ARS training, pairs of candidates alike.

    sb3-contrib's ARS evaluates its ``2 n_delta`` candidates in turn (``+delta_i`` is candidate
    ``i``, ``-delta_i`` candidate ``n_delta + i``), each with ``evaluate_policy``: one reset and
    then one automatic reset after each of its ``n_eval_episodes`` episodes (the last one unused),
    ``n_eval_episodes + 1`` resets per candidate. Candidate ``c``'s ``j``-th episode of update ``u``
    gets seed ``base_seed + (u n_delta + c mod n_delta) n_eval_episodes + j``; the unused reset
    repeats its ``j = 0`` seed (already cached: no extra ``random`` run).

    :param n_delta: ARS's ``n_delta``.
    :param n_eval_episodes: ARS's ``n_eval_episodes``.
    :param base_seed: the first seed.
    """
    per_candidate = n_eval_episodes + 1
    per_update = 2 * n_delta * per_candidate

    def seed(r: int) -> int:
        u, within = divmod(r, per_update)
        c, j = divmod(within, per_candidate)
        return base_seed + (u * n_delta + c % n_delta) * n_eval_episodes + (j if j < n_eval_episodes else 0)

    return seed


class PairedCredit(gym.Wrapper):
    """Return = 100 x (final validation accuracy - ``random``'s on the same seed), paid at the last step.

    Wraps an interface wrapper (``RuleSpace``, ``LossBins``, ...) around a ``DataSelectEnv`` or a
    task env. A reset without a seed takes the next seed of ``schedule``; a reset with one uses it.
    ``random`` keeps the task's keep fraction (a task env's) or the interface's; its final
    validation accuracy is cached by seed. ``info["baseline_val_accuracy"]`` and
    ``info["episode_seed"]`` report what the last step was scored against.

    :param env: the interface-wrapped env.
    :param schedule: reset count -> seed (e.g. :func:`ars_schedule`); default: 0, 1, 2, ...
    """

    def __init__(self, env: gym.Env, schedule: Callable[[int], int] | None = None):
        super().__init__(env)
        self.schedule = schedule or (lambda r: r)
        self.resets = 0  # unseeded resets so far
        self.baselines: dict[tuple[int, float], float] = {}
        self._keeps: dict[int, float] = {}  # seed -> its episode's keep (a task env's is fixed by the seed)
        self.seed: int | None = None

    def _keep(self) -> float:
        task_keep = getattr(self.env.unwrapped, "task_keep", None)
        keep = task_keep if task_keep is not None else getattr(getattr(self.env, "transform", None), "keep", None)
        if keep is None:
            raise ValueError("PairedCredit plays random at the episode's keep: wrap an interface with a keep "
                             "fraction, or a task env that draws one")
        return float(keep)

    def baseline(self, seed: int) -> float:
        """``random``'s final validation accuracy on ``seed`` (played on the unwrapped env, cached)."""
        raw = self.env.unwrapped
        if seed not in self._keeps:  # a task env draws the seed's task at reset: its keep is known then
            raw.reset(seed=seed)
            self._keeps[seed] = self._keep()
        key = (seed, self._keeps[seed])
        if key not in self.baselines:
            info = agents.play_episode(agents.make("random", keep=key[1]), raw, seed)
            self.baselines[key] = float(info["val_accuracy"])
        return self.baselines[key]

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset on the scheduled (or the given) seed, after playing ``random`` there if not cached."""
        if seed is None:
            seed, self.resets = int(self.schedule(self.resets)), self.resets + 1
        self.seed = seed
        self._baseline = self.baseline(seed)
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step; the reward is 0 until the episode ends, then the paired difference (points)."""
        obs, _, terminated, truncated, info = self.env.step(action)
        done = terminated or truncated
        reward = 100.0 * (float(info["val_accuracy"]) - self._baseline) if done else 0.0
        info = {**info, "baseline_val_accuracy": self._baseline, "episode_seed": self.seed}
        return obs, reward, terminated, truncated, info


def paired_scores(make_agent: Callable[[float | None], agents.Agent], env: gym.Env, seeds: list[int],
                  keep: float | None = None) -> np.ndarray:
    """Per seed, the agent's final validation accuracy minus ``random``'s (points), on the raw ``env``.

    :param make_agent: builds a fresh agent for the episode's keep fraction (a task env's, else ``keep``).
    :param env: a raw ``DataSelectEnv`` or task env.
    :param seeds: episode seeds; each is played by both.
    :param keep: the keep fraction on an env without tasks.
    """
    out = []
    for s in seeds:
        env.reset(seed=s)
        k = getattr(env.unwrapped, "task_keep", None) or keep
        if k is None:
            raise ValueError("paired_scores needs keep= on an env that does not draw a keep fraction per task")
        ours = agents.play_episode(make_agent(k), env, s)["val_accuracy"]
        theirs = agents.play_episode(agents.make("random", keep=k), env, s)["val_accuracy"]
        out.append(100.0 * (ours - theirs))
    return np.array(out)

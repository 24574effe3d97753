"""N-independent interfaces to the env for Stable-Baselines3: small observations, small actions.

The raw env observes ``N x F`` per-sample features and takes an ``N``-bit mask, with ``N`` up to
45,000: too wide for an ``MlpPolicy``, and tied to one dataset size. The wrappers here compress
the observation to a fixed-size summary and expand a fixed-size action back into a mask, so a
policy trained on the 5,000-sample proxy acts on full CIFAR-10 unchanged.

Each wrapper holds a *transform* (:mod:`agents.transforms`: pure functions ``observation(obs)``
and ``action_to_mask(action, obs, rng)`` on the raw observation, with no env attached) and
applies it inside ``reset``/``step``; a saved policy (``agents.sb3_agent.SB3Agent``) applies the
very same functions to a raw observation at evaluation time.

On a task distribution (``dataselect_env.tasks``) the wrappers take each task's keep fraction,
pass its descriptors on in the observation, read the real rows of its padded observation and
pad their masks back (:mod:`dataselect_env.padding`). :class:`FiniteGuard` keeps NaN and
infinity (a diverged inner run) away from the RL algorithm.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dataselect_env import stats as st
from dataselect_env.padding import pad_action, real_rows

from .base import EnvLink
from .rule_space import RuleSpaceTransform
from .transforms import LinearScoreTransform, LossBinsTransform, Transform

logger = logging.getLogger(__name__)


def with_progress_bounds(space: spaces.Box, progress: spaces.Box) -> spaces.Box:
    """``space`` (a transform's summary, which starts with the env's progress vector) with its
    first entries' bounds replaced by ``progress``'s, e.g. a task env's longer progress vector.

    :param space: the transform's observation space, sized for the plain env's progress features.
    :param progress: the env's progress space.
    """
    g = len(st.PROGRESS_LOW)
    return spaces.Box(np.concatenate([progress.low, space.low[g:]]).astype(np.float32),
                      np.concatenate([progress.high, space.high[g:]]).astype(np.float32), dtype=np.float32)


class SelectionWrapper(gym.Wrapper):
    """Apply a transform's ``observation`` and ``action_to_mask`` around a raw data-selection env.

    On a task distribution (``dataselect_env.tasks.TaskEnv``, e.g. ``DataSelect/Tasks-v0``) that
    draws a keep fraction per task, the task's fraction replaces the wrapper's ``keep`` at every
    step, and the task descriptors the env appends to the progress features pass into the
    observation (its first entries are always the env's progress vector). The transform sees the
    real rows of the padded observation only, and its mask is padded back to the env's N_max.

    :param env: a ``DataSelectEnv`` (or a wrapper of one) with the raw Dict observation.
    :param transform: the mapping between the raw and the small spaces.
    """

    def __init__(self, env: gym.Env, transform: Transform):
        if not (isinstance(env.observation_space, spaces.Dict) and "samples" in env.observation_space.spaces):
            raise TypeError(f"{type(self).__name__} wraps the raw data-selection env (Dict observation with "
                            f"'samples' and 'progress'); got observation space {env.observation_space}")
        super().__init__(env)
        self.follows_task = bool(EnvLink(env).get("draws_keep", False))  # the env sets keep per episode
        if self.follows_task and transform.keep is None:
            transform = replace(transform, keep=1.0)  # no keep entry in the action: the task's overrides it
        self.transform = transform
        self.observation_space = with_progress_bounds(transform.observation_space, env.observation_space["progress"])
        self.action_space = transform.action_space
        self._obs: dict[str, np.ndarray] | None = None
        self._rng = np.random.default_rng()

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the env; the mask's random draws are seeded from ``seed`` (or the env's ``np_random``).

        :param seed: seed of the env and of the wrapper's generator.
        :param options: passed to the env.
        """
        obs, info = self.env.reset(seed=seed, options=options)
        self._rng = np.random.default_rng(seed if seed is not None else self.env.np_random.integers(2**63))
        self._obs = real_rows(obs)
        return self.transform.observation(self._obs), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Map the action to a mask (``info["keep_fraction"]`` reports the kept share), step the env.

        :param action: action in ``self.action_space``.
        """
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        keep = self.env.get_wrapper_attr("task_keep") if self.follows_task else None
        mask = self.transform.action_to_mask(action, self._obs, self._rng, keep=keep)
        if isinstance(self.env.action_space, spaces.Box):  # weights mode: weight 1 on the kept samples
            mask = mask.astype(np.float32)
        obs, reward, terminated, truncated, info = self.env.step(pad_action(mask, self.env.action_space.shape[0]))
        self._obs = real_rows(obs)
        return self.transform.observation(self._obs), reward, terminated, truncated, info


class LossBins(SelectionWrapper, gym.utils.RecordConstructorArgs):
    """Observation = loss-quantile bin means, action = how the budget is spread over the bins.

    See :class:`LossBinsTransform`. Works with PPO, A2C, SAC and TD3.

    :param env: the raw data-selection env.
    :param bins: number of EMA-loss quantile bins.
    :param keep: fixed kept fraction, or ``None`` for one extra action entry that sets it.
    :param temperature: scale of the bin logits.
    :param min_keep: smallest kept fraction when ``keep`` is ``None``.
    """

    def __init__(self, env: gym.Env, bins: int = 8, keep: float | None = None, temperature: float = 4.0,
                 min_keep: float = 0.05):
        gym.utils.RecordConstructorArgs.__init__(self, bins=bins, keep=keep, temperature=temperature,
                                                 min_keep=min_keep)
        SelectionWrapper.__init__(self, env, LossBinsTransform(bins, keep, temperature, min_keep))


class LinearScore(SelectionWrapper, gym.utils.RecordConstructorArgs):
    """Action = ``F`` feature weights; the top ``round(keep * N)`` samples by score are kept.

    See :class:`LinearScoreTransform`. Works with PPO, A2C, SAC and TD3.

    :param env: the raw data-selection env.
    :param keep: kept fraction in (0, 1]; may be ``None`` on a task env that draws it per task.
    """

    def __init__(self, env: gym.Env, keep: float | None = None):
        if keep is None and not EnvLink(env).get("draws_keep", False):
            raise ValueError("LinearScore keeps the top round(keep*N) scores: give keep, e.g. LinearScore(env, 0.3)")
        gym.utils.RecordConstructorArgs.__init__(self, keep=keep)
        SelectionWrapper.__init__(self, env, LinearScoreTransform(keep))


class RuleSpace(SelectionWrapper, gym.utils.RecordConstructorArgs):
    """Action = a rule-space point (:mod:`agents.rule_space`); observation = progress and
    regime summaries. Needs a ``-v1`` env (class shares and labels); ARS trains it as a linear map.

    :param env: the raw data-selection env (observation version 1).
    :param keep: kept share after the ramp, in (0, 1]; may be ``None`` on a task env that draws it.
    """

    def __init__(self, env: gym.Env, keep: float | None = None):
        gym.utils.RecordConstructorArgs.__init__(self, keep=keep)
        SelectionWrapper.__init__(self, env, RuleSpaceTransform(keep))


class FiniteGuard(gym.Wrapper):
    """Replace non-finite observation entries and rewards by finite ones, and log it.

    A diverged inner training run (a NaN loss) must not reach the RL algorithm: one NaN in a
    rollout poisons the policy's parameters for good. NaN becomes 0 and +-inf becomes +-``clip``
    in the observation; a non-finite reward becomes 0. ``info["nonfinite"]`` counts the entries
    replaced in this step (observation and reward); :attr:`replaced` counts them over the
    wrapper's life and :attr:`diverged_episodes` the episodes whose ``info["diverged"]`` was set.

    :param env: any env with a Box or Dict-of-Box observation.
    :param clip: the value +-inf is replaced by.
    """

    def __init__(self, env: gym.Env, clip: float = 1e6):
        super().__init__(env)
        self.clip = float(clip)
        self.replaced = 0
        self.diverged_episodes = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset the env; the observation made finite."""
        obs, info = self.env.reset(seed=seed, options=options)
        obs, bad = self._finite(obs)
        if bad:
            info = {**info, "nonfinite": bad}
            self._log(bad, "reset")
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step the env; observation and reward made finite, ``info["nonfinite"]`` set when any was not."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        obs, bad = self._finite(obs)
        if not np.isfinite(reward):
            reward, bad = 0.0, bad + 1
        if bad:
            info = {**info, "nonfinite": bad}
            self._log(bad, "step")
        if info.get("diverged") and (terminated or truncated):
            self.diverged_episodes += 1
            logger.warning("FiniteGuard: the inner training diverged (%d episodes so far)", self.diverged_episodes)
        return obs, float(reward), terminated, truncated, info

    def _finite(self, obs: Any) -> tuple[Any, int]:
        if isinstance(obs, dict):
            pairs = {k: self._finite(v) for k, v in obs.items()}
            return {k: v for k, (v, _) in pairs.items()}, sum(b for _, b in pairs.values())
        arr = np.asarray(obs)
        if not np.issubdtype(arr.dtype, np.floating):
            return obs, 0
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad == 0:
            return obs, 0
        return np.nan_to_num(arr, nan=0.0, posinf=self.clip, neginf=-self.clip).astype(arr.dtype), bad

    def _log(self, bad: int, where: str) -> None:
        self.replaced += bad
        logger.warning("FiniteGuard: replaced %d non-finite value(s) at %s (%d in all)", bad, where, self.replaced)

"""N-independent interfaces to the env for Stable-Baselines3: small observations, small actions.

The raw env observes ``N x F`` per-sample features and takes an ``N``-bit mask, with ``N`` up to
45,000: too wide for an ``MlpPolicy``, and tied to one dataset size. The wrappers here compress
the observation to a fixed-size summary and expand a fixed-size action back into a mask, so a
policy trained on the 5,000-sample proxy acts on full CIFAR-10 unchanged.

Each wrapper holds a *transform* (:class:`LossBinsTransform`, :class:`LinearScoreTransform`):
pure functions ``observation(obs)`` and ``action_to_mask(action, obs, rng)`` on the raw
observation, with no env attached. The wrapper applies them inside ``reset``/``step``; a saved
policy (``agents.sb3_agent.SB3Agent``) applies the very same functions to a raw observation at
evaluation time. The parametrised selection follows Neural Data Filter (Fan et al. 2017), whose
policy scores each sample from a few features, and DVRL (Yoon et al. 2020), whose estimator maps
per-sample features to a selection probability; here the score is a fixed, small function of the
features so that the policy itself stays tiny.

On a task distribution (``dataselect_env.tasks``) the wrappers take each task's keep fraction and
pass its descriptors on in the observation. :class:`FiniteGuard` keeps NaN and infinity (a
diverged inner run) away from the RL algorithm.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from . import stats as st
from .rule_space import RuleSpaceTransform
from .selection import UNBOUNDED, check_keep, keep_count, squash, standardize, top_k_mask

logger = logging.getLogger(__name__)

N_SAMPLE_FEATURES = len(st.SAMPLE_FEATURES)  # columns of the observation's (N, F) per-sample table


def v0_columns(obs: dict[str, np.ndarray]) -> np.ndarray:
    """``obs["samples"]``'s first :data:`N_SAMPLE_FEATURES` columns, those of observation version 0:
    the transforms read these on every version, so a policy trained on v0 plays a v1 id unchanged."""
    return obs["samples"][:, :N_SAMPLE_FEATURES]


def rank_order(score: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices sorting ``score`` ascending; ties broken at random with ``rng`` (stably without).

    Unseen samples all share one row, and on the first epoch every row is the same: a stable
    sort would pick them in dataset order, which may be sorted by class.

    :param score: ``(N,)`` scores.
    :param rng: generator for the tie-breaking permutation, or ``None`` for a stable sort.
    """
    if rng is None:
        return np.argsort(score, kind="stable")
    perm = rng.permutation(len(score))
    return perm[np.argsort(score[perm], kind="stable")]


def allocate(shares: np.ndarray, caps: np.ndarray, k: int) -> np.ndarray:
    """Integer counts ``c`` with ``sum(c) = k``, ``c <= caps``, proportional to ``shares`` where possible.

    Water-filling: a bin that would overflow its cap is filled and its excess passed on to the
    others in proportion to their shares; then largest remainders round to integers. At most
    ``len(shares)`` rounds (one per bin), never a loop over samples.

    :param shares: ``(B,)`` positive weights of the bins.
    :param caps: ``(B,)`` bin sizes.
    :param k: total to allocate, ``0 <= k <= caps.sum()``.
    """
    caps = caps.astype(np.float64)
    counts = np.zeros_like(caps)
    open_ = caps > 0
    for _ in range(len(caps)):
        left = k - counts.sum()
        if left <= 1e-9 or not open_.any():
            break
        w = np.where(open_, shares, 0.0)
        counts = np.minimum(counts + left * w / w.sum(), caps)
        open_ &= counts < caps - 1e-9
    whole = np.floor(counts + 1e-9).astype(np.int64)
    extra = k - int(whole.sum())
    if extra > 0:
        frac = np.where(whole < caps, counts - whole, -np.inf)
        whole[np.argsort(-frac, kind="stable")[:extra]] += 1
    return whole


@dataclass(frozen=True)
class LossBinsTransform:
    """Quantile bins of the EMA loss: observation = bin means, action = budget per bin.

    The ``N`` samples are ranked by ``EMA_LOSS`` and cut into ``bins`` equal-count bins (bin 0 =
    lowest loss). Observation: the progress features, then the mean of every squashed per-sample
    feature in each bin, ``G + bins * F`` floats. Action in ``[-1, 1]``: the first ``bins``
    entries are logits, ``softmax(temperature * a)`` spreads the budget of ``round(keep * N)``
    samples over the bins, capped by bin sizes with the overflow passed on (:func:`allocate`);
    within a bin the samples are drawn uniformly. With ``keep=None`` one extra entry sets the
    keep fraction, ``min_keep + (1 - min_keep) * (a + 1) / 2``.

    :param bins: number of loss quantile bins.
    :param keep: fixed kept fraction in (0, 1], or ``None`` to let the action choose it.
    :param temperature: scale of the bin logits (4: one bin can take ~3000x another's share).
    :param min_keep: smallest kept fraction when ``keep`` is ``None``.
    """

    bins: int = 8
    keep: float | None = None
    temperature: float = 4.0
    min_keep: float = 0.05

    def __post_init__(self) -> None:
        if not isinstance(self.bins, (int, np.integer)) or self.bins < 1:
            raise ValueError(f"bins must be a positive integer, got {self.bins!r}")
        check_keep(self.keep, allow_none=True)
        if not 0 < self.min_keep <= 1:
            raise ValueError(f"min_keep must be in (0, 1], got {self.min_keep!r}")

    @property
    def observation_space(self) -> spaces.Box:
        """``Box(G + bins * F)``: progress features, then ``bins`` rows of feature means."""
        low = np.where(UNBOUNDED, 0.0, st.SAMPLE_LOW)
        return spaces.Box(np.concatenate([st.PROGRESS_LOW, np.tile(low, self.bins)]).astype(np.float32),
                          np.concatenate([st.PROGRESS_HIGH, np.tile(st.SAMPLE_HIGH, self.bins)]).astype(np.float32),
                          dtype=np.float32)

    @property
    def action_space(self) -> spaces.Box:
        """``Box(-1, 1, (bins,))``, or ``(bins + 1,)`` with the keep fraction last when ``keep`` is None."""
        return spaces.Box(-1.0, 1.0, (self.bins + (self.keep is None),), np.float32)

    def bin_of(self, obs: dict[str, np.ndarray], rng: np.random.Generator | None = None) -> np.ndarray:
        """``(N,)`` bin index of every sample (equal-count quantiles of the EMA loss).

        :param obs: raw observation of the env.
        :param rng: tie-breaking generator (``None``: stable; tied rows are identical anyway).
        """
        n = len(obs["samples"])
        if n < self.bins:
            raise ValueError(f"LossBins needs at least bins={self.bins} samples, the env has {n}")
        bins = np.empty(n, dtype=np.int64)
        bins[rank_order(obs["samples"][:, st.EMA_LOSS], rng)] = np.arange(n) * self.bins // n
        return bins

    def observation(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """The ``G + bins * F`` summary of a raw observation.

        :param obs: raw observation, ``{"samples": (N, F), "progress": (G,)}``.
        """
        x = squash(v0_columns(obs))
        bins = self.bin_of(obs)
        sums = np.zeros((self.bins, N_SAMPLE_FEATURES), dtype=np.float64)
        np.add.at(sums, bins, x)
        means = sums / np.bincount(bins, minlength=self.bins)[:, None]
        return np.concatenate([obs["progress"], means.ravel()]).astype(np.float32)

    def keep_fraction(self, action: np.ndarray) -> float:
        """The kept fraction an action asks for (``keep`` when fixed).

        :param action: action in ``action_space``.
        """
        if self.keep is not None:
            return self.keep
        a = float(np.clip(action[self.bins], -1.0, 1.0))
        return self.min_keep + (1.0 - self.min_keep) * (a + 1.0) / 2.0

    def action_to_mask(self, action: np.ndarray, obs: dict[str, np.ndarray],
                       rng: np.random.Generator, keep: float | None = None) -> np.ndarray:
        """The ``(N,)`` int8 mask of an action: per-bin budgets, uniform draws within each bin.

        :param action: action in ``action_space``.
        :param obs: the raw observation the action answers.
        :param rng: generator for tie-breaking and the draws within bins.
        :param keep: overrides the kept fraction (of the transform and of the action).
        """
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        n = len(obs["samples"])
        k = keep_count(self.keep_fraction(action) if keep is None else keep, n)
        logits = self.temperature * np.clip(action[: self.bins], -1.0, 1.0)
        shares = np.exp(logits - logits.max())
        bins = self.bin_of(obs, rng)
        counts = allocate(shares, np.bincount(bins, minlength=self.bins), k)
        order = np.lexsort((rng.random(n), bins))  # by bin, uniformly shuffled within each bin
        start = np.concatenate([[0], np.cumsum(np.bincount(bins, minlength=self.bins))[:-1]])
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n) - start[bins[order]]
        return (position < counts[bins]).astype(np.int8)


@dataclass(frozen=True)
class LinearScoreTransform:
    """A linear score of the per-sample features: action = weights, keep the top ``round(keep * N)``.

    Each sample's score is its standardised squashed feature row times the action's ``F``
    weights in ``[-1, 1]`` (Neural Data Filter's policy, Fan et al. 2017, with a linear scorer);
    the ``round(keep * N)`` highest scores are kept, ties at random. Observation: the progress
    features, then the mean and the std over samples of every squashed feature, ``G + 2F`` floats.

    :param keep: kept fraction in (0, 1], or ``None`` when every call passes one (a task env's).
    """

    keep: float | None = 0.5

    def __post_init__(self) -> None:
        check_keep(self.keep, allow_none=True)

    @property
    def observation_space(self) -> spaces.Box:
        """``Box(G + 2F)``: progress features, feature means, feature stds."""
        low = np.where(UNBOUNDED, 0.0, st.SAMPLE_LOW)
        return spaces.Box(np.concatenate([st.PROGRESS_LOW, low, np.zeros(N_SAMPLE_FEATURES)]).astype(np.float32),
                          np.concatenate([st.PROGRESS_HIGH, st.SAMPLE_HIGH,
                                          np.full(N_SAMPLE_FEATURES, np.inf)]).astype(np.float32),
                          dtype=np.float32)

    @property
    def action_space(self) -> spaces.Box:
        """``Box(-1, 1, (F,))``: one weight per per-sample feature."""
        return spaces.Box(-1.0, 1.0, (N_SAMPLE_FEATURES,), np.float32)

    def observation(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """The ``G + 2F`` summary of a raw observation.

        :param obs: raw observation, ``{"samples": (N, F), "progress": (G,)}``.
        """
        x = squash(v0_columns(obs))
        return np.concatenate([obs["progress"], x.mean(axis=0), x.std(axis=0)]).astype(np.float32)

    def scores(self, action: np.ndarray, obs: dict[str, np.ndarray]) -> np.ndarray:
        """``(N,)`` scores: standardised squashed features times the weights.

        :param action: ``(F,)`` weights.
        :param obs: raw observation.
        """
        w = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), -1.0, 1.0)
        return standardize(squash(v0_columns(obs)).astype(np.float64)) @ w

    def action_to_mask(self, action: np.ndarray, obs: dict[str, np.ndarray],
                       rng: np.random.Generator, keep: float | None = None) -> np.ndarray:
        """The ``(N,)`` int8 mask keeping the ``round(keep * N)`` highest scores.

        :param action: ``(F,)`` weights.
        :param obs: the raw observation the action answers.
        :param rng: tie-breaking generator.
        :param keep: overrides the transform's kept fraction.
        :raises ValueError: when neither the transform nor the call has a kept fraction.
        """
        keep = self.keep if keep is None else keep
        if keep is None:
            raise ValueError("LinearScore keeps the top round(keep*N) scores: give it keep=..., or wrap a task "
                             "env (DataSelect/Tasks-v0) that sets the keep fraction of each episode")
        k = keep_count(keep, len(obs["samples"]))
        return top_k_mask(self.scores(action, obs), k, rng)


Transform = LossBinsTransform | LinearScoreTransform | RuleSpaceTransform


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
    observation (its first entries are always the env's progress vector).

    :param env: a ``DataSelectEnv`` (or a wrapper of one) with the raw Dict observation.
    :param transform: the mapping between the raw and the small spaces.
    """

    def __init__(self, env: gym.Env, transform: Transform):
        if not (isinstance(env.observation_space, spaces.Dict) and "samples" in env.observation_space.spaces):
            raise TypeError(f"{type(self).__name__} wraps the raw data-selection env (Dict observation with "
                            f"'samples' and 'progress'); got observation space {env.observation_space}")
        if "valid" in env.observation_space.spaces:
            raise TypeError(f"{type(self).__name__} summarises all N rows: wrap the task env with pad=False")
        super().__init__(env)
        self.follows_task = bool(getattr(env.unwrapped, "draws_keep", False))  # the env sets keep per episode
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
        self._obs = obs
        return self.transform.observation(obs), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Map the action to a mask (``info["keep_fraction"]`` reports the kept share), step the env.

        :param action: action in ``self.action_space``.
        """
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        keep = self.env.unwrapped.task_keep if self.follows_task else None
        mask = self.transform.action_to_mask(action, self._obs, self._rng, keep=keep)
        if isinstance(self.env.action_space, spaces.Box):  # weights mode: weight 1 on the kept samples
            mask = mask.astype(np.float32)
        obs, reward, terminated, truncated, info = self.env.step(mask)
        self._obs = obs
        return self.transform.observation(obs), reward, terminated, truncated, info


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
        if keep is None and not getattr(env.unwrapped, "draws_keep", False):
            raise ValueError("LinearScore keeps the top round(keep*N) scores: give keep, e.g. LinearScore(env, 0.3)")
        gym.utils.RecordConstructorArgs.__init__(self, keep=keep)
        SelectionWrapper.__init__(self, env, LinearScoreTransform(keep))


class RuleSpace(SelectionWrapper, gym.utils.RecordConstructorArgs):
    """Action = a rule-space point (:mod:`dataselect_env.rule_space`); observation = progress and
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


def make_transform(interface: str, keep: float | None = None, bins: int = 8) -> Transform:
    """The transform of a named interface (``"bins"``, ``"linear"`` or ``"rules"``), as saved with a policy.

    :param interface: ``"bins"``, ``"linear"`` or ``"rules"``.
    :param keep: kept fraction (required for ``"linear"``).
    :param bins: number of bins of ``"bins"``.
    """
    if interface == "bins":
        return LossBinsTransform(bins=bins, keep=keep)
    if interface == "rules":
        return RuleSpaceTransform(keep=keep)
    if interface == "linear":
        if keep is None:
            raise ValueError("the 'linear' interface needs a keep fraction (e.g. --keep 0.3)")
        return LinearScoreTransform(keep=keep)
    raise ValueError(f"interface must be 'bins', 'linear' or 'rules' for a wrapper, got {interface!r}")

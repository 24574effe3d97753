"""The transforms of the N-independent interfaces: a raw observation to a small vector, a small action to a mask.

A transform (:class:`LossBinsTransform`, :class:`LinearScoreTransform`, and
:class:`agents.rule_space.RuleSpaceTransform`) is a frozen dataclass of pure functions on the raw
observation, with no env attached: ``observation(obs)`` (a fixed-size summary),
``action_to_mask(action, obs, rng, keep=None)`` (the ``(N,)`` mask of a fixed-size action) and
their spaces. :mod:`agents.wrappers` applies one around an env for training; a saved policy
(``agents.sb3_agent.SB3Agent``) applies the same one to each raw observation at evaluation time
(:func:`make_transform` rebuilds it from the saved interface). The parametrised selection follows
Neural Data Filter (Fan et al. 2017), whose policy scores each sample from a few features, and
DVRL (Yoon et al. 2020), whose estimator maps per-sample features to a selection probability;
here the score is a fixed, small function of the features so that the policy itself stays tiny.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from dataselect_env import stats as st
from dataselect_env.selection import check_keep, keep_count, top_k_mask

from .features import UNBOUNDED, squash, standardize
from .rule_space import RuleSpaceTransform

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

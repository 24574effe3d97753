"""The leaderboard's statistics: per-scenario means with bootstrap CIs, the aggregate mean, IQM and
probability of improvement with stratified-bootstrap CIs (Agarwal et al. 2021), and the effective
speed-up's median; :mod:`.leaderboard` formats them.

Why not call ``rliable`` directly: its score matrices have shape ``(runs, tasks)``, i.e. the
same number of runs in every task, and ``rliable.library``'s bootstrap draws from numpy's global
random state (and, with pandas >= 3, fails to import through ``arch``). The estimators are
therefore written here in a few lines of numpy, with the same definitions; they coincide with
``rliable.metrics.aggregate_mean`` / ``aggregate_iqm`` / ``probability_of_improvement`` when
every scenario has the same seed count (IQM: when, in addition, the total run count is a
multiple of 4; otherwise this IQM trims fractionally instead of whole runs). All bootstrap draws
come from generators seeded by ``(seed, agent[, scenario])``, so results are deterministic given
``seed`` and do not change when other agents are added.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

#: ``scores[agent][scenario] -> per-seed values``.
Scores = Mapping[str, Mapping[str, ArrayLike]]

_NAN_CI = (math.nan, math.nan)


@dataclass(frozen=True)
class ScenarioStats:
    """One agent in one scenario.

    :param scenario: scenario name.
    :param agent: agent name.
    :param n: number of seeds.
    :param mean: mean over seeds.
    :param ci: 95% percentile-bootstrap CI of the mean; ``(nan, nan)`` when ``n == 1``.
    """

    scenario: str
    agent: str
    n: int
    mean: float
    ci: tuple[float, float]


@dataclass(frozen=True)
class AggregateStats:
    """One agent across its scenarios.

    :param agent: agent name.
    :param n_scenarios: scenarios the agent has.
    :param n_runs: runs (seeds) summed over those scenarios.
    :param mean: mean over scenarios of the per-scenario mean.
    :param mean_ci: stratified-bootstrap 95% CI of ``mean``.
    :param iqm: interquartile mean over all runs, each scenario weighted equally.
    :param iqm_ci: stratified-bootstrap 95% CI of ``iqm``.
    :param poi: probability of improvement over the baseline, averaged over shared scenarios;
        nan for the baseline itself or without shared scenarios.
    :param poi_ci: stratified-bootstrap 95% CI of ``poi`` (nan likewise).
    :param poi_scenarios: number of scenarios ``poi`` averages over.
    :param baseline: the agent ``poi`` is measured against ("" when none).
    """

    agent: str
    n_scenarios: int
    n_runs: int
    mean: float
    mean_ci: tuple[float, float]
    iqm: float
    iqm_ci: tuple[float, float]
    poi: float
    poi_ci: tuple[float, float]
    poi_scenarios: int
    baseline: str = ""


def _clean(scores: Scores) -> dict[str, dict[str, np.ndarray]]:
    """Scores as float arrays, dropping empty entries and agents; rejects non-finite values."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for agent, per in scores.items():
        for scen, vals in per.items():
            arr = np.asarray(vals, dtype=float).ravel()
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"non-finite score for {agent!r} in {scen!r}: filter rows "
                                 "outside the frontier before building the leaderboard")
            if arr.size:
                out.setdefault(str(agent), {})[str(scen)] = arr
    return out


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """Generator seeded by ``seed`` and names, independent of dict order and other agents."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def _resample(x: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``(reps, len(x))`` bootstrap resamples of ``x`` (with replacement)."""
    return x[rng.integers(0, x.size, size=(reps, x.size))]


def _ci(samples: np.ndarray) -> tuple[float, float]:
    """Percentile 95% interval of bootstrap ``samples``."""
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return float(lo), float(hi)


def weighted_iqm(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Interquartile mean with per-value weights: mean of the middle 50% of the weight mass.

    Values straddling a quartile count with the fraction of their weight inside. With equal
    weights and a length divisible by 4 this is ``scipy.stats.trim_mean(values, 0.25)``.

    :param values: ``(..., T)`` array; the IQM is taken along the last axis.
    :param weights: ``(T,)`` non-negative weights (normalised here).
    :return: array of shape ``values.shape[:-1]``.
    """
    order = np.argsort(values, axis=-1)
    v = np.take_along_axis(values, order, axis=-1)
    w = (weights / weights.sum())[order]
    hi = np.cumsum(w, axis=-1)
    inside = np.clip(np.minimum(hi, 0.75) - np.maximum(hi - w, 0.25), 0.0, None)
    return (inside * v).sum(axis=-1) / 0.5


def _mean_iqm(per: dict[str, np.ndarray], scen: list[str], reps: int,
              rng: np.random.Generator) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Point mean and IQM over ``scen`` plus their stratified bootstrap samples."""
    weights = np.concatenate([np.full(per[s].size, 1.0 / per[s].size) for s in scen])
    boot = [_resample(per[s], reps, rng) for s in scen]
    mean = float(np.mean([per[s].mean() for s in scen]))
    iqm = float(weighted_iqm(np.concatenate([per[s] for s in scen]), weights))
    boot_mean = np.mean([b.mean(axis=1) for b in boot], axis=0)
    boot_iqm = weighted_iqm(np.concatenate(boot, axis=1), weights)
    return mean, iqm, boot_mean, boot_iqm


def prob_improvement(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """P(X > Y) + 0.5 P(X = Y) over all pairs (Mann-Whitney U / (n_x n_y)), along the last axis.

    :param x: ``(..., n_x)`` scores of agent X.
    :param y: ``(..., n_y)`` scores of agent Y (same leading shape).
    :return: array of shape ``x.shape[:-1]``.
    """
    xa, ya = np.asarray(x, dtype=float)[..., :, None], np.asarray(y, dtype=float)[..., None, :]
    return np.mean((xa > ya) + 0.5 * (xa == ya), axis=(-2, -1))


def _poi(x: dict[str, np.ndarray], y: dict[str, np.ndarray], reps: int,
         rng: np.random.Generator) -> tuple[float, tuple[float, float], int]:
    """Average probability of improvement over shared scenarios, CI and scenario count."""
    shared = sorted(set(x) & set(y))
    if not shared:
        return math.nan, _NAN_CI, 0
    point = float(np.mean([prob_improvement(x[s], y[s]) for s in shared]))
    boot = np.mean([prob_improvement(_resample(x[s], reps, rng), _resample(y[s], reps, rng))
                    for s in shared], axis=0)
    return point, _ci(boot), len(shared)


def iqm_difference(x: Mapping[str, ArrayLike], y: Mapping[str, ArrayLike], reps: int = 2000, seed: int = 0,
                   names: tuple[str, str] = ("x", "y")) -> tuple[float, tuple[float, float], int, float]:
    """IQM of X minus IQM of Y over the scenarios both have, with a stratified-bootstrap 95% CI.

    Each replicate resamples X's runs and Y's runs independently within every shared scenario (the
    IQM of each as :func:`aggregate_table` takes it) and differences the two IQMs, so the interval
    is that of the difference itself, not two intervals compared by eye.

    :param x: ``x[scenario] -> per-run values`` of agent X.
    :param y: the same for agent Y.
    :param reps: bootstrap resamples.
    :param seed: seed of the bootstrap, with ``names`` (deterministic given them).
    :param names: the two agents' names, which seed the bootstrap's generator.
    :return: ``(difference, (low, high), number of shared scenarios, Y's IQM on them)``; nan without a
        shared scenario.
    """
    cx, cy = _clean({"x": x}).get("x", {}), _clean({"y": y}).get("y", {})
    shared = sorted(set(cx) & set(cy))
    if not shared:
        return math.nan, _NAN_CI, 0, math.nan
    rng = _rng(seed, *names, "iqm_difference")
    _, iqm_x, _, boot_x = _mean_iqm(cx, shared, reps, rng)
    _, iqm_y, _, boot_y = _mean_iqm(cy, shared, reps, rng)
    return iqm_x - iqm_y, _ci(boot_x - boot_y), len(shared), iqm_y


def scenario_table(scores: Scores, reps: int = 2000, seed: int = 0) -> list[ScenarioStats]:
    """Per scenario and agent: seed count, mean and 95% percentile-bootstrap CI of the mean.

    :param scores: ``scores[agent][scenario] -> per-seed values``.
    :param reps: bootstrap resamples.
    :param seed: seed of the bootstrap (deterministic given it).
    :return: rows sorted by scenario, then by mean descending; CI ``(nan, nan)`` when n == 1.
    """
    rows = []
    for agent, per in _clean(scores).items():
        for scen, x in per.items():
            ci = _NAN_CI if x.size == 1 else _ci(_resample(x, reps, _rng(seed, agent, scen)).mean(1))
            rows.append(ScenarioStats(scen, agent, int(x.size), float(x.mean()), ci))
    return sorted(rows, key=lambda r: (r.scenario, -r.mean, r.agent))


def aggregate_table(scores: Scores, baseline: str | Mapping[str, str] = "random", reps: int = 2000,
                    seed: int = 0) -> list[AggregateStats]:
    """Per agent across its scenarios: mean, IQM and P(improvement over ``baseline``), with CIs.

    CIs are percentile 95% intervals of a stratified bootstrap: in each replicate the seeds of
    every scenario are resampled with replacement within that scenario (scenario set fixed), as
    in ``rliable``. The mean is the mean of per-scenario means; the IQM pools all runs with each
    scenario weighted equally (weight ``1 / n_seeds`` per run), so unequal seed counts do not
    tilt it. Agents with different scenario sets are aggregated over different scenarios (see
    ``n_scenarios``). The probability of improvement is ``P(X > Y) + 0.5 P(X = Y)`` per shared
    scenario, averaged over the scenarios both the agent and the baseline have, with X's and
    Y's seeds resampled independently.

    :param scores: ``scores[agent][scenario] -> per-seed values``.
    :param baseline: agent the probability of improvement is measured against, or a mapping
        ``agent -> its baseline``; where the baseline is absent (or the agent itself, or not in
        the mapping), the ``poi`` fields are nan.
    :param reps: bootstrap resamples.
    :param seed: seed of the bootstrap (deterministic given it).
    :return: rows sorted by IQM descending.
    """
    clean = _clean(scores)
    rows = []
    for agent, per in clean.items():
        scen = sorted(per)
        mean, iqm, boot_mean, boot_iqm = _mean_iqm(per, scen, reps, _rng(seed, agent))
        base = baseline if isinstance(baseline, str) else baseline.get(agent, "")
        if agent == base or base not in clean:
            poi, poi_ci, k, base = math.nan, _NAN_CI, 0, ""
        else:
            poi, poi_ci, k = _poi(per, clean[base], reps, _rng(seed, agent, "poi", base))
        rows.append(AggregateStats(agent, len(scen), sum(per[s].size for s in scen), mean,
                                   _ci(boot_mean), iqm, _ci(boot_iqm), poi, poi_ci, k, base))
    return sorted(rows, key=lambda r: (-r.iqm, r.agent))


def speedup_stats(values: ArrayLike) -> tuple[float, int, int]:
    """Median over seeds of effective speed-ups and the seeds above / below the frontier.

    :param values: per-seed speed-ups; ``inf`` for a seed above the frontier's best accuracy,
        ``-inf`` for one below its cheapest point (ordinal: the median stays defined), nan for
        none (dropped).
    :return: ``(median, n_above, n_below)``; median nan when no value is left; when a middle
        seed of an even count is infinite, the lower middle value.
    """
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if not x.size:
        return math.nan, 0, 0
    x = np.sort(x)
    low, high = x[(x.size - 1) // 2], x[x.size // 2]
    median = (low + high) / 2 if np.isfinite(low) and np.isfinite(high) else low  # ±inf: the lower middle
    return float(median), int(np.sum(x == np.inf)), int(np.sum(x == -np.inf))

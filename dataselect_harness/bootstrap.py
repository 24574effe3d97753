"""The leaderboard's statistics: per-scenario means, the aggregate mean, IQM and probability of
improvement (Agarwal et al. 2021), the IQM difference of two entries, and the effective speed-up's
median; :mod:`.leaderboard` formats them.

Intervals. With 3 seeds a percentile bootstrap's 95% interval of a mean is the seeds' [min, max]
(a resample repeating one seed has probability 1/27 > 2.5%) and covers the true mean about 75% of
the time; rliable's stratified percentile bootstrap of the IQM undercovers too at the suite's shape
(4 scenarios x 3-5 seeds). The default intervals (``method="t"``) are therefore Student-t
intervals with a standard error and Welch-Satterthwaite degrees of freedom:

* a scenario's mean: ``mean ± t(0.975, n-1) s / sqrt(n)`` (Student's t);
* the aggregate mean: the same with ``SE² = Σ_s s_s² / (n_s S²)`` and Welch-Satterthwaite df;
* the aggregate IQM and the IQM difference: ``point ± t(0.975, ν) SE`` with ``SE² = Σ_s v_s``,
  ``v_s`` = the bootstrap variance of the statistic when only scenario ``s``'s seeds are resampled
  (rliable's stratification: seeds resampled within a scenario, the scenario set fixed), times
  ``m_s / (m_s - 1)`` (the small-sample correction of a bootstrap variance, ``m_s`` units
  resampled), and ``ν = (Σ v_s)² / Σ (v_s² / (m_s - 1))`` (Welch-Satterthwaite). The IQM difference
  of X and Y resamples the seeds both ran *jointly* (every entry shares a seed's data, initial
  weights and split, so the per-seed results are paired).

Their coverage at the suite's shapes is measured by ``benchmarks/interval_coverage.py`` (results in
``benchmarks/results/interval_coverage/coverage.md``). ``method="percentile"`` gives the former
percentile intervals (rliable's, independent resampling for a difference), kept for that comparison.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

#: ``scores[agent][scenario] -> per-seed values``.
Scores = Mapping[str, Mapping[str, ArrayLike]]

_NAN_CI = (math.nan, math.nan)

#: Interval methods: ``"t"`` (Student-t / Welch-Satterthwaite, the default) and ``"percentile"``
#: (the percentile bootstrap, rliable's; kept to compare with).
METHODS = ("t", "percentile")


@dataclass(frozen=True)
class ScenarioStats:
    """One agent in one scenario.

    :param scenario: scenario name.
    :param agent: agent name.
    :param n: number of seeds.
    :param mean: mean over seeds.
    :param ci: 95% CI of the mean (Student-t by default); ``(nan, nan)`` when ``n == 1``.
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
    :param mean_ci: 95% CI of ``mean`` (Welch-Satterthwaite t by default).
    :param iqm: interquartile mean over all runs, each scenario weighted equally.
    :param iqm_ci: 95% CI of ``iqm`` (stratified-bootstrap SE, Welch-Satterthwaite t by default).
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


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {METHODS}")


def t_interval(point: float, parts: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """95% interval ``point ± t(0.975, ν) sqrt(Σ v)`` from independent variance components.

    ``ν = (Σ v)² / Σ (v² / df)`` (Welch-Satterthwaite); with one component this is Student's t.

    :param point: the estimate.
    :param parts: ``(variance, degrees of freedom)`` of each independent part of the estimate.
    :return: ``(low, high)``; nan when there is no part or one has no degree of freedom (a single seed:
        its spread is unknown); ``(point, point)`` when every variance is 0.
    """
    if not parts or any(df < 1 for _, df in parts):
        return _NAN_CI
    var = float(sum(v for v, _ in parts))
    if var <= 0:
        return point, point
    nu = var ** 2 / sum(v ** 2 / df for v, df in parts if v > 0)
    half = float(stats.t.ppf(0.975, nu)) * math.sqrt(var)
    return point - half, point + half


def mean_t_interval(values: ArrayLike) -> tuple[float, float]:
    """Student-t 95% interval of a mean over seeds, ``mean ± t(0.975, n-1) s / sqrt(n)``
    (:func:`t_interval` with one part); nan for fewer than two values."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return _NAN_CI
    return t_interval(float(x.mean()), [(float(x.var(ddof=1)) / x.size, x.size - 1)])


def weighted_iqm(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Interquartile mean with per-value weights: mean of the middle 50% of the weight mass.

    Values straddling a quartile count with the fraction of their weight inside. With equal
    weights and a length divisible by 4 this is ``scipy.stats.trim_mean(values, 0.25)``; with
    integer weights it is the IQM of the values repeated that many times (a bootstrap resample).

    :param values: ``(..., T)`` array; the IQM is taken along the last axis.
    :param weights: ``(T,)`` or ``values.shape`` non-negative weights (normalised along the last axis).
    :return: array of shape ``values.shape[:-1]``.
    """
    order = np.argsort(values, axis=-1)
    v = np.take_along_axis(values, order, axis=-1)
    w = np.broadcast_to(weights / weights.sum(axis=-1, keepdims=True), values.shape)
    w = np.take_along_axis(w, order, axis=-1)
    hi = np.cumsum(w, axis=-1)
    inside = np.clip(np.minimum(hi, 0.75) - np.maximum(hi - w, 0.25), 0.0, None)
    return (inside * v).sum(axis=-1) / 0.5


def _mean_iqm(per: dict[str, np.ndarray], scen: list[str], reps: int,
              rng: np.random.Generator) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Point mean and IQM over ``scen`` plus their stratified bootstrap samples (``method="percentile"``)."""
    weights = np.concatenate([np.full(per[s].size, 1.0 / per[s].size) for s in scen])
    boot = [_resample(per[s], reps, rng) for s in scen]
    mean = float(np.mean([per[s].mean() for s in scen]))
    iqm = float(weighted_iqm(np.concatenate([per[s] for s in scen]), weights))
    boot_mean = np.mean([b.mean(axis=1) for b in boot], axis=0)
    boot_iqm = weighted_iqm(np.concatenate(boot, axis=1), weights)
    return mean, iqm, boot_mean, boot_iqm


def _counts(m: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``(reps, m)``: how often each of ``m`` units is drawn in each of ``reps`` bootstrap resamples."""
    return rng.multinomial(m, np.full(m, 1.0 / m), size=reps)


def _iqm_with(per: dict[str, np.ndarray], scen: list[str],
              draws: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> np.ndarray:
    """IQM over ``scen``, each scenario weighted equally; the scenarios in ``draws`` resampled.

    ``draws[s] = (unit of each run of s, (reps, m) counts of the units)``: a run's weight in the
    resample is its unit's count, its scenario's weights summing to 1 as in the data.
    """
    weights = []
    for s in scen:
        if draws and s in draws:
            unit, counts = draws[s]
            w = counts[:, unit].astype(float)
            weights.append(w / w.sum(axis=-1, keepdims=True))
        else:
            weights.append(np.full(per[s].size, 1.0 / per[s].size))
    lead = np.broadcast_shapes(*(w.shape[:-1] for w in weights))
    values = np.concatenate([np.broadcast_to(per[s], lead + per[s].shape) for s in scen], axis=-1)
    return weighted_iqm(values, np.concatenate([np.broadcast_to(w, lead + w.shape[-1:]) for w in weights], axis=-1))


def _part(boot: np.ndarray, m: int) -> tuple[float, float]:
    """Variance component of one stratum of ``m`` units resampled: the bootstrap variance x m / (m - 1)."""
    return float(boot.var(ddof=1)) * m / (m - 1), m - 1


def _iqm_t(per: dict[str, np.ndarray], scen: list[str], reps: int,
           rng: np.random.Generator) -> tuple[float, tuple[float, float]]:
    """IQM over ``scen`` and its 95% interval: one stratum per scenario (see the module docstring)."""
    iqm = float(_iqm_with(per, scen))
    if any(per[s].size < 2 for s in scen):
        return iqm, _NAN_CI
    parts = [_part(_iqm_with(per, scen, {s: (np.arange(per[s].size), _counts(per[s].size, reps, rng))}),
                   per[s].size) for s in scen]
    return iqm, t_interval(iqm, parts)


def _mean_t(per: dict[str, np.ndarray], scen: list[str]) -> tuple[float, tuple[float, float]]:
    """Mean of per-scenario means and its Welch-Satterthwaite 95% interval."""
    mean = float(np.mean([per[s].mean() for s in scen]))
    if any(per[s].size < 2 for s in scen):
        return mean, _NAN_CI
    k = len(scen)
    return mean, t_interval(mean, [(per[s].var(ddof=1) / per[s].size / k ** 2, per[s].size - 1) for s in scen])


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


def _pairing(nx: int, ny: int, x_seeds: Sequence[object] | None,
             y_seeds: Sequence[object] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Seed (unit) index of each run of X and of Y when both ran the same seeds, else None.

    Without seed labels, runs pair by position when both have as many (lists in seed order).
    """
    if x_seeds is None or y_seeds is None:
        return (np.arange(nx), np.arange(nx)) if nx == ny else None
    if len(x_seeds) != nx or len(y_seeds) != ny:
        raise ValueError(f"seed labels ({len(x_seeds)}, {len(y_seeds)}) do not match the runs ({nx}, {ny}): "
                         "pass one seed per value, in the values' order")
    labels = sorted(set(x_seeds))
    if labels != sorted(set(y_seeds)):
        return None
    index = {seed: i for i, seed in enumerate(labels)}
    return np.array([index[v] for v in x_seeds]), np.array([index[v] for v in y_seeds])


def iqm_difference(x: Mapping[str, ArrayLike], y: Mapping[str, ArrayLike], reps: int = 2000, seed: int = 0,
                   names: tuple[str, str] = ("x", "y"), *, x_seeds: Mapping[str, Sequence[object]] | None = None,
                   y_seeds: Mapping[str, Sequence[object]] | None = None,
                   method: str = "t") -> tuple[float, tuple[float, float], int, float]:
    """IQM of X minus IQM of Y over the scenarios both have, with a 95% CI of the difference itself.

    ``method="t"`` (default): ``difference ± t(0.975, ν) SE`` with the stratified, *paired* bootstrap of
    the module docstring: in a scenario where X and Y ran the same seeds, a resample draws seeds and
    takes X's and Y's runs of each drawn seed together (every entry shares a seed's data, initial
    weights and split, so the seed effect cancels in the difference); a pooled entry's runs of one
    evaluation seed move together. Where the seed sets differ, X's and Y's runs are resampled apart.
    ``method="percentile"``: the former interval, X and Y resampled independently, percentile CI.

    :param x: ``x[scenario] -> per-run values`` of agent X.
    :param y: the same for agent Y.
    :param reps: bootstrap resamples (per scenario).
    :param seed: seed of the bootstrap, with ``names`` (deterministic given them).
    :param names: the two agents' names, which seed the bootstrap's generator.
    :param x_seeds: ``x_seeds[scenario]``: the seed of each of X's values there. Without it (or ``y_seeds``),
        X's and Y's values pair by position where both have as many.
    :param y_seeds: the same for Y.
    :param method: ``"t"`` or ``"percentile"`` (:data:`METHODS`).
    :return: ``(difference, (low, high), number of shared scenarios, Y's IQM on them)``; nan without a
        shared scenario; CI nan when a scenario has a single seed (its spread is unknown).
    """
    _check_method(method)
    cx, cy = _clean({"x": x}).get("x", {}), _clean({"y": y}).get("y", {})
    shared = sorted(set(cx) & set(cy))
    if not shared:
        return math.nan, _NAN_CI, 0, math.nan
    rng = _rng(seed, *names, "iqm_difference")
    if method == "percentile":
        _, iqm_x, _, boot_x = _mean_iqm(cx, shared, reps, rng)
        _, iqm_y, _, boot_y = _mean_iqm(cy, shared, reps, rng)
        return iqm_x - iqm_y, _ci(boot_x - boot_y), len(shared), iqm_y
    iqm_x, iqm_y = float(_iqm_with(cx, shared)), float(_iqm_with(cy, shared))
    diff, parts = iqm_x - iqm_y, []
    for s in shared:
        pair = _pairing(cx[s].size, cy[s].size, None if x_seeds is None else x_seeds.get(s),
                        None if y_seeds is None else y_seeds.get(s))
        if pair is not None:
            m = int(pair[0].max()) + 1
            c = _counts(m, reps, rng)
            strata = [(m, _iqm_with(cx, shared, {s: (pair[0], c)}) - _iqm_with(cy, shared, {s: (pair[1], c)}))]
        else:
            strata = [(cx[s].size, _iqm_with(cx, shared, {s: (np.arange(cx[s].size), _counts(cx[s].size, reps, rng))})),
                      (cy[s].size, _iqm_with(cy, shared, {s: (np.arange(cy[s].size), _counts(cy[s].size, reps, rng))}))]
        if any(m < 2 for m, _ in strata):
            return diff, _NAN_CI, len(shared), iqm_y
        parts += [_part(boot, m) for m, boot in strata]
    return diff, t_interval(diff, parts), len(shared), iqm_y


def scenario_table(scores: Scores, reps: int = 2000, seed: int = 0, method: str = "t") -> list[ScenarioStats]:
    """Per scenario and agent: seed count, mean and 95% CI of the mean.

    :param scores: ``scores[agent][scenario] -> per-seed values``.
    :param reps: bootstrap resamples (``method="percentile"`` only).
    :param seed: seed of the bootstrap (deterministic given it; ``method="percentile"`` only).
    :param method: ``"t"``: Student-t, ``mean ± t(0.975, n-1) s / sqrt(n)``; ``"percentile"``: the
        percentile bootstrap (at n = 3 the seeds' [min, max]: it covers the mean ~75% of the time).
    :return: rows sorted by scenario, then by mean descending; CI ``(nan, nan)`` when n == 1.
    """
    _check_method(method)
    rows = []
    for agent, per in _clean(scores).items():
        for scen, x in per.items():
            if x.size == 1 or method == "t":
                ci = mean_t_interval(x)
            else:
                ci = _ci(_resample(x, reps, _rng(seed, agent, scen)).mean(1))
            rows.append(ScenarioStats(scen, agent, int(x.size), float(x.mean()), ci))
    return sorted(rows, key=lambda r: (r.scenario, -r.mean, r.agent))


def aggregate_table(scores: Scores, baseline: str | Mapping[str, str] = "random", reps: int = 2000,
                    seed: int = 0, method: str = "t") -> list[AggregateStats]:
    """Per agent across its scenarios: mean, IQM and P(improvement over ``baseline``), with CIs.

    The mean is the mean of per-scenario means; the IQM pools all runs with each scenario weighted
    equally (weight ``1 / n_seeds`` per run), so unequal seed counts do not tilt it. Agents with
    different scenario sets are aggregated over different scenarios (see ``n_scenarios``). The
    probability of improvement is ``P(X > Y) + 0.5 P(X = Y)`` per shared scenario, averaged over the
    scenarios both the agent and the baseline have, with X's and Y's seeds resampled independently.

    CIs (``method="t"``, see the module docstring): the mean's is Welch-Satterthwaite's t interval;
    the IQM's is ``IQM ± t(0.975, ν) SE``, SE from a stratified bootstrap (seeds resampled within
    one scenario at a time, the scenario set fixed); nan when a scenario has a single seed.
    ``method="percentile"``: rliable's percentile intervals of one stratified bootstrap. The
    probability of improvement's CI is a percentile stratified bootstrap either way.

    :param scores: ``scores[agent][scenario] -> per-seed values``.
    :param baseline: agent the probability of improvement is measured against, or a mapping
        ``agent -> its baseline``; where the baseline is absent (or the agent itself, or not in
        the mapping), the ``poi`` fields are nan.
    :param reps: bootstrap resamples.
    :param seed: seed of the bootstrap (deterministic given it).
    :param method: ``"t"`` or ``"percentile"`` (:data:`METHODS`).
    :return: rows sorted by IQM descending.
    """
    _check_method(method)
    clean = _clean(scores)
    rows = []
    for agent, per in clean.items():
        scen = sorted(per)
        if method == "percentile":
            mean, iqm, boot_mean, boot_iqm = _mean_iqm(per, scen, reps, _rng(seed, agent))
            mean_ci, iqm_ci = _ci(boot_mean), _ci(boot_iqm)
        else:
            (mean, mean_ci), (iqm, iqm_ci) = _mean_t(per, scen), _iqm_t(per, scen, reps, _rng(seed, agent))
        base = baseline if isinstance(baseline, str) else baseline.get(agent, "")
        if agent == base or base not in clean:
            poi, poi_ci, k, base = math.nan, _NAN_CI, 0, ""
        else:
            poi, poi_ci, k = _poi(per, clean[base], reps, _rng(seed, agent, "poi", base))
        rows.append(AggregateStats(agent, len(scen), sum(per[s].size for s in scen), mean,
                                   mean_ci, iqm, iqm_ci, poi, poi_ci, k, base))
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

"""The full-data compute frontier: what training on all the data reaches at each compute budget.

For each setting and seed the bench trains ``full`` (all data) at a grid of schedule lengths
``E' = round(f * E)``, each a complete run with its learning-rate schedule compressed to ``E'``
epochs. The points ``(compute_i, accuracy_i)`` of those runs form the frontier; a data-selection
run at measured ``(compute, accuracy)`` is compared against it in two ways:

* **accuracy at equal compute** (:func:`accuracy_at`, :func:`delta_vs_frontier`): linear
  interpolation of the frontier at the run's compute;
* **compute at equal accuracy** (:func:`compute_for`, :func:`effective_speedup`): the compute
  full-data training needs to reach the run's accuracy, read off the monotone upper envelope
  of the frontier (the "saving at equal accuracy" of InfoBatch / Raju et al., measured against
  a curve instead of a single full-length run).

Every function returns ``None`` rather than extrapolating outside the measured grid. Units are
whatever the caller passes (compute in full-epoch units, accuracy in percent in the harness).
Pure numpy: no torch, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

#: Relative tolerance under which two computes (or two accuracies) count as equal.
REL_TOL = 1e-9


def _close(a: float, b: float) -> bool:
    """Whether ``a`` and ``b`` are equal within :data:`REL_TOL` (relative, floor 1 absolute)."""
    return abs(a - b) <= REL_TOL * max(1.0, abs(a), abs(b))


@dataclass(frozen=True)
class Frontier:
    """Full-data frontier: strictly increasing computes with the accuracy reached at each.

    Build it with :meth:`from_points` or :meth:`from_pairs`, which sort by compute and average
    the accuracies of points with the same compute (e.g. several seeds pooled, or two grid
    fractions rounding to the same ``E'``).

    :param compute: 1-D float array, strictly increasing, finite and >= 0.
    :param accuracy: 1-D float array of the same length, finite.
    """

    compute: np.ndarray
    accuracy: np.ndarray

    def __post_init__(self) -> None:
        c = np.asarray(self.compute, dtype=float)
        a = np.asarray(self.accuracy, dtype=float)
        if c.ndim != 1 or c.shape != a.shape or c.size == 0:
            raise ValueError("compute and accuracy must be non-empty 1-D arrays of equal length")
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(a))) or np.any(c < 0):
            raise ValueError("frontier points must be finite, with compute >= 0")
        if np.any(np.diff(c) <= 0):
            raise ValueError("compute must be strictly increasing; use Frontier.from_points")
        c.flags.writeable = False
        a.flags.writeable = False
        object.__setattr__(self, "compute", c)
        object.__setattr__(self, "accuracy", a)

    @classmethod
    def from_points(cls, compute: Sequence[float], accuracy: Sequence[float]) -> Frontier:
        """Frontier from parallel sequences, sorted by compute, duplicate computes averaged.

        :param compute: compute of each full-data run (any order).
        :param accuracy: accuracy of each run, same length.
        :return: the frontier; computes equal within :data:`REL_TOL` are merged into one point
            (their mean compute, mean accuracy).
        """
        c = np.asarray(compute, dtype=float).ravel()
        a = np.asarray(accuracy, dtype=float).ravel()
        if c.shape != a.shape:
            raise ValueError(f"{c.size} computes but {a.size} accuracies")
        order = np.argsort(c, kind="stable")
        c, a = c[order], a[order]
        groups: list[list[int]] = []
        for i in range(c.size):
            if groups and _close(c[groups[-1][0]], c[i]):
                groups[-1].append(i)
            else:
                groups.append([i])
        return cls(np.array([c[g].mean() for g in groups]), np.array([a[g].mean() for g in groups]))

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[float, float]]) -> Frontier:
        """Frontier from ``(compute, accuracy)`` pairs; see :meth:`from_points`.

        :param pairs: iterable of ``(compute, accuracy)``.
        """
        pts = list(pairs)
        return cls.from_points([p[0] for p in pts], [p[1] for p in pts])

    def envelope(self) -> np.ndarray:
        """Running maximum of the accuracy: the best accuracy reachable with at most each compute.

        :return: 1-D array aligned with :attr:`compute`, non-decreasing.
        """
        return np.maximum.accumulate(self.accuracy)


def accuracy_at(frontier: Frontier, compute: float) -> float | None:
    """Full-data accuracy at ``compute``, linearly interpolated between neighbouring points.

    :param frontier: the full-data frontier.
    :param compute: the compute a run actually spent (same units as the frontier).
    :return: the accuracy of a frontier point when ``compute`` equals its compute (within
        :data:`REL_TOL` relative); the linear interpolation between the two neighbouring points
        otherwise; ``None`` when ``compute`` lies outside ``[min compute, max compute]`` of the
        grid (the caller reports "outside the frontier" instead of extrapolating).
    """
    c, a = frontier.compute, frontier.accuracy
    for ci, ai in zip(c, a):
        if _close(float(ci), compute):
            return float(ai)
    if compute < c[0] or compute > c[-1]:
        return None
    return float(np.interp(compute, c, a))


def compute_for(frontier: Frontier, accuracy: float) -> float | None:
    """Compute that full-data training needs to reach ``accuracy`` (inverse interpolation).

    The frontier's accuracy need not be monotone in compute (seed noise), so this reads the
    monotone upper envelope (:meth:`Frontier.envelope`) and returns the smallest compute at
    which its linear interpolation reaches ``accuracy``.

    :param frontier: the full-data frontier.
    :param accuracy: the accuracy a run reached (same units as the frontier).
    :return: that compute; ``None`` when ``accuracy`` is above the frontier's best accuracy
        (the run beats full-data training at every compute of the grid) or below the accuracy
        of its first (cheapest) point (the grid's smallest run already does better, so the
        needed compute lies below the grid).
    """
    c, env = frontier.compute, frontier.envelope()
    tol = REL_TOL * max(1.0, abs(accuracy))
    if accuracy < env[0] - tol or accuracy > env[-1] + tol:
        return None
    j = int(np.argmax(env >= accuracy - tol))  # first point whose envelope reaches it
    if env[j] <= accuracy + tol:  # reached exactly at a point (covers j == 0)
        return float(c[j])
    # env[j - 1] < accuracy < env[j]: the envelope segment is strictly rising.
    t = (accuracy - env[j - 1]) / (env[j] - env[j - 1])
    return float(c[j - 1] + t * (c[j] - c[j - 1]))


def delta_vs_frontier(frontier: Frontier, compute: float, accuracy: float) -> float | None:
    """Accuracy gained over full-data training at equal compute.

    :param frontier: the full-data frontier.
    :param compute: the compute the run spent.
    :param accuracy: the accuracy the run reached (same units as the frontier, e.g. percent,
        so the result is in percentage points).
    :return: ``accuracy - accuracy_at(frontier, compute)``; positive means better than
        full-data training at that compute; ``None`` when ``compute`` is outside the grid.
    """
    ref = accuracy_at(frontier, compute)
    return None if ref is None else float(accuracy - ref)


def effective_speedup(frontier: Frontier, compute: float, accuracy: float) -> float | None:
    """Compute saving at equal accuracy: ``compute_for(frontier, accuracy) / compute``.

    :param frontier: the full-data frontier.
    :param compute: the compute the run spent; must be > 0.
    :param accuracy: the accuracy the run reached.
    :return: how many times more compute full-data training needs to reach the same accuracy
        (> 1: the run is cheaper at equal accuracy; 1: on the frontier); ``None`` when
        :func:`compute_for` is ``None`` (accuracy above the frontier's best or below its first
        point).
    :raises ValueError: if ``compute`` is not positive.
    """
    if not compute > 0:
        raise ValueError(f"compute must be > 0, got {compute}")
    needed = compute_for(frontier, accuracy)
    return None if needed is None else float(needed / compute)

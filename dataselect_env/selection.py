"""Selection helpers shared by the env (a task's keep fraction) and the agents: one copy of each.

- :func:`check_keep`, :func:`check_fraction`: validate a keep fraction / a probability-like parameter;
- :func:`keep_count`, :func:`round_half_up`: how many samples a keep fraction keeps;
- :func:`top_k_mask`, :func:`random_mask`, :func:`sized_mask`: masks from scores, at random, or resized;
- :func:`class_quotas`, :func:`balanced_mask`: water-filling class quotas and the mask that fills
  them (class-balanced selection).

The feature transforms of the learned controllers (squashing, standardisation) are in
``agents/features.py``.
"""

from __future__ import annotations

import math

import numpy as np


def check_keep(keep: float, name: str = "keep", allow_none: bool = False) -> float | None:
    """Validate a keep fraction: a number in (0, 1] (or ``None`` with ``allow_none``).

    :param keep: the value to check.
    :param name: the argument's name, for the message.
    :param allow_none: accept ``None`` ("the policy chooses").
    :raises ValueError: naming the argument and the expected range.
    """
    if keep is None and allow_none:
        return None
    if isinstance(keep, bool) or not isinstance(keep, (int, float, np.floating, np.integer)) or not 0 < keep <= 1:
        raise ValueError(f"{name} must be a fraction of the samples in (0, 1]{' or None' if allow_none else ''}, "
                         f"got {keep!r}")
    return float(keep)


def check_fraction(name: str, value: float, high_open: bool = False) -> float:
    """Validate a probability-like parameter in [0, 1] (or [0, 1) with ``high_open``)."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) \
        and 0 <= value and (value < 1 if high_open else value <= 1)
    if not ok:
        raise ValueError(f"{name} must be in [0, {'1)' if high_open else '1]'}, got {value!r}")
    return float(value)


def round_half_up(x: float) -> int:
    """The project's one rounding rule: the nearest integer, halves up (Python's ``round`` sends 2.5
    to 2), with a 1e-9 slack so that a product such as ``0.3 * 5`` (1.4999999999999998) rounds as 1.5."""
    return int(math.floor(x + 0.5 + 1e-9))


def keep_count(keep: float, n: int) -> int:
    """Samples kept per epoch: ``round_half_up(keep * n)``, at least one (a keep fraction is > 0) and at most ``n``."""
    return int(min(n, max(1, round_half_up(keep * n))))


def top_k_mask(score: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """int8 mask of the ``k`` highest scores, ties broken uniformly at random.

    :param score: ``(N,)`` scores.
    :param k: samples kept, ``0 <= k <= N``.
    :param rng: generator of the tie-breaking permutation.
    """
    mask = np.zeros(len(score), dtype=np.int8)
    if k > 0:
        perm = rng.permutation(len(score))
        mask[perm[np.argpartition(-score[perm], k - 1)[:k]]] = 1
    return mask


def random_mask(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """int8 mask of ``k`` of ``n`` samples drawn uniformly without replacement."""
    mask = np.zeros(n, dtype=np.int8)
    mask[rng.choice(n, k, replace=False)] = 1
    return mask


def sized_mask(mask: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """int8 copy of the 0/1 ``mask`` with exactly ``k`` ones: surplus ones dropped, missing ones
    added, uniformly at random (a task env's ``enforce_keep``; a rule-space policy trained there).

    :param mask: ``(N,)`` 0/1 mask.
    :param k: ones wanted, ``0 <= k <= N``.
    :param rng: generator of the drops and additions.
    """
    mask = (np.asarray(mask) == 1).astype(np.int8)
    chosen = np.flatnonzero(mask)
    if len(chosen) > k:
        mask[rng.choice(chosen, len(chosen) - k, replace=False)] = 0
    elif len(chosen) < k:
        mask[rng.choice(np.flatnonzero(mask == 0), k - len(chosen), replace=False)] = 1
    return mask


def class_quotas(sizes: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Water-filling: per-class counts summing to ``k``, as equal as the class sizes allow.

    A class smaller than the equal share gives all its samples and the rest of the budget is
    shared by the larger classes, level by level. When the last level does not divide evenly,
    the ``r`` extra samples go to ``r`` of the unsaturated classes drawn uniformly at random.

    :param sizes: ``(C,)`` class sizes, each >= 1.
    :param k: the budget, ``0 <= k <= sizes.sum()``.
    :param rng: generator of the remainder's classes.
    :return: ``(C,)`` int64 quotas, ``0 <= quota <= size``, summing to ``k``.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if not 0 <= k <= sizes.sum():
        raise ValueError(f"k must be in [0, {sizes.sum()}] (the samples there are), got {k}")
    quotas, open_ = np.zeros(len(sizes), dtype=np.int64), np.ones(len(sizes), dtype=bool)
    budget = k
    while open_.any():
        level, extra = divmod(budget, int(open_.sum()))
        full = open_ & (sizes <= level)  # they fit under the level: all of each
        if not full.any():
            quotas[open_] = level
            quotas[rng.choice(np.flatnonzero(open_), extra, replace=False)] += 1
            break
        quotas[full] = sizes[full]
        budget -= int(sizes[full].sum())
        open_ &= ~full
    return quotas


def balanced_mask(groups: np.ndarray, k: int, rng: np.random.Generator, later: np.ndarray | None = None) -> np.ndarray:
    """int8 mask of ``k`` samples, :func:`class_quotas` of each group, uniform at random within a group.

    :param groups: ``(N,)`` group (class) of each sample.
    :param k: samples kept.
    :param rng: generator of the draw (fresh on every call).
    :param later: optional ``(N,)`` bool, True for samples taken within their group only after
        all the others (e.g. the corrupted ones).
    """
    _, group, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    quota = class_quotas(sizes, k, rng)
    keys = (rng.random(len(group)),) + (() if later is None else (np.asarray(later, dtype=bool),))
    order = np.lexsort((*keys, group))  # by group, then `later` last, then at random
    starts = np.cumsum(sizes) - sizes
    rank = np.arange(len(group)) - starts[group[order]]
    mask = np.zeros(len(group), dtype=np.int8)
    mask[order[rank < quota[group[order]]]] = 1
    return mask

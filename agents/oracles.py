"""Privileged oracles: selection that knows which training samples are corrupted.

No controller may read the env's ground truth (the env's documented ``corrupted``, ``clean_labels``);
these agents do, to bound what a selection rule could gain on a corrupted env (an upper
reference for the noisy-label and long-tail scenarios, not an entry of the leaderboard). Each
has the class attribute ``privileged = True`` (``agents.Agent.privileged`` is False).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dataselect_env.selection import balanced_mask, check_keep, keep_count

from .base import Agent


class Oracle(Agent):
    """Base of the oracles: reads ``corrupted`` and ``clean_labels`` from the env in ``reset(env)``
    (:meth:`~agents.base.Agent.env_attr`: also behind a ``SubprocVecEnv``).

    :param keep: fraction of the samples trained on each epoch, in (0, 1]; exactly ``round(keep * N)``.
    :param seed: kept for a uniform constructor (the generator comes from the env in the required ``reset(env)``).
    """

    privileged = True

    def __init__(self, keep: float = 0.5, seed: int = 0) -> None:
        super().__init__(seed)
        self.keep = check_keep(keep)
        self.corrupted: np.ndarray | None = None
        self.clean_labels: np.ndarray | None = None

    def reset(self, env: Any = None) -> None:
        """Start an episode and read the env's ground truth."""
        super().reset(env)
        if self.env is not None:
            self.corrupted = np.asarray(self.env_attr("corrupted"), dtype=bool)
            self.clean_labels = np.asarray(self.env_attr("clean_labels"))
            for name, value in (("corrupted", self.corrupted), ("clean_labels", self.clean_labels)):
                if value.shape != (self.n,):
                    raise ValueError(f"env.{name} has shape {value.shape}, expected ({self.n},)")

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """The oracle's mask of ``round(keep * N)`` samples."""
        if self.corrupted is None:
            raise RuntimeError(f"{type(self).__name__} reads env.corrupted and env.clean_labels: call "
                               f"agent.reset(env) after env.reset() before the episode")
        return self.select(keep_count(self.keep, self.n))

    def select(self, k: int) -> np.ndarray:
        """int8 mask of ``k`` samples."""
        raise NotImplementedError


class OracleClean(Oracle):
    """Clean samples first: a random ``k = round(keep * N)`` of the uncorrupted samples, every epoch.

    With fewer than ``k`` clean samples, all of them plus a random ``k - clean`` of the corrupted
    ones; with more, a uniform random ``k`` of them, drawn afresh every epoch. The ``random``
    baseline (Raju et al. 2021) with the noise removed by an oracle.
    """

    def select(self, k: int) -> np.ndarray:
        """Uniform random order, corrupted samples last; the first ``k``."""
        order = np.lexsort((self.rng.random(self.n), self.corrupted))
        mask = np.zeros(self.n, dtype=np.int8)
        mask[order[:k]] = 1
        return mask


class OracleBalanced(Oracle):
    """:class:`agents.rules.ClassBalanced` by the clean labels, clean samples first within each class.

    Water-filled equal quotas of ``k = round(keep * N)`` over the classes of ``clean_labels``
    (Kang et al. 2020's class-balanced sampling, without repeats); within a class, its clean
    samples in random order, then its corrupted ones in random order; fresh every epoch.
    """

    def select(self, k: int) -> np.ndarray:
        """Class quotas by clean label, corrupted samples last within a class."""
        return balanced_mask(self.clean_labels, k, self.rng, later=self.corrupted)

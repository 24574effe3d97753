"""Reference controllers: all the data, and uniform random dynamic pruning."""

from __future__ import annotations

import numpy as np

from dataselect_env.selection import check_keep, keep_count, random_mask

from .base import Agent


class Full(Agent):
    """Every sample, every epoch: the unpruned baseline.

    :param seed: unused (no randomness); kept for a uniform constructor.
    """

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """All ones."""
        return np.ones(len(samples), dtype=np.int8)


class Random(Agent):
    """Uniform random dynamic pruning: a fresh random ``keep`` fraction every epoch.

    Raju, Daruwalla & Lipasti (2021), "Accelerating Deep Learning with Dynamic Data Pruning":
    the surprisingly strong baseline of dynamic pruning.

    :param keep: fraction of the samples trained on each epoch, in (0, 1]; exactly
        ``round(keep * N)`` samples.
    :param seed: seed of the generator when ``reset(env)`` is not called.
    """

    def __init__(self, keep: float = 0.5, seed: int = 0) -> None:
        super().__init__(seed)
        self.keep = check_keep(keep)

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """``round(keep * N)`` samples drawn uniformly without replacement."""
        return random_mask(self.n, keep_count(self.keep, self.n), self.rng)

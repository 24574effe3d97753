"""Static pruning: score once after a few epochs on all data, then keep the same subset.

The scoring epochs run inside the same episode and their compute is charged, as the seed paper
(Raju et al. 2021) insists when comparing static with dynamic pruning. After ``score_epochs``
full-data epochs the agent scores every sample once and trains on the ``round(keep * N)``
highest-scoring ones (the hardest, as in the papers) for the rest of the episode.
"""

from __future__ import annotations

import numpy as np

from dataselect_env.selection import check_keep, keep_count, top_k_mask
from dataselect_env.stats import FORGETTING, LAST_CORRECT

from .base import Agent


class StaticPruning(Agent):
    """Base of the static agents: ``score_epochs`` epochs on all data, then a fixed top-``keep`` subset.

    Epochs are counted by ``predict`` calls since the episode started (one call per step).

    :param keep: fraction of the samples kept after scoring, in (0, 1].
    :param score_epochs: full-data epochs before scoring, >= 0.
    :param seed: seed of the generator (tie breaks) when ``reset(env)`` is not called.
    """

    def __init__(self, keep: float = 0.5, score_epochs: int = 1, seed: int = 0) -> None:
        super().__init__(seed)
        if isinstance(score_epochs, bool) or not isinstance(score_epochs, (int, np.integer)) or score_epochs < 0:
            raise ValueError(f"score_epochs must be an integer >= 0, got {score_epochs!r}")
        self.keep, self.score_epochs = check_keep(keep), int(score_epochs)

    def start_episode(self) -> None:
        """Forget the subset and restart the epoch count."""
        self.epoch, self.mask = 0, None

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """All data before ``score_epochs``; then the fixed top-``keep`` subset."""
        self.epoch += 1
        if self.epoch <= self.score_epochs:
            return np.ones(self.n, dtype=np.int8)
        if self.mask is None:
            self.mask = top_k_mask(self.score(samples), keep_count(self.keep, self.n), self.rng)
        return self.mask.copy()

    def score(self, samples: np.ndarray) -> np.ndarray:
        """Per-sample score; the highest are kept."""
        raise NotImplementedError

    def _scores(self) -> dict[str, np.ndarray]:
        """``env.score_samples()`` (an eval pass over all samples, charged 1/3 epoch)."""
        return self.env_method("score_samples")


class EL2N(StaticPruning):
    """EL2N static pruning (Paul, Ganguli & Dziugaite 2021, "Deep Learning on a Data Diet").

    Score = ``||softmax(f(x)) - onehot(y)||_2`` from ``env.score_samples()["el2n"]`` after
    ``score_epochs`` epochs (the paper scores at 10% of training: 1 of the default 10 epochs).
    Keeps the highest (hardest) scores. Needs ``reset(env)``; parameters as :class:`StaticPruning`.
    """

    def score(self, samples: np.ndarray) -> np.ndarray:
        """EL2N of every sample."""
        return self._scores()["el2n"]


class GraNd(StaticPruning):
    """GraNd static pruning (Paul, Ganguli & Dziugaite 2021).

    Score = last-layer gradient norm of the loss (GraNd's approximation), from
    ``env.score_samples()["grand"]`` after ``score_epochs`` epochs. Keeps the highest scores.
    Needs ``reset(env)``; parameters as :class:`StaticPruning`.
    """

    def score(self, samples: np.ndarray) -> np.ndarray:
        """Last-layer gradient norm of every sample."""
        return self._scores()["grand"]


class Forgetting(StaticPruning):
    """Forgetting-events static pruning (Toneva et al. 2019, "An Empirical Study of Example
    Forgetting during Deep Neural Network Learning").

    Score = forgetting events (correct -> incorrect between two observations) counted by the env
    (``FORGETTING``) over the ``score_epochs`` full-data epochs; a sample never classified
    correctly (no event and ``LAST_CORRECT == 0``) counts as forgotten infinitely often, as in the
    paper. Keeps the most forgotten; ties (most samples have 0 events) broken at random. Needs no
    extra pass. Default ``score_epochs=3``: events need at least two observations per sample.

    :param keep: fraction of the samples kept after scoring, in (0, 1].
    :param score_epochs: full-data epochs before scoring, >= 0.
    :param seed: seed of the generator (tie breaks) when ``reset(env)`` is not called.
    """

    def __init__(self, keep: float = 0.5, score_epochs: int = 3, seed: int = 0) -> None:
        super().__init__(keep, score_epochs, seed)

    def score(self, samples: np.ndarray) -> np.ndarray:
        """Forgetting events; +inf for never-learned samples."""
        events = samples[:, FORGETTING]
        never_learned = (events == 0) & (samples[:, LAST_CORRECT] == 0)
        return np.where(never_learned, np.inf, events)

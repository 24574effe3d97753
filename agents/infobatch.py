"""InfoBatch: unbiased dynamic pruning by loss-weight rescaling."""

from __future__ import annotations

from typing import Any

import numpy as np

from dataselect_env.selection import check_fraction
from dataselect_env.stats import EPOCH_FRAC, LAST_LOSS

from .base import Agent


class InfoBatch(Agent):
    """InfoBatch (Qin et al., ICLR 2024, "InfoBatch: Lossless Training Speed Up by Unbiased
    Dynamic Data Pruning").

    Score = the sample's loss when last trained on (``LAST_LOSS``; pruned samples keep their
    stale score, as in the release). While ``EPOCH_FRAC < delta``, each sample scoring below the
    mean is pruned independently with probability ``prune_ratio``; the kept ones among them get
    loss weight ``1 / (1 - prune_ratio)``, so the expected weighted loss equals the full-data loss
    (unbiased gradient). The last ``(1 - delta)`` of the epochs train on all data with weight 1.

    The kept fraction is random: ``1 - prune_ratio * (fraction below the mean)`` in expectation
    while pruning (all of it in the first epoch, when every sample has the same never-seen
    score), 1 afterwards. Needs the env's ``action_mode="weights"`` (``reset(env)`` raises a
    ``ValueError`` otherwise) and ``1 / (1 - prune_ratio) <= w_max``.

    :param prune_ratio: probability of pruning a below-mean sample, in [0, 1).
    :param delta: fraction of the epochs with pruning (annealing starts after), in [0, 1].
    :param seed: seed of the generator when ``reset(env)`` is not called.
    """

    action_mode = "weights"

    def __init__(self, prune_ratio: float = 0.5, delta: float = 0.875, seed: int = 0) -> None:
        super().__init__(seed)
        self.prune_ratio = check_fraction("prune_ratio", prune_ratio, high_open=True)
        self.delta = check_fraction("delta", delta)

    def reset(self, env: Any = None) -> None:
        """Start an episode; checks the env's mode and that the rescaled weight fits ``w_max``."""
        super().reset(env)
        w_max = float(self.env.action_space.high.max()) if self.env is not None else np.inf
        if 1 / (1 - self.prune_ratio) > w_max:
            raise ValueError(f"prune_ratio={self.prune_ratio} needs loss weight {1 / (1 - self.prune_ratio):.3g} "
                             f"> the env's w_max={w_max}; raise w_max or lower prune_ratio")

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """float32 loss weights: 0 (pruned), ``1 / (1 - prune_ratio)`` (kept, below mean) or 1."""
        weights = np.ones(self.n, dtype=np.float32)
        if progress[EPOCH_FRAC] < self.delta:
            score = samples[:, LAST_LOSS]
            low = score < score.mean(dtype=np.float64)
            weights[low] = 1 / (1 - self.prune_ratio)
            weights[low & (self.rng.random(self.n) < self.prune_ratio)] = 0
        return weights

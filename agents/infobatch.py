"""InfoBatch: unbiased dynamic pruning by loss-weight rescaling."""

from __future__ import annotations

from typing import Any

import numpy as np

from dataselect_env.selection import check_fraction
from dataselect_env.stats import EPOCH_FRAC, LAST_LOSS

from .rules import ScheduledAgent


class InfoBatch(ScheduledAgent):
    """InfoBatch (Qin et al., ICLR 2024, "InfoBatch: Lossless Training Speed Up by Unbiased
    Dynamic Data Pruning").

    Score = the sample's loss when last trained on (``LAST_LOSS``; pruned samples keep their
    stale score, as in the release). In a pruning epoch each sample scoring below the mean is
    pruned independently with probability ``prune_ratio``; the kept ones among them get loss
    weight ``1 / (1 - prune_ratio)``, so the expected weighted loss equals the full-data loss
    (unbiased gradient). The other epochs train on all data with weight 1.

    Which epochs prune follows the official release (``NUS-HPC-AI-Lab/InfoBatch``,
    ``infobatch/infobatch.py``): ``IBSampler.reset`` prunes unless ``iterations > stop_prune``
    with ``stop_prune = num_epochs * delta``, and it runs once when the sampler is built and once
    at the start of every epoch, so 0-based epoch ``e`` of ``E`` prunes iff ``e + 1 <= E * delta``
    (``E = 10``: epochs 0-7, ``E = 20``: 0-16; epoch 0 prunes nothing, every score being equal).
    ``E`` is ``env.epochs`` after ``reset(env)``, else learnt from the episode's observations
    (:class:`agents.rules.ScheduledAgent`); for a lone observation from the middle of an episode
    without ``reset`` the rule falls back to ``EPOCH_FRAC < delta`` (one more pruning epoch when
    ``E * delta`` is not an integer). Where ``E * delta`` is not an integer the release never
    resets the weights when pruning stops (``iterations == stop_prune + 1`` compares an int with
    that float), so the last pruning epoch's up-weighted samples keep their weight; here every
    weight is 1 after pruning.

    The kept fraction is random: ``1 - prune_ratio * (fraction below the mean)`` in expectation
    in a pruning epoch (all of it in the first epoch, when every sample has the same never-seen
    score), 1 in the others. Needs the env's ``action_mode="weights"`` (``reset(env)`` raises a
    ``ValueError`` otherwise) and ``1 / (1 - prune_ratio) <= w_max``.

    :param prune_ratio: probability of pruning a below-mean sample, in [0, 1).
    :param delta: fraction of the epochs with pruning (annealing starts after), in [0, 1]: epoch
        ``e`` prunes iff ``e + 1 <= E * delta``.
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
        w_max = float(self.env_attr("action_space").high.max()) if self.env is not None else np.inf
        if 1 / (1 - self.prune_ratio) > w_max:
            raise ValueError(f"prune_ratio={self.prune_ratio} needs loss weight {1 / (1 - self.prune_ratio):.3g} "
                             f"> the env's w_max={w_max}; raise w_max or lower prune_ratio")

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """float32 loss weights: 0 (pruned), ``1 / (1 - prune_ratio)`` (kept, below mean) or 1."""
        weights = np.ones(self.n, dtype=np.float32)
        if self.prunes(progress):
            score = samples[:, LAST_LOSS]
            low = score < score.mean(dtype=np.float64)
            weights[low] = 1 / (1 - self.prune_ratio)
            weights[low & (self.rng.random(self.n) < self.prune_ratio)] = 0
        return weights

    def prunes(self, progress: np.ndarray) -> bool:
        """Whether the coming epoch ``e`` prunes: the release's ``not iterations > num_epochs * delta`` at ``e + 1``."""
        e, epochs = self.position(progress)
        if epochs is None:
            return float(progress[EPOCH_FRAC]) < self.delta  # E unknown: the long-schedule limit
        return not e + 1 > epochs * self.delta

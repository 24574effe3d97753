"""Rule-based controllers from the long-tail and noisy-label literature, and their shared helpers.

- :class:`ClassBalanced`: an equal share of the budget per class (class-balanced re-sampling);
- :class:`SmallLoss`: Co-teaching's small-loss selection for one network, with its keep schedule;
- :func:`class_quotas`, :func:`balanced_mask` (from :mod:`dataselect_env.selection`, re-exported):
  water-filling quotas and the mask that fills them (also used by the oracles and the rule space);
- :class:`ScheduledAgent`: the epoch index and schedule length of each observation (also used by
  :class:`agents.infobatch.InfoBatch`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dataselect_env.selection import balanced_mask, check_fraction, check_keep, class_quotas, keep_count, top_k_mask
from dataselect_env.stats import EPOCH_FRAC, LAST_LOSS

from .base import Agent

__all__ = ["ClassBalanced", "ScheduledAgent", "SmallLoss", "balanced_mask", "class_quotas"]


class ScheduledAgent(Agent):
    """Base of the agents whose rule depends on the epoch index ``e`` and the schedule length ``E``.

    ``E`` comes from ``reset(env)`` (``env.epochs``) and then ``e = round(EPOCH_FRAC * E)``.
    Without ``reset`` both are inferred from the episode's observations, ``predict`` being called
    once per step from the episode's first observation on (``EPOCH_FRAC = 0``): ``e`` = calls so far,
    ``E = e / EPOCH_FRAC`` once ``e >= 1``. Unknown values are None (e.g. ``E`` at the first
    observation, both for an observation from the middle of an episode without ``reset``).
    """

    def start_episode(self) -> None:
        """Restart the step count."""
        self._step, self._from_start = 0, None

    def position(self, progress: np.ndarray) -> tuple[int | None, int | None]:
        """``(e, E)`` for the coming epoch; call once per ``act``."""
        frac = float(progress[EPOCH_FRAC])
        step, self._step = self._step, self._step + 1
        if self._from_start is None:
            self._from_start = frac == 0
        if self.epochs is not None:
            return round(frac * self.epochs), self.epochs
        if not self._from_start:
            return None, None
        return step, (round(step / frac) if frac > 0 else None)


class ClassBalanced(Agent):
    """Class-balanced dynamic pruning: an equal quota of the budget per class, every epoch.

    The re-sampling baseline of the long-tail literature: class-balanced sampling (each class drawn
    with probability 1/C; Kang et al. 2020, "Decoupling Representation and Classifier for
    Long-Tailed Recognition", ICLR) and random under-sampling of the large classes (Buda, Maki &
    Mazurowski 2018, "A systematic study of the class imbalance problem in convolutional neural
    networks", Neural Networks). A mask cannot repeat a sample, so the budget
    ``k = round(keep * N)`` is water-filled (:func:`class_quotas`): each class gets ``k / C``; a
    class smaller than its quota gives all its samples and the rest is shared by the larger ones;
    a remainder that does not divide evenly goes to classes drawn at random. Within a class the
    samples are drawn uniformly, afresh every epoch. The losses are not read.

    Reads the training labels (as trained on, noisy or not: the env's ``labels``, which every
    training loop has) in ``reset(env)``, and never the ground truth (``corrupted``,
    ``clean_labels``); ``predict`` without ``reset(env)`` raises ``RuntimeError``.

    :param keep: fraction of the samples trained on each epoch, in (0, 1]; exactly ``round(keep * N)``.
    :param seed: kept for a uniform constructor (the generator comes from the env in the required ``reset(env)``).
    """

    def __init__(self, keep: float = 0.5, seed: int = 0) -> None:
        super().__init__(seed)
        self.keep = check_keep(keep)
        self.labels: np.ndarray | None = None

    def reset(self, env: Any = None) -> None:
        """Start an episode and read the env's training labels."""
        super().reset(env)
        if self.env is not None:
            self.labels = np.asarray(self.env_attr("labels"))
            if self.labels.shape != (self.n,):
                raise ValueError(f"env.labels has shape {self.labels.shape}, expected ({self.n},)")

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """``k`` samples in class quotas, uniform within each class."""
        if self.labels is None:
            raise RuntimeError("class_balanced reads the training labels from env.labels: call agent.reset(env) "
                               "after env.reset() before the episode")
        return balanced_mask(self.labels, keep_count(self.keep, self.n), self.rng)


class SmallLoss(ScheduledAgent):
    """Small-loss selection: train on the ``R(t)`` share of the samples with the smallest loss.

    The sample selection of Co-teaching for one network (Han et al. 2018, "Co-teaching: Robust
    Training of Deep Neural Networks with Extremely Noisy Labels", NeurIPS): a noisy label is
    learned late, so its loss stays large, and dropping the large-loss samples drops mostly noise.
    The kept share follows the official ``main.py`` (``bhanML/Co-teaching``)::

        rate_schedule = np.ones(n_epoch) * forget_rate
        rate_schedule[:num_gradual] = np.linspace(0, forget_rate ** exponent, num_gradual)

    with exponent 1 and ``R(t) = 1 - rate_schedule[t]`` at epoch ``t`` (0-based), here with
    ``forget_rate = tau = 1 - keep`` and ``num_gradual = min(t_k, E)``: ``R`` falls linearly from 1
    at epoch 0 to ``keep`` at epoch ``t_k - 1`` and stays there (a schedule shorter than ``t_k``
    reaches ``keep`` at its last epoch; the release's two lines fail for ``n_epoch < num_gradual``).
    Epoch ``t`` trains on ``round(R(t) * N)`` samples, exactly ``round(keep * N)`` after the ramp.
    (The release trains from ``epoch = 1``, index 0 being the evaluation of the random weights, so
    its first trained epoch already drops ``tau / (t_k - 1)``; here index 0 is the first trained
    epoch, where every sample has the same never-seen loss, and trains on all data.)

    Compute is above ``keep`` during the ramp: with ``t_k = 10`` on a 10-epoch schedule the
    episode trains on ``sum_t R(t) / E = (1 + keep) / 2`` of the data (0.75 at keep 0.5).

    Score = ``LAST_LOSS``, the loss at the sample's last training forward pass: Co-teaching ranks
    by the loss of the current network in the current minibatch, and the last loss is the most
    recent one here (``EMA_LOSS`` would mix in the large early losses of clean samples). A
    never-seen sample has ``ln(classes)``. Unlike Co-teaching, which computes the loss of every
    sample every epoch and back-propagates the small ones, a sample left out keeps its stale
    loss (a noisy sample dropped once stays dropped); ``probe_every=1`` on the env refreshes
    all the losses each epoch (charged 1/3 epoch each). Ties are broken uniformly at random.

    :param keep: final share of the samples, in (0, 1] (``tau = 1 - keep``); default 0.5 when
        neither ``keep`` nor ``tau`` is given.
    :param tau: instead of ``keep``: the assumed noise rate (Co-teaching's ``forget_rate``), in [0, 1).
    :param t_k: epochs of the ramp (the paper's ``T_k``, the release's ``num_gradual``), >= 0; 0 keeps
        ``keep`` from the first epoch.
    :param seed: seed of the generator (tie breaks) when ``reset(env)`` is not called.
    """

    def __init__(self, keep: float | None = None, tau: float | None = None, t_k: int = 10, seed: int = 0) -> None:
        super().__init__(seed)
        if keep is not None and tau is not None:
            raise ValueError(f"give keep (the final share) or tau (= 1 - keep), not both; got keep={keep!r}, tau={tau!r}")
        if isinstance(t_k, bool) or not isinstance(t_k, (int, np.integer)) or t_k < 0:
            raise ValueError(f"t_k (epochs of the ramp) must be an integer >= 0, got {t_k!r}")
        if tau is not None:
            self.tau = check_fraction("tau", tau, high_open=True)
            self.keep = 1 - self.tau
        else:
            self.keep = check_keep(0.5 if keep is None else keep)
            self.tau = 1 - self.keep
        self.t_k = int(t_k)

    def share(self, t: int, epochs: int) -> float:
        """``R(t)``, the share kept at epoch ``t`` of ``epochs``: ``1 - rate_schedule[t]`` (``keep`` after the ramp)."""
        rate = np.linspace(0, self.tau, min(self.t_k, epochs))  # rate_schedule[:num_gradual]
        if t >= len(rate) or rate[t] == self.tau:  # forget_rate itself (linspace ends exactly there): keep
            return self.keep
        return float(1 - rate[t])

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """The ``round(R(t) * N)`` smallest last losses."""
        t, epochs = self.position(progress)
        if t is None or (epochs is None and t > 0):
            raise RuntimeError("small_loss needs the epoch and the schedule length: call agent.reset(env) after "
                               "env.reset(), or predict on every observation of the episode from its first one")
        share = self.share(t, epochs if epochs is not None else self.t_k)  # at t = 0, E does not matter
        return top_k_mask(-samples[:, LAST_LOSS], keep_count(share, self.n), self.rng)

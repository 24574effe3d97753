"""RHO-LOSS: train on the samples whose loss is high now but low under a model that never saw them.

Mindermann et al. (ICML 2022), "Prioritized Training on Points that are Learnable, Worth Learning,
and Not Yet Learnt". The reducible holdout loss of a sample is its current training loss minus its
*irreducible* loss, the loss of a small reference model that never trained on it. A noisy label
keeps a high irreducible loss (not learnable), a learnt sample a low current loss (already learnt):
both score low; RHO-LOSS trains on the rest.
"""

from __future__ import annotations

import numpy as np

from dataselect_env.selection import check_keep, keep_count, top_k_mask
from dataselect_env.stats import LAST_LOSS

from .base import Agent


class RhoLoss(Agent):
    """RHO-LOSS selection: each epoch, the top ``keep`` fraction by ``LAST_LOSS - irreducible loss``.

    Adaptation to this env: the paper selects the top 10% of every large batch at every SGD step;
    a step here is an epoch, so the agent selects the top ``round(keep * N)`` of the whole
    training split once per epoch. The irreducible loss comes from ``env.irreducible_loss`` (the
    paper's no-holdout variant: two reference models, each trained on one half of the training
    split, each scoring the other half), computed once per episode before the first epoch; its
    training is charged to ``info["compute"]`` and ``info["flops"]``.

    The current loss is the observation's ``LAST_LOSS`` (the plain cross-entropy of the sample's
    latest training forward pass), the nearest thing to the paper's "current training loss"; an
    EMA would mix in losses of older models. It costs no extra pass but goes stale for samples not
    selected lately (the env's ``probe_every`` refreshes all of them, at a price). Samples never
    seen yet hold ``ln(num_classes)``, the loss of a uniform prediction and close to an
    untrained network's, so the first epoch keeps the samples with the lowest irreducible loss
    (the most learnable ones) at no extra cost. A non-finite score (a reference model that
    diverged) ranks last.

    :param keep: fraction of the samples trained on each epoch, in (0, 1]; exactly
        ``round(keep * N)`` samples.
    :param ref_epochs: training epochs of each reference model, >= 1. Default 3: on
        ``CIFAR10Noisy40Proxy-v0`` (one seed, 2-core CPU, fp32) the ``tiny`` reference models
        ranked flipped labels above clean ones with AUC 0.50 / 0.63 / 0.64 after 1 / 3 / 5 epochs,
        at 0.20 / 0.49 / 0.78 full epochs of the ``small`` main model; on ``Synthetic-v0`` (where
        the main model is ``tiny`` too) 3 epochs cost 3.3 full epochs.
    :param ref_model: reference network (``dataselect_env.models.MODELS``); the paper's reference
        models are small, and ``"tiny"`` costs about a seventh of ``"small"`` per CIFAR sample.
    :param seed: seed of the generator (tie breaks) when ``reset(env)`` is not called.
    """

    def __init__(self, keep: float = 0.5, ref_epochs: int = 3, ref_model: str = "tiny", seed: int = 0) -> None:
        super().__init__(seed)
        if isinstance(ref_epochs, bool) or not isinstance(ref_epochs, (int, np.integer)) or ref_epochs < 1:
            raise ValueError(f"ref_epochs must be a positive integer, got {ref_epochs!r}")
        if not isinstance(ref_model, str):
            raise ValueError(f"ref_model must be a model name such as 'tiny', got {ref_model!r}")
        self.keep, self.ref_epochs, self.ref_model = check_keep(keep), int(ref_epochs), ref_model

    def start_episode(self) -> None:
        """Forget the irreducible losses (the env computes new ones for each episode)."""
        self.irreducible: np.ndarray | None = None

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """The ``round(keep * N)`` samples of highest reducible loss ``LAST_LOSS - irreducible``."""
        if self.irreducible is None:
            self.irreducible = self.env_method("irreducible_loss", model=self.ref_model, epochs=self.ref_epochs)
        reducible = samples[:, LAST_LOSS] - self.irreducible
        reducible = np.where(np.isfinite(reducible), reducible, -np.inf)  # a diverged reference model: last
        return top_k_mask(reducible, keep_count(self.keep, self.n), self.rng)

"""Training runs the env makes on an agent's or the reward's behalf, apart from the episode's own model.

- :func:`cross_fitted_loss`: RHO-LOSS's irreducible loss, from two reference networks cross-fitted
  on the two halves of the training split (charged to the episode by the env);
- :func:`full_data_val_accuracy`: a full-data run of E' epochs, the reference of the
  ``vs_frontier`` reward (not charged: it measures the controller, it is not part of it).

Both build :class:`~dataselect_env.trainer.Trainer` s with the env's data, device and precision,
so they train exactly as an episode's model does; the env decides what to cache and what to charge
(its ledger, :mod:`~dataselect_env.accounting`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from .accounting import reference_run_flops
from .config import TrainConfig
from .data import Splits, stratified_indices
from .trainer import TrainData, Trainer

RHO_SEED_SALT = 0x5E1EC7  # mixes the episode's torch seed into the reference networks' seeds


def cross_fitted_loss(splits: Splits, cfg: TrainConfig, device: torch.device, precision: str,
                      episode_seed: int, data: TrainData | None = None) -> tuple[torch.Tensor, float]:
    """Per-sample loss of each training sample under a reference network that never trained on it.

    Mindermann et al. (ICML 2022), no-holdout variant: the training split is cut into two halves
    (stratified by the training labels, seeded from ``episode_seed``); a network ``cfg.model`` is
    trained for ``cfg.epochs`` epochs (its own schedule) on each half and scores the other half
    with plain cross-entropy in eval mode (no augmentation).

    :param splits: the env's data, on ``device``.
    :param cfg: the reference training config (the env's, with the reference ``model`` and ``epochs``).
    :param device: torch device.
    :param precision: ``"fp32"`` or ``"bf16"``.
    :param episode_seed: the episode's torch seed.
    :param data: the env's prepared training data (``trainer.prepare_data(splits, cfg)``); None prepares it.
    :return: float32 ``(N,)`` losses on ``device``, and the FLOPs the two networks spent
        (training and scoring).
    """
    n = len(splits.y_train)
    seeds = np.random.SeedSequence([episode_seed, RHO_SEED_SALT]).generate_state(3)
    y = splits.y_train.cpu().numpy()
    half_a = stratified_indices(y, n // 2, np.random.default_rng(int(seeds[0])))
    half_b = np.setdiff1d(np.arange(n), half_a)
    loss = torch.empty(n, device=device)
    flops = 0.0
    for train_half, score_half, seed in ((half_a, half_b, seeds[1]), (half_b, half_a, seeds[2])):
        ref = Trainer(splits, cfg, device, precision, int(seed), data)
        train_idx = torch.from_numpy(train_half).to(device)
        score_idx = torch.from_numpy(score_half).to(device)
        for epoch in range(cfg.epochs):
            ref.train_epoch(epoch, train_idx)
        loss[score_idx] = ref.forward_stats(splits.x_train[score_idx], splits.y_train[score_idx])["loss"]
        flops += reference_run_flops(ref.flops_per_forward, len(train_half), cfg.epochs, len(score_half))
    return loss, flops


def full_data_val_accuracy(splits: Splits, cfg: TrainConfig, device: torch.device, precision: str,
                           seed: int, epochs: int, data: TrainData | None = None) -> float:
    """Validation accuracy of training on all the data for ``epochs`` epochs, the schedule compressed to them.

    The run starts from the same initial weights and data order as an episode with torch seed
    ``seed``; ``epochs = 0`` is the untrained model; a diverged run stops where it diverged.

    :param splits: the env's data, on ``device``.
    :param cfg: the env's training config (its ``epochs`` is replaced by ``epochs``).
    :param device: torch device.
    :param precision: ``"fp32"`` or ``"bf16"``.
    :param seed: the episode's torch seed.
    :param epochs: E', >= 0.
    :param data: the env's prepared training data (``trainer.prepare_data(splits, cfg)``); None prepares it.
    """
    run = Trainer(splits, replace(cfg, epochs=max(epochs, 1)), device, precision, seed, data)
    everything = torch.arange(len(splits.y_train), device=device)
    for epoch in range(epochs):
        if run.train_epoch(epoch, everything).diverged:
            break
    return run.evaluate(splits.x_val, splits.y_val)[0]

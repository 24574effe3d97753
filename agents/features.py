"""Per-sample feature transforms of the learned controllers: squashing and standardisation.

- :data:`UNBOUNDED`, :data:`UNBOUNDED_V1`, :func:`squash`: the per-sample feature columns without an
  upper bound (losses, variance, forgetting; v1: class share) and their ``log1p`` squashing;
- :func:`masked_mean`, :func:`standardize`: the one standardisation of per-sample features, over
  the real rows of a padded set (a task env's ``valid`` column).

Each takes numpy arrays and torch tensors alike (:func:`masked_mean`: torch only); the wrappers'
transforms (:mod:`agents.wrappers`) use the numpy side, :class:`agents.sb3_policies.DeepSetsPolicy`
the torch side.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from dataselect_env.stats import LABEL, SAMPLE_HIGH, SAMPLE_HIGH_V1

UNBOUNDED = np.isinf(SAMPLE_HIGH)  # loss, EMA loss, loss variance, forgetting: log1p-squashed
UNBOUNDED_V1 = np.isinf(SAMPLE_HIGH_V1) & (np.arange(len(SAMPLE_HIGH_V1)) != LABEL)  # and CLASS_SHARE (v1)
Array = TypeVar("Array", np.ndarray, torch.Tensor)

STD_FLOOR = 1e-6  # a column whose spread is below this is constant: it standardises to 0


def masked_mean(x: torch.Tensor, dim: int, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``x`` over ``dim`` (kept), over the rows where ``valid`` is 1 when given.

    :param x: ``(..., N, D)`` tensor, ``dim`` the set axis.
    :param valid: ``x.shape[:-1]``, 1 for real rows and 0 for padding, or None (all real).
    """
    if valid is None:
        return x.mean(dim=dim, keepdim=True)
    w = valid[..., None]
    return (x * w).sum(dim=dim, keepdim=True) / w.sum(dim=dim, keepdim=True).clamp(min=1.0)


def standardize(x: Array, axis: int = 0, valid: torch.Tensor | None = None) -> Array:
    """``x`` standardised along ``axis``: zero mean, unit (population) std; a constant column gives 0.

    The one standardisation of per-sample features, used by ``agents.wrappers.LinearScore`` (numpy) and
    the DeepSets policy (torch, over each observation's set of samples).

    :param x: numpy array or torch tensor, e.g. ``(N, F)`` with ``axis=0``.
    :param axis: the axis of the samples.
    :param valid: torch only: ``x.shape[:-1]``, 1 for real rows, 0 for padding (left out of mean and std).
    """
    if isinstance(x, torch.Tensor):
        mean = masked_mean(x, axis, valid)
        std = x.std(dim=axis, keepdim=True, unbiased=False) if valid is None else \
            masked_mean((x - mean) ** 2, axis, valid).sqrt()
        return (x - mean) / torch.where(std > STD_FLOOR, std, torch.ones_like(std))
    std = x.std(axis=axis, keepdims=True)
    return (x - x.mean(axis=axis, keepdims=True)) / np.where(std > STD_FLOOR, std, 1.0)


def squash(samples: Array) -> Array:
    """Per-sample features with the unbounded columns (:data:`UNBOUNDED`) ``log1p``-ed (negatives as 0).

    :param samples: ``(..., N, F)`` raw ``obs["samples"]``, a numpy array or a torch tensor.
    :return: the same shape, float32 for numpy; bounded columns unchanged.
    """
    mask = UNBOUNDED_V1[: samples.shape[-1]]  # 9 columns (version 0) or 13 (version 1)
    if isinstance(samples, torch.Tensor):
        unbounded = torch.from_numpy(mask).to(samples.device)
        return torch.where(unbounded, torch.log1p(samples.clamp_min(0.0)), samples)
    x = np.asarray(samples, dtype=np.float32).copy()
    x[..., mask] = np.log1p(np.maximum(x[..., mask], 0.0))
    return x

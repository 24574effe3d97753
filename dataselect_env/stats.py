"""Per-sample statistics: the observation.

:class:`SampleStats` keeps one ``(N, F)`` float32 tensor on the device and updates the rows of
the samples observed in an epoch. Rows of samples not trained on stay as they were (their
statistics go stale: that is the bandit problem of dynamic pruning).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

# Per-sample features: column indices of obs["samples"].
LAST_LOSS = 0  # cross-entropy at the last observation
EMA_LOSS = 1  # exponential moving average of the loss
LOSS_VAR = 2  # exponential moving variance of the loss
LAST_CORRECT = 3  # 1 if the last observation was classified correctly
LAST_MARGIN = 4  # p_true - max p_other at the last observation, in [-1, 1]
SELECTED_FRAC = 5  # fraction of the epochs so far in which the sample was selected
EPOCHS_SINCE_SELECTED = 6  # epochs since last selected (or since the start) / E
FORGETTING = 7  # forgetting events so far: correct -> incorrect between observations
SEEN = 8  # 1 once the sample has been observed
SAMPLE_FEATURES = ("last_loss", "ema_loss", "loss_var", "last_correct", "last_margin",
                   "selected_frac", "epochs_since_selected", "forgetting", "seen")  # observation version 0
# Observation version 1 appends (the columns above keep their indices):
CLASS_SHARE = 9  # the sample's training-label count / (N / C): 1 balanced, 0.1 a class ten times rarer
LOSS_RANK = 10  # quantile rank of LAST_LOSS among all samples, in [0, 1] (ties: their mid-rank)
CLASS_LOSS_RANK = 11  # quantile rank of LAST_LOSS among the samples of the same training label
LABEL = 12  # the training label as trained on (noisy where the labels are), 0 .. C - 1
SAMPLE_FEATURES_V1 = SAMPLE_FEATURES + ("class_share", "loss_rank", "class_loss_rank", "label")
OBS_VERSIONS = (0, 1)

# Global progress features: indices of obs["progress"].
EPOCH_FRAC = 0  # epochs done / E
EPOCHS_LEFT_FRAC = 1  # epochs left / E
COMPUTE_USED = 2  # compute used / E (1.0 = E full epochs)
VAL_ACCURACY = 3  # last validation accuracy in [0, 1]
VAL_LOSS = 4  # last validation loss
LR_FRAC = 5  # learning rate at the start of the next epoch / peak
LAST_KEEP = 6  # fraction of samples kept in the last epoch
BUDGET_LEFT = 7  # compute budget left / budget (1.0 when there is no budget)
PROGRESS_FEATURES = ("epoch_frac", "epochs_left_frac", "compute_used", "val_accuracy", "val_loss",
                     "lr_frac", "last_keep", "budget_left")

SAMPLE_LOW = np.array([0, 0, 0, 0, -1, 0, 0, 0, 0], dtype=np.float32)
SAMPLE_HIGH = np.array([np.inf, np.inf, np.inf, 1, 1, 1, 1, np.inf, 1], dtype=np.float32)
SAMPLE_LOW_V1 = np.concatenate([SAMPLE_LOW, [0, 0, 0, 0]]).astype(np.float32)
SAMPLE_HIGH_V1 = np.concatenate([SAMPLE_HIGH, [np.inf, 1, 1, np.inf]]).astype(np.float32)


def sample_bounds(obs_version: int) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` of each per-sample column of observation version ``obs_version`` (0 or 1)."""
    if obs_version not in OBS_VERSIONS:
        raise ValueError(f"obs_version must be one of {OBS_VERSIONS}, got {obs_version!r}")
    return (SAMPLE_LOW, SAMPLE_HIGH) if obs_version == 0 else (SAMPLE_LOW_V1, SAMPLE_HIGH_V1)


def class_shares(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """float32 ``(N,)``: each sample's label count over ``N / num_classes`` (:data:`CLASS_SHARE`).

    :param labels: ``(N,)`` integer labels in ``[0, num_classes)``.
    :param num_classes: C.
    """
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=num_classes)
    return (counts[labels] * num_classes / len(labels)).astype(np.float32)


def quantile_ranks(x: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """float32 ``(N,)``: the quantile rank of each ``x`` within its group, in [0, 1].

    Rank 0 is the group's smallest value, 1 its largest; tied values share their mid-rank (so a
    group whose values are all equal, e.g. every sample unseen, reads 0.5, as does a group of one).
    ``rank / (size - 1)`` with 0-based mid-ranks: ``scipy.stats.rankdata(x, "average")`` shifted
    and scaled, per group.

    :param x: ``(N,)`` values.
    :param groups: ``(N,)`` integer group of each value (e.g. the labels); None: one group.
    """
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros(len(x), dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    if len(x) == 0:
        return np.zeros(0, dtype=np.float32)
    order = np.lexsort((x, g))  # by group, then value
    xs, gs = x[order], g[order]
    new_run = np.r_[True, (xs[1:] != xs[:-1]) | (gs[1:] != gs[:-1])]  # runs of equal (group, value)
    run = np.cumsum(new_run) - 1
    pos = np.arange(len(x), dtype=np.float64)
    run_start, run_len = pos[new_run], np.bincount(run).astype(np.float64)
    mid = run_start[run] + (run_len[run] - 1) / 2  # mid-rank in the sorted order
    new_group = np.r_[True, gs[1:] != gs[:-1]]
    group = np.cumsum(new_group) - 1  # each sorted position's group, 0 .. groups - 1
    group_start, size = pos[new_group][group], np.bincount(group).astype(np.float64)[group]
    rank = np.where(size > 1, (mid - group_start) / np.maximum(size - 1, 1), 0.5)
    out = np.empty(len(x), dtype=np.float32)
    out[order] = rank
    return out
PROGRESS_LOW = np.zeros(len(PROGRESS_FEATURES), dtype=np.float32)
PROGRESS_HIGH = np.array([1, 1, np.inf, 1, np.inf, np.inf, 1, 1], dtype=np.float32)


class SampleStats:
    """Running per-sample statistics for ``n`` samples over an ``epochs``-long schedule.

    A never-seen sample has ``last_loss = ema_loss = ln(num_classes)`` (the loss of a uniform
    prediction), ``loss_var = 0``, ``last_correct = 0``, ``last_margin = 0``, ``seen = 0``.

    :param ema: weight of the newest observation in the moving average and variance.
    """

    def __init__(self, n: int, epochs: int, num_classes: int, device: torch.device, ema: float = 0.5):
        self.n, self.epochs, self.ema = n, epochs, ema
        self.table = torch.zeros(n, len(SAMPLE_FEATURES), device=device)
        self.table[:, [LAST_LOSS, EMA_LOSS]] = math.log(num_classes)
        self.times_selected = torch.zeros(n, device=device)
        self.last_selected = torch.zeros(n, device=device)  # epochs done when last selected
        self.epochs_done = 0

    def observe(self, idx: torch.Tensor, loss: torch.Tensor, correct: torch.Tensor,
                margin: torch.Tensor) -> None:
        """Record one observation of samples ``idx`` (loss, correctness, margin)."""
        t = self.table
        loss, correct, margin = (v.to(t.dtype) for v in (loss, correct, margin))
        seen = t[idx, SEEN] > 0
        prev_ema = t[idx, EMA_LOSS]
        delta = torch.where(seen, loss - prev_ema, torch.zeros_like(loss))
        t[idx, EMA_LOSS] = torch.where(seen, prev_ema + self.ema * delta, loss)
        t[idx, LOSS_VAR] = (1 - self.ema) * (t[idx, LOSS_VAR] + self.ema * delta.square())
        forgot = seen & (t[idx, LAST_CORRECT] > 0) & (correct == 0)
        t[idx, FORGETTING] += forgot.float()
        t[idx, LAST_LOSS] = loss
        t[idx, LAST_CORRECT] = correct
        t[idx, LAST_MARGIN] = margin
        t[idx, SEEN] = 1.0

    def end_epoch(self, selected: torch.Tensor) -> None:
        """Close an epoch in which the samples ``idx = selected`` were trained on."""
        self.epochs_done += 1
        self.times_selected[selected] += 1
        self.last_selected[selected] = self.epochs_done
        self.table[:, SELECTED_FRAC] = self.times_selected / self.epochs_done
        self.table[:, EPOCHS_SINCE_SELECTED] = (self.epochs_done - self.last_selected) / self.epochs

    def state_dict(self) -> dict[str, Any]:
        """The statistics so far: the table, each sample's selection count and last selection, and
        the epochs closed (tensors by reference: save or copy them before observing more)."""
        return {"table": self.table, "times_selected": self.times_selected, "last_selected": self.last_selected,
                "epochs_done": self.epochs_done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go on from :meth:`state_dict` of statistics of the same shape (tensors copied to this device)."""
        for name in ("table", "times_selected", "last_selected"):
            getattr(self, name).copy_(state[name])
        self.epochs_done = int(state["epochs_done"])

    def samples(self, labels: np.ndarray | None = None, shares: np.ndarray | None = None) -> np.ndarray:
        """The ``(N, F)`` float32 observation array (a copy on the CPU).

        :param labels: the training labels: with ``shares``, appends the version-1 columns
            (:data:`CLASS_SHARE`, :data:`LOSS_RANK`, :data:`CLASS_LOSS_RANK`, :data:`LABEL`); None:
            version 0.
        :param shares: :func:`class_shares` of ``labels`` (fixed for an episode, so passed in).
        """
        table = self.table.cpu().numpy()
        if labels is None:
            return table.copy()
        loss = table[:, LAST_LOSS]
        return np.column_stack([table, shares, quantile_ranks(loss), quantile_ranks(loss, labels),
                                labels]).astype(np.float32)

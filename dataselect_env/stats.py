"""Per-sample statistics: the observation.

:class:`SampleStats` keeps one ``(N, F)`` float32 tensor on the device and updates the rows of
the samples observed in an epoch. Rows of samples not trained on stay as they were (their
statistics go stale: that is the bandit problem of dynamic pruning).
"""

from __future__ import annotations

import math

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
                   "selected_frac", "epochs_since_selected", "forgetting", "seen")

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

    def samples(self) -> np.ndarray:
        """The ``(N, F)`` float32 observation array (a copy on the CPU)."""
        return self.table.cpu().numpy().copy()

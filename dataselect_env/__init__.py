"""dataselect: a Gymnasium environment for learned data selection.

Importing the package registers ``DataSelect/CIFAR10-v0``, ``DataSelect/CIFAR100-v0``,
``DataSelect/Synthetic-v0`` and ``DataSelect/CIFAR10Proxy-v0``.
"""

import os

import torch
from gymnasium.envs.registration import register

from .env import DataSelectEnv
from .stats import (
                    BUDGET_LEFT,
                    COMPUTE_USED,
                    EMA_LOSS,
                    EPOCH_FRAC,
                    EPOCHS_LEFT_FRAC,
                    EPOCHS_SINCE_SELECTED,
                    FORGETTING,
                    LAST_CORRECT,
                    LAST_KEEP,
                    LAST_LOSS,
                    LAST_MARGIN,
                    LOSS_VAR,
                    LR_FRAC,
                    PROGRESS_FEATURES,
                    SAMPLE_FEATURES,
                    SEEN,
                    SELECTED_FRAC,
                    VAL_ACCURACY,
                    VAL_LOSS,
)

__version__ = "0.1.0"

# A process forked after torch has used its OpenMP pool deadlocks at its first parallel op
# (gymnasium's AsyncVectorEnv forks by default). Forked workers run one torch thread each.
os.register_at_fork(after_in_child=lambda: torch.set_num_threads(1))

ENTRY_POINT = "dataselect_env.env:DataSelectEnv"
ENV_IDS = ("DataSelect/CIFAR10-v0", "DataSelect/CIFAR100-v0", "DataSelect/Synthetic-v0",
           "DataSelect/CIFAR10Proxy-v0")

register(id="DataSelect/CIFAR10-v0", entry_point=ENTRY_POINT, kwargs={"dataset": "cifar10"})
register(id="DataSelect/CIFAR100-v0", entry_point=ENTRY_POINT, kwargs={"dataset": "cifar100"})
register(id="DataSelect/Synthetic-v0", entry_point=ENTRY_POINT,
         kwargs={"dataset": "synthetic", "model": "tiny", "batch_size": 128, "lr": 0.1,
                 "label_smoothing": 0.0, "device": "cpu"})
register(id="DataSelect/CIFAR10Proxy-v0", entry_point=ENTRY_POINT,
         kwargs={"dataset": "cifar10", "train_subset": 5000, "model": "small"})

__all__ = ["DataSelectEnv", "ENV_IDS", "__version__", "LAST_LOSS", "EMA_LOSS", "LOSS_VAR",
           "LAST_CORRECT", "LAST_MARGIN", "SELECTED_FRAC", "EPOCHS_SINCE_SELECTED", "FORGETTING",
           "SEEN", "SAMPLE_FEATURES", "EPOCH_FRAC", "EPOCHS_LEFT_FRAC", "COMPUTE_USED",
           "VAL_ACCURACY", "VAL_LOSS", "LR_FRAC", "LAST_KEEP", "BUDGET_LEFT", "PROGRESS_FEATURES"]

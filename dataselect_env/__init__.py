"""dataselect: a Gymnasium environment for learned data selection.

Importing the package registers ``DataSelect/CIFAR10-v0``, ``DataSelect/CIFAR100-v0``,
``DataSelect/Synthetic-v0`` and ``DataSelect/CIFAR10Proxy-v0``, and the corrupted-data ids
(training split only; validation and test stay clean and balanced):

- ``DataSelect/CIFAR10Noisy40-v0``: 40% symmetric label noise (``label_noise=0.4``);
- ``DataSelect/CIFAR10Asym40-v0``: 40% asymmetric label noise (``noise_type="asymmetric"``:
  truck -> automobile, bird -> airplane, deer -> horse, cat <-> dog, 40% of those five classes);
- ``DataSelect/CIFAR10LT100-v0``: long-tailed, ``imbalance=100`` (4,500 down to 45 samples per
  class, 11,167 in all);
- ``DataSelect/CIFAR10Noisy40Proxy-v0``, ``DataSelect/CIFAR10Asym40Proxy-v0``,
  ``DataSelect/CIFAR10LT100Proxy-v0``: the same on ``CIFAR10Proxy-v0``'s stratified 5,000-sample
  subset (the subset is drawn first, then corrupted: the LT100 proxy has 500 down to 5 per class,
  1,242 in all).

Task distributions (``dataselect_env.tasks.TaskEnv``, a new task at every reset):
``DataSelect/Tasks-v0`` (Synthetic) and ``DataSelect/CIFAR10Tasks-v0`` (CIFAR-10 slices).

Version history: every id is at v0; the six corrupted-data ids were added after the first four.
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
           "DataSelect/CIFAR10Proxy-v0", "DataSelect/CIFAR10Noisy40-v0", "DataSelect/CIFAR10Asym40-v0",
           "DataSelect/CIFAR10LT100-v0", "DataSelect/CIFAR10Noisy40Proxy-v0", "DataSelect/CIFAR10Asym40Proxy-v0",
           "DataSelect/CIFAR10LT100Proxy-v0")

register(id="DataSelect/CIFAR10-v0", entry_point=ENTRY_POINT, kwargs={"dataset": "cifar10"})
register(id="DataSelect/CIFAR100-v0", entry_point=ENTRY_POINT, kwargs={"dataset": "cifar100"})
register(id="DataSelect/Synthetic-v0", entry_point=ENTRY_POINT,
         kwargs={"dataset": "synthetic", "model": "tiny", "batch_size": 128, "lr": 0.1,
                 "label_smoothing": 0.0, "device": "cpu"})
register(id="DataSelect/CIFAR10Proxy-v0", entry_point=ENTRY_POINT,
         kwargs={"dataset": "cifar10", "train_subset": 5000, "model": "small"})

# Corrupted CIFAR-10 (v0 ids added after the four above; the corruption touches the training split
# only). Each has a cheap CPU proxy built like CIFAR10Proxy-v0: the stratified 5,000-sample subset
# is drawn first, then corrupted.
_NOISY40 = {"dataset": "cifar10", "label_noise": 0.4}
_ASYM40 = {"dataset": "cifar10", "label_noise": 0.4, "noise_type": "asymmetric"}
_LT100 = {"dataset": "cifar10", "imbalance": 100.0}
_PROXY = {"train_subset": 5000, "model": "small"}
register(id="DataSelect/CIFAR10Noisy40-v0", entry_point=ENTRY_POINT, kwargs=_NOISY40)
register(id="DataSelect/CIFAR10Asym40-v0", entry_point=ENTRY_POINT, kwargs=_ASYM40)
register(id="DataSelect/CIFAR10LT100-v0", entry_point=ENTRY_POINT, kwargs=_LT100)
register(id="DataSelect/CIFAR10Noisy40Proxy-v0", entry_point=ENTRY_POINT, kwargs={**_NOISY40, **_PROXY})
register(id="DataSelect/CIFAR10Asym40Proxy-v0", entry_point=ENTRY_POINT, kwargs={**_ASYM40, **_PROXY})
register(id="DataSelect/CIFAR10LT100Proxy-v0", entry_point=ENTRY_POINT, kwargs={**_LT100, **_PROXY})

# Task distributions (dataselect_env.tasks): every reset draws a new task (size, label noise,
# imbalance, epochs, keep fraction) from documented ranges, for training policies across tasks.
TASK_ENV_IDS = ("DataSelect/Tasks-v0", "DataSelect/CIFAR10Tasks-v0")
register(id="DataSelect/Tasks-v0", entry_point="dataselect_env.tasks:TaskEnv", kwargs={"family": "synthetic"})
register(id="DataSelect/CIFAR10Tasks-v0", entry_point="dataselect_env.tasks:TaskEnv", kwargs={"family": "cifar10"})

__all__ = ["DataSelectEnv", "ENV_IDS", "TASK_ENV_IDS", "__version__", "LAST_LOSS", "EMA_LOSS", "LOSS_VAR",
           "LAST_CORRECT", "LAST_MARGIN", "SELECTED_FRAC", "EPOCHS_SINCE_SELECTED", "FORGETTING",
           "SEEN", "SAMPLE_FEATURES", "EPOCH_FRAC", "EPOCHS_LEFT_FRAC", "COMPUTE_USED",
           "VAL_ACCURACY", "VAL_LOSS", "LR_FRAC", "LAST_KEEP", "BUDGET_LEFT", "PROGRESS_FEATURES"]

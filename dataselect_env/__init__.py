"""dataselect: a Gymnasium environment for learned data selection.

Importing the package registers ``DataSelect/CIFAR10``, ``DataSelect/CIFAR100``,
``DataSelect/Synthetic`` and ``DataSelect/CIFAR10Proxy``, and the corrupted-data ids (training
split only; validation and test stay clean and balanced), each at ``-v0`` and ``-v1``:

- ``DataSelect/CIFAR10Noisy40``: 40% symmetric label noise (``label_noise=0.4``);
- ``DataSelect/CIFAR10Asym40``: 40% asymmetric label noise (``noise_type="asymmetric"``:
  truck -> automobile, bird -> airplane, deer -> horse, cat <-> dog, 40% of those five classes);
- ``DataSelect/CIFAR10LT100``: long-tailed, ``imbalance=100`` (4,500 down to 45 samples per
  class, 11,167 in all);
- ``DataSelect/CIFAR10Noisy40Proxy``, ``DataSelect/CIFAR10Asym40Proxy``,
  ``DataSelect/CIFAR10LT100Proxy``: the same on ``CIFAR10Proxy``'s stratified 5,000-sample
  subset (the subset is drawn first, then corrupted: the LT100 proxy has 500 down to 5 per class,
  1,242 in all).

Task distributions (``dataselect_env.tasks.TaskEnv``, a new task at every reset):
``DataSelect/Tasks`` (Synthetic) and ``DataSelect/CIFAR10Tasks`` (CIFAR-10 slices).

Every id is registered at v0 and v1 (``ENV_IDS`` lists the v1 ids, ``ENV_IDS_V0`` the v0 ones).
Version history: v0, the first version (the six corrupted-data ids added after the first four); v1
adds four per-sample observation columns (class share, loss rank overall and within the class, label),
everything else as v0 (the ``DataSelectEnv`` docstring has the details), except that ``Tasks-v1``
draws schedules of 4-40 epochs and imbalance up to 100 (v0: 4-10 and 10), so that its tasks span
the regimes of the ``cpu`` suite.

Importing changes no process-wide setting; :func:`dataselect_env.hardware.tune_process` is the opt-in
tuning (glibc's allocator, one torch thread in forked children) that ``train_agent.py`` applies. A
script that runs envs in forked processes (``gym.make_vec(..., vectorization_mode="async")``) after
torch has run parallel CPU ops must call :func:`dataselect_env.hardware.fork_safe_threads` first or
pass ``vector_kwargs={"context": "forkserver"}``: GNU OpenMP does not survive ``fork``.
"""

from gymnasium.envs.registration import register

from .env import DataSelectEnv
from .stats import (
    BUDGET_LEFT,
    CLASS_LOSS_RANK,
    CLASS_SHARE,
    COMPUTE_USED,
    EMA_LOSS,
    EPOCH_FRAC,
    EPOCHS_LEFT_FRAC,
    EPOCHS_SINCE_SELECTED,
    FORGETTING,
    LABEL,
    LAST_CORRECT,
    LAST_KEEP,
    LAST_LOSS,
    LAST_MARGIN,
    LOSS_RANK,
    LOSS_VAR,
    LR_FRAC,
    PROGRESS_FEATURES,
    SAMPLE_FEATURES,
    SAMPLE_FEATURES_V1,
    SEEN,
    SELECTED_FRAC,
    VAL_ACCURACY,
    VAL_LOSS,
)

__version__ = "0.1.0"

ENTRY_POINT = "dataselect_env.env:DataSelectEnv"
_NOISY40 = {"dataset": "cifar10", "label_noise": 0.4}
_ASYM40 = {"dataset": "cifar10", "label_noise": 0.4, "noise_type": "asymmetric"}
_LT100 = {"dataset": "cifar10", "imbalance": 100.0}
_PROXY = {"train_subset": 5000, "model": "small"}
# Corrupted CIFAR-10 (added after the first four; the corruption touches the training split only).
# Each has a cheap CPU proxy built like CIFAR10Proxy: the stratified 5,000-sample subset is drawn
# first, then corrupted.
_IDS = {
    "CIFAR10": {"dataset": "cifar10"},
    "CIFAR100": {"dataset": "cifar100"},
    "Synthetic": {"dataset": "synthetic", "model": "tiny", "batch_size": 128, "lr": 0.1, "label_smoothing": 0.0,
                  "device": "cpu"},
    "CIFAR10Proxy": {"dataset": "cifar10", "train_subset": 5000, "model": "small"},
    "CIFAR10Noisy40": _NOISY40, "CIFAR10Asym40": _ASYM40, "CIFAR10LT100": _LT100,
    "CIFAR10Noisy40Proxy": {**_NOISY40, **_PROXY}, "CIFAR10Asym40Proxy": {**_ASYM40, **_PROXY},
    "CIFAR10LT100Proxy": {**_LT100, **_PROXY},
}
# v1: the observation gains the per-sample columns CLASS_SHARE, LOSS_RANK, CLASS_LOSS_RANK (the
# env's version history); v0 stays registered with the first nine columns, for its results and policies.
ENV_IDS = tuple(f"DataSelect/{name}-v1" for name in _IDS)
ENV_IDS_V0 = tuple(f"DataSelect/{name}-v0" for name in _IDS)
for _name, _kwargs in _IDS.items():
    register(id=f"DataSelect/{_name}-v0", entry_point=ENTRY_POINT, kwargs={**_kwargs, "obs_version": 0})
    register(id=f"DataSelect/{_name}-v1", entry_point=ENTRY_POINT, kwargs=dict(_kwargs))

# Task distributions (dataselect_env.tasks): every reset draws a new task (size, label noise,
# imbalance, epochs, keep fraction) from documented ranges, for training policies across tasks.
# Tasks-v1 also widens the Synthetic ranges to span the cpu suite's regimes (schedules that memorise
# label noise, long tails to imbalance 100): benchmarks/results/task_headroom measures its headroom.
TASK_ENV_IDS = ("DataSelect/Tasks-v1", "DataSelect/CIFAR10Tasks-v1")
TASK_ENV_IDS_V0 = ("DataSelect/Tasks-v0", "DataSelect/CIFAR10Tasks-v0")
SYNTHETIC_TASKS_V1 = {"epochs": (4, 40), "imbalance": (1.0, 100.0)}
register(id="DataSelect/Tasks-v0", entry_point="dataselect_env.tasks:TaskEnv", kwargs={"family": "synthetic", "obs_version": 0})
register(id="DataSelect/CIFAR10Tasks-v0", entry_point="dataselect_env.tasks:TaskEnv",
         kwargs={"family": "cifar10", "obs_version": 0})
register(id="DataSelect/Tasks-v1", entry_point="dataselect_env.tasks:TaskEnv",
         kwargs={"family": "synthetic", **SYNTHETIC_TASKS_V1})
register(id="DataSelect/CIFAR10Tasks-v1", entry_point="dataselect_env.tasks:TaskEnv", kwargs={"family": "cifar10"})

__all__ = ["DataSelectEnv", "ENV_IDS", "ENV_IDS_V0", "TASK_ENV_IDS", "TASK_ENV_IDS_V0", "__version__",
           "LAST_LOSS", "EMA_LOSS", "LOSS_VAR", "LAST_CORRECT", "LAST_MARGIN", "SELECTED_FRAC",
           "EPOCHS_SINCE_SELECTED", "FORGETTING", "SEEN", "CLASS_SHARE", "LABEL", "LOSS_RANK", "CLASS_LOSS_RANK",
           "SAMPLE_FEATURES", "SAMPLE_FEATURES_V1", "EPOCH_FRAC", "EPOCHS_LEFT_FRAC", "COMPUTE_USED",
           "VAL_ACCURACY", "VAL_LOSS", "LR_FRAC", "LAST_KEEP", "BUDGET_LEFT", "PROGRESS_FEATURES"]

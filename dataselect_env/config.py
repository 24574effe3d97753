"""The env's settings as typed config objects, validated in one place.

``gym.make(id, **flat_kwargs)`` keeps its flat keyword arguments; :meth:`EnvConfig.from_kwargs`
sorts them into :class:`DataConfig` (what data), :class:`TrainConfig` (how the inner network
trains), :class:`RewardConfig` (how a step is scored) and the env's own action/observation
settings, and every ``__post_init__`` checks its fields with a message that names the argument
and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from .corruptions import NOISE_TYPES, check_corruptions
from .models import MODELS
from .stats import OBS_VERSIONS

REWARDS = ("gain_per_compute", "gain_minus_cost", "terminal", "vs_frontier")
ACTION_MODES = ("mask", "weights")
DATASETS = ("cifar10", "cifar100", "synthetic")


@dataclass(frozen=True)
class DataConfig:
    """Which data, split how (see ``dataselect_env.data.load``)."""

    dataset: str = "cifar10"  # "cifar10", "cifar100" or "synthetic"
    data_root: str | None = None  # torchvision root, or an image folder / .tar.gz of one
    download: bool = True  # let torchvision download CIFAR when missing
    train_subset: int | None = None  # stratified subset size of the training split
    val_size: int | None = None  # validation split size (default 5,000; 500 for synthetic)
    data_seed: int = 0  # fixes the val split and the train subset
    synthetic: dict | None = None  # kwargs of dataselect_env.data.make_synthetic
    # Corruptions of the training split only, fixed by data_seed (val and test stay clean and
    # balanced); see dataselect_env.data.make_splits. The defaults corrupt nothing.
    label_noise: float = 0.0  # fraction of training labels flipped, in [0, 1)
    noise_type: str = "symmetric"  # "symmetric" (any other class) or "asymmetric" (class -> its pair)
    imbalance: float = 1.0  # largest / smallest class size after a long-tailed cut, >= 1
    duplicates: float = 0.0  # fraction of training samples replaced by copies of others, in [0, 1)

    def __post_init__(self) -> None:
        _check_choice("dataset", self.dataset, DATASETS)
        for name in ("train_subset", "val_size"):
            value = getattr(self, name)
            if value is not None:
                _check_int(name, value, 1)
        _check_int("data_seed", self.data_seed, 0)
        if self.synthetic is not None and not isinstance(self.synthetic, dict):
            raise ValueError(f"synthetic must be a dict of make_synthetic kwargs or None, got {self.synthetic!r}")
        for name, low in (("label_noise", 0.0), ("imbalance", 1.0), ("duplicates", 0.0)):
            _check_number(name, getattr(self, name), low)
        _check_choice("noise_type", self.noise_type, NOISE_TYPES)
        check_corruptions(self.label_noise, self.noise_type, self.imbalance, self.duplicates)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of the inner training (units in comments)."""

    model: str = "small"  # network name (dataselect_env.models.MODELS)
    epochs: int = 10  # schedule length; a step of the env is one epoch, however small its subset
    batch_size: int = 256  # largest number of samples per SGD step (an epoch's steps are balanced)
    lr: float = 0.2  # peak learning rate, for the mean loss over a batch
    momentum: float = 0.9  # Nesterov momentum
    weight_decay: float = 5e-4  # L2 on all parameters
    label_smoothing: float = 0.2  # of the training loss (the observed losses are plain CE)
    warmup: float = 0.2  # fraction of the schedule with a linear warm-up, then linear decay to 0
    augment: bool = True  # random horizontal flip and translation (images only)
    translate: int = 2  # pixels of random translation (reflect padding)
    eval_batch_size: int = 1024  # samples per evaluation forward pass
    device: str = "auto"  # "auto", "cpu", "cuda" or "cuda:N"
    precision: str = "auto"  # "auto" (bf16 where supported), "fp32" or "bf16"

    def __post_init__(self) -> None:
        _check_choice("model", self.model, MODELS)
        for name in ("epochs", "batch_size", "eval_batch_size"):
            _check_int(name, getattr(self, name), 1)
        _check_int("translate", self.translate, 0)
        for name in ("lr", "momentum", "weight_decay", "label_smoothing", "warmup"):
            _check_number(name, getattr(self, name), 0.0)
        if not self.label_smoothing < 1 or not self.warmup <= 1:
            raise ValueError(f"label_smoothing must be in [0, 1) and warmup in [0, 1], "
                             f"got {self.label_smoothing!r} and {self.warmup!r}")


@dataclass(frozen=True)
class RewardConfig:
    """How a step is scored and when compute runs out (see the env's ``## Rewards``)."""

    reward: str = "gain_per_compute"  # one of REWARDS
    c_min: float = 0.05  # floor of the compute in the gain-per-compute denominator (full epochs)
    lam: float = 1.0  # compute price in gain_minus_cost and terminal (points per full epoch)
    compute_budget: float | None = None  # end the episode once this much compute is spent

    def __post_init__(self) -> None:
        _check_choice("reward", self.reward, REWARDS)
        _check_number("c_min", self.c_min, 0.0, open_low=True)
        _check_number("lam", self.lam, 0.0)
        if self.compute_budget is not None:
            _check_number("compute_budget", self.compute_budget, 0.0, open_low=True)


@dataclass(frozen=True)
class EnvConfig:
    """Everything a ``DataSelectEnv`` is built from: data, training, reward, and its own action settings."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    action_mode: str = "mask"  # "mask" (MultiBinary) or "weights" (per-sample loss weights)
    w_max: float = 10.0  # largest loss weight in weights mode
    probe_every: int = 0  # eval pass over all samples every k epochs (0 = never)
    ema: float = 0.5  # weight of the newest loss in the moving statistics
    obs_version: int = 1  # per-sample columns: 0 the first nine, 1 adds class share, loss ranks, label (-v0 ids: 0)

    def __post_init__(self) -> None:
        _check_choice("action_mode", self.action_mode, ACTION_MODES)
        _check_choice("obs_version", self.obs_version, OBS_VERSIONS)
        _check_number("w_max", self.w_max, 0.0, open_low=True)
        _check_int("probe_every", self.probe_every, 0)
        _check_number("ema", self.ema, 0.0, open_low=True)
        if self.ema > 1:
            raise ValueError(f"ema must be in (0, 1], got {self.ema!r}")

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> EnvConfig:
        """Sort flat ``gym.make`` kwargs into the config objects and validate them.

        :raises TypeError: for a name no config has, listing the valid ones.
        :raises ValueError: for a bad value, naming the argument.
        """
        parts: dict[str, dict[str, Any]] = {"data": {}, "train": {}, "reward": {}, "env": {}}
        owners = {f.name: part for part, klass in (("data", DataConfig), ("train", TrainConfig),
                                                   ("reward", RewardConfig)) for f in fields(klass)}
        owners.update({f.name: "env" for f in fields(cls) if f.name not in ("data", "train", "reward")})
        for key, value in kwargs.items():
            if key not in owners:
                raise TypeError(f"unknown env argument {key!r}; valid: {', '.join(sorted(owners))}")
            parts[owners[key]][key] = value
        return cls(DataConfig(**parts["data"]), TrainConfig(**parts["train"]), RewardConfig(**parts["reward"]),
                   **parts["env"])


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ValueError(f"{name} must be {what}, got {value!r}")


def _check_number(name: str, value: Any, low: float, open_low: bool = False) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and np.isfinite(value) and (value > low if open_low else value >= low)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>' if open_low else '>='} {low:g}, got {value!r}")

"""The data-selection environment: spaces, reward and compute accounting around the trainer."""

from __future__ import annotations

import time
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from . import data as data_mod
from . import stats as st
from .models import forward_flops, make_model
from .trainer import TrainConfig, Trainer, resolve_device, resolve_precision

REWARDS = ("gain_per_compute", "gain_minus_cost", "terminal")
ACTION_MODES = ("mask", "weights")
FORWARD_COST = 1.0 / 3.0  # a forward-only pass costs a third of a training pass (fwd + bwd)


class DataSelectEnv(gym.Env):
    """
    ## Description

    Dynamic data selection as a Markov decision process (Raju, Daruwalla & Lipasti 2021,
    "Accelerating Deep Learning with Dynamic Data Pruning"). An episode is one training run of a
    classifier; a step is one epoch; before each epoch the agent picks the training samples to
    use. The learning-rate schedule advances by one epoch per step whatever the subset size, as in
    the dynamic-pruning papers, so a smaller subset saves compute at a fixed number of epochs.

    ## Action Space

    ``action_mode="mask"`` (default): ``MultiBinary(N)``; 1 = train on this sample this epoch (in
    a fresh random order). Any numeric or bool array of shape ``(N,)`` whose values are all exactly
    0 or 1 (SB3 samples ``MultiBinary`` as float32 0.0 / 1.0, and that is accepted).
    ``action_mode="weights"``: ``Box(0, w_max, (N,), float32)``; 0 = dropped, ``w > 0`` = trained
    with its loss multiplied by ``w`` (InfoBatch-style rescaling). An all-zero action is legal: no
    training that epoch, zero compute, and the schedule still advances.

    ## Observation Space

    ``Dict(samples=Box(N, F), progress=Box(G))``, float32. Per-sample features (constants exported
    by ``dataselect_env``); a sample not trained on in an epoch keeps its old values:

    | Num | Name                    | Meaning                                                  | Range    |
    |-----|-------------------------|----------------------------------------------------------|----------|
    | 0   | `LAST_LOSS`             | cross-entropy at the last observation                    | [0, inf) |
    | 1   | `EMA_LOSS`              | moving average of the loss (newest weight `ema`)         | [0, inf) |
    | 2   | `LOSS_VAR`              | moving variance of the loss                              | [0, inf) |
    | 3   | `LAST_CORRECT`          | 1 if last classified correctly                           | {0, 1}   |
    | 4   | `LAST_MARGIN`           | p_true - max p_other at the last observation             | [-1, 1]  |
    | 5   | `SELECTED_FRAC`         | fraction of the epochs so far the sample was selected    | [0, 1]   |
    | 6   | `EPOCHS_SINCE_SELECTED` | epochs since last selected (or since the start) / E      | [0, 1]   |
    | 7   | `FORGETTING`            | forgetting events (correct -> incorrect), Toneva 2019    | [0, inf) |
    | 8   | `SEEN`                  | 1 once the sample has been observed                      | {0, 1}   |

    A never-seen sample has `LAST_LOSS = EMA_LOSS = ln(num_classes)`, every other feature 0.
    Losses, correctness and margins come from the training forward pass (train-mode network,
    augmented input) or, with ``probe_every=k``, from an eval-mode pass over all samples every k
    epochs (refreshing every row, charged to compute).

    Progress features:

    | Num | Name               | Meaning                                             | Range    |
    |-----|--------------------|-----------------------------------------------------|----------|
    | 0   | `EPOCH_FRAC`       | epochs done / E                                     | [0, 1]   |
    | 1   | `EPOCHS_LEFT_FRAC` | epochs left / E                                     | [0, 1]   |
    | 2   | `COMPUTE_USED`     | compute used / E                                    | [0, inf) |
    | 3   | `VAL_ACCURACY`     | last validation accuracy                            | [0, 1]   |
    | 4   | `VAL_LOSS`         | last validation loss                                | [0, inf) |
    | 5   | `LR_FRAC`          | learning rate at the start of the next epoch / peak | [0, 1]   |
    | 6   | `LAST_KEEP`        | fraction of samples kept in the last epoch          | [0, 1]   |
    | 7   | `BUDGET_LEFT`      | compute budget left / budget (1 without a budget)   | [0, 1]   |

    ## Rewards

    With ``A_t`` the validation accuracy after step t (``A_0`` measured at reset), ``c_t`` the
    compute of step t in full-epoch units (samples trained / N, plus a third of the samples
    probed / N) and ``C`` the cumulative compute:

    - ``"gain_per_compute"`` (default): ``r_t = 100 * (A_t - A_{t-1}) / max(c_t, c_min)``
    - ``"gain_minus_cost"``: ``r_t = 100 * (A_t - A_{t-1}) - lam * c_t``
    - ``"terminal"``: ``r_t = 0`` before the last step, then ``100 * A_T - lam * C``

    The test set is never used for rewards or observations; it is evaluated once, at the end of
    the episode, into ``info["test_accuracy"]`` and ``info["test_loss"]``.

    ## Episode End

    Terminates after ``epochs`` steps, or as soon as the cumulative compute reaches
    ``compute_budget`` (full-epoch units) if one is set. Never truncated.

    ## Info

    Every step: ``epoch``, ``samples_trained``, ``compute`` (cumulative, full-epoch units),
    ``flops`` (cumulative estimate: 3x forward FLOPs per trained sample, 1x per evaluated or
    probed sample), ``wall_time`` (seconds since reset), ``val_accuracy``, ``val_loss``,
    ``keep_fraction``, ``lr`` (the last learning rate used). At the end: ``test_accuracy``,
    ``test_loss``.

    ## Arguments

    | Argument         | Default              | Meaning                                                    |
    |------------------|----------------------|------------------------------------------------------------|
    | `dataset`        | `"cifar10"`          | `"cifar10"`, `"cifar100"` or `"synthetic"`                 |
    | `data_root`      | `None`               | torchvision root, or an image folder / `.tar.gz` of one    |
    | `download`       | `True`               | let torchvision download CIFAR when missing                |
    | `epochs`         | `10`                 | schedule length E (steps per episode)                      |
    | `model`          | `"small"`            | `"resnet18"`, `"fast"`, `"small"`, `"tiny"`                |
    | `batch_size`     | `256`                | SGD batch size                                             |
    | `lr`             | `0.2`                | peak learning rate                                         |
    | `weight_decay`   | `5e-4`               | L2 weight decay                                            |
    | `label_smoothing`| `0.2`                | label smoothing of the training loss                       |
    | `augment`        | `True`               | random flip + translate (images)                           |
    | `train_subset`   | `None`               | stratified subset size of the training split               |
    | `val_size`       | `None`               | validation split size (default 5,000; 500 for synthetic)   |
    | `data_seed`      | `0`                  | fixes the val split and the train subset                   |
    | `synthetic`      | `None`               | kwargs of `dataselect_env.data.make_synthetic`             |
    | `device`         | `"auto"`             | `"auto"`, `"cpu"` or `"cuda"`                              |
    | `precision`      | `"auto"`             | `"auto"` (bf16 where supported), `"fp32"`, `"bf16"`        |
    | `action_mode`    | `"mask"`             | `"mask"` or `"weights"`                                    |
    | `w_max`          | `10.0`               | largest loss weight in weights mode                        |
    | `reward`         | `"gain_per_compute"` | see Rewards                                                |
    | `c_min`          | `0.05`               | floor of the compute in the gain-per-compute denominator   |
    | `lam`            | `1.0`                | compute price in `gain_minus_cost` and `terminal`          |
    | `compute_budget` | `None`               | end the episode once this much compute is spent            |
    | `probe_every`    | `0`                  | eval pass over all samples every k epochs (0 = never)      |
    | `ema`            | `0.5`                | weight of the newest loss in the moving statistics         |
    | `render_mode`    | `None`               | `"ansi"`: a one-line epoch summary                         |
    | `clock`          | `time.perf_counter`  | timer of `info["wall_time"]`; a constant one makes `info`  |
    |                  |                      | bit-exact across runs (gymnasium's `check_env` needs that) |

    ## Version History

    - v0: initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(self, dataset: str = "cifar10", data_root: str | None = None, download: bool = True,
                 epochs: int = 10, model: str = "small", batch_size: int = 256, lr: float = 0.2,
                 weight_decay: float = 5e-4, label_smoothing: float = 0.2, augment: bool = True,
                 train_subset: int | None = None, val_size: int | None = None, data_seed: int = 0,
                 synthetic: dict | None = None, device: str = "auto", precision: str = "auto",
                 action_mode: str = "mask", w_max: float = 10.0, reward: str = "gain_per_compute",
                 c_min: float = 0.05, lam: float = 1.0, compute_budget: float | None = None,
                 probe_every: int = 0, ema: float = 0.5, render_mode: str | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        _check_choice("reward", reward, REWARDS)
        _check_choice("action_mode", action_mode, ACTION_MODES)
        _check_choice("render_mode", render_mode, (None, *self.metadata["render_modes"]))
        for name, value in [("epochs", epochs), ("batch_size", batch_size)]:
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(probe_every, (int, np.integer)) or probe_every < 0:
            raise ValueError(f"probe_every must be an integer >= 0, got {probe_every!r}")
        if compute_budget is not None and compute_budget <= 0:
            raise ValueError(f"compute_budget must be > 0 (full-epoch units) or None, got {compute_budget!r}")
        if not 0 < ema <= 1:
            raise ValueError(f"ema must be in (0, 1], got {ema!r}")
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.model_name, self.action_mode, self.reward_mode = model, action_mode, reward
        self.epochs, self.w_max, self.c_min, self.lam = int(epochs), float(w_max), float(c_min), float(lam)
        self.compute_budget, self.probe_every, self.ema = compute_budget, int(probe_every), ema
        self.render_mode, self.clock = render_mode, clock
        self.cfg = TrainConfig(epochs=self.epochs, batch_size=int(batch_size), lr=lr,
                               weight_decay=weight_decay, label_smoothing=label_smoothing, augment=augment)
        self.splits = data_mod.load(dataset, data_root, download, val_size, train_subset, data_seed,
                                    synthetic).to(self.device)
        self.n = len(self.splits.y_train)
        probe_model = make_model(model, self.splits.num_classes, self.splits.input_shape)
        self.flops_per_forward = forward_flops(probe_model, self.splits.input_shape)
        self.observation_space = spaces.Dict({
            "samples": spaces.Box(np.broadcast_to(st.SAMPLE_LOW, (self.n, len(st.SAMPLE_FEATURES))),
                                  np.broadcast_to(st.SAMPLE_HIGH, (self.n, len(st.SAMPLE_FEATURES))),
                                  dtype=np.float32),
            "progress": spaces.Box(st.PROGRESS_LOW, st.PROGRESS_HIGH, dtype=np.float32),
        })
        self.action_space = spaces.MultiBinary(self.n) if action_mode == "mask" else \
            spaces.Box(0.0, self.w_max, (self.n,), np.float32)
        self.trainer: Trainer | None = None

    # ------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a training run: fresh model (seeded from ``np_random``), statistics and counters."""
        super().reset(seed=seed)
        torch_seed = int(self.np_random.integers(2**62))
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(torch_seed)
            model = make_model(self.model_name, self.splits.num_classes, self.splits.input_shape)
        self.trainer = Trainer(model, self.splits, self.cfg, self.device, self.precision, torch_seed)
        self.stats = st.SampleStats(self.n, self.epochs, self.splits.num_classes, self.device, self.ema)
        self.epoch, self.compute, self.samples_trained, self.last_keep, self.last_lr = 0, 0.0, 0, 0.0, 0.0
        self.flops = 0.0
        self.t_start = self.clock()
        self.val_accuracy, self.val_loss = self._validate()
        self.last_info = self._info()
        return self._observation(), dict(self.last_info)

    def step(self, action: Any):
        """Train one epoch on the selected samples; return observation, reward, terminated, truncated, info."""
        if self.trainer is None:
            raise RuntimeError("call reset() before step()")
        if self.epoch >= self.epochs or self._budget_spent():
            raise RuntimeError("the episode has ended; call reset() to start a new one")
        weights = self.check_action(action)
        selected = torch.from_numpy(np.flatnonzero(weights)).to(self.device)
        w = None if self.action_mode == "mask" else torch.from_numpy(weights[weights > 0]).to(self.device)
        if len(selected):
            order, out = self.trainer.train_epoch(self.epoch, selected, w)
            self.stats.observe(order, out["loss"], out["correct"], out["margin"])
            steps = -(-len(selected) // self.cfg.batch_size)
            self.last_lr = self.trainer.lr_at((self.epoch + (steps - 1) / steps) / self.epochs)
        self.stats.end_epoch(selected)
        self.epoch += 1
        step_compute = len(selected) / self.n
        self.samples_trained += len(selected)
        self.flops += 3.0 * self.flops_per_forward * len(selected)
        self.last_keep = len(selected) / self.n
        if self.probe_every and self.epoch % self.probe_every == 0:
            scores = self._probe()
            self.stats.observe(torch.arange(self.n, device=self.device), scores["loss"],
                               scores["correct"], scores["margin"])
            step_compute += FORWARD_COST
        self.compute += step_compute
        prev_acc = self.val_accuracy
        self.val_accuracy, self.val_loss = self._validate()
        terminated = self.epoch >= self.epochs or self._budget_spent()
        reward = self._reward(self.val_accuracy - prev_acc, step_compute, terminated)
        info = self._info()
        if terminated:
            info["test_accuracy"], info["test_loss"] = self.trainer.evaluate(self.splits.x_test, self.splits.y_test)
            self.flops += self.flops_per_forward * len(self.splits.y_test)
            info["flops"] = self.flops
            info["wall_time"] = self.clock() - self.t_start
        self.last_info = info
        return self._observation(), reward, terminated, False, dict(info)

    def render(self) -> str | None:
        """``"ansi"``: a one-line summary of the last epoch."""
        if self.render_mode != "ansi" or self.trainer is None:
            return None
        i = self.last_info
        line = (f"epoch {i['epoch']:>3}/{self.epochs}  keep {i['keep_fraction']:.2f}  "
                f"compute {i['compute']:.2f}  val_acc {i['val_accuracy']:.4f}  val_loss {i['val_loss']:.3f}  "
                f"lr {i['lr']:.4f}  {i['wall_time']:.1f}s")
        if "test_accuracy" in i:
            line += f"  test_acc {i['test_accuracy']:.4f}"
        return line

    def close(self) -> None:
        """Free the model and data (safe to call twice)."""
        self.trainer = None

    # ---- documented methods for agents -------------------------------------------------------
    def score_samples(self) -> dict[str, np.ndarray]:
        """Eval-mode forward pass over every training sample; charged to compute (1/3 epoch).

        Returns per-sample ``loss``, ``correct``, ``margin``, ``el2n`` (Paul et al. 2021: the norm
        of softmax minus one-hot) and ``grand`` (last-layer gradient norm, GraNd's approximation).
        Static-pruning agents call this once after their scoring epochs. The cost appears in
        ``info["compute"]`` and ``info["flops"]`` of the next step.
        """
        if self.trainer is None:
            raise RuntimeError("call reset() before score_samples()")
        scores = self._probe()
        self.compute += FORWARD_COST
        return {k: v.cpu().numpy() for k, v in scores.items()}

    def check_action(self, action: Any) -> np.ndarray:
        """Validate an action; return it as a float64 weight vector (0 = dropped).

        :raises ValueError: naming the expected shape, dtype and range.
        """
        a = np.asarray(action)
        if self.action_mode == "mask":
            expect = f"a numeric or bool array of shape ({self.n},) whose values are all exactly 0 or 1"
            if a.shape != (self.n,):
                raise ValueError(f"action must be {expect}; got shape {a.shape}")
            if not (a.dtype == bool or np.issubdtype(a.dtype, np.number)):
                raise ValueError(f"action must be {expect}; got dtype {a.dtype}")
            bad = (a != 0) & (a != 1)  # NaN is neither
            if bad.any():
                raise ValueError(f"action must be {expect}; got {a[bad][0].item()!r} at index {int(np.flatnonzero(bad)[0])}")
            return a.astype(np.float64)
        expect = f"a float array of shape ({self.n},) with values in [0, {self.w_max}]"
        if a.shape != (self.n,):
            raise ValueError(f"action must be {expect}; got shape {a.shape}")
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise ValueError(f"action must be {expect}; got dtype {a.dtype}")
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise ValueError(f"action must be {expect}; got NaN or infinite values")
        if a.size and (a.min() < 0 or a.max() > self.w_max):
            raise ValueError(f"action must be {expect}; got values in [{a.min()}, {a.max()}]")
        return a

    # ---- internals ---------------------------------------------------------------------------
    def _probe(self) -> dict[str, torch.Tensor]:
        self.flops += self.flops_per_forward * self.n
        return self.trainer.forward_stats(self.splits.x_train, self.splits.y_train)

    def _validate(self) -> tuple[float, float]:
        self.flops += self.flops_per_forward * len(self.splits.y_val)
        return self.trainer.evaluate(self.splits.x_val, self.splits.y_val)

    def _budget_spent(self) -> bool:
        return self.compute_budget is not None and self.compute >= self.compute_budget - 1e-9

    def _reward(self, gain: float, step_compute: float, terminated: bool) -> float:
        if self.reward_mode == "gain_per_compute":
            return 100.0 * gain / max(step_compute, self.c_min)
        if self.reward_mode == "gain_minus_cost":
            return 100.0 * gain - self.lam * step_compute
        return 100.0 * self.val_accuracy - self.lam * self.compute if terminated else 0.0

    def _info(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "samples_trained": self.samples_trained, "compute": self.compute,
                "flops": self.flops, "wall_time": self.clock() - self.t_start,
                "val_accuracy": self.val_accuracy, "val_loss": self.val_loss,
                "keep_fraction": self.last_keep, "lr": self.last_lr}

    def _observation(self) -> dict[str, np.ndarray]:
        budget_left = 1.0 if self.compute_budget is None else \
            max(0.0, 1.0 - self.compute / self.compute_budget)
        progress = np.array([self.epoch / self.epochs, 1 - self.epoch / self.epochs, self.compute / self.epochs,
                             self.val_accuracy, self.val_loss,
                             self.trainer.lr_at(self.epoch / self.epochs) / self.cfg.lr,
                             self.last_keep, budget_left], dtype=np.float32)
        return {"samples": self.stats.samples(), "progress": progress}


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")

"""The data-selection environment: the RL side (spaces, actions, reward, observation, compute ledger).

Data flows one way: ``data`` (splits on the device) -> ``trainer`` (one epoch on the selected
indices, its per-sample losses and its cost) -> ``stats`` (the per-sample observation) -> this
env (spaces, reward, compute accounting) -> an agent, whose mask goes back to the trainer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from . import data as data_mod
from . import stats as st
from .config import EnvConfig
from .trainer import Trainer, resolve

FORWARD_COST = 1.0 / 3.0  # a forward-only pass costs a third of a training pass (fwd + bwd)


@dataclass
class Ledger:
    """The episode's compute account: full-epoch units (samples trained / N, probes at a third)."""

    compute: float = 0.0  # cumulative, full-epoch units
    samples_trained: int = 0  # cumulative
    last_keep: float = 0.0  # fraction of the samples trained in the last epoch


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

    Flat keyword arguments (as ``gym.make`` passes them) are sorted into an
    :class:`~dataselect_env.config.EnvConfig` (``data``, ``train``, ``reward`` and the env's own
    action settings) and validated there; ``DataSelectEnv(config=EnvConfig(...))`` takes one
    directly. The training config also has ``momentum``, ``warmup``, ``translate`` and
    ``eval_batch_size`` (see :class:`~dataselect_env.config.TrainConfig`).

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

    def __init__(self, config: EnvConfig | None = None, *, render_mode: str | None = None,
                 clock: Callable[[], float] = time.perf_counter, **kwargs: Any):
        if config is not None and kwargs:
            raise TypeError(f"pass either config= or flat keyword arguments, not both (got {sorted(kwargs)})")
        self.config = config if config is not None else EnvConfig.from_kwargs(**kwargs)
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be one of {(None, *self.metadata['render_modes'])}, got {render_mode!r}")
        self.render_mode, self.clock = render_mode, clock
        cfg = self.config
        self.device, self.precision = resolve(cfg.train)
        self.epochs, self.action_mode, self.model_name = cfg.train.epochs, cfg.action_mode, cfg.train.model
        d = cfg.data
        self.splits = data_mod.load(d.dataset, d.data_root, d.download, d.val_size, d.train_subset, d.data_seed,
                                    d.synthetic).to(self.device)
        self.n = len(self.splits.y_train)
        n_feat = len(st.SAMPLE_FEATURES)
        self.observation_space = spaces.Dict({
            "samples": spaces.Box(np.broadcast_to(st.SAMPLE_LOW, (self.n, n_feat)),
                                  np.broadcast_to(st.SAMPLE_HIGH, (self.n, n_feat)), dtype=np.float32),
            "progress": spaces.Box(st.PROGRESS_LOW, st.PROGRESS_HIGH, dtype=np.float32),
        })
        self.action_space = spaces.MultiBinary(self.n) if self.action_mode == "mask" else \
            spaces.Box(0.0, cfg.w_max, (self.n,), np.float32)
        self.trainer: Trainer | None = None

    @property
    def flops_per_forward(self) -> float:
        """FLOPs of one sample's forward pass through the network (known after ``reset``)."""
        if self.trainer is None:
            raise RuntimeError("call reset() before reading flops_per_forward")
        return self.trainer.flops_per_forward

    # ------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a training run: fresh model (seeded from ``np_random``), statistics and ledger."""
        super().reset(seed=seed)
        torch_seed = int(self.np_random.integers(2**62))
        self.trainer = Trainer(self.splits, self.config.train, self.device, self.precision, torch_seed)
        self.stats = st.SampleStats(self.n, self.epochs, self.splits.num_classes, self.device, self.config.ema)
        self.epoch, self.ledger, self.last_lr = 0, Ledger(), 0.0
        self.t_start = self.clock()
        self.val_accuracy, self.val_loss = self.trainer.evaluate(self.splits.x_val, self.splits.y_val)
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
            result = self.trainer.train_epoch(self.epoch, selected, w)
            self.stats.observe(result.order, result.loss, result.correct, result.margin)
            self.last_lr = result.lr
        self.stats.end_epoch(selected)
        self.epoch += 1
        step_compute = len(selected) / self.n
        self.ledger.samples_trained += len(selected)
        self.ledger.last_keep = len(selected) / self.n
        if self.config.probe_every and self.epoch % self.config.probe_every == 0:
            scores = self.trainer.forward_stats(self.splits.x_train, self.splits.y_train)
            self.stats.observe(torch.arange(self.n, device=self.device), scores["loss"],
                               scores["correct"], scores["margin"])
            step_compute += FORWARD_COST
        self.ledger.compute += step_compute
        prev_acc = self.val_accuracy
        self.val_accuracy, self.val_loss = self.trainer.evaluate(self.splits.x_val, self.splits.y_val)
        terminated = self.epoch >= self.epochs or self._budget_spent()
        reward = self._reward(self.val_accuracy - prev_acc, step_compute, terminated)
        info = self._info()
        if terminated:
            info["test_accuracy"], info["test_loss"] = self.trainer.evaluate(self.splits.x_test, self.splits.y_test)
            info["flops"] = self.trainer.flops
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
        scores = self.trainer.forward_stats(self.splits.x_train, self.splits.y_train)
        self.ledger.compute += FORWARD_COST
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
        expect = f"a float array of shape ({self.n},) with values in [0, {self.config.w_max}]"
        if a.shape != (self.n,):
            raise ValueError(f"action must be {expect}; got shape {a.shape}")
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise ValueError(f"action must be {expect}; got dtype {a.dtype}")
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise ValueError(f"action must be {expect}; got NaN or infinite values")
        if a.size and (a.min() < 0 or a.max() > self.config.w_max):
            raise ValueError(f"action must be {expect}; got values in [{a.min()}, {a.max()}]")
        return a

    # ---- internals ---------------------------------------------------------------------------
    def _budget_spent(self) -> bool:
        budget = self.config.reward.compute_budget
        return budget is not None and self.ledger.compute >= budget - 1e-9

    def _reward(self, gain: float, step_compute: float, terminated: bool) -> float:
        r = self.config.reward
        if r.reward == "gain_per_compute":
            return 100.0 * gain / max(step_compute, r.c_min)
        if r.reward == "gain_minus_cost":
            return 100.0 * gain - r.lam * step_compute
        return 100.0 * self.val_accuracy - r.lam * self.ledger.compute if terminated else 0.0

    def _info(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "samples_trained": self.ledger.samples_trained, "compute": self.ledger.compute,
                "flops": self.trainer.flops, "wall_time": self.clock() - self.t_start,
                "val_accuracy": self.val_accuracy, "val_loss": self.val_loss,
                "keep_fraction": self.ledger.last_keep, "lr": self.last_lr}

    def _observation(self) -> dict[str, np.ndarray]:
        budget = self.config.reward.compute_budget
        budget_left = 1.0 if budget is None else max(0.0, 1.0 - self.ledger.compute / budget)
        progress = np.array([self.epoch / self.epochs, 1 - self.epoch / self.epochs, self.ledger.compute / self.epochs,
                             self.val_accuracy, self.val_loss, self.trainer.lr_frac_at_epoch(self.epoch),
                             self.ledger.last_keep, budget_left], dtype=np.float32)
        return {"samples": self.stats.samples(), "progress": progress}

"""The data-selection environment: the RL side (spaces, actions, reward, observation, compute ledger).

Data flows one way: ``data`` (splits on the device) -> ``trainer`` (one epoch on the selected
indices, its per-sample losses) -> ``stats`` (the per-sample observation) -> this env (spaces,
reward, and the episode's :class:`~dataselect_env.accounting.Ledger`, which it charges for every
pass) -> an agent, whose mask goes back to the trainer. What each pass costs is defined in
:mod:`~dataselect_env.accounting`.

Over 450 lines: a third of them is the class docstring, the env's manual in Gymnasium's layout
(usage, ids, spaces, feature tables, rewards, arguments, version history), which ``help()`` shows.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import asdict, replace
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from . import accounting, reference
from . import data as data_mod
from . import stats as st
from .accounting import Ledger
from .config import EnvConfig
from .frontier import Frontier, accuracy_at, delta_vs_frontier
from .trainer import TrainData, Trainer, prepare_data, resolve

FRONTIER_CACHE = 256  # full-data reference runs kept per env by frontier_val_accuracy (seed, E')


class DataSelectEnv(gym.Env):
    """
    ## Description

    Dynamic data selection as a Markov decision process (Raju, Daruwalla & Lipasti 2021,
    "Accelerating Deep Learning with Dynamic Data Pruning"). An episode is one training run of a
    classifier; a step is one epoch; before each epoch the agent picks the training samples to
    use. The learning-rate schedule advances by one epoch per step whatever the subset size, as in
    the dynamic-pruning papers, so a smaller subset saves compute at a fixed number of epochs.

    ## Usage

    ```python
    import gymnasium as gym
    import agents, dataselect_env  # registers the ids

    env = gym.make("DataSelect/Synthetic-v1", epochs=5)  # CIFAR: data from $DATASELECT_DATA or data_root=
    info = agents.play_episode(agents.make("ucb", keep=0.3), env, seed=0)
    print(info["test_accuracy"], info["compute"])
    ```

    Ids (``dataselect_env.ENV_IDS``): ``DataSelect/CIFAR10-v1``, ``CIFAR100-v1``, ``Synthetic-v1``,
    ``CIFAR10Proxy-v1`` (5,000 samples), the corrupted ``CIFAR10Noisy40-v1``, ``CIFAR10Asym40-v1``,
    ``CIFAR10LT100-v1`` and their ``...Proxy-v1`` variants; task distributions
    (``dataselect_env.TASK_ENV_IDS``, :mod:`dataselect_env.tasks`): ``DataSelect/Tasks-v1``,
    ``CIFAR10Tasks-v1``. Each also at ``-v0`` (``ENV_IDS_V0``, ``TASK_ENV_IDS_V0``), the
    observation of version 0 (see Version History). CIFAR is read from ``data_root``, else the ``DATASELECT_DATA`` environment
    variable, else ``~/.cache/dataselect`` (torchvision downloads it there when missing).

    Envs in forked processes (``gym.make_vec(..., vectorization_mode="async")``, which forks): once
    torch has run parallel CPU ops in the parent, a forked child deadlocks in OpenMP. Call
    ``dataselect_env.hardware.fork_safe_threads()`` first (one torch thread per forked child; importing
    the package does not), or pass ``vector_kwargs={"context": "forkserver"}``.

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
    | 9   | `CLASS_SHARE`           | its training label's count / (N / C) (v1)                | [0, inf) |
    | 10  | `LOSS_RANK`             | quantile rank of `LAST_LOSS` among all samples (v1)      | [0, 1]   |
    | 11  | `CLASS_LOSS_RANK`       | quantile rank of `LAST_LOSS` within its label (v1)       | [0, 1]   |
    | 12  | `LABEL`                 | the training label as trained on (v1)                    | 0..C-1   |

    A never-seen sample has `LAST_LOSS = EMA_LOSS = ln(num_classes)`, every other feature 0 (the
    ranks: tied values share their mid-rank, so all-unseen reads 0.5). Columns 9-12 are those of
    observation version 1 (the ``-v1`` ids, ``obs_version=1``); the ``-v0`` ids observe 0-8.
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
    probed / N, plus the validation pass after the epoch, ``val_cost = n_val / (3 N)``) and ``C``
    the cumulative compute (the validation pass at reset included, and any scoring or reference
    models an agent asked for: every pass the run makes, except the one final test evaluation):

    - ``"gain_per_compute"`` (default): ``r_t = 100 * (A_t - A_{t-1}) / max(c_t, c_min)``
    - ``"gain_minus_cost"``: ``r_t = 100 * (A_t - A_{t-1}) - lam * c_t``
    - ``"terminal"``: ``r_t = 0`` before the last step, then ``100 * A_T - lam * C``
    - ``"vs_frontier"``: ``r_t = 0`` before the last step, then ``100 * (A_T - F(C))``, where
      ``F(C)`` (:meth:`frontier_val_accuracy`) is the validation accuracy of full-data training
      with the same seed at the same compute: the controller's margin over the full-data
      frontier, measured on validation. Its reference runs are not charged to the episode.

    The test set is never used for rewards or observations; it is evaluated once, at the end of
    the episode, into ``info["test_accuracy"]`` and ``info["test_loss"]``.

    ## Episode End

    Terminates after ``epochs`` steps, or as soon as the cumulative compute reaches
    ``compute_budget`` (full-epoch units) if one is set. Never truncated.

    **Divergence.** If a training loss or a weight becomes non-finite (NaN or inf) during an
    epoch (for example at ``lr=50``), the episode terminates at that step with
    ``info["diverged"] = True``, and a ``RuntimeWarning`` says so. The reward is computed as on
    any step, from validation accuracy, which is always finite (a diverged network scores about chance); the test accuracy is
    reported. In the observation, non-finite statistics read as ``NONFINITE_FILL`` (``1e4``;
    ``-1e4`` for -inf), clipped into the observation space's bounds, so the observation is finite
    and inside the space. ``info["val_loss"]`` keeps the measured (non-finite) value.

    **Saving and resuming.** :meth:`state_dict` after any step is a copy of the running episode;
    ``reset(seed=s)`` with the episode's seed, then :meth:`load_state_dict`, goes on from there with the
    same observations and ``info``, bit for bit on the CPU (``agents.play_episode(..., resume=...)``
    does it with the agent's state; a bench keeps one per epoch, so a killed run resumes there).

    ## Info

    Every step: ``epoch``, ``samples_trained``, ``compute`` (cumulative, full-epoch units; see
    Rewards), ``val_compute`` (the part of it spent validating: ``(epoch + 1) * val_cost``),
    ``flops`` (cumulative estimate: 3x forward FLOPs per trained sample, 1x per evaluated or
    probed sample, the final test pass included), ``val_accuracy``, ``val_loss``, ``keep_fraction``, ``lr`` (the last learning
    rate used), ``diverged`` (see Episode End). At the end: ``test_accuracy``, ``test_loss``.
    ``info`` is deterministic on the CPU: the same seed and actions give the same ``info``. Wall-clock
    time is not in it; wrap the env in ``gymnasium.wrappers.RecordEpisodeStatistics`` for
    ``info["episode"]["t"]`` (the harness measures it itself).

    On CUDA the same seed gives the same initial weights, data order and augmentation, but training
    is not bit-identical from run to run: cuDNN autotunes its convolution algorithms
    (``cudnn.benchmark``, set by the trainer: :func:`~dataselect_env.hardware.configure_cuda_training`)
    and some of them add in a varying order. The networks' own layers are deterministic (no adaptive
    pools: :mod:`~dataselect_env.models`). So a controller and the full-data run it is compared with at
    the same seed (the ``vs_frontier`` reward, the harness's frontier) still start from the same weights
    and see the data in the same order; they differ beyond that by run-to-run noise, the same noise
    two runs of one controller show. For bit-identical CUDA runs, call
    ``torch.use_deterministic_algorithms(True)`` and set ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` before the
    first reset: the trainer then leaves cuDNN autotuning off (slower).

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
    | `data_seed`      | `0`                  | fixes the val split, train subset and corruptions          |
    | `synthetic`      | `None`               | kwargs of `dataselect_env.data.make_synthetic`             |
    | `label_noise`    | `0.0`                | fraction of training labels flipped, in [0, 1) (*)         |
    | `noise_type`     | `"symmetric"`        | `"symmetric"`: to a uniform other class; `"asymmetric"`:   |
    |                  |                      | to the class's pair (CIFAR-10: truck->automobile,          |
    |                  |                      | bird->airplane, deer->horse, cat<->dog), rate within the   |
    |                  |                      | mapped classes (*)                                         |
    | `imbalance`      | `1.0`                | long tail: class c keeps n_max * imbalance^(-c/(C-1)) (*)  |
    | `duplicates`     | `0.0`                | fraction of training samples replaced by copies of others, |
    |                  |                      | in [0, 1) (*)                                              |
    | `device`         | `"auto"`             | `"auto"`, `"cpu"` or `"cuda"`                              |
    | `precision`      | `"auto"`             | `"auto"`, `"fp32"`, `"bf16"`; auto: bf16 where native      |
    |                  |                      | (CUDA capability >= 8.0, CPUs with AVX512-BF16 or AMX),    |
    |                  |                      | else fp32 (on CUDA with TF32 where the device has it)      |
    | `action_mode`    | `"mask"`             | `"mask"` or `"weights"`                                    |
    | `w_max`          | `10.0`               | largest loss weight in weights mode                        |
    | `reward`         | `"gain_per_compute"` | see Rewards                                                |
    | `c_min`          | `0.05`               | floor of the compute in the gain-per-compute denominator   |
    | `lam`            | `1.0`                | compute price in `gain_minus_cost` and `terminal`          |
    | `compute_budget` | `None`               | end the episode once this much compute is spent            |
    | `probe_every`    | `0`                  | eval pass over all samples every k epochs (0 = never)      |
    | `ema`            | `0.5`                | weight of the newest loss in the moving statistics         |
    | `obs_version`    | `1` (`-v0` ids: `0`) | per-sample columns: 0-8 (0) or 0-12 (1)                    |
    | `render_mode`    | `None`               | `"ansi"`: a one-line epoch summary                         |

    (*) Corruptions (``dataselect_env.data.make_splits`` documents each): applied to the training
    split only, after the validation split and ``train_subset`` are drawn, fixed by ``data_seed``;
    validation and test stay clean and balanced (the holdout assumption of RHO-LOSS, Mindermann et
    al. 2022, and of the noisy-label papers). ``imbalance`` shrinks the training split, so N (the
    observation's rows) is smaller: with ``train_subset`` the stratified subset is drawn first and
    then cut, e.g. 5,000 -> 1,242 samples at ``imbalance=100`` on CIFAR-10 (500 down to 5 per
    class), and the whole 45,000 -> 11,167 (4,500 down to 45). Controllers never see which samples
    were corrupted (not in the observation, not in ``info``); for analysis, ``env.unwrapped``
    exposes :attr:`corrupted`, :attr:`clean_labels` and :attr:`labels`.

    ## Version History

    - v0: initial version (``DataSelect/CIFAR10-v0``, ``CIFAR100-v0``, ``Synthetic-v0``,
      ``CIFAR10Proxy-v0``). Added later as new ids, each at v0: the corrupted-data ids
      ``DataSelect/CIFAR10Noisy40-v0`` (``label_noise=0.4``), ``CIFAR10Asym40-v0``
      (``label_noise=0.4, noise_type="asymmetric"``), ``CIFAR10LT100-v0`` (``imbalance=100``) and
      their 5,000-sample ``...Proxy-v0`` variants. Revised within v0 (the package is pre-1.0):
      an epoch's batches are balanced (sizes differ by at most one; results differ from before),
      ``info["diverged"]`` added, ``info["wall_time"]`` and the ``clock`` argument removed;
      ``compute`` counts the validation passes (one at reset, one per step; ``info["val_compute"]``
      added), so that a controller and the full-data runs it is compared with are on one compute
      axis (training trajectories unchanged; ``compute``, ``COMPUTE_USED``, ``BUDGET_LEFT`` and the
      rewards that divide or charge by compute change).
    - v1 (every id): the observation gains the per-sample columns 9-12 (``CLASS_SHARE``,
      ``LOSS_RANK``, ``CLASS_LOSS_RANK``: scale-free, so that a rule or policy transfers across N
      and classes; ``LABEL``, which class-balanced rules group by); columns 0-8, the progress
      vector, the actions, the training and the rewards are those of v0 (an agent that reads
      columns 0-8 plays a v1 id exactly as the v0 one).
      ``obs_version=0`` gives the v0 observation on any id.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(self, config: EnvConfig | None = None, *, render_mode: str | None = None, **kwargs: Any):
        if config is not None and kwargs:
            raise TypeError(f"pass either config= or flat keyword arguments, not both (got {sorted(kwargs)})")
        self.config = config if config is not None else EnvConfig.from_kwargs(**kwargs)
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be one of {(None, *self.metadata['render_modes'])}, got {render_mode!r}")
        self.render_mode = render_mode
        cfg = self.config
        self.device, self.precision = resolve(cfg.train)
        self.epochs, self.action_mode, self.model_name = cfg.train.epochs, cfg.action_mode, cfg.train.model
        d = cfg.data
        self.splits = data_mod.load(d.dataset, d.data_root, d.download, d.val_size, d.train_subset, d.data_seed,
                                    d.synthetic, label_noise=d.label_noise, noise_type=d.noise_type,
                                    imbalance=d.imbalance, duplicates=d.duplicates).to(self.device)
        self.n = len(self.splits.y_train)
        self.val_cost = accounting.forward_pass_compute(len(self.splits.y_val), self.n)  # one validation pass
        self.obs_version = cfg.obs_version
        self._labels = self.splits.y_train.cpu().numpy() if self.obs_version >= 1 else None
        self._shares = None if self._labels is None else st.class_shares(self._labels, self.splits.num_classes)
        self.observation_space = spaces.Dict({
            "samples": samples_space(self.n, self.obs_version),
            "progress": spaces.Box(st.PROGRESS_LOW, st.PROGRESS_HIGH, dtype=np.float32),
        })
        self.action_space = spaces.MultiBinary(self.n) if self.action_mode == "mask" else \
            spaces.Box(0.0, cfg.w_max, (self.n,), np.float32)
        self.trainer: Trainer | None = None
        self._train_data: TrainData | None = None  # prepare_data(splits), at the first reset; shared by every trainer
        self._irreducible: dict[tuple[str, int], np.ndarray] = {}  # this episode's irreducible losses
        self._frontier: dict[tuple[int, int], float] = {}  # (torch seed, E') -> full-data val accuracy

    @property
    def train_data(self) -> TrainData:
        """The training images prepared once for every trainer of this env (the episode's model, the
        reference runs): normalisation statistics and the padded copy (:func:`~dataselect_env.trainer.prepare_data`)."""
        if self._train_data is None:
            self._train_data = prepare_data(self.splits, self.config.train)
        return self._train_data

    @property
    def flops_per_forward(self) -> float:
        """FLOPs of one sample's forward pass through the network (known after ``reset``)."""
        if self.trainer is None:
            raise RuntimeError("call reset() before reading flops_per_forward")
        return self.trainer.flops_per_forward

    # ---- ground truth for analysis (never part of the observation or info) -------------------
    @property
    def corrupted(self) -> np.ndarray:
        """bool ``(N,)``: True where the training label was flipped or the sample is a duplicate copy.

        Row i is the observation's sample row i. For analysis only (a controller that reads it
        cheats); a fresh copy on each access.
        """
        mask = self.splits.corrupted
        return np.zeros(self.n, dtype=bool) if mask is None else mask.cpu().numpy().astype(bool, copy=True)

    @property
    def clean_labels(self) -> np.ndarray:
        """int64 ``(N,)``: the training labels before label noise (a duplicate copy carries its
        source's label), aligned with the observation's sample rows. For analysis only; a copy."""
        clean = self.splits.y_train_clean if self.splits.y_train_clean is not None else self.splits.y_train
        return clean.cpu().numpy().astype(np.int64, copy=True)

    @property
    def labels(self) -> np.ndarray:
        """int64 ``(N,)``: the training labels as trained on (noisy where :attr:`corrupted` says a
        label was flipped), aligned with the observation's sample rows. A copy."""
        return self.splits.y_train.cpu().numpy().astype(np.int64, copy=True)

    # ------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a training run: fresh model (seeded from ``np_random``), statistics and ledger."""
        super().reset(seed=seed)
        torch_seed = int(self.np_random.integers(2**62))
        self.trainer = Trainer(self.splits, self.config.train, self.device, self.precision, torch_seed, self.train_data)
        self.stats = st.SampleStats(self.n, self.epochs, self.splits.num_classes, self.device, self.config.ema)
        self.ledger = Ledger(self.n, len(self.splits.y_val), self.trainer.flops_per_forward)
        self.epoch, self.last_lr, self.diverged = 0, 0.0, False
        self._irreducible = {}
        self.val_accuracy, self.val_loss = self.trainer.evaluate(self.splits.x_val, self.splits.y_val)  # A_0
        self.ledger.validate()
        self.ledger.close_step()
        self.last_info = self._info()
        return self._observation(), dict(self.last_info)

    def step(self, action: Any):
        """Train one epoch on the selected samples; return observation, reward, terminated, truncated, info."""
        if self.trainer is None:
            raise RuntimeError("call reset() before step()")
        if self.epoch >= self.epochs or self._budget_spent() or self.diverged:
            raise RuntimeError("the episode has ended; call reset() to start a new one")
        weights = self.check_action(action)
        selected = torch.from_numpy(np.flatnonzero(weights)).to(self.device)
        w = None if self.action_mode == "mask" else torch.from_numpy(weights[weights > 0]).to(self.device, torch.float32)
        if len(selected):
            result = self.trainer.train_epoch(self.epoch, selected, w)
            self.stats.observe(result.order, result.loss, result.correct, result.margin)
            self.last_lr, self.diverged = result.lr, result.diverged
            if self.diverged:
                warnings.warn(f"DataSelectEnv: training diverged in epoch {self.epoch + 1} (a loss or weight became "
                              f"non-finite at lr={self.config.train.lr:g}); the episode ends at this step "
                              f"(info['diverged'] is True). A lower lr trains.", RuntimeWarning, stacklevel=2)
        self.stats.end_epoch(selected)
        self.epoch += 1
        self.ledger.train(len(selected))
        if self.config.probe_every and self.epoch % self.config.probe_every == 0:
            scores = self.trainer.forward_stats(self.splits.x_train, self.splits.y_train)
            self.stats.observe(torch.arange(self.n, device=self.device), scores["loss"],
                               scores["correct"], scores["margin"])
            self.ledger.probe()
        prev_acc = self.val_accuracy
        self.val_accuracy, self.val_loss = self.trainer.evaluate(self.splits.x_val, self.splits.y_val)
        self.ledger.validate()  # the validation pass after the epoch
        step_compute = self.ledger.close_step()
        terminated = self.epoch >= self.epochs or self._budget_spent() or self.diverged
        reward = self._reward(self.val_accuracy - prev_acc, step_compute, terminated)
        info = self._info()
        if terminated:
            info["test_accuracy"], info["test_loss"] = self.trainer.evaluate(self.splits.x_test, self.splits.y_test)
            self.ledger.test(len(self.splits.y_test))
            info["flops"] = self.ledger.flops
        self.last_info = info
        return self._observation(), reward, terminated, False, dict(info)

    def render(self) -> str | None:
        """``"ansi"``: a one-line summary of the last epoch."""
        if self.render_mode != "ansi" or self.trainer is None:
            return None
        i = self.last_info
        line = (f"epoch {i['epoch']:>3}/{self.epochs}  keep {i['keep_fraction']:.2f}  "
                f"compute {i['compute']:.2f}  val_acc {i['val_accuracy']:.4f}  val_loss {i['val_loss']:.3f}  "
                f"lr {i['lr']:.4f}" + ("  DIVERGED" if i["diverged"] else ""))
        if "test_accuracy" in i:
            line += f"  test_acc {i['test_accuracy']:.4f}"
        return line

    def close(self) -> None:
        """Free the model and the prepared training data (safe to call twice)."""
        self.trainer, self._train_data = None, None

    # ---- saving a running episode --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A copy of the running episode after a step: the trainer (weights, optimizer state, its
        generator, FLOPs), the per-sample statistics, the ledger, the epoch, the last validation, the
        irreducible losses computed so far and ``np_random``'s state. :meth:`load_state_dict` goes on
        from it as if the episode had never stopped: on the CPU, the same observations and ``info``,
        bit for bit (the harness keeps one per epoch, so that a killed bench resumes its episodes).

        :raises RuntimeError: before ``reset()``.
        """
        if self.trainer is None:
            raise RuntimeError("call reset() before state_dict()")
        return copy.deepcopy({
            "np_random": self.np_random.bit_generator.state, "trainer": self.trainer.state_dict(),
            "stats": self.stats.state_dict(), "epoch": self.epoch, "ledger": asdict(self.ledger),
            "last_lr": self.last_lr, "diverged": self.diverged, "val_accuracy": self.val_accuracy,
            "val_loss": self.val_loss, "last_info": self.last_info, "irreducible": self._irreducible})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go on from :meth:`state_dict` of an env with the same arguments: call ``reset(seed=s)`` with
        the episode's seed first (it builds the network this loads into), then step on from there.

        :raises RuntimeError: before ``reset()``.
        """
        if self.trainer is None:
            raise RuntimeError("call reset(seed=...) of the episode before load_state_dict()")
        self.np_random.bit_generator.state = state["np_random"]
        self.trainer.load_state_dict(state["trainer"])
        self.stats.load_state_dict(state["stats"])
        self.epoch, self.ledger, self.last_lr = int(state["epoch"]), Ledger(**state["ledger"]), state["last_lr"]
        self.diverged, self.val_accuracy, self.val_loss = state["diverged"], state["val_accuracy"], state["val_loss"]
        self.last_info, self._irreducible = dict(state["last_info"]), dict(state["irreducible"])

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
        scores = self.trainer.forward_stats(self.splits.x_train, self.splits.y_train, scores=True)
        self.ledger.score()
        return {k: v.cpu().numpy() for k, v in scores.items()}

    def irreducible_loss(self, model: str = "tiny", epochs: int = 3) -> np.ndarray:
        """Per-sample irreducible loss of RHO-LOSS, cross-fitted on the training split; charged to compute.

        Mindermann et al. (ICML 2022), "Prioritized Training on Points that are Learnable, Worth
        Learning, and Not Yet Learnt": the irreducible loss of a sample is its loss under a small
        reference model that never trained on it. With no separate holdout set we use the paper's
        no-holdout variant: the training split is cut into two halves (stratified by the training
        labels, seeded from the episode's seed), a reference network ``model`` is trained for
        ``epochs`` epochs on each half (:class:`~dataselect_env.trainer.Trainer`, the env's
        hyperparameters, device and precision), and each scores the other half with plain
        cross-entropy in eval mode (no augmentation).

        The reference FLOPs (training, ``TRAIN_COST`` forward passes per sample-epoch, plus the
        scoring passes: :func:`~dataselect_env.accounting.reference_run_flops`) are added to
        ``info["flops"]`` and, converted to the main model's full-epoch units
        (``ref_flops / (TRAIN_COST * flops_per_forward * N)``), to ``info["compute"]``, from the
        next step on (the compute budget counts them). The result is cached for the episode:
        calling again with the same arguments returns the cached array and charges nothing.

        :param model: reference network (``dataselect_env.models.MODELS``); ``"tiny"`` costs about
            a seventh of ``"small"`` per CIFAR sample.
        :param epochs: training epochs of each reference network (its own schedule), >= 1.
        :return: float32 ``(N,)``, aligned with the observation's sample rows.
        :raises RuntimeError: before ``reset()``.
        :raises ValueError: for a bad ``model`` or ``epochs``, or fewer than two training samples.
        """
        if self.trainer is None:
            raise RuntimeError("call reset() before irreducible_loss()")
        ref_cfg = replace(self.config.train, model=model, epochs=epochs)  # validates model and epochs
        key = (model, epochs)
        if key in self._irreducible:
            return self._irreducible[key].copy()
        if self.n < 2:
            raise ValueError(f"irreducible_loss needs at least 2 training samples to cross-fit, got N={self.n}")
        loss, ref_flops = reference.cross_fitted_loss(self.splits, ref_cfg, self.device, self.precision,
                                                      self.trainer.gen.initial_seed(), self.train_data)
        self.ledger.reference(ref_flops)
        self._irreducible[key] = loss.cpu().numpy().astype(np.float32)
        return self._irreducible[key].copy()

    def frontier_val_accuracy(self, compute: float) -> float:
        """Validation accuracy of full-data training at ``compute`` full epochs, with this episode's seed.

        The full-data frontier of the harness, on the validation split: full-data runs of E'
        epochs (the schedule compressed to E', the same initial weights and data order as this
        episode's model) that validate after every epoch as an episode does, so the run of E'
        epochs sits at compute ``E' + (E' + 1) * val_cost``; the two runs around ``compute`` are
        interpolated linearly; ``E' = 0`` is the untrained model. ``compute`` is clipped to the
        range of ``E' = 0 .. epochs``. Each run is
        cached per (seed, E') on this env, across episodes, so a fixed held-out task pays once.
        The reference runs are not charged to ``info["compute"]``: they measure the controller,
        they are not part of it. The ``"vs_frontier"`` reward is ``100 * (A_T - F(C))``.

        :param compute: cumulative compute in full-epoch units, e.g. ``info["compute"]``.
        """
        frontier, c = self._val_frontier(compute)
        return accuracy_at(frontier, c)

    def frontier_delta(self, compute: float, accuracy: float) -> float:
        """``accuracy`` minus :meth:`frontier_val_accuracy` at ``compute``, in points (100 x), with
        :func:`dataselect_env.frontier.delta_vs_frontier`, the Δ of the benchmark's report: the
        ``"vs_frontier"`` reward and the learning curves' validation Δ.

        :param compute: cumulative compute in full-epoch units (clipped to ``[0, epochs]``).
        :param accuracy: a validation accuracy in [0, 1], e.g. ``info["val_accuracy"]``.
        """
        frontier, c = self._val_frontier(compute)
        return 100.0 * delta_vs_frontier(frontier, c, accuracy)

    def _val_frontier(self, compute: float) -> tuple[Frontier, float]:
        """The frontier's points around ``compute`` and ``compute`` clipped to the frontier's range.

        A full-data run of E' epochs validates after every epoch, as an episode does, so its point
        sits at compute ``x(E') = E' + (E' + 1) * val_cost``; the points are E' = floor and ceil of
        the E' whose ``x`` is ``compute`` (validation accuracy, each run cached per (seed, E')).
        """
        if self.trainer is None:
            raise RuntimeError("call reset() before frontier_val_accuracy()")
        x = lambda e: accounting.full_data_compute(e, self.val_cost)  # noqa: E731
        c = min(max(float(compute), x(0)), x(self.epochs))
        e = accounting.full_data_epochs(c, self.val_cost)  # rounded: a full run's own compute is a point
        points = sorted({math.floor(e), math.ceil(e)})
        return Frontier.from_points([x(p) for p in points], [self._full_data_val(p) for p in points]), c

    def _full_data_val(self, epochs: int) -> float:
        key = (self.trainer.gen.initial_seed(), epochs)
        if key not in self._frontier:
            if len(self._frontier) >= FRONTIER_CACHE:
                self._frontier.pop(next(iter(self._frontier)))
            self._frontier[key] = reference.full_data_val_accuracy(self.splits, self.config.train, self.device,
                                                                   self.precision, key[0], epochs, self.train_data)
        return self._frontier[key]

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
        if not terminated:
            return 0.0
        if r.reward == "vs_frontier":
            return self.frontier_delta(self.ledger.compute, self.val_accuracy)
        return 100.0 * self.val_accuracy - r.lam * self.ledger.compute

    def _info(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "samples_trained": self.ledger.samples_trained, "compute": self.ledger.compute,
                "val_compute": self.ledger.val_compute,
                "flops": self.ledger.flops, "val_accuracy": self.val_accuracy, "val_loss": self.val_loss,
                "keep_fraction": self.ledger.last_keep, "lr": self.last_lr, "diverged": self.diverged}

    def _observation(self) -> dict[str, np.ndarray]:
        budget = self.config.reward.compute_budget
        budget_left = 1.0 if budget is None else max(0.0, 1.0 - self.ledger.compute / budget)
        progress = np.array([self.epoch / self.epochs, 1 - self.epoch / self.epochs, self.ledger.compute / self.epochs,
                             self.val_accuracy, self.val_loss, self.trainer.lr_frac_at_epoch(self.epoch),
                             self.ledger.last_keep, budget_left], dtype=np.float32)
        return {"samples": finite(self.stats.samples(self._labels, self._shares), *st.sample_bounds(self.obs_version)),
                "progress": finite(progress, st.PROGRESS_LOW, st.PROGRESS_HIGH)}


def samples_space(rows: int, obs_version: int = 1) -> spaces.Box:
    """The ``Box(rows, F)`` of the per-sample features of ``obs_version``, each column's bounds from
    :func:`~dataselect_env.stats.sample_bounds`."""
    low, high = st.sample_bounds(obs_version)
    shape = (rows, len(low))
    return spaces.Box(np.broadcast_to(low, shape), np.broadcast_to(high, shape), dtype=np.float32)


NONFINITE_FILL = 1e4  # what a NaN or +inf statistic reads as in the observation (-inf: -1e4), before clipping


def finite(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``x`` with NaN and +inf replaced by ``NONFINITE_FILL``, -inf by its negative, then clipped
    into ``[low, high]`` (the observation space's bounds). Only after a divergence is there anything to replace."""
    if np.isfinite(x).all():
        return x
    return np.clip(np.nan_to_num(x, nan=NONFINITE_FILL, posinf=NONFINITE_FILL, neginf=-NONFINITE_FILL),
                   low, high).astype(np.float32)

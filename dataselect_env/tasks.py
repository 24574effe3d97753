"""A distribution of cheap data-selection tasks, for training policies that generalise across them.

``DataSelect/Tasks-v0`` (Synthetic data, the ``tiny`` MLP) and ``DataSelect/CIFAR10Tasks-v0``
(CIFAR-10 slices, the ``tiny`` conv net) draw a new task at every ``reset``: dataset size, label
noise and its type, class imbalance, schedule length and keep fraction, from the documented
ranges of :class:`TaskRanges`, and run one :class:`~dataselect_env.env.DataSelectEnv` episode on it.
Domain randomisation of the training tasks, as in Learning to Teach (Fan et al. 2018), whose
teacher is trained on some tasks and applied to others.

N changes from task to task, the spaces do not (Gymnasium's contract): every observation is
padded to the family's largest N, with a ``valid`` entry marking the real rows
(:mod:`dataselect_env.padding`: ``real_rows`` drops the padding, ``pad_action`` pads an action
back), so SB3 policies, the N-independent views of ``agents.wrappers`` (``LossBins``,
``LinearScore``, ``RuleSpace``) and every ``agents.Agent`` play it. The task's observable
descriptors (:data:`TASK_FEATURES`: keep fraction, schedule length, dataset size) are appended to
the progress features; noise and imbalance stay hidden (the policy has to read them from the
loss statistics).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from . import stats as st
from .config import EnvConfig
from .corruptions import NOISE_TYPES
from .env import DataSelectEnv, samples_space
from .padding import pad_observation
from .selection import check_keep, keep_count, sized_mask

# ---- the task descriptors the policy observes (appended to the progress features) --------------
TASK_KEEP = 0  # the task's keep fraction (0: no fixed fraction, the policy chooses)
TASK_EPOCHS = 1  # schedule length E / EPOCHS_SCALE
TASK_SIZE = 2  # log10(N) / SIZE_SCALE
TASK_FEATURES = ("task_keep", "task_epochs", "task_size")
EPOCHS_SCALE = 20.0  # E = 20 -> 1.0
SIZE_SCALE = 5.0  # N = 100,000 -> 1.0
TASK_LOW = np.zeros(len(TASK_FEATURES), dtype=np.float32)
TASK_HIGH = np.array([1.0, np.inf, np.inf], dtype=np.float32)

ENTRY_POINT = "dataselect_env.tasks:TaskEnv"


def task_features(keep: float | None, epochs: int, n: int) -> np.ndarray:
    """The ``(3,)`` float32 task descriptors :data:`TASK_FEATURES` of a task.

    A saved policy (``agents.SB3Agent``) computes the same vector on a plain env from its keep
    fraction, the env's ``epochs`` and the observation's N.

    :param keep: kept fraction, or ``None`` when the policy chooses it (encoded as 0).
    :param epochs: schedule length E.
    :param n: training samples N.
    """
    return np.array([0.0 if keep is None else keep, epochs / EPOCHS_SCALE, math.log10(max(n, 1)) / SIZE_SCALE],
                    dtype=np.float32)


@dataclass(frozen=True)
class Task:
    """One drawn task: the inner env's corruption, size and schedule, and the keep fraction."""

    train_subset: int  # stratified training subset, before the imbalance cut
    label_noise: float  # fraction of training labels flipped
    noise_type: str  # "symmetric" or "asymmetric"
    imbalance: float  # largest / smallest class size (long tail), >= 1
    duplicates: float  # fraction of training samples replaced by copies
    epochs: int  # schedule length E (steps of the episode)
    keep: float | None  # kept fraction per epoch, or None (the policy chooses)
    data_seed: int  # validation split, subset, corruptions (and Synthetic clusters)

    def env_kwargs(self) -> dict[str, Any]:
        """The ``DataSelectEnv`` kwargs this task sets (everything but ``keep``)."""
        kw = asdict(self)
        del kw["keep"]
        return kw


def _interval(name: str, value: Any, low: float, high: float, integer: bool = False) -> tuple:
    """``value`` as a ``(lo, hi)`` tuple within ``[low, high]`` (a scalar ``v`` means ``(v, v)``)."""
    pair = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    ok = len(pair) == 2 and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                                and math.isfinite(v) for v in pair)
    ok = ok and low <= pair[0] <= pair[1] <= high and (not integer or all(float(v).is_integer() for v in pair))
    if not ok:
        kind = "integers" if integer else "numbers"
        raise ValueError(f"{name} must be a pair (lo, hi) of {kind} with {low:g} <= lo <= hi <= {high:g} "
                         f"(or one value), got {value!r}")
    return tuple(int(v) for v in pair) if integer else tuple(float(v) for v in pair)


@dataclass(frozen=True)
class TaskRanges:
    """Where :class:`TaskEnv` draws its tasks from; each reset draws every field independently.

    Intervals are ``(lo, hi)`` (one value fixes the field); integers are drawn uniformly from
    ``lo..hi``, ``imbalance`` log-uniformly, the other numbers uniformly.

    | field          | Synthetic (`Tasks-v0`) | CIFAR-10 (`CIFAR10Tasks-v0`) | meaning                          |
    |----------------|------------------------|------------------------------|----------------------------------|
    | `train_subset` | 500 - 3,000            | 1,000 - 4,000                | samples before the imbalance cut |
    | `label_noise`  | 0 - 0.45               | 0 - 0.45                     | fraction of labels flipped       |
    | `noise_types`  | symmetric, asymmetric  | symmetric, asymmetric        | drawn with equal probability     |
    | `imbalance`    | 1 - 10 (`-v1`: 100)    | 1 - 10 (log-uniform)         | largest / smallest class         |
    | `duplicates`   | 0                      | 0                            | fraction replaced by copies      |
    | `epochs`       | 4 - 10 (`Tasks-v1`: 40)| 4 - 8                        | schedule length E                |
    | `keep`         | 0.2 - 0.7              | 0.2 - 0.7                    | kept fraction; None: free        |
    | `data_seeds`   | 10                     | 10                           | data_seed drawn from 0..k-1      |
    | `data_seed_start` | 0                   | 0                            | added to it (held-out datasets)  |

    N after the imbalance cut: Synthetic (4 classes) 220 - 3,000; CIFAR-10 (10 classes) about
    390 - 4,000. The Synthetic pool is ``max(train_subset) + 500`` samples, the 500 being the
    validation split; CIFAR tasks use a 1,000-sample validation split.
    """

    train_subset: tuple[int, int] = (500, 3000)
    label_noise: tuple[float, float] = (0.0, 0.45)
    noise_types: tuple[str, ...] = NOISE_TYPES
    imbalance: tuple[float, float] = (1.0, 10.0)
    duplicates: tuple[float, float] = (0.0, 0.0)
    epochs: tuple[int, int] = (4, 10)
    keep: tuple[float, float] | None = (0.2, 0.7)
    data_seeds: int = 10
    data_seed_start: int = 0  # data_seed drawn from start .. start + data_seeds - 1 (held-out datasets: another start)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise lists (from JSON) and scalars to tuples
        set_(self, "train_subset", _interval("train_subset", self.train_subset, 10, 10**7, integer=True))
        set_(self, "label_noise", _interval("label_noise", self.label_noise, 0.0, 0.99))
        set_(self, "imbalance", _interval("imbalance", self.imbalance, 1.0, 1e6))
        set_(self, "duplicates", _interval("duplicates", self.duplicates, 0.0, 0.99))
        set_(self, "epochs", _interval("epochs", self.epochs, 1, 10**4, integer=True))
        if self.keep is not None:
            keep = _interval("keep", self.keep, 0.0, 1.0)
            check_keep(keep[0], "keep (its lower end)")
            set_(self, "keep", keep)
        types = (self.noise_types,) if isinstance(self.noise_types, str) else tuple(self.noise_types)
        if not types or any(t not in NOISE_TYPES for t in types):
            raise ValueError(f"noise_types must be a non-empty subset of {NOISE_TYPES}, got {self.noise_types!r}")
        set_(self, "noise_types", types)
        if isinstance(self.data_seeds, bool) or not isinstance(self.data_seeds, (int, np.integer)) \
                or self.data_seeds < 1:
            raise ValueError(f"data_seeds must be a positive integer, got {self.data_seeds!r}")
        if isinstance(self.data_seed_start, bool) or not isinstance(self.data_seed_start, (int, np.integer)) \
                or self.data_seed_start < 0:
            raise ValueError(f"data_seed_start must be an integer >= 0, got {self.data_seed_start!r}")

    def sample(self, rng: np.random.Generator) -> Task:
        """Draw one task.

        :param rng: the generator (``TaskEnv`` passes its ``np_random``).
        """
        def uniform(pair: tuple[float, float]) -> float:
            return float(rng.uniform(*pair)) if pair[1] > pair[0] else pair[0]

        lo, hi = np.log(self.imbalance)
        return Task(train_subset=int(rng.integers(self.train_subset[0], self.train_subset[1] + 1)),
                    label_noise=round(uniform(self.label_noise), 4),
                    noise_type=str(self.noise_types[rng.integers(len(self.noise_types))]),
                    imbalance=round(float(np.exp(uniform((lo, hi)))), 4),
                    duplicates=round(uniform(self.duplicates), 4),
                    epochs=int(rng.integers(self.epochs[0], self.epochs[1] + 1)),
                    keep=None if self.keep is None else round(uniform(self.keep), 4),
                    data_seed=self.data_seed_start + int(rng.integers(self.data_seeds)))


# The two task families: the fixed inner-env kwargs of each, and its default ranges.
FAMILIES: dict[str, tuple[dict[str, Any], TaskRanges]] = {
    "synthetic": ({"dataset": "synthetic", "model": "tiny", "batch_size": 128, "lr": 0.1, "label_smoothing": 0.0,
                   "device": "cpu"}, TaskRanges()),
    "cifar10": ({"dataset": "cifar10", "model": "tiny", "val_size": 1000},
                TaskRanges(train_subset=(1000, 4000), epochs=(4, 8))),
}
RANGE_FIELDS = tuple(f.name for f in fields(TaskRanges))
TASK_FIELDS = tuple(f.name for f in fields(Task))


class TaskEnv(gym.Env):
    """
    ## Description

    A new data-selection task at every ``reset``: the task (:class:`Task`) is drawn from
    :class:`TaskRanges` with ``np_random`` (so ``reset(seed=s)`` fixes the whole sequence of
    tasks that follows), the inner :class:`~dataselect_env.env.DataSelectEnv` is built for it
    (or reused: the last ``cache_size`` inner envs are kept, keyed by their kwargs), reset with a
    seed drawn from ``np_random``, and the episode is that env's episode. ``options={"task":
    Task(...)}`` (or a dict of its fields) runs a given task instead, e.g. a held-out one.

    Two families (``family``), each registered: ``"synthetic"`` (``DataSelect/Tasks-v0``: Gaussian
    clusters, the ``tiny`` MLP, episodes of well under a second) and ``"cifar10"``
    (``DataSelect/CIFAR10Tasks-v0``: stratified CIFAR-10 slices, the ``tiny`` conv net, a
    1,000-sample validation split; data from ``$DATASELECT_DATA`` or ``data_root=``, decoded
    once and cached on disk by ``dataselect_env.data``). The ranges are in :class:`TaskRanges`.
    Both at v0 and v1, the observation versions of the inner env (``obs_version``).

    ## Action Space

    ``MultiBinary(N_max)`` (or ``Box(0, w_max, (N_max,))`` with ``action_mode="weights"``), the
    same for every task: entry i is the inner env's sample i, the entries past the task's N are
    ignored (an action of shape ``(N,)`` is taken too). When the task fixes a keep fraction, a mask
    is trimmed or filled uniformly at random to exactly ``round(keep * N)`` samples
    (``enforce_keep=True``, mask mode); the wrappers' masks already have that size (they read
    :attr:`task_keep`).

    ## Observation Space

    ``Dict(samples=Box(N_max, F), progress=Box(G + 3), valid=Box(0, 1, (N_max,)))``, the same for
    every task (``N_max``: the largest N of the ranges, ``max(train_subset)``; :attr:`n_max`).
    ``samples``: the inner env's per-sample features in rows ``0..N-1``, zero rows past the task's
    N; ``valid``: 1.0 on the N real rows, 0.0 on the padding (``padding.real_rows`` cuts it off);
    ``progress``: the inner env's progress features, then the task descriptors:

    | Num   | Name          | Meaning                                           | Range    |
    |-------|---------------|---------------------------------------------------|----------|
    | G + 0 | `TASK_KEEP`   | the task's keep fraction (0 when the policy picks) | [0, 1]   |
    | G + 1 | `TASK_EPOCHS` | schedule length E / 20                            | (0, inf) |
    | G + 2 | `TASK_SIZE`   | log10(N) / 5                                      | [0, inf) |

    ``agents.Agent.predict`` and the ``agents.wrappers`` act on the real rows only and pad their
    masks back; ``agents.sb3_policies.DeepSetsPolicy`` pools over the real rows only.

    ## Rewards

    The inner env's (``reward=``: ``"gain_per_compute"``, ``"gain_minus_cost"``, ``"terminal"``,
    ``"vs_frontier"``: the final validation accuracy minus that of full-data training on the same
    task, seed and compute, which costs each episode about twice its own compute in reference runs).

    ## Episode End

    The inner env's: after the task's ``epochs`` steps (or once ``compute_budget`` is spent).

    ## Info

    The inner env's, plus ``task``: the drawn :class:`Task` as a dict.

    ## Arguments

    | Argument       | Default       | Meaning                                                         |
    |----------------|---------------|-----------------------------------------------------------------|
    | `family`       | `"synthetic"` | `"synthetic"` or `"cifar10"`: the inner env and default ranges  |
    | `ranges`       | `None`        | a :class:`TaskRanges`; default: the family's                   |
    | `train_subset`, ... | | any :class:`TaskRanges` field overrides that range, e.g.       |
    |                |               | `keep=(0.3, 0.3)`, `keep=None` (the policy chooses), `epochs=6` |
    | `pad`          | `True`        | kept for old scripts: the spaces are always padded (`False` raises) |
    | `enforce_keep` | `True`        | trim / fill masks to the task's keep fraction                   |
    | `cache_size`   | `4`           | inner envs kept for reuse                                       |
    | other kwargs   |               | fixed kwargs of every inner env (`reward`, `data_root`, `device`, `model`, ...) |

    ## Version History

    - v0: initial version.
    - Revised at both versions: the spaces are fixed, padded to N_max with the ``valid`` entry
      (before, they changed at every reset unless ``pad=True``); tasks, episodes and rewards unchanged.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(self, family: str = "synthetic", ranges: TaskRanges | None = None, *, pad: bool = True,
                 enforce_keep: bool = True, cache_size: int = 4, render_mode: str | None = None,
                 **kwargs: Any):
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {tuple(FAMILIES)}, got {family!r}")
        base, default_ranges = FAMILIES[family]
        overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in RANGE_FIELDS}
        self.ranges = replace(ranges or default_ranges, **overrides)
        clash = sorted(set(kwargs) & set(TASK_FIELDS))
        if clash:
            raise ValueError(f"{', '.join(clash)} are drawn per task: set their ranges instead "
                             f"(e.g. {clash[0]}=(lo, hi)); fixed inner-env kwargs are the others")
        if not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"cache_size must be a positive integer, got {cache_size!r}")
        if not pad:
            raise ValueError("a task env's spaces are always padded to N_max (fixed spaces across tasks): drop "
                             "pad=False; agents.Agent and agents.wrappers act on the real rows (padding.real_rows)")
        self.family, self.enforce_keep, self.cache_size = family, bool(enforce_keep), cache_size
        self.render_mode = render_mode
        self.base_kwargs = {**base, **kwargs, "render_mode": render_mode}
        if family == "synthetic":
            pool = {"n_train": self.ranges.train_subset[1] + self.base_kwargs.get("val_size", 500), "label_noise": 0.0}
            self.base_kwargs["synthetic"] = {**pool, **(self.base_kwargs.get("synthetic") or {})}
        probe = {k: v for k, v in self._inner_kwargs(self.ranges.sample(np.random.default_rng(0))).items()
                 if k != "render_mode"}
        config = EnvConfig.from_kwargs(**probe)  # fail now, naming a bad inner kwarg
        self.action_mode, self.obs_version = config.action_mode, config.obs_version
        self.n_max = self.ranges.train_subset[1]  # the largest N of the family: the padded size
        self.draws_keep = self.ranges.keep is not None
        self._envs: OrderedDict[str, DataSelectEnv] = OrderedDict()
        self.inner: DataSelectEnv | None = None
        self.task: Task | None = None
        self._mask_rng = np.random.default_rng()  # trims and fills masks; seeded at every reset
        self.n, self.epochs = self.n_max, self.ranges.epochs[1]
        self.observation_space, self.action_space = self._spaces()

    # ---- the task interface (read by the wrappers and by agents) -----------------------------
    @property
    def task_keep(self) -> float | None:
        """The current task's keep fraction (``None``: the policy chooses, or before the first reset)."""
        return None if self.task is None else self.task.keep

    def task_features(self) -> np.ndarray:
        """The current task's :data:`TASK_FEATURES`."""
        return task_features(self.task_keep, self.epochs, self.n)

    @property
    def labels(self) -> np.ndarray:
        """The current task's training labels (the inner env's :attr:`~dataselect_env.env.DataSelectEnv.labels`)."""
        return self._current().labels

    @property
    def corrupted(self) -> np.ndarray:
        """The current task's corrupted samples, for analysis and oracles only (the inner env's)."""
        return self._current().corrupted

    @property
    def clean_labels(self) -> np.ndarray:
        """The current task's labels before noise, for analysis and oracles only (the inner env's)."""
        return self._current().clean_labels

    def _current(self) -> DataSelectEnv:
        if self.inner is None:
            raise RuntimeError("call reset() first: a task env has a task's data only after a reset")
        return self.inner

    def frontier_val_accuracy(self, compute: float) -> float:
        """The current task's full-data frontier on validation at ``compute``, this episode's seed
        (:meth:`DataSelectEnv.frontier_val_accuracy <dataselect_env.env.DataSelectEnv.frontier_val_accuracy>`;
        cached on the task's inner env while ``cache_size`` keeps it)."""
        if self.inner is None:
            raise RuntimeError("call reset() before frontier_val_accuracy()")
        return self.inner.frontier_val_accuracy(compute)

    def frontier_delta(self, compute: float, accuracy: float) -> float:
        """The current task's validation Δ vs its full-data frontier, in points
        (:meth:`DataSelectEnv.frontier_delta <dataselect_env.env.DataSelectEnv.frontier_delta>`)."""
        if self.inner is None:
            raise RuntimeError("call reset() before frontier_delta()")
        return self.inner.frontier_delta(compute, accuracy)

    # ------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Draw a task (or take ``options["task"]``), build or reuse its env, start its episode."""
        super().reset(seed=seed)
        task = (options or {}).get("task")
        if task is None:
            task = self.ranges.sample(self.np_random)
        elif isinstance(task, dict):
            task = Task(**task)
        self.task = task
        self.inner = self._env_for(task)
        self.n, self.epochs = self.inner.n, self.inner.epochs
        inner_seed, mask_seed = self.np_random.integers(2**31, size=2)  # two draws per reset, whatever the actions
        self._mask_rng = np.random.default_rng(int(mask_seed))
        obs, info = self.inner.reset(seed=int(inner_seed))
        info["task"] = asdict(task)
        return self._observation(obs), info

    def step(self, action: Any):
        """Step the inner env with the action's first N entries (a mask sized to the task's keep fraction).

        :param action: ``(N_max,)`` in :attr:`action_space` (entries past N ignored), or ``(N,)``.
        """
        if self.inner is None:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action)
        if action.shape not in ((self.n_max,), (self.n,)):
            raise ValueError(f"action must have shape ({self.n_max},) (padded) or ({self.n},) (this task's N), "
                             f"got {action.shape}")
        action = action[: self.n]
        if self.enforce_keep and self.task.keep is not None and self.action_mode == "mask":
            action = self._sized_mask(action)
        obs, reward, terminated, truncated, info = self.inner.step(action)
        info["task"] = asdict(self.task)
        return self._observation(obs), reward, terminated, truncated, info

    def render(self) -> str | None:
        """The inner env's render (``"ansi"``: a one-line epoch summary)."""
        return None if self.inner is None else self.inner.render()

    def close(self) -> None:
        """Close every cached inner env (safe to call twice)."""
        for env in self._envs.values():
            env.close()
        self._envs.clear()
        self.inner = None

    # ---- internals ---------------------------------------------------------------------------
    def _inner_kwargs(self, task: Task) -> dict[str, Any]:
        kw = {**self.base_kwargs, **task.env_kwargs()}
        if self.family == "synthetic":  # the data_seed also draws the clusters
            kw["synthetic"] = {**kw["synthetic"], "seed": task.data_seed}
        return kw

    def _env_for(self, task: Task) -> DataSelectEnv:
        kw = self._inner_kwargs(task)
        key = repr(sorted(kw.items(), key=lambda item: item[0]))
        env = self._envs.pop(key, None)
        if env is None:
            env = DataSelectEnv(**kw)
            while len(self._envs) >= self.cache_size:
                self._envs.popitem(last=False)[1].close()
        self._envs[key] = env  # most recently used last
        return env

    def _spaces(self) -> tuple[spaces.Dict, spaces.Space]:
        """The fixed spaces, padded to :attr:`n_max` rows (set once, in ``__init__``)."""
        rows = self.n_max
        obs = spaces.Dict({"samples": samples_space(rows, self.obs_version),
                           "progress": spaces.Box(np.concatenate([st.PROGRESS_LOW, TASK_LOW]),
                                                  np.concatenate([st.PROGRESS_HIGH, TASK_HIGH]), dtype=np.float32),
                           "valid": spaces.Box(0.0, 1.0, (rows,), np.float32)})
        if self.action_mode == "mask":
            return obs, spaces.MultiBinary(rows)
        return obs, spaces.Box(0.0, self.base_kwargs.get("w_max", 10.0), (rows,), np.float32)

    def _observation(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        progress = np.concatenate([obs["progress"], self.task_features()]).astype(np.float32)
        return pad_observation({"samples": obs["samples"], "progress": progress}, self.n_max)

    def _sized_mask(self, action: np.ndarray) -> np.ndarray:
        """``action`` (a 0/1 mask; anything else is left for the inner env to reject) with exactly
        ``round(keep * N)`` ones: surplus ones dropped, missing ones added, uniformly at random."""
        if action.shape != (self.n,) or not np.isin(action, (0, 1)).all():
            return action
        return sized_mask(action, keep_count(self.task.keep, self.n), self._mask_rng)


def is_task_env(env_id: str) -> bool:
    """Whether the registered ``env_id`` is a :class:`TaskEnv` (a task distribution).

    :param env_id: a gymnasium id.
    """
    return gym.spec(env_id).entry_point == ENTRY_POINT

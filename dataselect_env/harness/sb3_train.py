"""Train a Stable-Baselines3 policy on a DataSelect env: ``python train_agent.py train ...``.

Three interfaces, all independent of the dataset size N (``dataselect_env.wrappers``,
``agents.sb3_policies``):

- ``bins``: ``LossBins`` wrapper, ``MlpPolicy``; PPO, A2C, SAC or TD3, or ARS (sb3-contrib).
- ``linear``: ``LinearScore`` wrapper, ``MlpPolicy``; PPO, A2C, SAC or TD3, or ARS with a linear
  policy (Augmented Random Search, Mania et al. 2018).
- ``set``: the raw env, ``DeepSetsPolicy`` (one Bernoulli per sample); PPO or A2C.

The env may be a task distribution (``DataSelect/Tasks-v0``, ``dataselect_env.tasks``): every
episode a new task, whose keep fraction and descriptors the policy sees.

A run writes ``model.zip``, ``vecnormalize.pkl`` (reward normalization statistics),
``interface.json`` (what ``agents.SB3Agent`` needs to act), ``train_args.json``,
``checkpoints/`` (model and VecNormalize statistics every ``--checkpoint-every`` env steps, taken
between updates), with ``--eval-tasks`` a learning curve (``learning_curve.csv`` and, with
matplotlib, ``learning_curve.png``) and, when ``tensorboard`` is installed, ``tb/``. ``--resume``
continues from the last checkpoint to the same total ``--timesteps``, so a run stopped at any
time loses at most one checkpoint interval. ``--n-envs K`` runs K envs in subprocesses
(``forkserver``). Rollouts are whole episodes by default (``n_steps = episodes_per_update x E``
for PPO, ``E`` for A2C), so PPO updates within a few hundred steps. Every env is wrapped in
``FiniteGuard``: no NaN or infinity reaches SB3. Also runnable as
``python -m dataselect_env.harness.sb3_train ...``.
"""

from __future__ import annotations

import argparse
import csv
import functools
import importlib.util
import inspect
import json
import multiprocessing as mp
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import stable_baselines3
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecNormalize

import agents
import dataselect_env
from agents.sb3_agent import ALGOS, INTERFACES, META_FILE, MODEL_FILE, VECNORM_FILE
from agents.sb3_policies import DeepSetsPolicy
from dataselect_env.config import REWARDS
from dataselect_env.selection import check_keep
from dataselect_env.tasks import is_task_env
from dataselect_env.wrappers import FiniteGuard, LinearScore, LossBins

from .plan import parse_kv
from .results import atomic_write

# Learning rates for small budgets: PPO on the small wrapped spaces learns within ~300 env steps at
# 3e-3 (SB3's 3e-4 barely moves in that budget); the set policy's log-probability sums N
# Bernoullis, so it keeps SB3's 3e-4. The others are SB3's defaults.
DEFAULT_LR = {"ppo": 3e-3, "a2c": 7e-4, "sac": 3e-4, "td3": 1e-3, "ars": 0.02}
SET_LR = 3e-4
ARGS_FILE, CURVE_FILE, CURVE_PLOT, CHECKPOINT_DIR = "train_args.json", "learning_curve.csv", "learning_curve.png", \
    "checkpoints"
BASELINES_FILE = "eval_baselines.csv"  # hand-written agents on the learning curve's held-out episodes
EVAL_SEED = 1_000_000  # held-out evaluation episodes use seeds EVAL_SEED, EVAL_SEED + 1, ...
# What a resumed run must share with the run it continues (the rest, e.g. --timesteps or --n-envs, may change).
RESUME_KEYS = ("algo", "env", "interface", "keep", "bins", "env_kwargs", "reward")


@dataclass
class SB3TrainArgs:
    """One training run (the ``train`` command's arguments)."""

    algo: str = "ppo"  # ppo | a2c | sac | td3 | ars (sb3-contrib)
    env: str = "DataSelect/Synthetic-v0"  # gymnasium id
    interface: str = "bins"  # bins | linear | set
    keep: float | None = None  # kept fraction; None: bins and set let the policy choose
    bins: int = 8  # EMA-loss quantile bins of the bins interface
    timesteps: int = 2000  # env steps (epochs of inner training) in all
    seed: int = 0  # seeds the algorithm and the training envs
    out: Path | None = None  # model directory (default models/<env>-<algo>-<interface>-k<keep>-s<seed>-<time>)
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # extra gym.make kwargs
    episodes_per_update: int = 2  # PPO rollout length in whole episodes
    n_steps: int | None = None  # rollout length in env steps (overrides episodes_per_update)
    learning_rate: float | None = None  # None: DEFAULT_LR (tuned for budgets of a few hundred steps)
    gamma: float = 0.99  # discount
    checkpoints: int = 5  # checkpoints over the run (when checkpoint_every is None)
    checkpoint_every: int | None = None  # env steps between checkpoints (None: timesteps // checkpoints)
    resume: bool = False  # continue from the last checkpoint in out
    n_envs: int = 1  # training envs; > 1 runs them in subprocesses
    reward: str | None = None  # the env's reward mode (None: the env's default, gain_per_compute)
    eval_tasks: int = 0  # held-out episodes played at every checkpoint for the learning curve (0: none)
    eval_baselines: tuple[str, ...] = ()  # hand-written agents played once on the same held-out episodes
    algo_kwargs: dict[str, Any] = field(default_factory=dict)  # extra kwargs of the SB3 algorithm
    device: str = "cpu"  # torch device of the policy (the inner training picks its own)
    threads: int | None = None  # torch CPU threads (None: torch's default); 1 on a busy small CPU
    progress_bar: bool = True  # SB3's bar (needs tqdm and rich)
    verbose: int = 0  # SB3 verbosity


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` command's arguments to ``parser``.

    :param parser: the parser of ``train_agent.py train`` (or of ``python -m dataselect_env.harness.sb3_train``).
    """
    d = SB3TrainArgs()
    parser.add_argument("--algo", choices=tuple(ALGOS), default=d.algo, help=f"algorithm (default {d.algo})")
    parser.add_argument("--env", default=d.env, help=f"gymnasium id (default {d.env})")
    parser.add_argument("--interface", choices=INTERFACES, default=d.interface,
                        help="bins: LossBins wrapper; linear: LinearScore wrapper; set: DeepSets policy on the "
                             f"raw env, PPO/A2C only (default {d.interface})")
    parser.add_argument("--keep", type=float, default=d.keep,
                        help="kept fraction in (0, 1]; required by linear; bins without it learns the fraction; "
                             "set trains without it and only records it as the agent's default; on a task env "
                             "(DataSelect/Tasks-v0) every task keeps it (default: each task draws its own)")
    parser.add_argument("--bins", type=int, default=d.bins, help=f"loss bins of the bins interface (default {d.bins})")
    parser.add_argument("--timesteps", type=int, default=d.timesteps, help=f"env steps in all (default {d.timesteps})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"seed (default {d.seed})")
    parser.add_argument("--out", type=Path, default=None, help="model directory (default models/<run name>)")
    parser.add_argument("--env-kwargs", nargs="+", action="extend", default=[], metavar="K=V",
                        help='extra env kwargs, e.g. epochs=5 synthetic=\'{"label_noise": 0.4}\'')
    parser.add_argument("--episodes-per-update", type=int, default=d.episodes_per_update,
                        help=f"PPO rollout length in whole episodes (default {d.episodes_per_update})")
    parser.add_argument("--n-steps", type=int, default=None, help="rollout length in env steps (PPO/A2C)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="default: ppo 3e-3, a2c 7e-4, sac 3e-4, td3 1e-3; 3e-4 for the set interface")
    parser.add_argument("--gamma", type=float, default=d.gamma, help=f"discount (default {d.gamma})")
    parser.add_argument("--checkpoints", type=int, default=d.checkpoints,
                        help=f"checkpoints saved over the run, when --checkpoint-every is not given "
                             f"(default {d.checkpoints})")
    parser.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                        help="env steps between checkpoints (model + VecNormalize statistics, saved between "
                             "updates); a stopped run loses at most this many")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the last checkpoint in --out (model, VecNormalize, step count) up to "
                             "the same total --timesteps; starts afresh when there is none")
    parser.add_argument("--n-envs", type=int, default=d.n_envs,
                        help="training envs, in subprocesses when > 1 (forkserver, one torch thread each; "
                             f"ARS: parallel candidate evaluation) (default {d.n_envs})")
    parser.add_argument("--reward", choices=REWARDS, default=None,
                        help="the env's reward: gain_per_compute (the default), gain_minus_cost, terminal "
                             "(0 until the last step, then 100 x final val accuracy - lam x compute) or "
                             "vs_frontier (0 until the last step, then 100 x (final val accuracy - that of "
                             "full-data training at the same compute, same task and seed))")
    parser.add_argument("--eval-tasks", type=int, default=d.eval_tasks, metavar="K",
                        help="at every checkpoint play the policy on K held-out episodes (fixed seeds; on a task "
                             f"env, K fixed tasks) and append a row to {CURVE_FILE} (default 0: off)")
    parser.add_argument("--eval-baselines", default="", metavar="A,B",
                        help=f"hand-written agents (e.g. random,ucb) played once on the --eval-tasks episodes, each "
                             f"task at its own keep fraction, into {BASELINES_FILE}; drawn as lines on the curve")
    parser.add_argument("--algo-kwargs", nargs="+", action="extend", default=[], metavar="K=V",
                        help="extra algorithm kwargs, e.g. n_delta=4 delta_std=0.05 (ARS) or ent_coef=0.01 (PPO)")
    parser.add_argument("--device", default=d.device, help=f"policy device (default {d.device})")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's; 1 is much faster on a busy 2-core machine)")
    parser.add_argument("--no-progress-bar", action="store_true", help="train without SB3's progress bar")
    parser.add_argument("--verbose", type=int, default=d.verbose, help="SB3 verbosity")


def train(args: argparse.Namespace | SB3TrainArgs) -> Path:
    """Train (or, with ``resume``, continue training), save and return the model directory.

    :param args: parsed ``train`` arguments (or an :class:`SB3TrainArgs`).
    :raises ValueError: for a combination that cannot train (named in the message).
    """
    cfg = args if isinstance(args, SB3TrainArgs) else from_namespace(args)
    check_args(cfg)
    if cfg.threads or cfg.n_envs > 1:  # the envs' processes take the cores: one thread for the policy
        th.set_num_threads(cfg.threads or 1)
    out = Path(cfg.out) if cfg.out is not None else Path("models") / run_name(cfg)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = None
    if cfg.resume:
        check_resumable(cfg, out)
        ckpt = latest_checkpoint(out / CHECKPOINT_DIR)
        print(f"resuming from {ckpt.model} ({ckpt.steps} env steps)" if ckpt else
              f"--resume: no checkpoint in {out / CHECKPOINT_DIR}, starting afresh")
    (out / ARGS_FILE).write_text(json.dumps(asdict(cfg), indent=2, default=str))
    seed = cfg.seed + (ckpt.steps if ckpt else 0)  # a resumed run draws fresh episodes (and tasks)
    venv = make_vec_env(cfg, seed, ckpt)
    epochs = venv.get_attr("epochs")[0]
    model = load_checkpoint(cfg, ckpt, venv) if ckpt else build_model(cfg, venv, epochs, out)
    curve = LearningCurve(cfg, out, after=ckpt.steps if ckpt else None) if cfg.eval_tasks else None
    if curve is not None and cfg.eval_baselines and not (out / BASELINES_FILE).exists():
        curve.play_baselines(cfg.eval_baselines)
    every = cfg.checkpoint_every or max(1, cfg.timesteps // max(1, cfg.checkpoints))
    callback = RolloutCheckpoint(every, out / CHECKPOINT_DIR, on_save=curve)
    learn_kwargs: dict[str, Any] = {}
    if cfg.algo == "ars" and cfg.n_envs > 1:
        learn_kwargs["async_eval"] = make_async_eval(cfg, model, seed)
    progress_bar = cfg.progress_bar and _progress_bar_available()
    start, steps_before, updates_before = time.perf_counter(), model.num_timesteps, model._n_updates
    if cfg.timesteps > model.num_timesteps:
        model.learn(total_timesteps=cfg.timesteps - model.num_timesteps, callback=callback, progress_bar=progress_bar,
                    reset_num_timesteps=ckpt is None, **learn_kwargs)
    wall = time.perf_counter() - start
    model.save(out / MODEL_FILE)
    venv.save(str(out / VECNORM_FILE))
    episodes = [float(r) for rewards in venv.env_method("get_episode_rewards") for r in rewards]
    n_episodes = len(episodes)
    if "async_eval" in learn_kwargs:  # ARS's workers played them: one per candidate and evaluation
        n_episodes = (model._n_updates - updates_before) * model.pop_size * model.n_eval_episodes
    meta = {**asdict(cfg), "out": str(out), "env_steps": int(model.num_timesteps), "episodes": n_episodes,
            "train_wall_time_s": round(wall, 2), "n_train": int(venv.get_attr("n")[0]), "epochs": epochs,
            "last_returns": [round(r, 3) for r in episodes[-5:]],
            "resumed_from": None if ckpt is None else {"model": str(ckpt.model), "vecnormalize": str(ckpt.vecnormalize),
                                                       "env_steps": ckpt.steps},
            "stable_baselines3": stable_baselines3.__version__, "dataselect": dataselect_env.__version__,
            **task_meta(cfg, venv)}
    (out / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
    venv.close()
    if curve is not None:
        curve.close()
        plot_learning_curve(out)
    rate = (model.num_timesteps - steps_before) / wall * 3600 if wall > 0 else float("nan")
    print(f"trained {cfg.algo}/{cfg.interface} on {cfg.env}: {model.num_timesteps} env steps "
          f"({n_episodes} episodes this session, {n_episodes / wall * 3600 if wall else 0:.0f} episodes/h, "
          f"{rate:.0f} env steps/h) in {wall:.1f} s -> {out}")
    return out


def env_kwargs(cfg: SB3TrainArgs) -> dict[str, Any]:
    """The ``gym.make`` kwargs of the training env: ``--env-kwargs``, ``--reward`` and, on a task
    env, ``--keep`` as the keep range and ``pad=True`` for the set interface.

    :param cfg: training arguments.
    """
    kw = dict(cfg.env_kwargs)
    if cfg.reward is not None:
        kw["reward"] = cfg.reward
    if is_task_env(cfg.env):
        if cfg.keep is not None:
            kw["keep"] = (cfg.keep, cfg.keep)
        if cfg.interface == "set":
            kw["pad"] = True
    return kw


def make_env(cfg: SB3TrainArgs, monitor: bool = True, threads: int | None = None,
             cache_size: int | None = None) -> gym.Env:
    """The training env: ``gym.make`` + the interface's wrapper + ``FiniteGuard`` + ``Monitor``.

    :param cfg: training arguments.
    :param monitor: wrap in SB3's ``Monitor`` (episode returns for the logs).
    :param threads: torch threads of this process (subprocess envs: one each).
    :param cache_size: on a task env, the inner envs it keeps (default: the env's).
    """
    if threads:
        th.set_num_threads(threads)
    kwargs = env_kwargs(cfg)
    if cache_size is not None and is_task_env(cfg.env):
        kwargs["cache_size"] = cache_size
    env = gym.make(cfg.env, **kwargs)
    if cfg.interface == "bins":
        env = LossBins(env, bins=cfg.bins, keep=cfg.keep)
    elif cfg.interface == "linear":
        env = LinearScore(env, keep=cfg.keep)
    elif env.unwrapped.action_mode != "mask":
        raise ValueError("the set interface needs action_mode='mask' (a MultiBinary action)")
    env = FiniteGuard(env)
    return Monitor(env) if monitor else env


def make_vec_env(cfg: SB3TrainArgs, seed: int, ckpt: Checkpoint | None = None) -> VecNormalize:
    """``n_envs`` training envs (subprocesses when more than one; ARS evaluates its candidates in
    its own workers, so it keeps one here), normalized as saved in ``ckpt`` or afresh.

    Rewards are normalized (``VecNormalize``), observations not; ARS instead normalizes the
    observations (ARS V2 of Mania et al. 2018) and not the rewards (it scales its step by the
    spread of the returns itself).

    :param cfg: training arguments.
    :param seed: seed of the envs (env i gets ``seed + i``).
    :param ckpt: checkpoint whose VecNormalize statistics to load.
    """
    n = 1 if cfg.algo == "ars" else cfg.n_envs
    if n > 1:
        venv: VecEnv = SubprocVecEnv([functools.partial(make_env, cfg, threads=cfg.threads or 1)] * n,
                                     start_method=start_method())
    else:
        venv = DummyVecEnv([functools.partial(make_env, cfg)])
    if ckpt is not None:
        venv = VecNormalize.load(str(ckpt.vecnormalize), venv)
        venv.training = True
    else:
        ars = cfg.algo == "ars"
        venv = VecNormalize(venv, norm_obs=ars, norm_reward=not ars, gamma=cfg.gamma)
    venv.seed(seed)
    return venv


def start_method() -> str:
    """``forkserver`` where available, else ``spawn``: never ``fork`` after torch started its threads."""
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def make_async_eval(cfg: SB3TrainArgs, model: BaseAlgorithm, seed: int) -> Any:
    """sb3-contrib's ``AsyncEval``: ARS candidates evaluated in ``n_envs`` worker processes.

    :param cfg: training arguments.
    :param model: the ARS model (its policy is copied to the workers).
    :param seed: worker i's env gets ``seed + i``.
    """
    from sb3_contrib.common.vec_env import AsyncEval

    def worker_env(cfg: SB3TrainArgs) -> VecEnv:
        venv = DummyVecEnv([functools.partial(make_env, cfg, threads=cfg.threads or 1)])
        return VecNormalize(venv, norm_obs=True, norm_reward=False)  # its statistics go to the main process

    async_eval = AsyncEval([functools.partial(worker_env, cfg)] * cfg.n_envs, model.policy,
                           start_method=start_method())
    async_eval.seed(seed)
    return async_eval


def build_model(cfg: SB3TrainArgs, venv: VecNormalize, epochs: int, out: Path) -> BaseAlgorithm:
    """The SB3 algorithm with this project's defaults (whole-episode rollouts, small replay buffers).

    :param cfg: training arguments.
    :param venv: the normalized training env.
    :param epochs: episode length E (env steps; on a task env the longest task's).
    :param out: model directory (TensorBoard logs go to ``out/tb``).
    """
    kwargs: dict[str, Any] = {"seed": cfg.seed, "device": cfg.device, "verbose": cfg.verbose}
    kwargs["learning_rate"] = cfg.learning_rate or (SET_LR if cfg.interface == "set" else DEFAULT_LR[cfg.algo])
    if importlib.util.find_spec("tensorboard") is not None:
        kwargs["tensorboard_log"] = str(out / "tb")
    if cfg.algo != "ars":
        kwargs["gamma"] = cfg.gamma
    if cfg.algo == "ppo":
        n_steps = cfg.n_steps or cfg.episodes_per_update * epochs
        # one minibatch of the whole rollout; the set policy's activations scale with N: <= 16 observations
        rollout = n_steps * venv.num_envs
        batch = rollout if cfg.interface != "set" else max(d for d in range(1, 17) if rollout % d == 0)
        kwargs.update(n_steps=n_steps, batch_size=batch)
    elif cfg.algo == "a2c":
        kwargs.update(n_steps=cfg.n_steps or epochs)
    elif cfg.algo in ("sac", "td3"):
        kwargs.update(buffer_size=max(1000, cfg.timesteps), learning_starts=min(100, cfg.timesteps // 4))
        if cfg.algo == "td3":
            n_act = venv.action_space.shape[0]
            kwargs["action_noise"] = NormalActionNoise(np.zeros(n_act), 0.2 * np.ones(n_act))
    policy: Any = DeepSetsPolicy if cfg.interface == "set" else "LinearPolicy" if cfg.algo == "ars" else "MlpPolicy"
    return ALGOS[cfg.algo](policy, venv, **{**kwargs, **cfg.algo_kwargs})


# ---- checkpoints and resume --------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    """One saved checkpoint: ``checkpoints/model_<steps>_steps.zip`` and its VecNormalize statistics."""

    steps: int  # env steps done when it was saved
    model: Path
    vecnormalize: Path
    replay_buffer: Path  # only off-policy algorithms write it


def checkpoint_paths(directory: Path, steps: int) -> Checkpoint:
    """The file names of the checkpoint at ``steps`` (SB3's ``CheckpointCallback`` names).

    :param directory: the run's ``checkpoints/`` directory.
    :param steps: env steps.
    """
    return Checkpoint(steps, directory / f"model_{steps}_steps.zip", directory / f"model_vecnormalize_{steps}_steps.pkl",
                      directory / f"model_replay_buffer_{steps}_steps.pkl")


def latest_checkpoint(directory: Path) -> Checkpoint | None:
    """The complete checkpoint (model and VecNormalize file) with the most env steps, or None.

    :param directory: the run's ``checkpoints/`` directory.
    """
    names = (re.fullmatch(r"model_(\d+)_steps\.zip", p.name) for p in directory.glob("model_*_steps.zip"))
    found = sorted((int(m.group(1)) for m in names if m), reverse=True)
    complete = [c for c in (checkpoint_paths(directory, steps) for steps in found) if c.vecnormalize.is_file()]
    return complete[0] if complete else None


def check_resumable(cfg: SB3TrainArgs, out: Path) -> None:
    """Fail when ``--resume`` would continue a run with other settings (:data:`RESUME_KEYS`).

    :param cfg: training arguments of this run.
    :param out: its model directory.
    """
    if cfg.out is None:
        raise ValueError("--resume continues the run in --out: give --out DIR")
    saved_file = out / ARGS_FILE
    if not saved_file.is_file():
        return
    saved = json.loads(saved_file.read_text())
    now = json.loads(json.dumps(asdict(cfg), default=str))  # the same JSON round trip as the saved file
    differ = [k for k in RESUME_KEYS if saved.get(k) != now.get(k)]
    if differ:
        raise ValueError(f"--resume: {', '.join(f'{k} was {saved.get(k)!r}, now {now.get(k)!r}' for k in differ)}; "
                         f"resume with the settings of {saved_file}, or train into a new --out")


def load_checkpoint(cfg: SB3TrainArgs, ckpt: Checkpoint, venv: VecNormalize) -> BaseAlgorithm:
    """The model of ``ckpt`` attached to ``venv``, ready to ``learn(..., reset_num_timesteps=False)``.

    :param cfg: training arguments.
    :param ckpt: the checkpoint.
    :param venv: the training env, its VecNormalize statistics already loaded.
    """
    model = ALGOS[cfg.algo].load(ckpt.model, env=venv, device=cfg.device)  # discards the old last observation
    if cfg.algo == "ars":  # ARS searches around `weights`, which load() resets to its zero initial policy
        model.weights = th.nn.utils.parameters_to_vector(model.policy.parameters()).detach()
    if isinstance(model, OffPolicyAlgorithm) and ckpt.replay_buffer.is_file():
        model.load_replay_buffer(ckpt.replay_buffer)
    return model


class RolloutCheckpoint(BaseCallback):
    """Save the model and the VecNormalize statistics every ``every`` env steps, between updates.

    A checkpoint is taken when a rollout starts (after the previous update) and at the end of
    training, so its model has learnt from every step it counts, and a resumed run makes the
    same number of updates as an uninterrupted one. Files are written under a temporary name and
    renamed, so a run killed while saving leaves the previous checkpoint intact.

    :param every: env steps between checkpoints.
    :param directory: where to write them.
    :param on_save: called as ``on_save(model)`` after each checkpoint (and once before training).
    """

    def __init__(self, every: int, directory: Path, on_save: Callable[[BaseAlgorithm], None] | None = None):
        super().__init__()
        self.every, self.directory, self.on_save = max(1, int(every)), Path(directory), on_save
        self.last = 0

    def _on_training_start(self) -> None:
        self.last = self.num_timesteps
        if self.on_save is not None and self.num_timesteps == 0:
            self.on_save(self.model)  # the learning curve's first point: the untrained policy

    def _on_rollout_start(self) -> None:
        if self.num_timesteps - self.last >= self.every:
            self.save()

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        if self.num_timesteps > self.last:
            self.save()

    def save(self) -> Checkpoint:
        """Write the checkpoint at the current step count."""
        self.directory.mkdir(parents=True, exist_ok=True)
        ckpt = checkpoint_paths(self.directory, self.num_timesteps)
        vec_normalize = self.model.get_vec_normalize_env()
        if vec_normalize is not None:
            atomic_write(ckpt.vecnormalize, vec_normalize.save)
        if isinstance(self.model, OffPolicyAlgorithm):
            atomic_write(ckpt.replay_buffer, self.model.save_replay_buffer)
        atomic_write(ckpt.model, self.model.save)  # last: a model file marks a complete checkpoint
        self.last = self.num_timesteps
        if self.on_save is not None:
            self.on_save(self.model)
        return ckpt


# ---- learning curve ----------------------------------------------------------------------------

class LearningCurve:
    """Play the policy on held-out episodes at every checkpoint; append a row to ``learning_curve.csv``.

    The episodes use the fixed seeds ``EVAL_SEED + i`` (on a task env: fixed held-out tasks), the
    policy's mode (``deterministic=True``) and a separate env in this process. A row:
    ``env_steps``, ``mean_return`` (the env's reward, unnormalized), ``mean_val_accuracy`` (final
    validation accuracy; the test split is never looked at here), ``mean_val_vs_frontier`` (final
    validation accuracy minus full-data training's at the same compute, same task and seed, in
    points: the suite's Δ on validation; the reference runs are cached, so each held-out task pays
    for them once), ``mean_compute``, ``episodes``, ``wall_time_s``.

    :param cfg: training arguments (``eval_tasks`` episodes).
    :param out: model directory.
    :param after: on resume, the checkpoint's env steps: rows past it (from the stopped run) are dropped.
    """

    COLUMNS = ("env_steps", "mean_return", "mean_val_accuracy", "mean_val_vs_frontier", "mean_compute", "episodes",
               "wall_time_s")

    def __init__(self, cfg: SB3TrainArgs, out: Path, after: int | None = None):
        self.env = make_env(cfg, monitor=False, cache_size=max(4, cfg.eval_tasks))  # keeps the frontier caches
        self.seeds = [EVAL_SEED + i for i in range(cfg.eval_tasks)]
        self.keep = cfg.keep
        self.file = Path(out) / CURVE_FILE
        rows = read_learning_curve(out) if after is not None else []
        with self.file.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.COLUMNS)
            writer.writeheader()
            writer.writerows(r for r in rows if r["env_steps"] <= after)
        self.start = time.perf_counter()

    def __call__(self, model: BaseAlgorithm) -> dict[str, float]:
        """Evaluate ``model`` and append its row.

        :param model: the policy being trained.
        """
        returns, finals = [], []
        vec_normalize = model.get_vec_normalize_env()
        norm = vec_normalize.normalize_obs if vec_normalize is not None and vec_normalize.norm_obs else (lambda o: o)
        for seed in self.seeds:
            obs, info = self.env.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                action, _ = model.predict(norm(obs), deterministic=True)
                obs, reward, terminated, truncated, info = self.env.step(action)
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
            finals.append(self._final(info))
        row = {"env_steps": int(model.num_timesteps), "mean_return": round(float(np.mean(returns)), 4),
               **_means(finals), "episodes": len(self.seeds), "wall_time_s": round(time.perf_counter() - self.start, 1)}
        with self.file.open("a", newline="") as f:
            csv.DictWriter(f, self.COLUMNS).writerow(row)
        return row

    def play_baselines(self, names: tuple[str, ...]) -> list[dict[str, Any]]:
        """Play hand-written agents on the held-out episodes; write their rows to ``eval_baselines.csv``.

        Each agent runs on the raw env under the interface (the same tasks, seeds and cached
        frontier runs as the policy), rebuilt per episode with that task's keep fraction (on a
        plain env: ``--keep``, else the agent's default). A row: ``agent``, ``mean_val_accuracy``,
        ``mean_val_vs_frontier``, ``mean_compute``, ``episodes``.

        :param names: agent specs, e.g. ``("random", "ucb")``.
        """
        env, rows = self.env.unwrapped, []
        for name in names:
            takes_keep = "keep" in inspect.signature(agents.load_class(name)).parameters
            finals = []
            for seed in self.seeds:
                env.reset(seed=seed)  # to read the task's keep; play_episode resets to the same task
                keep = getattr(env, "task_keep", None) or self.keep
                agent = agents.load(name, **({"keep": keep} if takes_keep and keep is not None else {}))
                finals.append(self._final(agents.play_episode(agent, env, seed=seed)))
            rows.append({"agent": name, **_means(finals), "episodes": len(self.seeds)})
        with (self.file.parent / BASELINES_FILE).open("w", newline="") as f:
            writer = csv.DictWriter(f, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return rows

    def _final(self, info: dict[str, Any]) -> dict[str, float]:
        """What a finished held-out episode scores; called before the next reset, while the env
        still holds the episode's task and seed (its frontier)."""
        frontier = self.env.unwrapped.frontier_val_accuracy(info["compute"])
        return {"val_accuracy": info["val_accuracy"], "val_vs_frontier": 100 * (info["val_accuracy"] - frontier),
                "compute": info["compute"]}

    def close(self) -> None:
        """Close the evaluation env."""
        self.env.close()


def _means(finals: list[dict[str, float]]) -> dict[str, float]:
    """``mean_<key>`` of :meth:`LearningCurve._final` over the held-out episodes, rounded to 4 decimals."""
    return {f"mean_{k}": round(float(np.mean([f[k] for f in finals])), 4) for k in finals[0]}


def read_learning_curve(out: str | Path) -> list[dict[str, float]]:
    """The rows of ``out/learning_curve.csv`` as numbers (an empty list without one).

    :param out: model directory.
    """
    # a column missing from older files reads as nan
    return _read_csv(Path(out) / CURVE_FILE, lambda k, v: int(v) if k in ("env_steps", "episodes") else float(v or "nan"))


def read_baselines(out: str | Path) -> list[dict[str, Any]]:
    """The rows of ``out/eval_baselines.csv`` (agent name, then numbers); an empty list without one.

    :param out: model directory.
    """
    return _read_csv(Path(out) / BASELINES_FILE, lambda k, v: v if k == "agent" else float(v))


def _read_csv(file: Path, convert: Callable[[str, str], Any]) -> list[dict[str, Any]]:
    """The rows of ``file`` with each value ``convert(column, text)``; an empty list without the file."""
    if not file.is_file():
        return []
    with file.open() as f:
        return [{k: convert(k, v) for k, v in row.items()} for row in csv.DictReader(f)]


def plot_learning_curve(out: str | Path) -> Path | None:
    """Plot ``learning_curve.csv`` (mean return, mean final val accuracy and mean val Δ vs the
    full-data frontier against env steps, with ``eval_baselines.csv`` as dotted lines) to
    ``learning_curve.png``; None without matplotlib or rows.

    :param out: model directory.
    """
    rows = read_learning_curve(out)
    if not rows or importlib.util.find_spec("matplotlib") is None:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["env_steps"] for r in rows]
    baselines = read_baselines(out)
    panels = (("mean_return", "mean return"), ("mean_val_accuracy", "mean final val accuracy"),
              ("mean_val_vs_frontier", "mean val Δ vs full-data frontier (pp)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.5))
    for ax, (key, label) in zip(axes, panels):
        ax.plot(steps, [r.get(key, float("nan")) for r in rows], marker="o")
        if key in ("mean_val_accuracy", "mean_val_vs_frontier"):
            for i, row in enumerate(baselines):
                ax.axhline(row[key], color=f"C{i + 1}", linestyle=":", linewidth=1.2, label=row["agent"])
        if key == "mean_val_vs_frontier":
            ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
            if baselines:
                ax.legend(fontsize=7)
        ax.set_xlabel("env steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.suptitle(f"held-out episodes (n={int(rows[-1]['episodes'])} per point)")
    fig.tight_layout()
    path = Path(out) / CURVE_PLOT
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def task_meta(cfg: SB3TrainArgs, venv: VecEnv) -> dict[str, Any]:
    """What ``agents.SB3Agent`` needs to act like a policy trained on a task env: that the
    descriptors are in its observation, the tasks' keep range and its middle (the default keep).

    :param cfg: training arguments.
    :param venv: the training env.
    """
    if not is_task_env(cfg.env):
        return {"task_features": False}
    ranges = venv.get_attr("ranges")[0]
    keep = None if ranges.keep is None else list(ranges.keep)
    return {"task_features": True, "task_ranges": asdict(ranges), "task_keep": keep,
            "default_keep": None if keep is None else round((keep[0] + keep[1]) / 2, 4)}


def check_args(cfg: SB3TrainArgs) -> None:
    """Fail before training on a combination that cannot work, saying what to change.

    :param cfg: training arguments.
    """
    if cfg.algo not in ALGOS:
        hint = " (ars needs sb3-contrib: pip install sb3-contrib)" if cfg.algo == "ars" else ""
        raise ValueError(f"--algo must be one of {', '.join(ALGOS)}, got {cfg.algo!r}{hint}")
    if cfg.interface not in INTERFACES:
        raise ValueError(f"--interface must be one of {', '.join(INTERFACES)}, got {cfg.interface!r}")
    if cfg.interface == "set" and cfg.algo not in ("ppo", "a2c"):
        raise ValueError(f"--interface set acts on MultiBinary(N), which {cfg.algo.upper()} cannot; "
                         "use --algo ppo or a2c, or --interface bins/linear")
    task = is_task_env(cfg.env)
    task_keep = task and cfg.env_kwargs.get("keep", ()) is not None  # the task env draws a keep fraction
    if cfg.interface == "linear" and cfg.keep is None and not task_keep:
        raise ValueError("--interface linear keeps the top round(keep*N) scores: give --keep, e.g. --keep 0.3")
    check_keep(cfg.keep, "--keep", allow_none=True)
    if task and cfg.keep is not None and "keep" in cfg.env_kwargs:
        raise ValueError("give the task env's keep range either as --keep K (every task keeps K) or as "
                         "--env-kwargs keep=[lo,hi], not both")
    if cfg.reward is not None and "reward" in cfg.env_kwargs:
        raise ValueError("give the reward either as --reward or as --env-kwargs reward=..., not both")
    for name, value, low in (("--timesteps", cfg.timesteps, 1), ("--n-envs", cfg.n_envs, 1),
                             ("--checkpoint-every", cfg.checkpoint_every or 1, 1), ("--eval-tasks", cfg.eval_tasks, 0)):
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if cfg.eval_baselines and not cfg.eval_tasks:
        raise ValueError("--eval-baselines plays agents on the --eval-tasks episodes: give --eval-tasks K too")
    for name in cfg.eval_baselines:
        agents.load_class(name)  # an unknown agent fails here, listing the registered ones


def run_name(cfg: SB3TrainArgs) -> str:
    """``<env>-<algo>-<interface>-k<keep>-s<seed>-<YYYYmmdd-HHMMSS>`` (CleanRL-style run name).

    :param cfg: training arguments.
    """
    env = cfg.env.split("/")[-1]
    keep = "auto" if cfg.keep is None else f"{cfg.keep:g}"
    return f"{env}-{cfg.algo}-{cfg.interface}-k{keep}-s{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}"


def from_namespace(ns: argparse.Namespace) -> SB3TrainArgs:
    """:class:`SB3TrainArgs` from parsed arguments (``--env-kwargs`` parsed).

    :param ns: the namespace of :func:`add_train_arguments`.
    """
    return SB3TrainArgs(algo=ns.algo, env=ns.env, interface=ns.interface, keep=ns.keep, bins=ns.bins,
                        timesteps=ns.timesteps, seed=ns.seed, out=ns.out, env_kwargs=parse_kv(ns.env_kwargs, "--env-kwargs"),
                        episodes_per_update=ns.episodes_per_update, n_steps=ns.n_steps,
                        learning_rate=ns.learning_rate, gamma=ns.gamma, checkpoints=ns.checkpoints,
                        device=ns.device, threads=ns.threads, progress_bar=not ns.no_progress_bar, verbose=ns.verbose,
                        checkpoint_every=ns.checkpoint_every, resume=ns.resume, n_envs=ns.n_envs, reward=ns.reward,
                        eval_tasks=ns.eval_tasks, eval_baselines=tuple(a for a in ns.eval_baselines.split(",") if a),
                        algo_kwargs=parse_kv(ns.algo_kwargs, "--algo-kwargs"))


def _progress_bar_available() -> bool:
    """SB3's progress bar needs ``tqdm`` and ``rich`` (``pip install rich``, or stable-baselines3[extra])."""
    if all(importlib.util.find_spec(m) is not None for m in ("tqdm", "rich")):
        return True
    print("progress bar off: it needs rich and tqdm (pip install rich)", file=sys.stderr)
    return False


def main(argv: list[str] | None = None) -> Path:
    """``python -m dataselect_env.harness.sb3_train ...``: parse ``argv`` and train."""
    parser = argparse.ArgumentParser(prog="python -m dataselect_env.harness.sb3_train", description=__doc__.split("\n\n")[0])
    add_train_arguments(parser)
    return train(parser.parse_args(argv))


if __name__ == "__main__":
    main()

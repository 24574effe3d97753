"""Train a Stable-Baselines3 policy on a DataSelect env: ``python train_agent.py train ...``.

This module builds the training envs and the model and runs ``learn``; the checkpoints are
:mod:`.checkpoints`, the learning curve :mod:`.curves`, the arguments :class:`TrainArgs`
(each flag declared once, :mod:`.options`).

Four interfaces, all independent of the dataset size N (``agents.wrappers``,
``agents.sb3_policies``):

- ``bins``: ``LossBins`` wrapper, ``MlpPolicy``; PPO, A2C, SAC or TD3, or ARS (sb3-contrib).
- ``linear``: ``LinearScore`` wrapper, ``MlpPolicy``; PPO, A2C, SAC or TD3, or ARS with a linear
  policy (Augmented Random Search, Mania et al. 2018).
- ``rules``: ``RuleSpace`` wrapper (``agents.rule_space``: a parametrised rule that contains
  random, loss-proportional, epsilon-greedy, small-loss and class-balanced selection), on a ``-v1``
  env; ARS (its linear policy maps progress and regime summaries to the rule), or PPO ... TD3.
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
``python -m dataselect_harness.train ...``.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import multiprocessing as mp
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import stable_baselines3
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecNormalize

import agents
import dataselect_env
from agents.sb3_agent import ALGOS, INTERFACES, META_FILE, MODEL_FILE, VECNORM_FILE
from agents.sb3_policies import DeepSetsPolicy
from agents.wrappers import FiniteGuard, LinearScore, LossBins, RuleSpace
from dataselect_env.config import REWARDS
from dataselect_env.hardware import process_tuned, tune_process
from dataselect_env.selection import check_keep
from dataselect_env.tasks import is_task_env

from .checkpoints import (
    ARGS_FILE,
    CHECKPOINT_DIR,
    Checkpoint,
    RolloutCheckpoint,
    check_resumable,
    latest_checkpoint,
    load_checkpoint,
)
from .curves import BASELINES_FILE, CURVE_FILE, LearningCurve, plot_learning_curve
from .options import add_options, csv_of, from_namespace, option
from .paired import PairedCredit, ars_schedule
from .plan import parse_kv

# Learning rates for small budgets: PPO on the small wrapped spaces learns within ~300 env steps at
# 3e-3 (SB3's 3e-4 barely moves in that budget); the set policy's log-probability sums N
# Bernoullis, so it keeps SB3's 3e-4. The others are SB3's defaults.
DEFAULT_LR = {"ppo": 3e-3, "a2c": 7e-4, "sac": 3e-4, "td3": 1e-3, "ars": 0.02}
SET_LR = 3e-4


@dataclass
class TrainArgs:
    """One training run: each field is one flag of ``train_agent.py train`` (its help below)."""

    algo: str = option("ppo", "algorithm (ars needs sb3-contrib)", choices=tuple(ALGOS))
    env: str = option("DataSelect/Synthetic-v1", "gymnasium id")
    interface: str = option("bins", "bins: LossBins wrapper; linear: LinearScore wrapper; rules: RuleSpace wrapper "
                            "(a -v1 env); set: DeepSets policy on the "
                            "raw env, PPO/A2C only", choices=INTERFACES)
    keep: float | None = option(None, "kept fraction in (0, 1]; required by linear; bins without it learns the "
                                "fraction; set trains without it and only records it as the agent's default; on a task "
                                "env (DataSelect/Tasks-v0) every task keeps it (default: each task draws its own)",
                                type=float)
    bins: int = option(8, "loss bins of the bins interface", type=int)
    timesteps: int = option(2000, "env steps (epochs of inner training) in all", type=int)
    seed: int = option(0, "seeds the algorithm and the training envs", type=int)
    out: Path | None = option(None, "model directory (default models/<env>-<algo>-<interface>-k<keep>-s<seed>-<time>)",
                              type=Path)
    env_kwargs: dict[str, Any] = option(help='extra env kwargs, e.g. epochs=5 synthetic=\'{"label_noise": 0.4}\'',
                                        default_factory=dict, cli_default=[], nargs="+", action="extend", metavar="K=V",
                                        convert=lambda items: parse_kv(items, "--env-kwargs"))
    episodes_per_update: int = option(2, "PPO rollout length in whole episodes", type=int)
    n_steps: int | None = option(None, "rollout length in env steps (PPO/A2C; overrides --episodes-per-update)", type=int)
    learning_rate: float | None = option(None, "default: " + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items())
                                         + f"; {SET_LR:g} for the set interface", type=float)
    gamma: float = option(0.99, "discount", type=float)
    checkpoints: int = option(5, "checkpoints saved over the run, when --checkpoint-every is not given", type=int)
    checkpoint_every: int | None = option(None, "env steps between checkpoints (model + VecNormalize statistics, saved "
                                          "between updates); a stopped run loses at most this many", type=int,
                                          metavar="STEPS")
    resume: bool = option(False, "continue from the last checkpoint in --out (model, VecNormalize, step count) up to "
                          "the same total --timesteps; starts afresh when there is none", action="store_true")
    n_envs: int = option(1, "training envs, in subprocesses when > 1 (forkserver, one torch thread each; ARS: parallel "
                         "candidate evaluation)", type=int)
    paired: bool = option(False, "paired credit (dataselect_harness.paired): the return is the final val accuracy minus "
                          "random's on the same seed; with ARS each +/- pair of candidates plays the same seeds",
                          action="store_true")
    reward: str | None = option(None, "the env's reward: gain_per_compute (the env's default), gain_minus_cost, terminal "
                                "(0 until the last step, then 100 x final val accuracy - lam x compute) or vs_frontier "
                                "(0 until the last step, then 100 x (final val accuracy - that of full-data training at "
                                "the same compute, same task and seed))", choices=REWARDS)
    eval_tasks: int = option(0, f"at every checkpoint play the policy on K held-out episodes (fixed seeds; on a task "
                             f"env, K fixed tasks) and append a row to {CURVE_FILE}; 0: off", type=int, metavar="K")
    eval_baselines: tuple[str, ...] = option((), f"hand-written agents (e.g. random,ucb) played once on the "
                                             f"--eval-tasks episodes, each task at its own keep fraction, into "
                                             f"{BASELINES_FILE}; drawn as lines on the curve",
                                             type=csv_of(str, "--eval-baselines"), metavar="A,B", show_default=False)
    algo_kwargs: dict[str, Any] = option(help="extra algorithm kwargs, e.g. n_delta=4 delta_std=0.05 (ARS) or "
                                         "ent_coef=0.01 (PPO)", default_factory=dict, cli_default=[], nargs="+",
                                         action="extend", metavar="K=V",
                                         convert=lambda items: parse_kv(items, "--algo-kwargs"))
    device: str = option("cpu", "policy device (the inner training picks its own)")
    threads: int | None = option(None, "torch CPU threads (default: torch's; 1 is much faster on a busy 2-core machine)",
                                 type=int)
    progress_bar: bool = option(True, "train without SB3's progress bar (it needs tqdm and rich)",
                                flag="--no-progress-bar", action="store_false")
    verbose: int = option(0, "SB3 verbosity", type=int)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` command's flags, generated from :class:`TrainArgs`, to ``parser``."""
    add_options(parser, TrainArgs)


def train(cfg: TrainArgs) -> Path:
    """Train (or, with ``resume``, continue training), save and return the model directory.

    :param cfg: the ``train`` arguments (from the command line: :func:`~.options.from_namespace`).
    :raises ValueError: for a combination that cannot train (named in the message).
    """
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
    curve = LearningCurve(make_env(cfg, monitor=False, cache_size=max(4, cfg.eval_tasks), paired=False, held_out=True),
                          out, cfg.eval_tasks,
                          cfg.keep, after=ckpt.steps if ckpt else None) if cfg.eval_tasks else None
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


def env_kwargs(cfg: TrainArgs) -> dict[str, Any]:
    """The ``gym.make`` kwargs of the training env: ``--env-kwargs``, ``--reward`` and, on a task
    env, ``--keep`` as the keep range (a task env's spaces are padded for every interface).

    :param cfg: training arguments.
    """
    kw = dict(cfg.env_kwargs)
    if cfg.reward is not None:
        kw["reward"] = cfg.reward
    if is_task_env(cfg.env):
        if cfg.keep is not None:
            kw["keep"] = (cfg.keep, cfg.keep)
    return kw


def make_env(cfg: TrainArgs, monitor: bool = True, threads: int | None = None,
             cache_size: int | None = None, paired: bool | None = None, held_out: bool = False,
             resumed_steps: int = 0, tune: bool = False) -> gym.Env:
    """The training env: ``gym.make`` + the interface's wrapper + ``FiniteGuard`` + ``Monitor``.

    :param cfg: training arguments.
    :param monitor: wrap in SB3's ``Monitor`` (episode returns for the logs).
    :param threads: torch threads of this process (subprocess envs: one each).
    :param cache_size: on a task env, the inner envs it keeps (default: the env's).
    :param paired: wrap in :class:`~.paired.PairedCredit` (default: ``--paired``).
    :param held_out: on a task env, draw the datasets from the next ``data_seeds`` data seeds after
        the training family's (the learning curve's tasks never share a dataset with training).
    :param resumed_steps: env steps a resumed run has done: its paired schedule starts that many seeds
        further on, past every seed used so far (an ARS update uses fewer seeds than env steps), so
        that it trains on fresh tasks instead of replaying the first ones.
    :param tune: apply :func:`dataselect_env.hardware.tune_process` in this process (a subprocess env
        of a process that has it).
    """
    if tune:
        tune_process()
    if threads:
        th.set_num_threads(threads)
    kwargs = env_kwargs(cfg)
    if cache_size is not None and is_task_env(cfg.env):
        kwargs["cache_size"] = cache_size
    if held_out and is_task_env(cfg.env):
        ranges = gym.make(cfg.env, **kwargs).unwrapped.ranges
        kwargs["data_seed_start"] = ranges.data_seed_start + ranges.data_seeds
    env = gym.make(cfg.env, **kwargs)
    if cfg.interface == "bins":
        env = LossBins(env, bins=cfg.bins, keep=cfg.keep)
    elif cfg.interface == "linear":
        env = LinearScore(env, keep=cfg.keep)
    elif cfg.interface == "rules":
        env = RuleSpace(env, keep=cfg.keep)
    elif env.unwrapped.action_mode != "mask":
        raise ValueError("the set interface needs action_mode='mask' (a MultiBinary action)")
    if cfg.paired if paired is None else paired:
        schedule = None
        if cfg.algo == "ars":  # sb3-contrib's defaults unless --algo-kwargs sets them
            schedule = ars_schedule(cfg.algo_kwargs.get("n_delta", 8), cfg.algo_kwargs.get("n_eval_episodes", 1),
                                    base_seed=cfg.seed * 1_000_003 + resumed_steps)
        env = PairedCredit(env, schedule)
    env = FiniteGuard(env)
    return Monitor(env) if monitor else env


def make_vec_env(cfg: TrainArgs, seed: int, ckpt: Checkpoint | None = None) -> VecNormalize:
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
    done = ckpt.steps if ckpt is not None else 0
    if n > 1:
        venv: VecEnv = SubprocVecEnv([functools.partial(make_env, cfg, threads=cfg.threads or 1, resumed_steps=done,
                                                        tune=process_tuned())] * n, start_method=start_method())
    else:
        venv = DummyVecEnv([functools.partial(make_env, cfg, resumed_steps=done)])
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


def make_async_eval(cfg: TrainArgs, model: BaseAlgorithm, seed: int) -> Any:
    """sb3-contrib's ``AsyncEval``: ARS candidates evaluated in ``n_envs`` worker processes.

    :param cfg: training arguments.
    :param model: the ARS model (its policy is copied to the workers).
    :param seed: worker i's env gets ``seed + i``.
    """
    from sb3_contrib.common.vec_env import AsyncEval

    def worker_env(cfg: TrainArgs, tune: bool) -> VecEnv:
        venv = DummyVecEnv([functools.partial(make_env, cfg, threads=cfg.threads or 1, tune=tune)])
        return VecNormalize(venv, norm_obs=True, norm_reward=False)  # its statistics go to the main process

    async_eval = AsyncEval([functools.partial(worker_env, cfg, process_tuned())] * cfg.n_envs, model.policy,
                           start_method=start_method())
    async_eval.seed(seed)
    return async_eval


def build_model(cfg: TrainArgs, venv: VecNormalize, epochs: int, out: Path) -> BaseAlgorithm:
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


def task_meta(cfg: TrainArgs, venv: VecEnv) -> dict[str, Any]:
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


def check_args(cfg: TrainArgs) -> None:
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
    if cfg.paired and cfg.algo == "ars" and cfg.n_envs > 1:
        raise ValueError("--paired seeds ARS's candidates in the order one process evaluates them: use --n-envs 1")
    if cfg.paired and cfg.interface == "set":
        raise ValueError("--paired scores the episode's keep fraction: use an interface with one (bins, linear, rules)")
    if cfg.eval_baselines and not cfg.eval_tasks:
        raise ValueError("--eval-baselines plays agents on the --eval-tasks episodes: give --eval-tasks K too")
    for name in cfg.eval_baselines:
        agents.load_class(name)  # an unknown agent fails here, listing the registered ones


def run_name(cfg: TrainArgs) -> str:
    """``<env>-<algo>-<interface>-k<keep>-s<seed>-<YYYYmmdd-HHMMSS>`` (CleanRL-style run name).

    :param cfg: training arguments.
    """
    env = cfg.env.split("/")[-1]
    keep = "auto" if cfg.keep is None else f"{cfg.keep:g}"
    return f"{env}-{cfg.algo}-{cfg.interface}-k{keep}-s{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}"


def _progress_bar_available() -> bool:
    """SB3's progress bar needs ``tqdm`` and ``rich`` (``pip install rich``, or stable-baselines3[extra])."""
    if all(importlib.util.find_spec(m) is not None for m in ("tqdm", "rich")):
        return True
    print("progress bar off: it needs rich and tqdm (pip install rich)", file=sys.stderr)
    return False


def main(argv: list[str] | None = None) -> Path:
    """``python -m dataselect_harness.train ...``: parse ``argv`` and train."""
    parser = argparse.ArgumentParser(prog="python -m dataselect_harness.train", description=__doc__.split("\n\n")[0])
    add_train_arguments(parser)
    return train(from_namespace(TrainArgs, parser.parse_args(argv)))


if __name__ == "__main__":
    main()

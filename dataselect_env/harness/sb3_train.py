"""Train a Stable-Baselines3 policy on a DataSelect env: ``python train_agent.py train ...``.

Three interfaces, all independent of the dataset size N (``dataselect_env.wrappers``,
``agents.sb3_policies``):

- ``bins``: ``LossBins`` wrapper, ``MlpPolicy``; PPO, A2C, SAC or TD3.
- ``linear``: ``LinearScore`` wrapper, ``MlpPolicy``; PPO, A2C, SAC or TD3.
- ``set``: the raw env, ``DeepSetsPolicy`` (one Bernoulli per sample); PPO or A2C.

A run writes ``model.zip``, ``vecnormalize.pkl`` (reward normalization statistics),
``interface.json`` (what ``agents.SB3Agent`` needs to act), ``checkpoints/`` and, when
``tensorboard`` is installed, ``tb/``. Rollouts are whole episodes by default
(``n_steps = episodes_per_update x E`` for PPO, ``E`` for A2C), so PPO updates within a few
hundred steps. Also runnable as ``python -m dataselect_env.harness.sb3_train ...``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import stable_baselines3
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CheckpointCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

import dataselect_env
from agents.sb3_agent import ALGOS, INTERFACES, META_FILE, MODEL_FILE, VECNORM_FILE
from agents.sb3_policies import DeepSetsPolicy
from dataselect_env.selection import check_keep
from dataselect_env.wrappers import LinearScore, LossBins

from .plan import parse_kv

# Learning rates for small budgets: PPO on the small wrapped spaces learns within ~300 env steps at
# 3e-3 (SB3's 3e-4 barely moves in that budget); the set policy's log-probability sums N
# Bernoullis, so it keeps SB3's 3e-4. The others are SB3's defaults.
DEFAULT_LR = {"ppo": 3e-3, "a2c": 7e-4, "sac": 3e-4, "td3": 1e-3}
SET_LR = 3e-4


@dataclass
class SB3TrainArgs:
    """One training run (the ``train`` command's arguments)."""

    algo: str = "ppo"  # ppo | a2c | sac | td3
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
    checkpoints: int = 5  # checkpoints over the run
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
                             "set trains without it and only records it as the agent's default")
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
                        help=f"checkpoints saved over the run (default {d.checkpoints})")
    parser.add_argument("--device", default=d.device, help=f"policy device (default {d.device})")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's; 1 is much faster on a busy 2-core machine)")
    parser.add_argument("--no-progress-bar", action="store_true", help="train without SB3's progress bar")
    parser.add_argument("--verbose", type=int, default=d.verbose, help="SB3 verbosity")


def train(args: argparse.Namespace | SB3TrainArgs) -> Path:
    """Train, save and return the model directory.

    :param args: parsed ``train`` arguments (or an :class:`SB3TrainArgs`).
    :raises ValueError: for a combination that cannot train (named in the message).
    """
    cfg = args if isinstance(args, SB3TrainArgs) else from_namespace(args)
    check_args(cfg)
    if cfg.threads:
        th.set_num_threads(cfg.threads)
    out = Path(cfg.out) if cfg.out is not None else Path("models") / run_name(cfg)
    out.mkdir(parents=True, exist_ok=True)
    venv = VecNormalize(DummyVecEnv([lambda: make_env(cfg)]), norm_obs=False, norm_reward=True, gamma=cfg.gamma)
    venv.seed(cfg.seed)
    epochs = venv.envs[0].unwrapped.epochs
    model = build_model(cfg, venv, epochs, out)
    callback = CheckpointCallback(save_freq=max(1, cfg.timesteps // max(1, cfg.checkpoints)),
                                  save_path=str(out / "checkpoints"), name_prefix="model", save_vecnormalize=True)
    progress_bar = cfg.progress_bar and _progress_bar_available()
    start = time.perf_counter()
    model.learn(total_timesteps=cfg.timesteps, callback=callback, progress_bar=progress_bar)
    wall = time.perf_counter() - start
    model.save(out / MODEL_FILE)
    venv.save(str(out / VECNORM_FILE))
    episodes = venv.envs[0].get_episode_rewards()
    meta = {**asdict(cfg), "out": str(out), "env_steps": int(model.num_timesteps), "episodes": len(episodes),
            "train_wall_time_s": round(wall, 2), "n_train": int(venv.envs[0].unwrapped.n), "epochs": epochs,
            "last_returns": [round(float(r), 3) for r in episodes[-5:]],
            "stable_baselines3": stable_baselines3.__version__, "dataselect": dataselect_env.__version__}
    (out / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
    venv.close()
    print(f"trained {cfg.algo}/{cfg.interface} on {cfg.env}: {model.num_timesteps} env steps "
          f"({len(episodes)} episodes) in {wall:.1f} s -> {out}")
    return out


def make_env(cfg: SB3TrainArgs) -> gym.Env:
    """The training env: ``gym.make`` + the interface's wrapper + ``Monitor``.

    :param cfg: training arguments.
    """
    env = gym.make(cfg.env, **cfg.env_kwargs)
    if cfg.interface == "bins":
        env = LossBins(env, bins=cfg.bins, keep=cfg.keep)
    elif cfg.interface == "linear":
        env = LinearScore(env, keep=cfg.keep)
    elif env.unwrapped.action_mode != "mask":
        raise ValueError("the set interface needs action_mode='mask' (a MultiBinary action)")
    return Monitor(env)


def build_model(cfg: SB3TrainArgs, venv: VecNormalize, epochs: int, out: Path) -> BaseAlgorithm:
    """The SB3 algorithm with this project's defaults (whole-episode rollouts, small replay buffers).

    :param cfg: training arguments.
    :param venv: the normalized training env.
    :param epochs: episode length E (env steps).
    :param out: model directory (TensorBoard logs go to ``out/tb``).
    """
    kwargs: dict[str, Any] = {"gamma": cfg.gamma, "seed": cfg.seed, "device": cfg.device, "verbose": cfg.verbose}
    kwargs["learning_rate"] = cfg.learning_rate or (SET_LR if cfg.interface == "set" else DEFAULT_LR[cfg.algo])
    if importlib.util.find_spec("tensorboard") is not None:
        kwargs["tensorboard_log"] = str(out / "tb")
    if cfg.algo == "ppo":
        n_steps = cfg.n_steps or cfg.episodes_per_update * epochs
        # one minibatch of the whole rollout; the set policy's activations scale with N: <= 16 observations
        batch = n_steps if cfg.interface != "set" else max(d for d in range(1, 17) if n_steps % d == 0)
        kwargs.update(n_steps=n_steps, batch_size=batch)
    elif cfg.algo == "a2c":
        kwargs.update(n_steps=cfg.n_steps or epochs)
    else:
        kwargs.update(buffer_size=max(1000, cfg.timesteps), learning_starts=min(100, cfg.timesteps // 4))
        if cfg.algo == "td3":
            n_act = venv.action_space.shape[0]
            kwargs["action_noise"] = NormalActionNoise(np.zeros(n_act), 0.2 * np.ones(n_act))
    policy = DeepSetsPolicy if cfg.interface == "set" else "MlpPolicy"
    return ALGOS[cfg.algo](policy, venv, **kwargs)


def check_args(cfg: SB3TrainArgs) -> None:
    """Fail before training on a combination that cannot work, saying what to change.

    :param cfg: training arguments.
    """
    if cfg.algo not in ALGOS:
        raise ValueError(f"--algo must be one of {', '.join(ALGOS)}, got {cfg.algo!r}")
    if cfg.interface not in INTERFACES:
        raise ValueError(f"--interface must be one of {', '.join(INTERFACES)}, got {cfg.interface!r}")
    if cfg.interface == "set" and cfg.algo not in ("ppo", "a2c"):
        raise ValueError(f"--interface set acts on MultiBinary(N), which {cfg.algo.upper()} cannot; "
                         "use --algo ppo or a2c, or --interface bins/linear")
    if cfg.interface == "linear" and cfg.keep is None:
        raise ValueError("--interface linear keeps the top round(keep*N) scores: give --keep, e.g. --keep 0.3")
    check_keep(cfg.keep, "--keep", allow_none=True)
    if cfg.timesteps < 1:
        raise ValueError(f"--timesteps must be >= 1, got {cfg.timesteps}")


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
                        device=ns.device, threads=ns.threads, progress_bar=not ns.no_progress_bar, verbose=ns.verbose)


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

"""Checkpoints of a policy's training, and resuming from one (``train_agent.py train --resume``).

A checkpoint is ``checkpoints/model_<steps>_steps.zip`` with its ``VecNormalize`` statistics (and,
for off-policy algorithms, the replay buffer), SB3's ``CheckpointCallback`` names, written between
updates under a temporary name and renamed, so a run killed at any time resumes from the last
complete one and makes the same number of updates as an uninterrupted run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from agents.sb3_agent import ALGOS

from .results import atomic_write

ARGS_FILE, CHECKPOINT_DIR = "train_args.json", "checkpoints"
# What a resumed run must share with the run it continues (the rest, e.g. --timesteps or --n-envs, may change).
RESUME_KEYS = ("algo", "env", "interface", "keep", "bins", "env_kwargs", "reward")


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


def check_resumable(cfg: Any, out: Path, keys: Iterable[str] = RESUME_KEYS) -> None:
    """Fail when ``--resume`` would continue a run with other settings.

    :param cfg: training arguments of this run (a dataclass with ``out``).
    :param out: its model directory.
    :param keys: the settings that must match ``train_args.json``.
    """
    if cfg.out is None:
        raise ValueError("--resume continues the run in --out: give --out DIR")
    saved_file = out / ARGS_FILE
    if not saved_file.is_file():
        return
    saved = json.loads(saved_file.read_text())
    now = json.loads(json.dumps(asdict(cfg), default=str))  # the same JSON round trip as the saved file
    differ = [k for k in keys if saved.get(k) != now.get(k)]
    if differ:
        raise ValueError(f"--resume: {', '.join(f'{k} was {saved.get(k)!r}, now {now.get(k)!r}' for k in differ)}; "
                         f"resume with the settings of {saved_file}, or train into a new --out")


def load_checkpoint(cfg: Any, ckpt: Checkpoint, venv: VecNormalize) -> BaseAlgorithm:
    """The model of ``ckpt`` attached to ``venv``, ready to ``learn(..., reset_num_timesteps=False)``.

    :param cfg: training arguments (``algo``, ``device``).
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


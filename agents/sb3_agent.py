"""A trained Stable-Baselines3 policy as a controller: ``SB3Agent.load("models/NAME")``.

The agent reads what ``python train_agent.py train`` (``dataselect_harness.train``) saved in the
model directory (``model.zip``, the ``VecNormalize`` statistics, ``interface.json``), applies the
training interface's transform to each raw observation and maps the policy's action back to a
mask, so the benchmark runs it exactly like ``ucb`` or ``random``, on an env of any size N.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import A2C, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm

from dataselect_env.selection import check_keep, keep_count, sized_mask, top_k_mask
from dataselect_env.stats import PROGRESS_FEATURES, SAMPLE_FEATURES
from dataselect_env.tasks import task_features

from .base import Agent
from .transforms import make_transform

ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "sac": SAC, "td3": TD3}
try:  # Augmented Random Search (Mania et al. 2018), from sb3-contrib when installed
    from sb3_contrib import ARS

    ALGOS["ars"] = ARS
except ImportError:  # pragma: no cover - sb3-contrib is optional
    pass
INTERFACES = ("bins", "linear", "rules", "set")
MODEL_FILE, VECNORM_FILE, META_FILE = "model.zip", "vecnormalize.pkl", "interface.json"


class SB3Agent(Agent):
    """A policy trained by ``python train_agent.py train``, called like any controller.

    - ``bins`` / ``linear`` / ``rules`` (``agents.transforms``): the raw observation goes through
      the same transform as the training wrapper's, the policy acts, the transform maps its action
      to a mask.
    - ``set`` (``agents.sb3_policies.DeepSetsPolicy``): one Bernoulli logit per sample; the
      mask keeps the samples with ``p > 0.5`` (deterministic) or a draw of each Bernoulli.

    With ``keep`` given, exactly ``round(keep * N)`` samples are kept whatever the policy asks
    (``bins``: the budget per bin is rescaled; ``linear``: top-k scores; ``set``: top-k
    logits), so the benchmark compares agents at the same keep fraction. Reward normalization
    (``VecNormalize``) only shapes training; its saved statistics are loaded and, if the
    observation was normalized too, applied to it.

    A rule-space policy (``rules``) trained on tasks that fix the keep fraction had every mask
    trimmed or filled uniformly at random to the task's keep (``TaskEnv``'s ``enforce_keep``), so
    its ``ramp`` parameter never acted in training; on a plain env its masks are sized the same way,
    and it plays at exactly ``round(keep * N)`` samples per epoch, as it trained.

    A policy trained on a task distribution (``DataSelect/Tasks-v0``) observed the task's
    descriptors after the progress features; the agent appends them to a plain env's
    observation (``dataselect_env.tasks.task_features``: its keep fraction, the env's
    ``epochs``, the observation's N), so it runs on any env of the benchmark.

    :param path: model directory written by ``dataselect_harness.train.train``.
    :param keep: kept fraction in (0, 1], or ``None`` for the ``--keep`` of training (``bins``
        trained without it, and ``set`` without it: the policy chooses the fraction); for a
        policy trained on tasks, ``None`` is the middle of the training tasks' keep range. On a
        task env (``DataSelect/Tasks-v0``), ``None`` is each task's own keep fraction.
    :param deterministic: act with the policy's mode (``predict(..., deterministic=True)`` also does).
    :param device: torch device of the policy.
    :param seed: generator seed when ``reset(env)`` is not called (draws within bins, ties).
    """

    # loaded by the constructor from ``path``, not changed by an episode (the transforms are frozen dataclasses)
    not_state = ("env", "path", "meta", "model", "vec_normalize", "transform")

    def __init__(self, path: str | Path, keep: float | None = None, deterministic: bool = True,
                 device: str = "cpu", seed: int = 0) -> None:
        super().__init__(seed)
        self.path = Path(path)
        meta_path = self.path / META_FILE
        if not meta_path.is_file():
            raise ValueError(f"{self.path} is not a model directory written by train_agent.py train (no {META_FILE}); "
                             f"train one with: python train_agent.py train --out {self.path}")
        self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        self.interface, self.algo = self.meta["interface"], self.meta["algo"]
        if self.algo not in ALGOS:
            raise ValueError(f"{self.path} holds an {self.algo.upper()} policy: pip install sb3-contrib")
        self.task_features = bool(self.meta.get("task_features", False))
        # the transform's own keep: the --keep of training, or the middle of the tasks' keep range
        transform_keep = self.meta.get("default_keep") if self.task_features else self.meta.get("keep")
        self.keep = check_keep(keep, allow_none=True)
        self.default_keep = transform_keep if self.interface == "set" else None  # wrappers carry theirs
        self.deterministic = deterministic
        self._act_deterministic = deterministic
        self.model = ALGOS[self.algo].load(self.path / MODEL_FILE, device=device)
        self.vec_normalize = _load_vecnormalize(self.path / VECNORM_FILE)
        self.transform = None if self.interface == "set" else \
            make_transform(self.interface, transform_keep, self.meta.get("bins", 8))
        # the observation version the policy reads: the rule space's, or a set policy trained on v1's columns
        columns = self.model.observation_space["samples"].shape[-1] if self.interface == "set" else 0
        # a rule-space policy trained on tasks with a fixed keep saw its masks trimmed to that keep
        # (TaskEnv's enforce_keep): its ramp never acted, so on a plain env its masks are trimmed too
        self.trims_to_keep = self.interface == "rules" and self.meta.get("task_keep") is not None \
            and self.meta.get("env_kwargs", {}).get("enforce_keep", True)
        self.obs_version = 1 if self.interface == "rules" or columns > len(SAMPLE_FEATURES) else 0

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> SB3Agent:
        """The agent saved in ``path`` (SB3's verb); ``kwargs`` as in the constructor.

        :param path: model directory written by ``dataselect_harness.train.train``.
        """
        return cls(path=path, **kwargs)

    def predict(self, obs: dict[str, np.ndarray], state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        """Mask for a raw observation; ``deterministic=True`` or the constructor's flag picks the mode."""
        self._act_deterministic = deterministic or self.deterministic
        return super().predict(obs, state, episode_start, deterministic)

    def state_dict(self) -> dict[str, Any]:
        """The agent's attributes (:meth:`Agent.state_dict <agents.base.Agent.state_dict>`) and torch's
        global generator, which a stochastic policy's ``predict`` draws from."""
        return {**super().state_dict(), "torch_rng": th.get_rng_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go on from :meth:`state_dict`; sets torch's global generator as it was there."""
        state = dict(state)
        th.set_rng_state(state.pop("torch_rng"))
        super().load_state_dict(state)

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """The ``(N,)`` int8 mask the policy chooses for one raw observation."""
        task_keep = self.env_attr("task_keep", None) if self.env is not None else None
        keep = next((k for k in (self.keep, task_keep, self.default_keep) if k is not None),
                    None)  # the constructor's, a task env's own, the training --keep
        plain = self.task_features and len(progress) == len(PROGRESS_FEATURES)
        if plain:  # a plain env: add the descriptors
            keep = keep if keep is not None else getattr(self.transform, "keep", None)
            epochs = self.epochs if self.epochs is not None else self.meta.get("epochs", 1)
            progress = np.concatenate([progress, task_features(keep, epochs, len(samples))]).astype(np.float32)
        obs = {"samples": samples, "progress": progress}
        if self.transform is None:
            return self._act_set(obs, keep)
        x = self.transform.observation(obs)
        if self.vec_normalize is not None and self.vec_normalize.norm_obs:
            x = self.vec_normalize.normalize_obs(x)
        action, _ = self.model.predict(x, deterministic=self._act_deterministic)
        mask = self.transform.action_to_mask(action, obs, self.rng, keep=keep)
        if plain and self.trims_to_keep and keep is not None:  # as the task env it trained on did
            mask = sized_mask(mask, keep_count(keep, len(samples)), self.rng)
        return mask

    def _act_set(self, obs: dict[str, np.ndarray], keep: float | None) -> np.ndarray:
        policy = self.model.policy
        wanted, got = policy.observation_space["samples"].shape[-1], obs["samples"].shape[-1]
        if got < wanted:
            raise ValueError(f"this set policy was trained on {wanted} per-sample columns (observation version "
                             f"{int(wanted > len(SAMPLE_FEATURES))}), the env observes {got}: play it on a -v1 id "
                             "(or obs_version=1)")
        with th.no_grad():
            tensors = {k: th.as_tensor(v, device=policy.device)[None] for k, v in obs.items()}
            logits = policy.logits_and_values(tensors)[0][0].cpu().numpy()
        if keep is not None:
            return top_k_mask(logits, keep_count(keep, len(logits)), self.rng)
        if self._act_deterministic:
            return (logits > 0).astype(np.int8)
        return (self.rng.random(len(logits)) < 1.0 / (1.0 + np.exp(-logits))).astype(np.int8)


def _load_vecnormalize(path: Path) -> Any:
    """The saved ``VecNormalize`` (statistics only: it is pickled without its env), or None."""
    if not path.is_file():
        return None
    with path.open("rb") as f:
        vec_normalize = pickle.load(f)
    vec_normalize.training = False
    return vec_normalize

"""Every registered agent plays behind SB3's ``SubprocVecEnv``: what it needs beyond the observation
(labels, ground truth, scores, reference losses, the task's keep) it asks for through the env's
documented calls (``get_attr`` / ``env_method``), never a private attribute, so the env may run in
another process; and it plays there exactly as in-process."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import agents
import dataselect_env  # noqa: F401  (registers the ids in this process)
from dataselect_env.selection import keep_count

vec_env = pytest.importorskip("stable_baselines3.common.vec_env", reason="needs stable-baselines3 (pip install -e .[sb3])")

# "module:id": the env's process imports dataselect_env (which registers the id) before gym.make
SYN = "dataselect_env:DataSelect/Synthetic-v1"
TASKS = "dataselect_env:DataSelect/Tasks-v1"
SMALL = {"epochs": 2, "synthetic": {"n_train": 500, "label_noise": 0.3}, "val_size": 100}  # N = 400, noisy
SMALL_TASKS = {"train_subset": (200, 400), "epochs": (2, 2)}
# a committed PPO `bins` policy trained on Tasks-v0: it reads a task env's keep and plays plain envs too
SB3_MODEL = Path(__file__).resolve().parents[1] / "benchmarks" / "models" / "tasks-reward" / "ppo-bins-gain_per_compute-s0"
NEEDS = {name: agents.REQUIRES.get(name, ()) for name in agents.REGISTRY}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def build(name: str, **kwargs: Any) -> agents.Agent:
    """The registered agent ``name`` with ``kwargs`` (``sb3``: the committed policy :data:`SB3_MODEL`)."""
    for module in NEEDS[name]:
        pytest.importorskip(module, reason=f"agent {name!r} needs {module}")
    return agents.load(f"sb3:{SB3_MODEL}", **kwargs) if name == "sb3" else agents.make(name, **kwargs)


def subproc(env_id: str, **kwargs: Any) -> Any:
    """A one-env ``SubprocVecEnv`` (forkserver) of ``gym.make(env_id, **kwargs)``, one torch thread there."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        return vec_env.SubprocVecEnv([functools.partial(gym.make, env_id, **kwargs)], start_method="forkserver")


@pytest.fixture(scope="module")
def venvs():
    """One ``SubprocVecEnv`` per action mode (``infobatch`` sets weights), shared by the module's tests."""
    made = {mode: subproc(SYN, action_mode=mode, **SMALL) for mode in ("mask", "weights")}
    yield made
    for venv in made.values():
        venv.close()


def play_vec_episode(agent: agents.Agent, venv: Any, seed: int) -> dict[str, Any]:
    """One episode of ``agent`` on the one-env ``venv`` (SB3's VecEnv API): the last step's info."""
    venv.seed(seed)
    obs = venv.reset()
    agent.reset(venv)
    while True:
        action, _ = agent.predict(obs, deterministic=True)
        obs, _, dones, infos = venv.step(action)
        if dones[0]:
            return infos[0]


@pytest.mark.parametrize("name", list(agents.REGISTRY))
def test_every_registered_agent_plays_a_synthetic_episode_behind_subproc_vec_env(name, venvs):
    agent = build(name)
    info = play_vec_episode(agent, venvs[agent.action_mode], seed=3)
    assert info["epoch"] == 2 and 0 < info["test_accuracy"] <= 1
    here = agents.play_episode(build(name), gym.make(SYN, action_mode=agent.action_mode, **SMALL), seed=3)
    assert (info["test_accuracy"], info["compute"]) == (here["test_accuracy"], here["compute"])  # as in-process


@pytest.mark.parametrize("name", ["class_balanced", "oracle_clean", "sb3"])
def test_agents_play_the_padded_task_env_behind_subproc_vec_env(name):
    venv = subproc(TASKS, **SMALL_TASKS)
    try:
        assert venv.observation_space["samples"].shape == (400, 13)  # padded to the family's largest N
        info = play_vec_episode(build(name, keep=0.5) if name != "sb3" else build(name), venv, seed=1)
    finally:
        venv.close()
    n = int(info["terminal_observation"]["valid"].sum())  # the episode's task (the VecEnv has reset to the next)
    assert info["epoch"] == 2 and info["samples_trained"] == 2 * keep_count(info["task"]["keep"], n)
    assert np.isfinite(info["test_accuracy"])

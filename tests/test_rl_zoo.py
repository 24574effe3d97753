"""RL Baselines3 Zoo as a user meets it: ``python -m rl_zoo3.train --gym-packages dataselect_env``.

Both shipped hyperparameter files (``benchmarks/rl_zoo/``) train PPO at a tiny budget: on the raw
env (``MultiInputPolicy``, ``MultiBinary(N)`` action) and through ``env_wrapper:
agents.wrappers.LossBins``. rl_zoo3 keeps the slash of ``DataSelect/Synthetic-v0`` as the
YAML key and for ``gym.make``, and writes ``-`` in its folder and file names.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("rl_zoo3", reason="rl_zoo3 is not installed (pip install -e '.[zoo]')")
yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (rl_zoo3 installs it)")

from stable_baselines3 import PPO  # noqa: E402

import dataselect_env  # noqa: E402, F401
from agents.wrappers import LossBins  # noqa: E402

SYN = "DataSelect/Synthetic-v0"
ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "benchmarks" / "rl_zoo"
TINY_ENV = {"epochs": 4, "synthetic": {"n_train": 1100}}  # 600 training samples, 4-step episodes
# Two rollouts of two whole episodes; the command-line env kwargs replace the file's env_kwargs.
TINY = ["-n", "16", "--hyperparams", "n_steps:8", "batch_size:8",
        "--env-kwargs", "epochs:4", "synthetic:dict(n_train=1100)"]


def zoo_train(conf: Path, log_dir: Path, *extra: str) -> Path:
    """Run ``rl_zoo3.train`` with PPO on Synthetic-v0 at the tiny budget; return the run folder."""
    cmd = [sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo", "--env", SYN,
           "--gym-packages", "dataselect_env", "-conf", str(conf), "-f", str(log_dir),
           "--seed", "0", "--eval-freq", "-1", "--num-threads", "1", "--device", "cpu", *TINY, *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    run = log_dir / "ppo" / "DataSelect-Synthetic-v0_1"  # "/" -> "-" in paths, first run id is 1
    assert (run / "DataSelect-Synthetic-v0.zip").is_file(), sorted(p.name for p in log_dir.rglob("*"))
    assert (run / "DataSelect-Synthetic-v0" / "vecnormalize.pkl").is_file()  # normalize: norm_reward
    return run


@pytest.mark.parametrize("name", ["ppo_raw.yml", "ppo_bins.yml"])
def test_shipped_hyperparameters_roll_out_whole_episodes(name):
    conf = yaml.safe_load((CONF / name).read_text())
    for env_id, hp in conf.items():
        assert env_id in gym.envs.registry, env_id
        epochs = hp["env_kwargs"]["epochs"]
        assert hp["n_timesteps"] > 0 and hp["n_steps"] % epochs == 0 and hp["n_steps"] % hp["batch_size"] == 0
        assert hp["policy"] == ("MlpPolicy" if "env_wrapper" in hp else "MultiInputPolicy")


def test_rl_zoo_trains_ppo_on_the_raw_env(tmp_path):
    run = zoo_train(CONF / "ppo_raw.yml", tmp_path)
    saved = dict(yaml.unsafe_load((run / "DataSelect-Synthetic-v0" / "args.yml").read_text()))  # an OrderedDict
    assert saved["env"] == SYN
    model = PPO.load(run / "DataSelect-Synthetic-v0.zip", device="cpu")
    env = gym.make(SYN, **TINY_ENV)
    assert model.action_space == env.action_space == gym.spaces.MultiBinary(600)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)  # float32 0/1 mask: the env takes it
    assert action.shape == (600,) and set(np.unique(action)) <= {0, 1}
    env.step(action)


def test_rl_zoo_trains_ppo_through_the_loss_bins_wrapper(tmp_path):
    run = zoo_train(CONF / "ppo_bins.yml", tmp_path)
    config = dict(yaml.unsafe_load((run / "DataSelect-Synthetic-v0" / "config.yml").read_text()))
    assert config["env_wrapper"] == [{"agents.wrappers.LossBins": {"bins": 8, "keep": 0.3}}]
    model = PPO.load(run / "DataSelect-Synthetic-v0.zip", device="cpu")
    env = LossBins(gym.make(SYN, **TINY_ENV), bins=8, keep=0.3)
    assert model.observation_space == env.observation_space and model.action_space == env.action_space
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action)
    _, _, _, _, info = env.step(action)
    assert info["keep_fraction"] == pytest.approx(0.3, abs=1 / 600)

"""The env checkers of gymnasium and SB3 on every registered id, with their warnings as errors (but the
ones listed by design), and a check that the checker test fails on an env whose observation leaves its space."""

from __future__ import annotations

import dataclasses
import warnings

import gymnasium as gym
import numpy as np
import pytest

import dataselect_env
from dataselect_env import SEEN

SYN = "DataSelect/Synthetic-v0"


# The env checkers report most problems (an observation outside its space, a wrong dtype) as
# warnings: the checker test turns every warning into an error except these, each by design.
CHECKER_WARNINGS_BY_DESIGN = {
    # gymnasium: the loss columns (last loss, EMA loss, loss variance) have no upper bound, and the
    # Observation Space table of DataSelectEnv says so (high = inf).
    r".*A Box observation space maximum value is infinity": "unbounded loss columns",
    # SB3: "samples" is an (n, features) table, one row a training sample; the agents read it row by
    # row (agents/), and SB3 policies reach it through the env's wrappers, not as a flat vector.
    r"Your observation samples has an unconventional shape": "per-sample table",
}


def check_env_strictly(env: gym.Env) -> None:
    """gymnasium's and SB3's env checkers on ``env``, with their warnings as errors (but those above)."""
    pytest.importorskip("stable_baselines3", reason="the SB3 env checker needs stable-baselines3 (pip install -e .[sb3])")
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for pattern in CHECKER_WARNINGS_BY_DESIGN:
            warnings.filterwarnings("ignore", message=pattern)
        check_env(env)
        sb3_check_env(env)


@pytest.mark.parametrize("env_id", dataselect_env.ENV_IDS)
def test_env_checkers_pass_with_defaults_for_every_id(env_id, cifar_archive_or_none):
    """gymnasium's and SB3's checkers on ``gym.make(id).unwrapped`` with the id's defaults (CIFAR: a tiny slice,
    and 3 epochs: SB3's checker plays to the end, and the schedule's length changes no space)."""
    kwargs = {}
    if gym.spec(env_id).kwargs.get("dataset") != "synthetic":
        if "CIFAR100" in env_id:
            pytest.skip("no CIFAR-100 copy on this machine (only the shared CIFAR-10 one)")
        if cifar_archive_or_none is None:
            pytest.skip("shared CIFAR-10 copy not found")
        kwargs = {"data_root": str(cifar_archive_or_none), "train_subset": 200, "val_size": 100, "epochs": 3}
    env = gym.make(env_id, **kwargs)
    if kwargs:  # SB3's checker plays to the end: test on 500 of the 10,000 test images to keep the suite short
        sp = env.unwrapped.splits
        env.unwrapped.splits = dataclasses.replace(sp, x_test=sp.x_test[:500], y_test=sp.y_test[:500])
    check_env_strictly(env.unwrapped)


class StepsOutOfSpace(dataselect_env.DataSelectEnv):
    """The Synthetic env, but ``step`` returns a ``samples`` table outside its space (``how``)."""

    def __init__(self, how: str, **kwargs):
        super().__init__(**{**gym.spec(SYN).kwargs, **kwargs})
        self.how = how

    def step(self, action):
        obs, *rest = super().step(action)
        if self.how == "out_of_bounds":
            obs["samples"][:, SEEN] = -1.0  # SEEN is a fraction in [0, 1]
        else:
            obs["samples"] = obs["samples"].astype(np.float64)  # the space is float32
        return obs, *rest


@pytest.mark.parametrize("how", ["out_of_bounds", "float64"])
def test_the_env_checker_test_fails_on_an_observation_outside_its_space(how):
    env = StepsOutOfSpace(how, epochs=2)
    with pytest.raises(UserWarning, match=r"obs returned by the `step\(\)` method .*(not within the observation space|dtype)"):
        check_env_strictly(env)

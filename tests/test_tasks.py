"""The task distribution as a user meets it: seeded draws, the wrappers on top, padding, the guard."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

import agents
import dataselect_env  # noqa: F401
from agents.wrappers import FiniteGuard, LinearScore, LossBins
from dataselect_env import PROGRESS_FEATURES
from dataselect_env.selection import keep_count
from dataselect_env.tasks import TASK_FEATURES, Task, TaskRanges, task_features

TASKS = "DataSelect/Tasks-v0"
SMALL = {"train_subset": (200, 400), "epochs": (2, 3)}  # cheap tasks: N 60-400, 2-3 epochs
G = len(PROGRESS_FEATURES)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def task_sequence(seed: int, resets: int = 4) -> list[dict]:
    env = gym.make(TASKS, **SMALL)
    infos = [env.reset(seed=seed)[1]] + [env.reset()[1] for _ in range(resets - 1)]
    return [info["task"] for info in infos]


def test_reset_seed_fixes_the_sequence_of_tasks():
    first = task_sequence(0)
    assert task_sequence(0) == first
    assert task_sequence(1) != first
    assert len({t["train_subset"] for t in first}) > 1  # a new task at every reset
    for t in first:
        assert 200 <= t["train_subset"] <= 400 and 2 <= t["epochs"] <= 3 and 0 <= t["label_noise"] <= 0.45
        assert 1 <= t["imbalance"] <= 10 and 0.2 <= t["keep"] <= 0.7 and t["noise_type"] in ("symmetric", "asymmetric")


def test_observation_carries_the_task_descriptors_and_the_episode_is_the_tasks():
    env = gym.make(TASKS, **SMALL)
    obs, info = env.reset(seed=3)
    task, n = info["task"], env.unwrapped.n
    assert obs["samples"].shape == (400, 9) and n <= task["train_subset"]  # the imbalance cut shrinks N
    assert obs["progress"].shape == (G + len(TASK_FEATURES),)
    np.testing.assert_allclose(obs["progress"][G:], task_features(task["keep"], task["epochs"], n))
    assert env.observation_space.contains(obs)
    steps, done = 0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(np.ones(n, dtype=np.int8))  # asks for all (an (N,) action) ...
        steps, done = steps + 1, terminated or truncated
    assert steps == task["epochs"]
    assert info["samples_trained"] == steps * keep_count(task["keep"], n)  # ... trains on the task's share
    assert 0 < info["test_accuracy"] <= 1


def test_a_given_task_runs_as_asked_and_bad_ranges_fail_early():
    env = gym.make(TASKS)
    task = Task(train_subset=300, label_noise=0.2, noise_type="asymmetric", imbalance=2.0, duplicates=0.0,
                epochs=2, keep=0.5, data_seed=1)
    _, info = env.reset(seed=0, options={"task": task})
    assert info["task"]["train_subset"] == 300 and env.unwrapped.epochs == 2
    with pytest.raises(ValueError, match="keep"):
        TaskRanges(keep=(0.0, 0.5))
    assert gym.make(TASKS, label_noise=0.3).unwrapped.ranges.label_noise == (0.3, 0.3)  # one value fixes a range
    with pytest.raises(ValueError, match="drawn per task"):
        gym.make(TASKS, data_seed=0)
    with pytest.raises(TypeError, match="unknown env argument"):
        gym.make(TASKS, no_such_argument=1)


@pytest.mark.sb3
@pytest.mark.parametrize("wrap", [lambda e: LossBins(e), lambda e: LinearScore(e)], ids=["bins", "linear"])
def test_wrappers_on_tasks_keep_the_tasks_share_with_one_fixed_space(wrap):
    from stable_baselines3.common.env_checker import check_env

    env = wrap(gym.make(TASKS, **SMALL))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env)
    assert env.action_space.shape[0] in (8, 9)  # no keep entry: the task sets it
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        assert env.observation_space.contains(obs)
        np.testing.assert_allclose(obs[G:G + 3], env.unwrapped.task_features())
        obs, _, _, _, info = env.step(env.action_space.sample())
        assert info["samples_trained"] == keep_count(info["task"]["keep"], env.unwrapped.n)


def test_task_env_spaces_stay_fixed_over_resets_and_valid_marks_the_real_rows():
    env = gym.make(TASKS, **SMALL)
    raw = env.unwrapped
    obs_space, action_space = raw.observation_space, raw.action_space
    assert obs_space["samples"].shape == (400, 9) and obs_space["valid"].shape == (400,) and action_space.n == 400
    sizes = set()
    for seed in range(4):
        obs, _ = env.reset(seed=seed)
        n = raw.n
        sizes.add(n)
        assert raw.observation_space is obs_space and raw.action_space is action_space  # never rebuilt
        assert obs_space.contains(obs) and obs["valid"][:n].all() and not obs["valid"][n:].any()
        assert not obs["samples"][n:].any()  # zero padding
        obs, *_ = env.step(action_space.sample())  # a padded action: the entries past N are ignored
        assert obs_space.contains(obs)
    assert len(sizes) > 1  # N changed, the spaces did not
    with pytest.raises(ValueError, match="always padded"):
        gym.make(TASKS, pad=False)


@pytest.mark.sb3
def test_padded_tasks_have_one_shape_and_the_set_policy_ignores_the_padding():
    from stable_baselines3 import PPO

    from agents.sb3_policies import DeepSetsPolicy

    env = gym.make(TASKS, **SMALL)
    obs, _ = env.reset(seed=0)
    n = env.unwrapped.n
    assert obs["samples"].shape == (400, 9) and obs["valid"].sum() == n and env.action_space.n == 400
    obs, *_ = env.step(np.ones(400, dtype=np.int8))
    policy = PPO(DeepSetsPolicy, env, n_steps=4, batch_size=4, device="cpu").policy
    padded = {k: torch.as_tensor(v)[None] for k, v in obs.items()}
    plain = {"samples": padded["samples"][:, :n], "progress": padded["progress"]}
    with torch.no_grad():
        logits, value = policy.logits_and_values(padded)
        plain_logits, plain_value = policy.logits_and_values(plain)
    torch.testing.assert_close(logits[:, :n], plain_logits)
    torch.testing.assert_close(value, plain_value)
    assert (torch.sigmoid(logits[:, n:]) == 0).all()


class NaNEnv(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.array([0.0, np.nan, 0.5], dtype=np.float32), {}

    def step(self, action):
        return np.array([np.inf, 0.1, -np.inf], dtype=np.float32), float("nan"), True, False, {"diverged": True}


def test_finite_guard_replaces_nan_and_inf_and_counts_them():
    env = FiniteGuard(NaNEnv(), clip=5.0)
    obs, info = env.reset(seed=0)
    assert obs.tolist() == [0.0, 0.0, 0.5] and info["nonfinite"] == 1
    obs, reward, _, _, info = env.step(0)
    assert obs.tolist() == [5.0, pytest.approx(0.1), -5.0] and reward == 0.0 and info["nonfinite"] == 3
    assert env.replaced == 4 and env.diverged_episodes == 1


def test_a_task_env_gives_the_current_tasks_labels_and_ground_truth_to_agents_that_read_them():
    env = gym.make("DataSelect/Tasks-v1", label_noise=(0.3, 0.3), train_subset=(300, 300), epochs=(2, 2))
    with pytest.raises(RuntimeError, match="after a reset"):
        _ = env.unwrapped.labels
    env.reset(seed=0)
    inner = env.unwrapped.inner
    assert np.array_equal(env.unwrapped.labels, inner.labels)
    assert np.array_equal(env.unwrapped.corrupted, inner.corrupted) and env.unwrapped.corrupted.mean() > 0.2
    assert np.array_equal(env.unwrapped.clean_labels, inner.clean_labels)
    for name in ("class_balanced", "oracle_clean"):
        assert agents.play_episode(agents.make(name, keep=0.5), env, 1)["epoch"] == 2


def test_tasks_v1_spans_the_suites_regimes_and_v0_keeps_its_ranges():
    v1, v0 = (gym.make(f"DataSelect/Tasks-v{v}").unwrapped.ranges for v in (1, 0))
    assert (v1.epochs, v1.imbalance) == ((4, 40), (1.0, 100.0)) and (v0.epochs, v0.imbalance) == ((4, 10), (1.0, 10.0))
    assert v1.label_noise == v0.label_noise == (0.0, 0.45)

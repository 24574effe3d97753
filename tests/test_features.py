"""Observation version 1: the class-share and loss-rank columns, and v0 staying what it was."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import agents
import dataselect_env
from agents.transforms import LinearScoreTransform, LossBinsTransform
from dataselect_env import stats as st

SYNTHETIC = {"epochs": 3, "synthetic": {"n_train": 700, "label_noise": 0.3}, "val_size": 100}


def test_class_shares_on_a_hand_made_example():
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 0])  # N = 8, C = 4: N / C = 2; class 3 is empty
    assert st.class_shares(labels, 4).tolist() == [2.5, 2.5, 2.5, 2.5, 1.0, 1.0, 0.5, 2.5]


def test_quantile_ranks_on_a_hand_made_example_with_ties_and_groups():
    loss = np.array([3.0, 1.0, 1.0, 2.0, 5.0, 5.0, 5.0])
    labels = np.array([0, 0, 1, 1, 1, 0, 1])
    # overall, sorted: 1 1 2 3 5 5 5, 0-based mid-ranks 0.5 0.5 2 3 5 5 5, over N - 1 = 6
    assert st.quantile_ranks(loss) == pytest.approx([3 / 6, 0.5 / 6, 0.5 / 6, 2 / 6, 5 / 6, 5 / 6, 5 / 6])
    # class 0: 3 1 5 -> ranks 1/2 0 1; class 1: 1 2 5 5 -> 0 1/3 2.5/3 2.5/3
    assert st.quantile_ranks(loss, labels) == pytest.approx([0.5, 0.0, 0.0, 1 / 3, 2.5 / 3, 1.0, 2.5 / 3])
    assert st.quantile_ranks(np.full(4, 2.3)).tolist() == [0.5] * 4  # all tied (all unseen): the middle
    assert st.quantile_ranks(np.array([7.0, 1.0]), np.array([0, 1])).tolist() == [0.5, 0.5]  # groups of one


def test_quantile_ranks_match_scipy_rankdata_per_group():
    rankdata = pytest.importorskip("scipy.stats").rankdata
    rng = np.random.default_rng(0)
    x, g = rng.integers(0, 6, 500).astype(float), rng.integers(0, 7, 500)  # many ties
    got = st.quantile_ranks(x, g)
    for c in np.unique(g):
        idx = np.flatnonzero(g == c)
        assert got[idx] == pytest.approx((rankdata(x[idx], "average") - 1) / (len(idx) - 1))


def test_a_v1_observation_appends_the_columns_computed_from_the_labels_and_last_losses():
    env = gym.make("DataSelect/Synthetic-v1", **SYNTHETIC)
    obs, _ = env.reset(seed=0)
    assert obs["samples"].shape[1] == len(st.SAMPLE_FEATURES_V1) == 13
    assert np.all(obs["samples"][:, [st.LOSS_RANK, st.CLASS_LOSS_RANK]] == 0.5)  # nothing seen yet
    rng = np.random.default_rng(0)
    for _ in range(2):
        obs, *_ = env.step((rng.random(env.unwrapped.n) < 0.5).astype(np.int8))
        x, labels = obs["samples"], env.unwrapped.labels
        assert env.observation_space.contains(obs)
        assert x[:, st.CLASS_SHARE] == pytest.approx(st.class_shares(labels, 4))
        assert np.array_equal(x[:, st.LABEL], labels)
        assert x[:, st.LOSS_RANK] == pytest.approx(st.quantile_ranks(x[:, st.LAST_LOSS]))
        assert x[:, st.CLASS_LOSS_RANK] == pytest.approx(st.quantile_ranks(x[:, st.LAST_LOSS], labels))


def test_on_a_long_tail_the_class_share_tells_the_tail_from_the_head():
    env = gym.make("DataSelect/Synthetic-v1", **{**SYNTHETIC, "synthetic": {"n_train": 700, "label_noise": 0.0}},
                   imbalance=10.0)
    obs, _ = env.reset(seed=0)
    share = obs["samples"][:, st.CLASS_SHARE]
    labels = env.unwrapped.labels
    assert share[labels == 0].min() > 1 > share[labels == 3].max()
    counts = np.bincount(labels)
    assert share[labels == 0][0] / share[labels == 3][0] == pytest.approx(counts[0] / counts[3]) and counts[0] > 5 * counts[3]


class Recorder(gym.ObservationWrapper):
    """Passes observations through, keeping a copy of each one's columns 0-8."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.seen: list[np.ndarray] = []

    def observation(self, observation: dict) -> dict:
        self.seen.append(observation["samples"][:, :9].copy())
        return observation


@pytest.mark.parametrize("agent", ["ucb", "class_balanced", "small_loss"])
def test_v0_and_v1_play_the_same_episode_and_share_columns_0_to_8(agent):
    runs = {}
    for version in (0, 1):
        env = Recorder(gym.make(f"DataSelect/Synthetic-v{version}", **SYNTHETIC))
        actions: list[np.ndarray | None] = []
        info = agents.play_episode(agents.make(agent, keep=0.4), env, 3,
                                   on_step=lambda info, r, a, out=actions: out.append(None if a is None else a.copy()))
        runs[version] = (info["test_accuracy"], info["compute"], env.seen, actions)
    assert runs[0][:2] == runs[1][:2]
    assert len(runs[0][2]) == 4 and all(np.array_equal(a, b) for a, b in zip(runs[0][2], runs[1][2]))
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][3][1:], runs[1][3][1:]))


def test_every_id_is_registered_at_v0_with_nine_columns_and_at_v1():
    assert len(dataselect_env.ENV_IDS) == len(dataselect_env.ENV_IDS_V0) == 10
    for v0, v1 in zip(dataselect_env.ENV_IDS_V0, dataselect_env.ENV_IDS):
        assert v0.endswith("-v0") and v1 == v0[:-1] + "1"
        assert gym.spec(v0).kwargs["obs_version"] == 0 and "obs_version" not in gym.spec(v1).kwargs
    env = gym.make("DataSelect/Tasks-v0")
    assert env.observation_space["samples"].shape[1] == 9 and env.reset(seed=0)[0]["samples"].shape[1] == 9
    with pytest.raises(ValueError, match=r"obs_version must be one of \(0, 1\), got 2"):
        gym.make("DataSelect/Synthetic-v1", obs_version=2)


def test_the_wrappers_transforms_read_columns_0_to_8_so_a_v0_policy_plays_a_v1_observation():
    env = gym.make("DataSelect/Synthetic-v1", **SYNTHETIC)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(np.ones(env.unwrapped.n, dtype=np.int8))
    v0 = {"samples": obs["samples"][:, :9], "progress": obs["progress"]}
    for transform in (LossBinsTransform(keep=0.3), LinearScoreTransform(keep=0.3)):
        assert np.array_equal(transform.observation(obs), transform.observation(v0))
        assert transform.observation(obs) in transform.observation_space
    w = np.linspace(-1, 1, 9)
    a = LinearScoreTransform(keep=0.3).action_to_mask(w, obs, np.random.default_rng(1))
    assert np.array_equal(a, LinearScoreTransform(keep=0.3).action_to_mask(w, v0, np.random.default_rng(1)))


@pytest.mark.sb3
def test_a_deep_sets_policy_trained_on_nine_columns_reads_the_first_nine_of_thirteen():
    from gymnasium import spaces

    from agents.sb3_policies import DeepSetsPolicy

    n = 50
    space = spaces.Dict({"samples": dataselect_env.env.samples_space(n, 0),
                         "progress": spaces.Box(st.PROGRESS_LOW, st.PROGRESS_HIGH, dtype=np.float32)})
    policy = DeepSetsPolicy(space, spaces.MultiBinary(n), lambda _: 1e-3)
    x = torch.rand(1, n, 13)
    progress = torch.rand(1, len(st.PROGRESS_FEATURES))
    wide, narrow = (policy.logits_and_values({"samples": s, "progress": progress})[0] for s in (x, x[..., :9]))
    assert torch.equal(wide, narrow)


@pytest.mark.sb3
def test_a_set_policy_trained_on_v1_says_so_when_played_on_v0(tmp_path):
    from dataselect_harness.train import TrainArgs, train

    small = {"epochs": 3, "synthetic": {"n_train": 700}, "val_size": 100}
    out = train(TrainArgs(algo="ppo", interface="set", keep=None, timesteps=16, n_steps=8, out=tmp_path / "m",
                          env="DataSelect/Synthetic-v1", env_kwargs=small, progress_bar=False))
    env = gym.make("DataSelect/Synthetic-v0", **small)
    with pytest.raises(ValueError, match="trained on 13 per-sample columns.*observes 9: play it on a -v1 id"):
        agents.play_episode(agents.make("sb3", path=out), env, seed=0)

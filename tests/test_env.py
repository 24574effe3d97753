"""The environment as a user meets it: gym.make, spaces, rewards, accounting, errors, determinism."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import agents
import dataselect_env
from dataselect_env import COMPUTE_USED, EMA_LOSS, EPOCH_FRAC, LAST_KEEP, LAST_LOSS, SEEN, VAL_ACCURACY

SYN = "DataSelect/Synthetic-v0"


class Recorder(gym.Wrapper):
    """Keeps ``(obs, reward, info)`` of the reset and of every step."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.trace: list[tuple] = []

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.trace.append((obs, 0.0, info))
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.trace.append((obs, reward, info))
        return obs, reward, terminated, truncated, info


def run_episode(env: gym.Env, seed: int, keep_fraction: float = 1.0):
    """``(obs, reward, info)`` of one episode of ``random`` at ``keep_fraction``, through ``agents.play_episode``."""
    recorder = Recorder(env)
    agents.play_episode(agents.make("random", keep=keep_fraction), recorder, seed)
    return recorder.trace


def test_quick_example_from_readme():
    env = gym.make(SYN, epochs=4)
    obs, info = env.reset(seed=0)
    done = False
    while not done:
        keep = obs["samples"][:, LAST_LOSS] > 0.1
        obs, reward, terminated, truncated, info = env.step(keep.astype(np.int8))
        done = terminated or truncated
        print(f"epoch {info['epoch']}: kept {info['keep_fraction']:.0%}, val accuracy {info['val_accuracy']:.3f}")
    print(f"test accuracy {info['test_accuracy']:.3f} for {info['compute']:.2f} epochs of compute")
    assert info["epoch"] == 4
    assert 0.0 <= info["test_accuracy"] <= 1.0 and info["test_loss"] > 0
    assert info["compute"] > 0



def test_divergence_ends_the_episode_with_finite_observation_and_reward():
    env = gym.make(SYN, epochs=5, lr=50.0)
    obs, info = env.reset(seed=0)
    assert info["diverged"] is False
    n = obs["samples"].shape[0]
    terminated = False
    with pytest.warns(RuntimeWarning, match="training diverged in epoch"):
        while not terminated:
            obs, reward, terminated, truncated, info = env.step(np.ones(n, dtype=np.int8))
            assert np.isfinite(reward) and not truncated
    assert info["diverged"] is True and info["epoch"] < 5  # ended early, at the step that diverged
    assert not np.isfinite(info["val_loss"])
    assert all(np.isfinite(v).all() for v in obs.values())
    assert env.observation_space.contains(obs)
    assert 0.0 <= info["test_accuracy"] <= 1.0
    with pytest.raises(RuntimeError, match="ended"):
        env.step(np.ones(n, dtype=np.int8))


def test_info_is_deterministic_and_has_no_wall_clock():
    a, b = (run_episode(gym.make(SYN, epochs=2), seed=4) for _ in range(2))
    assert [info for *_, info in a] == [info for *_, info in b]
    assert "wall_time" not in a[-1][2] and a[-1][2]["diverged"] is False


def test_synthetic_learns_and_reports_every_info_key():
    trace = run_episode(gym.make(SYN), seed=1)
    keys = {"epoch", "samples_trained", "compute", "flops", "val_accuracy", "val_loss",
            "keep_fraction", "lr", "diverged"}
    for _, _, info in trace:
        assert keys <= set(info)
    first, last = trace[0][2], trace[-1][2]
    assert last["val_accuracy"] > first["val_accuracy"] + 0.2
    assert last["test_accuracy"] > 0.6
    assert {"test_accuracy", "test_loss"} <= set(last)
    assert "test_accuracy" not in trace[-2][2]


def test_compute_equals_mask_sum_and_flops_add_up():
    env = gym.make(SYN, epochs=3)
    obs, _ = env.reset(seed=0)
    n = obs["samples"].shape[0]
    unwrapped = env.unwrapped
    rng = np.random.default_rng(0)
    total = 0
    for _ in range(3):
        mask = (rng.random(n) < 0.37).astype(np.int64)
        obs, _, _, _, info = env.step(mask)
        total += mask.sum()
        assert info["samples_trained"] == total
        validated = (info["epoch"] + 1) * len(unwrapped.splits.y_val) / (3 * n)  # every validation pass
        assert math.isclose(info["val_compute"], validated)
        assert math.isclose(info["compute"], total / n + validated)
        assert math.isclose(info["keep_fraction"], mask.sum() / n)
        assert math.isclose(obs["progress"][COMPUTE_USED], info["compute"] / 3, rel_tol=1e-6)
    f = unwrapped.flops_per_forward
    evaluated = 4 * len(unwrapped.splits.y_val) + len(unwrapped.splits.y_test)
    assert math.isclose(info["flops"], f * (3 * total + evaluated))


def test_empty_subset_is_legal_and_advances_schedule():
    env = gym.make(SYN, epochs=2)
    obs, info0 = env.reset(seed=0)
    n = obs["samples"].shape[0]
    obs1, reward, terminated, _, info = env.step(np.zeros(n, dtype=bool))
    assert info["compute"] == info["val_compute"] == 2 * env.unwrapped.val_cost and info["samples_trained"] == 0
    assert info["val_accuracy"] == info0["val_accuracy"] and reward == 0.0
    assert obs1["progress"][EPOCH_FRAC] == 0.5 and not terminated
    np.testing.assert_array_equal(obs1["samples"][:, SEEN], 0)


@pytest.mark.parametrize("reward", ["gain_per_compute", "gain_minus_cost", "terminal"])
def test_reward_formulas(reward):
    lam, c_min = 2.0, 0.05
    env = gym.make(SYN, epochs=3, reward=reward, lam=lam, c_min=c_min)
    obs, info = env.reset(seed=0)
    n = obs["samples"].shape[0]
    val_cost = 500 / (3 * n)  # a validation pass: 500 images, a third of a training pass each
    acc, compute = info["val_accuracy"], val_cost  # the pass at reset
    for k, frac in enumerate([0.5, 0.02, 1.0]):
        mask = np.zeros(n, dtype=np.int8)
        mask[: round(frac * n)] = 1
        _, r, terminated, _, info = env.step(mask)
        gain, c = info["val_accuracy"] - acc, mask.sum() / n + val_cost
        compute += c
        expected = {"gain_per_compute": 100 * gain / max(c, c_min),
                    "gain_minus_cost": 100 * gain - lam * c,
                    "terminal": (100 * info["val_accuracy"] - lam * compute) if k == 2 else 0.0}[reward]
        assert r == pytest.approx(expected)
        acc = info["val_accuracy"]
    assert terminated


def test_frontier_val_accuracy_is_full_data_training_at_that_compute():
    """F at the compute of the same-seed full-data episode of E' epochs (E' epochs and E' + 1
    validation passes) is that episode's final val accuracy; F interpolates linearly between those
    points; F(x(0)) is the untrained model; runs are cached per (seed, E')."""
    kw = {"epochs": 4, "synthetic": {"n_train": 900}}
    env = gym.make(SYN, **kw)
    _, info0 = env.reset(seed=3)
    base = env.unwrapped
    x = lambda e: e + (e + 1) * base.val_cost  # noqa: E731  (a full run of e epochs, validated e + 1 times)
    assert base.frontier_val_accuracy(x(0)) == base.frontier_val_accuracy(0) == info0["val_accuracy"]
    full = {}
    for e in (1, 2, 4):
        short = gym.make(SYN, **{**kw, "epochs": e})
        obs, _ = short.reset(seed=3)  # the same seed draws the same torch seed
        for _ in range(e):
            obs, _, terminated, _, info = short.step(np.ones(obs["samples"].shape[0], dtype=np.int8))
        assert terminated
        full[e] = info["val_accuracy"]
        assert info["compute"] == pytest.approx(x(e)) and base.frontier_val_accuracy(info["compute"]) == full[e]
    quarter = x(1) + 0.25 * (x(2) - x(1))
    assert base.frontier_val_accuracy(quarter) == pytest.approx(0.75 * full[1] + 0.25 * full[2])
    assert base.frontier_val_accuracy(99.0) == full[4]  # clipped to the schedule
    runs = len(base._frontier)
    base.frontier_val_accuracy(1.5)
    assert len(base._frontier) == runs  # cached
    assert info0["compute"] == base.ledger.compute == base.val_cost  # the reference runs are not charged


def test_vs_frontier_reward_is_the_margin_over_full_data_training():
    env = gym.make(SYN, epochs=3, reward="vs_frontier", synthetic={"n_train": 900})
    obs, _ = env.reset(seed=0)
    n = obs["samples"].shape[0]
    rewards = [env.step(np.ones(n, dtype=np.int8))[1] for _ in range(3)]
    assert rewards == [0.0, 0.0, 0.0]  # all data for all epochs is the frontier's own last point
    obs, _ = env.reset(seed=1)
    mask = (np.arange(n) < n // 2).astype(np.int8)
    for _ in range(3):
        _, r, terminated, _, info = env.step(mask)
    assert terminated and r == pytest.approx(
        100 * (info["val_accuracy"] - env.unwrapped.frontier_val_accuracy(info["compute"])))
    assert 1.4 < info["compute"] - info["val_compute"] < 1.6 and r != 0.0


def test_compute_budget_ends_episode():
    env = gym.make(SYN, epochs=10, compute_budget=1.5)  # 1 epoch + 2 validations < 1.5 < 2 + 3 validations
    obs, _ = env.reset(seed=0)
    n = obs["samples"].shape[0]
    steps, done = 0, False
    while not done:
        obs, _, done, _, info = env.step(np.ones(n, dtype=np.int8))
        steps += 1
    assert steps == 2 and info["compute"] == pytest.approx(2.0 + 3 * env.unwrapped.val_cost) and "test_accuracy" in info
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.ones(n, dtype=np.int8))


def test_probe_refreshes_every_sample_and_is_charged():
    env = gym.make(SYN, epochs=2, probe_every=1)
    obs, _ = env.reset(seed=0)
    n = obs["samples"].shape[0]
    mask = np.zeros(n, dtype=np.int8)
    mask[:10] = 1
    obs, _, _, _, info = env.step(mask)
    assert obs["samples"][:, SEEN].all()
    assert info["compute"] == pytest.approx(10 / n + 1 / 3 + 2 * env.unwrapped.val_cost)


def test_unselected_statistics_stay_stale():
    env = gym.make(SYN, epochs=3)
    obs, _ = env.reset(seed=0)
    n = obs["samples"].shape[0]
    first = np.zeros(n, dtype=np.int8)
    first[: n // 2] = 1
    obs1, *_ = env.step(first)
    second = 1 - first
    obs2, *_ = env.step(second)
    kept = first.astype(bool)
    np.testing.assert_array_equal(obs2["samples"][kept, LAST_LOSS], obs1["samples"][kept, LAST_LOSS])
    np.testing.assert_array_equal(obs2["samples"][kept, EMA_LOSS], obs1["samples"][kept, EMA_LOSS])
    assert not np.array_equal(obs2["samples"][~kept, LAST_LOSS], obs1["samples"][~kept, LAST_LOSS])
    assert obs2["progress"][LAST_KEEP] == pytest.approx(second.sum() / n)
    assert obs2["progress"][VAL_ACCURACY] > 0


def test_weights_mode_scales_the_loss():
    env = gym.make(SYN, epochs=2, action_mode="weights", w_max=4.0)
    assert isinstance(env.action_space, gym.spaces.Box)
    obs, _ = env.reset(seed=0)
    n = obs["samples"].shape[0]
    w = np.zeros(n, dtype=np.float32)
    w[: n // 2] = 2.0
    _, _, _, _, info = env.step(w)
    assert info["samples_trained"] == n // 2
    # SGD (momentum, no weight decay) is linear in the gradient: loss weights 2 at lr equal weights 1 at 2 lr.
    weighted = gym.make(SYN, epochs=2, action_mode="weights", weight_decay=0.0, lr=0.05)
    plain = gym.make(SYN, epochs=2, weight_decay=0.0, lr=0.1)
    halved = gym.make(SYN, epochs=2, weight_decay=0.0, lr=0.05)
    for e in (weighted, plain, halved):
        e.reset(seed=0)
    a = weighted.step(np.full(n, 2.0, dtype=np.float32))[0]["samples"]
    b = plain.step(np.ones(n, dtype=np.int8))[0]["samples"]
    c = halved.step(np.ones(n, dtype=np.int8))[0]["samples"]
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert np.abs(a - c).max() > 1e-2  # and the weight really changed training


def test_weights_mode_trains_in_float32(monkeypatch):
    """A weights action arrives as float64 numpy (a policy's, a user's); the loss stays float32 on the device."""
    import torch

    from dataselect_env import trainer

    seen = []

    def spy(loss, weights):
        out = weighted_mean(loss, weights)
        seen.append((loss.dtype, weights.dtype, out.dtype))
        return out

    weighted_mean = trainer.weighted_mean
    monkeypatch.setattr(trainer, "weighted_mean", spy)
    env = gym.make(SYN, epochs=1, action_mode="weights")
    obs, _ = env.reset(seed=0)
    weights = np.linspace(0.0, 2.0, obs["samples"].shape[0])  # float64
    env.step(weights)
    assert len(seen) == math.ceil(np.count_nonzero(weights) / 128)  # every batch (Synthetic: batch 128)
    assert set(seen) == {(torch.float32, torch.float32, torch.float32)}


@pytest.mark.parametrize("action, match", [
    (np.ones(5, dtype=np.int8), r"shape \(1500,\).*got shape \(5,\)"),
    (np.ones((1500, 1), dtype=np.int8), "got shape"),
    (np.full(1500, 0.5), "exactly 0 or 1; got 0.5"),
    (np.full(1500, np.nan, dtype=np.float32), "exactly 0 or 1; got nan"),
    (np.array(["1"] * 1500), "dtype"),
    (np.full(1500, 2, dtype=np.int64), "exactly 0 or 1; got 2"),
    (-np.ones(1500, dtype=np.int64), "exactly 0 or 1"),
])
def test_bad_mask_actions_raise(action, match):
    env = gym.make(SYN, epochs=2).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


@pytest.mark.parametrize("action, match", [
    (np.full(1500, np.nan, dtype=np.float32), "NaN"),
    (-np.ones(1500, dtype=np.float32), r"\[0, 4.0\]"),
    (np.full(1500, 5.0, dtype=np.float32), "values in"),
    (np.ones(3, dtype=np.float32), "shape"),
    (np.array(["a"] * 1500), "dtype"),
])
def test_bad_weight_actions_raise(action, match):
    env = gym.make(SYN, epochs=2, action_mode="weights", w_max=4.0).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


@pytest.mark.parametrize("kwargs, match", [
    ({"reward": "accuracy"}, "reward must be one of"),
    ({"action_mode": "subset"}, "action_mode must be one of"),
    ({"model": "vgg"}, "model must be one of"),
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"precision": "fp16"}, "precision must be one of"),
    ({"device": "tpu"}, "device must be"),
    ({"val_size": 10**6}, "val_size must be in"),
    ({"train_subset": 10**6}, "train_subset must be in"),
])
def test_bad_constructor_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make(SYN, **kwargs)


def test_same_seed_same_observations_and_rewards():
    a = run_episode(gym.make(SYN, epochs=4), seed=3, keep_fraction=0.5)
    b = run_episode(gym.make(SYN, epochs=4), seed=3, keep_fraction=0.5)
    for (obs_a, r_a, info_a), (obs_b, r_b, info_b) in zip(a, b):
        np.testing.assert_array_equal(obs_a["samples"], obs_b["samples"])
        np.testing.assert_array_equal(obs_a["progress"], obs_b["progress"])
        assert r_a == r_b and info_a["val_accuracy"] == info_b["val_accuracy"]
    c = run_episode(gym.make(SYN, epochs=4), seed=4, keep_fraction=0.5)
    assert not np.array_equal(a[-1][0]["samples"], c[-1][0]["samples"])


def test_async_vector_env_steps():
    from dataselect_env.hardware import fork_safe_threads

    assert fork_safe_threads()  # AsyncVectorEnv forks; importing the package no longer installs this (README)
    envs = gym.make_vec(SYN, num_envs=2, vectorization_mode="async", epochs=2)
    try:
        obs, _ = envs.reset(seed=0)
        assert obs["samples"].shape == (2, 1500, len(dataselect_env.SAMPLE_FEATURES))
        obs, rewards, terminated, truncated, infos = envs.step(np.ones((2, 1500), dtype=np.int8))
        assert rewards.shape == (2,) and not terminated.any()
        assert (infos["epoch"] == 1).all()
    finally:
        envs.close()


def test_render_ansi_and_close_twice():
    env = gym.make(SYN, epochs=1, render_mode="ansi")
    obs, _ = env.reset(seed=0)
    env.step(np.ones(obs["samples"].shape[0], dtype=np.int8))
    line = env.render()
    assert line.startswith("epoch   1/1") and "test_acc" in line
    env.close()
    env.close()


def test_all_ids_registered_and_overridable():
    for env_id in dataselect_env.ENV_IDS:
        assert env_id in gym.registry
    spec = gym.spec("DataSelect/CIFAR10Proxy-v0")
    assert spec.kwargs["train_subset"] == 5000 and spec.kwargs["model"] == "small"


def test_cifar100_missing_data_error_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"DATASELECT_DATA.*ImageFolder"):
        gym.make("DataSelect/CIFAR100-v0", data_root=str(tmp_path), download=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int64, np.uint8, bool])
def test_any_numeric_zero_one_mask_is_valid(dtype):
    env = gym.make(SYN, epochs=2).unwrapped
    obs, _ = env.reset(seed=0)
    mask = (np.arange(obs["samples"].shape[0]) % 2).astype(dtype)
    _, _, _, _, info = env.step(mask)
    assert info["samples_trained"] == mask.astype(bool).sum()


@pytest.mark.sb3
def test_sb3_ppo_steps_the_raw_env_with_its_float_masks():
    from stable_baselines3 import PPO

    env = gym.make(SYN, epochs=2)
    model = PPO("MultiInputPolicy", env, n_steps=4, batch_size=4, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=4)  # SB3 samples MultiBinary as float32 0.0 / 1.0
    action, _ = model.predict(env.reset(seed=0)[0])
    assert action.dtype == np.float32
    env.step(action)

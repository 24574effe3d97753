"""The rule space: its settings play exactly as the hand-written rules they name."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import agents
import dataselect_env  # noqa: F401  (registers the ids)
from agents import rule_space
from agents.rule_policy import LinearRule
from dataselect_env import stats as st

# 40% label noise on a long tail: classes and losses both matter, and tie-breaking is exercised
# (every sample has the same loss before it is seen).
NOISY_TAIL = {"synthetic": {"n_train": 900, "label_noise": 0.4}, "imbalance": 5.0, "val_size": 100}


def masks_of(agent: agents.Agent, env_kwargs: dict, seed: int) -> tuple[list[np.ndarray], float]:
    """Every mask the agent plays in one episode, and the test accuracy."""
    played: list[np.ndarray] = []
    info = agents.play_episode(agent, gym.make("DataSelect/Synthetic-v1", **env_kwargs), seed,
                               on_step=lambda info, r, a: played.append(a.copy()) if a is not None else None)
    return played, info["test_accuracy"]


@pytest.mark.parametrize("rule,kwargs,epochs", [
    ("random", {}, 4), ("loss_proportional", {}, 4), ("epsilon_greedy", {"eps": 0.9}, 4),
    ("epsilon_greedy", {"eps": 0.25}, 4), ("class_balanced", {}, 4),
    ("small_loss", {"t_k": 4}, 6), ("small_loss", {"t_k": 10}, 5), ("small_loss", {"t_k": 0}, 4)])
@pytest.mark.parametrize("keep", [0.3, 0.5])
def test_each_hand_written_rule_is_a_setting_of_the_rule_space_that_plays_its_exact_masks(rule, kwargs, epochs, keep):
    env_kwargs = {**NOISY_TAIL, "epochs": epochs}
    ctor = {"eps": kwargs["eps"]} if "eps" in kwargs else {"t_k": kwargs["t_k"]} if "t_k" in kwargs else {}
    theirs = masks_of(agents.make(rule, keep=keep, **ctor), env_kwargs, seed=5)
    ours = masks_of(LinearRule.like(rule, keep, epochs=epochs, **kwargs), env_kwargs, seed=5)
    assert len(ours[0]) == epochs and all(np.array_equal(a, b) for a, b in zip(theirs[0], ours[0]))
    assert ours[1] == theirs[1]


def test_zeros_are_random_and_a_setting_outside_the_rules_keeps_its_budget():
    env = gym.make("DataSelect/Synthetic-v1", **NOISY_TAIL, epochs=2)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(np.ones(env.unwrapped.n, dtype=np.int8))
    n = env.unwrapped.n
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, len(rule_space.RULE_PARAMS))
    a[rule_space.RAMP] = -1.0  # no ramp: exactly round(keep * N)
    for balance in (0.0, 0.5, 1.0):
        a[rule_space.BALANCE] = balance
        mask = rule_space.rule_mask(a, obs["samples"], 0.3, np.random.default_rng(1))
        assert mask.dtype == np.int8 and mask.sum() == round(0.3 * n)
    a[rule_space.RAMP] = 1.0
    assert rule_space.rule_mask(a, obs["samples"], 0.3, np.random.default_rng(1)).sum() == n
    with pytest.raises(ValueError, match="13 entries"):
        rule_space.rule_mask(np.zeros(5), obs["samples"], 0.3, np.random.default_rng(1))
    with pytest.raises(ValueError, match="observation version 1"):
        rule_space.rule_mask(np.zeros(13), obs["samples"][:, :9], 0.3, np.random.default_rng(1))


def test_the_class_share_of_the_budget_goes_to_the_rare_classes_by_quota():
    env = gym.make("DataSelect/Synthetic-v1", **{**NOISY_TAIL, "synthetic": {"n_train": 900, "label_noise": 0.0},
                                                  "imbalance": 10.0}, epochs=2)
    obs, _ = env.reset(seed=0)
    labels = env.unwrapped.labels
    a = np.zeros(13)
    a[rule_space.BALANCE] = 1.0
    a[rule_space.SCORE_FEATURES.index("log_last_loss")] = 1.0  # within a class: the highest losses
    mask = rule_space.rule_mask(a, obs["samples"], 0.2, np.random.default_rng(0))
    counts, kept = np.bincount(labels), np.bincount(labels[mask > 0], minlength=4)
    k = round(0.2 * len(labels))
    assert kept.sum() == k and kept.max() - kept.min() <= 1 and np.all(kept <= counts)  # equal quotas
    assert counts[3] < counts[0] / 5 and kept[3] >= k // 4  # the rarest class gets its full quota


def test_the_summaries_tell_a_long_tail_from_balanced_data_and_are_scale_free():
    def summary(**kw):
        env = gym.make("DataSelect/Synthetic-v1", val_size=100, epochs=2, **kw)
        obs, _ = env.reset(seed=0)
        obs, *_ = env.step(np.ones(env.unwrapped.n, dtype=np.int8))
        return dict(zip(rule_space.SUMMARIES, rule_space.summaries(obs)))

    clean = summary(synthetic={"n_train": 900, "label_noise": 0.0})
    tail = summary(synthetic={"n_train": 900, "label_noise": 0.0}, imbalance=20.0)
    assert clean["class_share_spread"] < 0.1 < 0.5 < tail["class_share_spread"]
    assert clean["seen_frac"] == 1.0 and 0 < clean["loss_q10"] <= clean["loss_q50"] <= clean["loss_q90"]
    bigger = summary(synthetic={"n_train": 2700, "label_noise": 0.0})
    assert abs(bigger["class_share_spread"] - clean["class_share_spread"]) < 0.1


def test_linear_rule_checks_its_shapes_and_names():
    with pytest.raises(ValueError, match=r"bias must have shape \(13,\) and weights \(13, 15\)"):
        LinearRule(0.3, bias=np.zeros(4))
    with pytest.raises(ValueError, match="rule must be one of"):
        LinearRule.like("ucb")
    with pytest.raises(ValueError, match="give epochs=E"):
        LinearRule.like("small_loss")
    assert st.PROGRESS_FEATURES[0] == "epoch_frac"  # z's first entry, which small_loss's ramp reads


def test_ars_trains_the_rule_space_saves_it_and_it_plays_as_an_sb3_agent(tmp_path):
    pytest.importorskip("sb3_contrib")
    from dataselect_harness.train import TrainArgs, train

    small = {"epochs": 2, "synthetic": {"n_train": 700, "label_noise": 0.4}, "val_size": 100}
    out = train(TrainArgs(algo="ars", interface="rules", keep=0.3, timesteps=16, out=tmp_path / "ars",
                          env="DataSelect/Synthetic-v1", env_kwargs=small, progress_bar=False,
                          algo_kwargs={"n_delta": 2}))
    agent = agents.make("sb3", path=out)
    info = agents.play_episode(agent, gym.make("DataSelect/Synthetic-v1", **{**small, "epochs": 3}), seed=1)
    n = 600  # 700 minus the validation split
    assert info["epoch"] == 3 and 3 * round(0.3 * n) <= info["samples_trained"] <= 3 * n  # keep 0.3 after the ramp
    assert json.loads((out / "interface.json").read_text())["interface"] == "rules"


def test_a_bench_gives_a_v1_agent_its_columns_on_a_v0_id_and_compares_it_with_the_same_frontier(tmp_path):
    from dataselect_harness import report, results
    from dataselect_harness.bench import bench
    from dataselect_harness.plan import BenchArgs, plan

    args = BenchArgs(env="DataSelect/Synthetic-v0", agents=("full", "random", "linear_rule"), keep=(0.5,), seeds=(0,),
                     epochs=2, frontier=(0.5, 1.0), out=str(tmp_path), quiet=True,
                     env_kwargs={"synthetic": {"n_train": 700}, "val_size": 100})
    kw = {ep.agent: ep.env_kwargs for ep in plan(args)}
    assert kw["linear_rule"]["obs_version"] == 1 and "obs_version" not in kw["random"]
    assert bench(args) == 0
    rows = results.read_results(tmp_path)
    assert len({results.setting_of(r) for r in rows}) == 1
    summary = {s["agent"]: s for s in report.summarize(rows)}
    assert summary["linear_rule"]["delta_n"] == 1  # compared with full's frontier: a Δ, not "no frontier"

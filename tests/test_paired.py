"""Paired credit: candidate and random on identical data, initialisation and validation split."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import agents
import dataselect_env  # noqa: F401  (registers the ids)
from agents.rule_policy import LinearRule
from agents.wrappers import RuleSpace
from dataselect_harness.paired import PairedCredit, ars_schedule, paired_scores

TASKS = {"train_subset": (300, 600), "epochs": (2, 3), "keep": (0.3, 0.5)}


def test_random_against_random_scores_exactly_zero_on_every_task_so_data_init_and_split_are_shared():
    env = gym.make("DataSelect/Tasks-v1", **TASKS)
    scores = paired_scores(lambda keep: agents.make("random", keep=keep), env, [0, 1, 2, 3])
    assert scores.tolist() == [0.0] * 4  # any difference in data, weights, split or draws would show
    other = paired_scores(lambda keep: LinearRule.like("small_loss", keep, epochs=3, t_k=2), env, [0, 1, 2, 3])
    assert np.any(other != 0)  # a different controller does differ
    with pytest.raises(ValueError, match="needs keep="):
        paired_scores(lambda keep: agents.make("random", keep=keep), gym.make("DataSelect/Synthetic-v1", epochs=1), [0])


def snapshot(env: gym.Env) -> tuple:
    """The inner env's training data, validation split and initial weights right after a reset."""
    inner = env.unwrapped.inner
    first = next(inner.trainer.model.parameters())
    return (inner.splits.x_train.sum().item(), inner.splits.y_val.tolist(), first.detach().clone())


def test_paired_credit_scores_against_random_on_the_same_data_weights_and_split():
    env = PairedCredit(RuleSpace(gym.make("DataSelect/Tasks-v1", **TASKS)))
    raw = env.unwrapped
    a = np.zeros(13, dtype=np.float32)
    a[1] = -1.0  # the smallest last losses
    for _ in range(3):
        env.reset()
        ours = snapshot(env)
        raw.reset(seed=env.seed)  # what the cached random run started from
        theirs = snapshot(env)
        assert ours[:2] == theirs[:2] and torch.equal(ours[2], theirs[2])
        env.reset(seed=env.seed)
        done, rewards = False, []
        while not done:
            _, r, terminated, truncated, info = env.step(a)
            rewards.append(r)
            done = terminated or truncated
        assert rewards[:-1] == [0.0] * (len(rewards) - 1)
        assert rewards[-1] == pytest.approx(100 * (info["val_accuracy"] - info["baseline_val_accuracy"]))
    assert [s for s, _ in env.baselines] == [0, 1, 2] and info["episode_seed"] == 2
    keep = raw.task_keep
    random = agents.play_episode(agents.make("random", keep=keep), raw, 2)["val_accuracy"]
    assert env.baselines[(2, keep)] == random


def test_ars_schedule_gives_each_plus_minus_pair_the_same_seeds_and_fresh_ones_per_update():
    seed = ars_schedule(n_delta=3, n_eval_episodes=2, base_seed=10)
    per_candidate = [[seed(u * 18 + c * 3 + j) for j in range(3)] for u in range(2) for c in range(6)]
    update0, update1 = per_candidate[:6], per_candidate[6:]
    for c in range(3):
        assert update0[c] == update0[c + 3] and update0[c][2] == update0[c][0]  # the unused reset repeats
    assert sorted({s for cand in update0 for s in cand}) == list(range(10, 16))
    assert sorted({s for cand in update1 for s in cand}) == list(range(16, 22))


def test_with_ars_the_plus_and_minus_candidates_of_a_pair_play_the_same_tasks():
    pytest.importorskip("sb3_contrib")
    import torch as th
    from sb3_contrib import ARS

    n_delta, n_eval = 2, 2
    env = PairedCredit(RuleSpace(gym.make("DataSelect/Tasks-v1", **TASKS)), ars_schedule(n_delta, n_eval))
    model = ARS("LinearPolicy", env, n_delta=n_delta, n_eval_episodes=n_eval, delta_std=0.0, seed=0)
    w = th.zeros_like(model.weights)
    w[:13] = th.linspace(-1, 1, 13)  # not random: the candidates' outcomes depend on their tasks
    model.weights = w
    model.policy.load_from_vector(w.cpu())
    model.learn(total_timesteps=1)  # one update: 2 n_delta candidates x n_eval episodes
    returns = [ep["r"] for ep in model.ep_info_buffer]
    assert len(returns) == 2 * n_delta * n_eval
    by_candidate = np.array(returns).reshape(2 * n_delta, n_eval)
    assert np.array_equal(by_candidate[:n_delta], by_candidate[n_delta:])  # delta_std 0: same weights, same tasks
    assert len(np.unique(by_candidate[:n_delta])) > 1


def test_train_paired_ars_on_the_rule_space_runs_and_refuses_what_it_cannot_pair(tmp_path):
    pytest.importorskip("sb3_contrib")
    from dataselect_harness.train import TrainArgs, train

    args = dict(algo="ars", interface="rules", env="DataSelect/Tasks-v1", env_kwargs=TASKS, paired=True,
                algo_kwargs={"n_delta": 2, "n_eval_episodes": 1}, progress_bar=False)
    out = train(TrainArgs(**args, timesteps=12, out=tmp_path / "ars"))
    assert (out / "model.zip").is_file()
    with pytest.raises(ValueError, match="--n-envs 1"):
        train(TrainArgs(**{**args, "n_envs": 2}, timesteps=12, out=tmp_path / "x"))


@pytest.mark.sb3
def test_the_learning_curves_tasks_are_drawn_from_datasets_training_never_sees():
    from dataselect_harness.train import TrainArgs, make_env

    cfg = TrainArgs(algo="ars", interface="rules", env="DataSelect/Tasks-v1", env_kwargs=TASKS)
    train_env, curve_env = make_env(cfg, monitor=False), make_env(cfg, monitor=False, held_out=True)
    seeds = {"train": set(), "curve": set()}
    for name, env in (("train", train_env), ("curve", curve_env)):
        for s in range(20):
            env.reset(seed=s)
            seeds[name].add(env.unwrapped.task.data_seed)
    assert seeds["train"] <= set(range(10)) and seeds["curve"] <= set(range(10, 20))


@pytest.mark.sb3
def test_a_resumed_paired_run_trains_on_fresh_tasks_not_on_the_first_ones_again():
    from dataselect_harness.train import TrainArgs, make_env

    cfg = TrainArgs(algo="ars", interface="rules", env="DataSelect/Tasks-v1", env_kwargs=TASKS, paired=True,
                    algo_kwargs={"n_delta": 2, "n_eval_episodes": 1}, seed=3)
    first = make_env(cfg, monitor=False).get_wrapper_attr("schedule")
    later = make_env(cfg, monitor=False, resumed_steps=500).get_wrapper_attr("schedule")
    # 500 env steps are at most 500 episodes, each candidate's one episode taking 2 resets: < 1,000 resets
    used = {first(r) for r in range(2 * 500)}
    assert first(0) == 3 * 1_000_003 and later(0) == first(0) + 500
    assert not used & {later(r) for r in range(600)}


def test_a_rule_policy_trained_on_tasks_plays_a_plain_env_at_exactly_its_keep_as_its_training_masks_were(tmp_path):
    pytest.importorskip("sb3_contrib")
    from dataselect_harness.train import TrainArgs, train

    out = train(TrainArgs(algo="ars", interface="rules", env="DataSelect/Tasks-v1", env_kwargs=TASKS, paired=True,
                          algo_kwargs={"n_delta": 2, "n_eval_episodes": 1}, progress_bar=False, timesteps=12,
                          out=tmp_path / "ars"))
    agent = agents.load(f"sb3:{out}", keep=0.3)
    assert agent.trims_to_keep
    ramp = np.zeros(13, dtype=np.float32)
    ramp[-1] = 1.0  # ramp = 1 asks for every sample; the task env trimmed that to its keep in training
    agent.model.predict = lambda x, **kw: (ramp, None)
    small = {"epochs": 3, "synthetic": {"n_train": 700}, "val_size": 100}
    info = agents.play_episode(agent, gym.make("DataSelect/Synthetic-v1", **small), seed=1)
    assert info["samples_trained"] == 3 * round(0.3 * 600)
    agent.trims_to_keep = False  # the rule's own budget: every sample
    assert agents.play_episode(agent, gym.make("DataSelect/Synthetic-v1", **small), seed=1)["samples_trained"] == 3 * 600

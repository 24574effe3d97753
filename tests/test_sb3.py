"""SB3 policies as a user meets them: wrap, check, train, save, load, act on another N, learn."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("stable_baselines3")

import agents  # noqa: E402
import dataselect_env  # noqa: E402, F401
from agents.sb3_policies import DeepSetsPolicy  # noqa: E402
from agents.transforms import LinearScoreTransform, LossBinsTransform, allocate  # noqa: E402
from agents.wrappers import LinearScore, LossBins  # noqa: E402
from dataselect_env import EMA_LOSS, LAST_LOSS, SAMPLE_FEATURES, SAMPLE_FEATURES_V1  # noqa: E402
from dataselect_harness import checkpoints, curves  # noqa: E402
from dataselect_harness import train as training  # noqa: E402
from dataselect_harness.options import from_namespace  # noqa: E402
from dataselect_harness.plan import parse_kv  # noqa: E402
from dataselect_harness.train import TrainArgs, add_train_arguments, train  # noqa: E402

SYN = "DataSelect/Synthetic-v1"
ROOT = Path(__file__).resolve().parents[1]
SMALL = {"epochs": 4, "synthetic": {"n_train": 1100}}  # 600 training samples after the 500 val split
OTHER_N = {"epochs": 3, "synthetic": {"n_train": 800}}  # 300 training samples
TASKS = "DataSelect/Tasks-v0"
CHEAP_TASKS = {"train_subset": [200, 500], "epochs": [2, 2]}  # N 90-500, 2-epoch episodes


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def hand_obs(ema_loss: np.ndarray) -> dict[str, np.ndarray]:
    """A raw observation whose only varying feature is the EMA loss (and the last loss)."""
    samples = np.zeros((len(ema_loss), len(SAMPLE_FEATURES)), dtype=np.float32)
    samples[:, EMA_LOSS] = samples[:, LAST_LOSS] = ema_loss
    return {"samples": samples, "progress": np.zeros(8, dtype=np.float32)}


# ---- wrappers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("wrap", [lambda e: LossBins(e, keep=0.3), lambda e: LossBins(e),
                                  lambda e: LinearScore(e, keep=0.3)], ids=["bins", "bins-auto", "linear"])
def test_wrappers_pass_both_checkers_with_spaces_independent_of_n(wrap):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = wrap(gym.make(SYN, epochs=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb3_check_env(env)
        check_env(env)
    other = wrap(gym.make(SYN, **OTHER_N))
    assert env.observation_space == other.observation_space and env.action_space == other.action_space
    assert env.unwrapped.n != other.unwrapped.n


def test_allocate_fills_capped_bins_and_passes_the_overflow_on():
    assert allocate(np.array([10.0, 1, 1, 1]), np.array([5, 5, 5, 5]), 12).tolist() == [5, 3, 2, 2]
    assert allocate(np.array([1.0, 1, 1]), np.array([2, 10, 10]), 12).tolist() == [2, 5, 5]
    counts = allocate(np.exp(np.random.default_rng(0).normal(size=8)), np.full(8, 13), 100)
    assert counts.sum() == 100 and (counts <= 13).all()


def test_loss_bins_spends_the_budget_on_the_bins_the_action_favours():
    obs = hand_obs(np.linspace(0.0, 3.0, 1000, dtype=np.float32))
    t = LossBinsTransform(bins=4, keep=0.2)
    low_first = np.array([1.0, -1.0, -1.0, -1.0])
    mask = t.action_to_mask(low_first, obs, np.random.default_rng(0))
    assert mask.dtype == np.int8 and mask.sum() == 200
    assert obs["samples"][mask == 1, EMA_LOSS].max() < 0.75  # all from the lowest-loss quarter
    summary = t.observation(obs)
    assert summary.shape == t.observation_space.shape
    bin_means = summary[8:].reshape(4, len(SAMPLE_FEATURES))[:, EMA_LOSS]
    assert np.all(np.diff(bin_means) > 0)  # bins ordered by loss
    auto = LossBinsTransform(bins=4, keep=None)
    assert auto.action_to_mask(np.r_[low_first, -1.0], obs, np.random.default_rng(0)).sum() == 50  # min_keep
    assert auto.action_to_mask(np.r_[low_first, 1.0], obs, np.random.default_rng(0)).sum() == 1000


def test_linear_score_keeps_the_top_k_of_the_weighted_features():
    obs = hand_obs(np.random.default_rng(1).permutation(500).astype(np.float32))
    t = LinearScoreTransform(keep=0.3)
    w = np.zeros(len(SAMPLE_FEATURES))
    w[EMA_LOSS] = -1.0
    mask = t.action_to_mask(w, obs, np.random.default_rng(0))
    assert mask.sum() == 150
    assert set(np.flatnonzero(mask)) == set(np.argsort(obs["samples"][:, EMA_LOSS])[:150])
    tied = hand_obs(np.ones(500, dtype=np.float32))  # first epoch: every row equal, ties at random
    picks = [np.flatnonzero(t.action_to_mask(w, tied, np.random.default_rng(s))) for s in range(2)]
    assert not np.array_equal(picks[0], picks[1]) and picks[0].max() > 150


# ---- the per-sample policy ---------------------------------------------------------------------

def test_deepsets_policy_has_n_independent_parameters_and_one_logit_per_sample():
    from stable_baselines3 import PPO

    models = [PPO(DeepSetsPolicy, gym.make(SYN, **kw), n_steps=4, batch_size=4, device="cpu")
              for kw in (SMALL, OTHER_N)]
    sizes = [sum(p.numel() for p in m.policy.parameters()) for m in models]
    assert sizes[0] == sizes[1] < 40_000
    obs = {"samples": torch.rand(2, 77, len(SAMPLE_FEATURES_V1)), "progress": torch.rand(2, 8)}
    logits, values = models[0].policy.logits_and_values(obs)
    assert logits.shape == (2, 77) and values.shape == (2, 1)
    actions, _, log_prob = models[0].policy(obs)
    assert actions.dtype == torch.int8 and log_prob.shape == (2,)


# ---- train, save, load, act on another N -------------------------------------------------------

@pytest.mark.parametrize("algo,interface,steps", [("ppo", "bins", 200), ("a2c", "linear", 200), ("ppo", "set", 200),
                                                  ("sac", "bins", 24), ("td3", "linear", 24)])
def test_each_interface_trains_saves_loads_and_acts_on_another_n(tmp_path, algo, interface, steps):
    keep = None if interface == "set" else 0.3
    out = train(TrainArgs(algo=algo, interface=interface, keep=keep, timesteps=steps, out=tmp_path / "m",
                             env_kwargs=SMALL, progress_bar=False, checkpoints=2))
    meta = json.loads((out / "interface.json").read_text())
    assert meta["env_steps"] >= steps and meta["n_train"] == 600 and (out / "vecnormalize.pkl").is_file()
    assert any((out / "checkpoints").glob("model_*_steps.zip"))
    agent = agents.make("sb3", path=out)
    env = gym.make(SYN, **OTHER_N)
    info = agents.play_episode(agent, env, seed=3)
    assert info["epoch"] == 3 and 0 < info["test_accuracy"] <= 1
    if keep is not None:
        assert info["samples_trained"] == 3 * round(0.3 * 300)
    at_half = agents.SB3Agent.load(out, keep=0.5)
    obs, _ = env.reset(seed=0)
    at_half.reset(env)
    assert at_half.predict(obs)[0].sum() == 150


def test_train_command_line_arguments_and_errors(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    ns = parser.parse_args(["--interface", "linear", "--keep", "0.3", "--env-kwargs", "epochs=4",
                            'synthetic={"label_noise": 0.4}', "--out", str(tmp_path)])
    assert parse_kv(ns.env_kwargs) == {"epochs": 4, "synthetic": {"label_noise": 0.4}}
    with pytest.raises(ValueError, match="--keep"):
        train(TrainArgs(interface="linear", keep=None))
    with pytest.raises(ValueError, match="ppo or a2c"):
        train(TrainArgs(algo="sac", interface="set"))
    with pytest.raises(ValueError, match="not a model directory"):
        agents.make("sb3", path=tmp_path)


def test_train_command_line_flags_for_long_runs(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    cfg = from_namespace(TrainArgs, parser.parse_args(
        ["--algo", "ars", "--interface", "linear", "--env", TASKS, "--n-envs", "4", "--checkpoint-every", "500",
         "--resume", "--reward", "terminal", "--eval-tasks", "3", "--algo-kwargs", "n_delta=4", "--out", str(tmp_path)]))
    assert (cfg.algo, cfg.n_envs, cfg.checkpoint_every, cfg.resume, cfg.reward, cfg.eval_tasks) == \
        ("ars", 4, 500, True, "terminal", 3)
    assert cfg.algo_kwargs == {"n_delta": 4} and cfg.keep is None  # the tasks set the keep fraction
    with pytest.raises(ValueError, match="--out"):
        train(TrainArgs(resume=True))
    with pytest.raises(ValueError, match="ppo or a2c"):
        train(TrainArgs(algo="ars", interface="set"))
    with pytest.raises(ValueError, match="not both"):
        train(TrainArgs(env=TASKS, keep=0.3, env_kwargs={"keep": [0.2, 0.4]}))


def test_resume_continues_a_stopped_run_to_the_same_total(tmp_path, monkeypatch):
    """Stopped right after its second checkpoint, the run resumes from it: model, VecNormalize, step count."""
    args = TrainArgs(env=TASKS, interface="bins", timesteps=40, checkpoint_every=8, out=tmp_path / "m",
                        env_kwargs=CHEAP_TASKS, progress_bar=False, eval_tasks=1, resume=True)  # 4-step rollouts
    save = checkpoints.RolloutCheckpoint.save

    def save_then_stop(self):
        ckpt = save(self)
        if ckpt.steps == 16:
            raise KeyboardInterrupt("stopped")
        return ckpt

    monkeypatch.setattr(checkpoints.RolloutCheckpoint, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train(args)
    monkeypatch.setattr(checkpoints.RolloutCheckpoint, "save", save)
    assert not (tmp_path / "m" / "model.zip").exists()
    loaded = []
    load = training.VecNormalize.load
    monkeypatch.setattr(training.VecNormalize, "load", lambda path, venv: loaded.append(path) or load(path, venv))
    out = train(args)
    meta = json.loads((out / "interface.json").read_text())
    assert meta["env_steps"] == 40 and meta["resumed_from"]["env_steps"] == 16
    assert loaded == [str(out / "checkpoints" / "model_vecnormalize_16_steps.pkl")]
    vec_normalize = agents.SB3Agent.load(out).vec_normalize
    assert vec_normalize.ret_rms.count == pytest.approx(40, abs=0.01)  # statistics of all 40 steps, not the last 24
    steps = [row["env_steps"] for row in curves.read_learning_curve(out)]
    assert steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == 40
    assert all(math.isfinite(row["mean_val_vs_frontier"]) for row in curves.read_learning_curve(out))
    assert train(args) == out and json.loads((out / "interface.json").read_text())["env_steps"] == 40  # done: no-op


def test_eval_baselines_play_hand_written_agents_on_the_held_out_tasks(tmp_path):
    args = TrainArgs(env=TASKS, interface="bins", timesteps=8, checkpoint_every=8, out=tmp_path / "m",
                        env_kwargs=CHEAP_TASKS, progress_bar=False, eval_tasks=2, eval_baselines=("random", "ucb"))
    out = train(args)
    rows = curves.read_baselines(out)
    assert [r["agent"] for r in rows] == ["random", "ucb"] and all(r["episodes"] == 2 for r in rows)
    curve = curves.read_learning_curve(out)
    assert rows[0]["mean_compute"] == rows[1]["mean_compute"] == curve[0]["mean_compute"]  # each task's keep
    assert (out / "learning_curve.png").exists() or importlib.util.find_spec("matplotlib") is None
    all_data = dataclasses.replace(args, out=tmp_path / "k1", env_kwargs={**CHEAP_TASKS, "keep": [1.0, 1.0]},
                                   eval_baselines=("random",))
    row = curves.read_baselines(train(all_data))[0]
    assert row["mean_val_vs_frontier"] == 0.0  # all data, whole schedule: the frontier's own point
    assert 2 < row["mean_compute"] and rows[0]["mean_compute"] < row["mean_compute"]  # 2 epochs + validation; keep < 1
    with pytest.raises(ValueError, match="--eval-tasks"):
        train(TrainArgs(eval_baselines=("random",)))
    with pytest.raises(ValueError, match="unknown agent|registered"):
        train(TrainArgs(eval_tasks=1, eval_baselines=("no_such_agent",)))


@pytest.mark.parametrize("algo,interface,n_envs,reward", [("ppo", "bins", 2, "vs_frontier"), ("ars", "linear", 1, None),
                                                         ("ppo", "set", 1, None)])
def test_each_interface_trains_on_tasks_and_plays_in_the_bench_path(tmp_path, algo, interface, n_envs, reward):
    kwargs = {"n_delta": 2} if algo == "ars" else {}
    out = train(TrainArgs(algo=algo, interface=interface, env=TASKS, timesteps=16, n_envs=n_envs, reward=reward,
                             out=tmp_path / "m", env_kwargs=CHEAP_TASKS, progress_bar=False, algo_kwargs=kwargs))
    meta = json.loads((out / "interface.json").read_text())
    assert meta["env_steps"] >= 16 and meta["task_features"] and meta["default_keep"] == 0.45
    assert any((out / "checkpoints").glob("model_vecnormalize_*_steps.pkl"))
    agent = agents.load(f"sb3:{out}", keep=0.3)  # what the bench builds for sb3:PATH
    info = agents.play_episode(agent, gym.make(SYN, **OTHER_N), seed=3)
    assert info["epoch"] == 3 and info["samples_trained"] == 3 * round(0.3 * 300) and 0 < info["test_accuracy"] <= 1
    tasks = gym.make(TASKS, **CHEAP_TASKS)
    info = agents.play_episode(agents.SB3Agent.load(out), tasks, seed=5)  # on a task: its own keep fraction
    assert info["samples_trained"] == 2 * round(info["task"]["keep"] * tasks.unwrapped.n)


@pytest.mark.cifar
@pytest.mark.parametrize("interface", ["bins", "linear", "set"])
def test_each_interface_trains_on_the_proxy_and_acts_on_another_n(tmp_path, cifar_archive, interface):
    proxy = {"data_root": str(cifar_archive), "train_subset": 500, "val_size": 500, "epochs": 2}
    out = train(TrainArgs(env="DataSelect/CIFAR10Proxy-v0", interface=interface, keep=0.3, timesteps=2,
                             n_steps=2, out=tmp_path / "m", env_kwargs=proxy, progress_bar=False))  # one episode
    env = gym.make("DataSelect/CIFAR10Proxy-v0", **{**proxy, "train_subset": 300})
    info = agents.play_episode(agents.make("sb3", path=out, keep=0.3), env, seed=0)
    assert info["samples_trained"] == 2 * 90 and 0 <= info["test_accuracy"] <= 1


# ---- learning ----------------------------------------------------------------------------------

@pytest.mark.slow  # 3 PPO trainings; that each interface trains and acts is checked fast above
def test_ppo_learns_to_beat_random_on_noisy_labels_in_three_training_seeds(tmp_path):
    """40% mislabeled samples, keep 0.3: PPO on LossBins (600 env steps), training seeds 0, 1, 2,
    each against random on the same five held-out episodes (seeds 100-104).

    The bound was measured before it was set, with ``python benchmarks/ppo_learning_bound.py --seeds 0-15``
    (``benchmarks/results/ppo_learning_bound.json``; 2026-12-03, 2-core AMD EPYC, torch 2.14.1, after
    Synthetic-v1's validation split got the clean labels, which changed the reward PPO learns from):
    over training seeds 0-15 the gain was -1.1 to +5.5 points, mean +4.0, std 1.7 (seed 0 the only
    one below random). So the mean of the three must exceed +1.05 points (that mean minus three
    standard errors of a mean of three). An untrained policy (or one that keeps the highest
    losses, which are the wrong labels) fails it.
    """
    noisy = {"synthetic": {"label_noise": 0.4}}
    env = gym.make(SYN, **noisy)
    seeds = range(100, 105)
    random = np.mean([agents.play_episode(agents.make("random", keep=0.3), env, s)["test_accuracy"] for s in seeds])
    gains = []
    for training_seed in (0, 1, 2):
        out = train(TrainArgs(algo="ppo", env=SYN, interface="bins", keep=0.3, timesteps=600, seed=training_seed,
                              out=tmp_path / f"ppo-{training_seed}", env_kwargs=noisy, progress_bar=False, threads=1))
        policy = [agents.play_episode(agents.make("sb3", path=out), env, s)["test_accuracy"] for s in seeds]
        gains.append(float(np.mean(policy) - random))
    assert np.mean(gains) > 0.0105, f"gains over random per training seed: {gains}"


def test_the_docs_plain_sb3_example_runs_as_written(capsys):
    page = (ROOT / "docs" / "learned-controllers.md").read_text()
    section = page[page.index("## With plain Stable-Baselines3"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("\n```\n")]
    scope: dict = {}
    exec(code, scope)
    assert scope["model"].n_steps == 20 and scope["model"].num_timesteps >= 200
    assert "test accuracy" in capsys.readouterr().out and scope["info"]["epoch"] == 10

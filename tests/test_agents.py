"""The controllers as a user meets them: make, load, run an episode, and the rules each agent follows."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch

import agents
import dataselect_env  # noqa: F401  (registers the env ids)
from dataselect_env import (
    EMA_LOSS,
    EPOCH_FRAC,
    FORGETTING,
    LAST_CORRECT,
    LAST_LOSS,
    LOSS_VAR,
    PROGRESS_FEATURES,
    SAMPLE_FEATURES,
    SEEN,
)
from dataselect_env.selection import keep_count
from dataselect_env.stats import SampleStats

SYN = "DataSelect/Synthetic-v0"
BUILTIN = ["full", "random", "epsilon_greedy", "ucb", "loss_proportional", "infobatch", "el2n", "grand",
           "forgetting"]
KEEP_AGENTS = ["random", "epsilon_greedy", "ucb", "loss_proportional", "el2n", "grand", "forgetting"]
STATIC = {"el2n", "grand", "forgetting"}

# docs/controllers.md's custom-agent example, verbatim: the agent file and the loop that runs it.
README_AGENT = '''\
import numpy as np
from agents import Agent, top_k_mask
from dataselect_env import EPOCHS_SINCE_SELECTED

class LeastRecent(Agent):
    """Each epoch, train on the half of the samples left out the longest."""
    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        return top_k_mask(samples[:, EPOCHS_SINCE_SELECTED], self.n // 2, self.rng)
'''
README_RUN = '''\
import gymnasium as gym
import agents, dataselect_env

env = gym.make("DataSelect/Synthetic-v0")
agent = agents.load("my_agent.py:LeastRecent")   # or agents.make("ucb", keep=0.3)
obs, info = env.reset(seed=0)
agent.reset(env)
done = False
while not done:
    action, _ = agent.predict(obs)
    obs, reward, terminated, truncated, info = env.step(action)
    done = terminated or truncated
print(f"test accuracy {info['test_accuracy']:.3f}, compute {info['compute']:.1f} epochs")
'''


def make_env(agent: agents.Agent, **kwargs) -> gym.Env:
    """A synthetic env in the agent's action mode."""
    return gym.make(SYN, action_mode=agent.action_mode, **kwargs)


def build(name: str, keep: float = 0.3, **kwargs) -> agents.Agent:
    """A registered agent, with ``keep`` when it takes one."""
    return agents.make(name, keep=keep, **kwargs) if name in KEEP_AGENTS else agents.make(name, **kwargs)


def hand_obs(n: int, ema=None, var=None, seen=None, last_loss=None, epoch_frac: float = 0.5) -> dict:
    """A hand-made observation of ``n`` samples (unset features 0, ``SEEN`` 1)."""
    samples = np.zeros((n, len(SAMPLE_FEATURES)), dtype=np.float32)
    samples[:, SEEN] = 1
    for col, values in [(EMA_LOSS, ema), (LOSS_VAR, var), (SEEN, seen), (LAST_LOSS, last_loss)]:
        if values is not None:
            samples[:, col] = values
    progress = np.zeros(len(PROGRESS_FEATURES), dtype=np.float32)
    progress[EPOCH_FRAC] = epoch_frac
    return {"samples": samples, "progress": progress}


# ---- registry and loading --------------------------------------------------------------------
def test_available_lists_every_builtin_and_make_rejects_unknown():
    assert set(BUILTIN) <= set(agents.available())
    assert agents.REGISTRY["sb3"] == "agents.sb3_agent:SB3Agent"
    with pytest.raises(ValueError, match="unknown agent 'nope'.*random.*ucb.*infobatch"):
        agents.make("nope")


def test_classes_reachable_as_attributes():
    assert agents.UCB is agents.load_class("agents.bandits:UCB")
    assert isinstance(agents.load("agents.baselines:Random", keep=0.2), agents.Random)
    with pytest.raises(AttributeError):
        agents.NoSuchAgent  # noqa: B018 (the attribute access is the test)


@pytest.mark.parametrize("spec, match", [("no_colon", "pkg.module:Class"), ("missing.py:A", "not found"),
                                         ("agents.bandits:Nope", "no attribute 'Nope'"),
                                         ("numpy:ndarray", "not an agent")])
def test_load_errors_say_what_is_wrong(spec, match):
    with pytest.raises(ValueError, match=match):
        agents.load_class(spec)


@pytest.mark.parametrize("name, kwargs, match", [
    ("random", {"keep": 0}, "keep"), ("random", {"keep": 1.5}, "keep"), ("ucb", {"keep": "half"}, "keep"),
    ("ucb", {"c": -1}, "c "), ("epsilon_greedy", {"eps": 1.2}, "eps"),
    ("infobatch", {"prune_ratio": 1.0}, "prune_ratio"), ("infobatch", {"delta": -0.1}, "delta"),
    ("el2n", {"score_epochs": -1}, "score_epochs"), ("forgetting", {"score_epochs": 1.5}, "score_epochs")])
def test_bad_constructor_arguments_raise(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        agents.make(name, **kwargs)


def test_readme_agent_loads_from_a_file_and_runs_an_episode(tmp_path, monkeypatch, capsys):
    page = (Path(__file__).resolve().parents[1] / "docs" / "controllers.md").read_text()
    assert "# my_agent.py\n" + README_AGENT in page and README_RUN in page, "docs/controllers.md's example, verbatim"
    (tmp_path / "my_agent.py").write_text(README_AGENT)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(README_RUN, scope)
    assert "test accuracy" in capsys.readouterr().out
    validated = 11 * 500 / (3 * 1500)  # at reset and after each epoch, 500 images, a third of a training pass
    assert scope["info"]["epoch"] == 10 and scope["info"]["compute"] == pytest.approx(10 * 750 / 1500 + validated)
    assert scope["info"]["test_accuracy"] > 0.6  # it learns
    assert type(scope["agent"]).__name__ == "LeastRecent" and isinstance(scope["agent"], agents.Agent)


# ---- every agent runs a full episode ---------------------------------------------------------
@pytest.mark.parametrize("name", BUILTIN)
def test_agent_runs_an_episode_in_a_plain_loop_with_exact_keep(name):
    agent = build(name, keep=0.3, **({"delta": 0.8} if name == "infobatch" else {}))
    env = make_env(agent, epochs=5)
    obs, info = env.reset(seed=0)
    agent.reset(env)
    n, kept, done = env.unwrapped.n, [], False
    while not done:
        action, state = agent.predict(obs)
        assert action.shape == (n,) and state is None
        obs, reward, terminated, truncated, info = env.step(action)
        agent.observe(obs, reward, terminated, truncated, info)
        kept.append(info["samples_trained"])
        done = terminated or truncated
    per_epoch = np.diff([0, *kept])
    assert info["epoch"] == 5 and 0 <= info["test_accuracy"] <= 1  # el2n at keep 0.3 learns the noise
    if name == "full":
        assert (per_epoch == n).all()
    elif name in STATIC:
        s = agent.score_epochs
        assert (per_epoch[:s] == n).all() and (per_epoch[s:] == round(0.3 * n)).all()
        probe = 1 / 3 if name != "forgetting" else 0  # el2n / grand pay for env.score_samples()
        validated = 6 * env.unwrapped.val_cost
        assert info["compute"] == pytest.approx(s + probe + (5 - s) * keep_count(0.3, n) / n + validated)
    elif name == "infobatch":
        assert per_epoch[0] == n and per_epoch[-1] == n  # equal scores at first; annealing (epoch 4 of 5)
        assert (per_epoch[1:-1] < n).all() and (per_epoch[1:-1] > 0.5 * n).all()
    else:
        assert (per_epoch == round(0.3 * n)).all()


@pytest.mark.parametrize("name", BUILTIN)
def test_agent_runs_under_sb3_evaluate_policy(name):
    evaluate_policy = pytest.importorskip("stable_baselines3.common.evaluation").evaluate_policy
    agent = build(name, keep=0.5)
    env = make_env(agent, epochs=3)
    if name in STATIC:
        agent.reset(env)  # static agents score through env.score_samples()
    episodes = 2 if name in {"forgetting", "random"} else 1  # a second episode restarts the agent
    mean_reward, _ = evaluate_policy(agent, env, n_eval_episodes=episodes, warn=False)
    assert np.isfinite(mean_reward) and mean_reward > 0  # val accuracy rose


def test_batched_and_unbatched_observations_give_the_same_action():
    obs = hand_obs(50, ema=np.linspace(0, 1, 50))
    batched = {k: v[None] for k, v in obs.items()}
    a, b = agents.make("ucb", keep=0.2, seed=3), agents.make("ucb", keep=0.2, seed=3)
    action, _ = a.predict(obs)
    batched_action, _ = b.predict(batched, episode_start=np.ones(1, dtype=bool))
    assert batched_action.shape == (1, 50) and (batched_action[0] == action).all()
    with pytest.raises(ValueError, match="one env"):
        a.predict({k: np.concatenate([v, v]) for k, v in batched.items()})


def test_reset_seeds_from_the_env_without_advancing_it():
    env = gym.make(SYN, epochs=2)
    actions = []
    for _ in range(2):
        obs, _ = env.reset(seed=7)
        state = env.unwrapped.np_random.bit_generator.state
        agent = agents.make("random", keep=0.5)
        agent.reset(env)
        assert env.unwrapped.np_random.bit_generator.state == state
        actions.append(agent.predict(obs)[0])
    assert (actions[0] == actions[1]).all()
    env.reset(seed=8)
    agent.reset(env)
    assert not (agent.predict(obs)[0] == actions[0]).all()


# ---- the rules of each agent, on hand-made observations -------------------------------------
@pytest.mark.parametrize("name", KEEP_AGENTS)
@pytest.mark.parametrize("n, keep", [(7, 0.5), (1001, 1 / 3), (1500, 0.3), (10, 1.0)])
def test_keep_fraction_is_exact(name, n, keep):
    rng = np.random.default_rng(0)
    obs = hand_obs(n, ema=rng.random(n), var=rng.random(n), seen=rng.random(n) < 0.8)
    obs["samples"][:, FORGETTING] = rng.integers(0, 3, n)
    agent = agents.make(name, keep=keep, score_epochs=0) if name in STATIC else agents.make(name, keep=keep)
    agent.env = SimpleNamespace(score_samples=lambda: {"el2n": rng.random(n), "grand": rng.random(n)})
    assert agent.keep == keep
    for _ in range(3):
        action, _ = agent.predict(obs)
        assert action.dtype == np.int8 and set(np.unique(action)) <= {0, 1}
        assert action.sum() == round(keep * n)


def test_ucb_ranks_unseen_then_high_variance_samples_first():
    agent = agents.make("ucb", keep=0.2, c=1.0)  # k = 1 of 5
    seen = np.array([1, 1, 0, 1, 1])
    obs = hand_obs(5, ema=[2.0, 1.0, 0.1, 1.0, 1.0], var=[0.0, 0.0, 0.0, 4.0, 0.0], seen=seen)
    assert agent.predict(obs)[0].tolist() == [0, 0, 1, 0, 0]  # the unseen sample, despite its low loss
    obs = hand_obs(5, ema=[1.5, 1.0, 1.0, 1.0, 1.0], var=[0.0, 0.0, 0.0, 4.0, 0.0])
    assert agent.predict(obs)[0].tolist() == [0, 0, 0, 1, 0]  # 1.0 + 1 * 2 beats 1.5
    assert agents.make("ucb", keep=0.2, c=0.0).predict(obs)[0].tolist() == [1, 0, 0, 0, 0]


def test_epsilon_greedy_eps0_is_top_k_and_eps1_is_uniform():
    n, keep = 20, 0.25
    ema = np.arange(n, dtype=np.float32)  # strongly non-uniform scores
    obs = hand_obs(n, ema=ema)
    greedy, _ = agents.make("epsilon_greedy", keep=keep, eps=0.0).predict(obs)
    assert greedy.tolist() == (ema >= n - 5).astype(int).tolist()
    mixed, _ = agents.make("epsilon_greedy", keep=keep, eps=0.4).predict(obs)  # 3 greedy + 2 random
    assert mixed[-3:].all() and mixed.sum() == 5
    uniform = agents.make("epsilon_greedy", keep=keep, eps=1.0, seed=0)
    draws = 4000
    counts = sum(uniform.predict(obs)[0].astype(int) for _ in range(draws))
    expected = draws * keep
    chi2 = ((counts - expected) ** 2 / (expected * (1 - keep))).sum()
    assert chi2 < 43.8  # 99.9% quantile of chi-square with 19 degrees of freedom
    assert counts[:10].sum() == pytest.approx(counts[10:].sum(), rel=0.05)  # low scores as likely as high


def test_loss_proportional_prefers_high_loss_without_replacement():
    n = 10
    obs = hand_obs(n, ema=[9.0] + [1.0] * (n - 1))
    agent = agents.make("loss_proportional", keep=0.3, seed=0)
    counts = sum(agent.predict(obs)[0].astype(int) for _ in range(2000))
    assert counts[0] > 0.9 * 2000  # weight 9 of 18: almost always drawn among 3
    assert counts.sum() == 3 * 2000 and counts[1:].min() > 0.15 * 2000


def test_infobatch_weights_are_unbiased_and_anneal_to_full_data():
    rng = np.random.default_rng(1)
    loss = rng.exponential(size=200).astype(np.float32)
    agent = agents.make("infobatch", prune_ratio=0.5, delta=0.875, seed=0)
    obs = hand_obs(200, last_loss=loss, epoch_frac=0.3)
    weights = np.stack([agent.predict(obs)[0] for _ in range(4000)])
    low = loss < loss.mean()
    assert set(np.unique(weights[:, low])) == {0.0, 2.0} and (weights[:, ~low] == 1).all()
    assert (weights == 0).mean(axis=0)[low] == pytest.approx(0.5, abs=0.05)  # pruned w.p. prune_ratio
    assert weights.mean(axis=0) == pytest.approx(np.ones(200), abs=0.1)  # E[w_i] = 1 for every sample
    assert (weights @ loss).mean() == pytest.approx(loss.sum(), rel=0.01)  # unbiased expected loss
    assert (agent.predict(hand_obs(200, last_loss=loss, epoch_frac=0.9))[0] == 1).all()  # annealing
    assert (agent.predict(hand_obs(200, last_loss=np.full(200, 1.3862944), epoch_frac=0))[0] == 1).all()


def test_infobatch_fails_clearly_in_mask_mode():
    agent = agents.make("infobatch")
    assert agent.action_mode == "weights"
    with pytest.raises(ValueError, match="action_mode='weights'"):
        agent.reset(gym.make(SYN))
    with pytest.raises(ValueError, match="w_max"):
        agents.make("infobatch", prune_ratio=0.95).reset(gym.make(SYN, action_mode="weights"))


def test_forgetting_counts_events_and_keeps_the_most_forgotten():
    correct = np.array([[1, 0, 1, 0],   # forgotten twice
                        [1, 1, 1, 1],   # learned, never forgotten
                        [0, 0, 0, 0],   # never learned: ranks first (Toneva et al.)
                        [0, 1, 0, 1],   # forgotten once
                        [1, 1, 0, 0]])  # forgotten once
    stats = SampleStats(5, epochs=4, num_classes=4, device=torch.device("cpu"))
    idx = torch.arange(5)
    for epoch in range(4):
        c = torch.from_numpy(correct[:, epoch])
        stats.observe(idx, torch.rand(5), c, torch.zeros(5))
        stats.end_epoch(idx)
    samples = stats.samples()
    assert samples[:, FORGETTING].tolist() == [2, 0, 0, 1, 1]
    obs = {"samples": samples, "progress": np.zeros(len(PROGRESS_FEATURES), np.float32)}
    agent = agents.make("forgetting", keep=0.4, score_epochs=0)
    assert agent.predict(obs)[0].tolist() == [1, 0, 1, 0, 0]
    obs["samples"][:, LAST_CORRECT] = 1  # the kept subset stays fixed for the rest of the episode
    obs["progress"][EPOCH_FRAC] = 0.5
    assert agent.predict(obs)[0].tolist() == [1, 0, 1, 0, 0]


def test_static_agents_keep_the_top_scores_of_env_score_samples():
    n = 6
    el2n = np.array([0.1, 0.9, 0.5, 0.2, 0.8, 0.3])
    calls = []
    fake = SimpleNamespace(n=n, epochs=3, action_mode="mask", np_random=np.random.default_rng(0),
                           score_samples=lambda: calls.append(1) or {"el2n": el2n, "grand": -el2n})
    fake.unwrapped = fake
    for name, expected in [("el2n", [0, 1, 0, 0, 1, 0]), ("grand", [1, 0, 0, 1, 0, 0])]:
        agent = agents.make(name, keep=1 / 3, score_epochs=1)
        agent.reset(fake)
        obs = hand_obs(n, epoch_frac=0.0)
        assert (agent.predict(obs)[0] == 1).all()  # the score epoch trains on everything
        obs["progress"][EPOCH_FRAC] = 1 / 3
        assert agent.predict(obs)[0].tolist() == expected
        obs["progress"][EPOCH_FRAC] = 2 / 3
        assert agent.predict(obs)[0].tolist() == expected
    assert len(calls) == 2  # scored once per episode


def test_static_agent_without_env_says_to_call_reset():
    agent = agents.make("el2n", score_epochs=0)
    with pytest.raises(RuntimeError, match=r"reset\(env\)"):
        agent.predict(hand_obs(10))

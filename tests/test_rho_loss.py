"""RHO-LOSS as a user meets it: env.irreducible_loss (cross-fitted, charged, cached) and the rho_loss agent."""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

import agents
import dataselect_env  # noqa: F401  (registers the env ids)
from dataselect_env import EPOCH_FRAC, LAST_LOSS, PROGRESS_FEATURES, SAMPLE_FEATURES

SYN = "DataSelect/Synthetic-v0"
NOISY_SYN = {"synthetic": {"label_noise": 0.0}, "label_noise": 0.3}  # only the env's label noise


def final_info(agent: agents.Agent, keep: float = 0.5, epochs: int = 3) -> dict:
    """The last step's info of one episode played by ``agent`` through SB3's ``evaluate_policy``."""
    evaluate_policy = pytest.importorskip("stable_baselines3.common.evaluation").evaluate_policy
    env = gym.make(SYN, epochs=epochs)
    agent.reset(env)  # rho_loss trains its reference models through env.irreducible_loss()
    infos: list[dict] = []
    mean_reward, _ = evaluate_policy(agent, env, n_eval_episodes=1, warn=False,
                                     callback=lambda local, _: infos.append(dict(local["info"])))
    assert np.isfinite(mean_reward) and mean_reward > 0  # val accuracy rose
    per_epoch = np.diff([0, *(i["samples_trained"] for i in infos)])
    assert (per_epoch == round(keep * env.unwrapped.n)).all()
    return infos[-1]


def test_rho_loss_plays_under_evaluate_policy_and_pays_for_its_reference_models():
    rho, rand = final_info(agents.make("rho_loss", keep=0.5, ref_epochs=2)), final_info(agents.make("random", keep=0.5))
    assert "test_accuracy" in rho and rho["compute"] > rand["compute"] and rho["flops"] > rand["flops"]
    # On Synthetic-v0 the reference net is the main net (tiny): 2 epochs on two halves = 2 full
    # epochs, plus one forward pass over every sample to score them = 1/3.
    assert rho["compute"] == pytest.approx(rand["compute"] + 2 + 1 / 3)
    env = gym.make(SYN)
    env.reset(seed=0)
    f, n = env.unwrapped.flops_per_forward, env.unwrapped.n
    assert rho["flops"] - rand["flops"] == pytest.approx(f * (3 * 2 * n + n))


def test_irreducible_loss_is_cached_for_the_episode_and_charged_once():
    env = gym.make(SYN, epochs=2)
    obs, info = env.reset(seed=5)
    u = env.unwrapped
    first = u.irreducible_loss(epochs=2)
    charged = u.ledger.compute
    assert first.shape == (u.n,) and first.dtype == np.float32 and (first >= 0).all()
    assert charged == pytest.approx(2 + 1 / 3 + u.val_cost)  # and the validation pass at reset
    again = u.irreducible_loss(epochs=2)
    np.testing.assert_array_equal(again, first)
    assert u.ledger.compute == charged  # the cached array costs nothing
    again[:] = -1  # a copy: the cache is not changed
    np.testing.assert_array_equal(u.irreducible_loss(epochs=2), first)
    _, _, _, _, info = env.step(np.ones(u.n, dtype=np.int8))
    assert info["compute"] == pytest.approx(charged + 1 + u.val_cost)
    env.reset(seed=5)  # a new episode recomputes (and charges) it; the same seed gives the same result
    np.testing.assert_array_equal(u.irreducible_loss(epochs=2), first)
    assert u.ledger.compute == pytest.approx(charged)
    env.reset(seed=6)
    assert not np.array_equal(u.irreducible_loss(epochs=2), first)


def test_irreducible_loss_errors():
    env = gym.make(SYN).unwrapped
    with pytest.raises(RuntimeError, match=r"reset\(\)"):
        env.irreducible_loss()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="model must be one of"):
        env.irreducible_loss(model="huge")
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        env.irreducible_loss(epochs=0)


def test_flipped_labels_have_a_higher_irreducible_loss_and_rho_loss_avoids_them():
    env = gym.make(SYN, **NOISY_SYN)
    obs, _ = env.reset(seed=0)
    u = env.unwrapped
    flipped = u.labels != u.clean_labels
    assert flipped.mean() == pytest.approx(0.3, abs=1e-3) and (flipped == u.corrupted).all()
    il = u.irreducible_loss()
    assert il[flipped].mean() > il[~flipped].mean() + 0.5  # the reference models learnt the clean rule
    agent = agents.make("rho_loss", keep=0.5)
    agent.reset(env)
    trained_noisy, trained = 0, 0
    done = False
    while not done:
        action, _ = agent.predict(obs)
        trained_noisy, trained = trained_noisy + int(action[flipped].sum()), trained + int(action.sum())
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    assert trained_noisy / trained < 0.5 * 0.3  # well below the noise rate that random selection trains on
    assert info["test_accuracy"] > 0.6


def test_rho_loss_keeps_the_top_reducible_losses():
    n = 6
    irreducible = np.array([0.0, 2.0, 0.5, 0.1, 3.0, 0.2])
    calls = []
    fake = SimpleNamespace(n=n, epochs=3, action_mode="mask", np_random=np.random.default_rng(0),
                           irreducible_loss=lambda model, epochs: calls.append((model, epochs)) or irreducible)
    fake.unwrapped = fake
    agent = agents.make("rho_loss", keep=0.5, ref_epochs=4, ref_model="small")
    agent.reset(fake)
    samples = np.zeros((n, len(SAMPLE_FEATURES)), dtype=np.float32)
    progress = np.zeros(len(PROGRESS_FEATURES), dtype=np.float32)
    samples[:, LAST_LOSS] = np.log(10)  # never seen: the first epoch keeps the lowest irreducible losses
    assert agent.predict({"samples": samples, "progress": progress})[0].tolist() == [1, 0, 0, 1, 0, 1]
    samples[:, LAST_LOSS] = [0.1, 3.0, 1.5, 0.2, 3.1, 0.3]  # reducible: 0.1, 1.0, 1.0, 0.1, 0.1, 0.1
    progress[EPOCH_FRAC] = 1 / 3
    assert agent.predict({"samples": samples, "progress": progress})[0][[1, 2]].tolist() == [1, 1]
    assert calls == [("small", 4)]  # once per episode


@pytest.mark.parametrize("kwargs, match", [({"keep": 0}, "keep"), ({"ref_epochs": 0}, "ref_epochs"),
                                           ({"ref_epochs": 1.5}, "ref_epochs"), ({"ref_model": 3}, "ref_model")])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        agents.make("rho_loss", **kwargs)


def test_without_env_says_to_call_reset():
    agent = agents.make("rho_loss")
    obs = {"samples": np.zeros((10, len(SAMPLE_FEATURES)), dtype=np.float32),
           "progress": np.zeros(len(PROGRESS_FEATURES), dtype=np.float32)}
    with pytest.raises(RuntimeError, match=r"reset\(env\)"):
        agent.predict(obs)
    assert "rho_loss" in agents.available() and agents.RhoLoss is agents.load_class("rho_loss")

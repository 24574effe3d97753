"""The ``auto`` agent: its noise estimate, its quota strength, its leak-freedom and its clean-data identity with ``random``.

Each piece is checked on hand-made inputs whose answer is known (a loss mixture with a known share
of a second mode, label sets of a known imbalance), then end to end on the synthetic env.
"""

from __future__ import annotations

import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import agents
import dataselect_env  # noqa: F401  (registers the env ids)
from agents.auto import WARMUP, expired, noise_estimate, quota_strength, tempered_quotas
from dataselect_env import EPOCH_FRAC, PROGRESS_FEATURES
from dataselect_env.selection import keep_count, random_mask
from dataselect_env.stats import CLASS_SHARE, EPOCHS_SINCE_SELECTED, LABEL, LAST_LOSS, SAMPLE_FEATURES_V1, SEEN, class_shares

C = 10


def mixture(share: float, n: int = 5000, seed: int = 0) -> np.ndarray:
    """Losses (nats) of ``n`` samples: a clean mode near 0.35 ln C and a ``share`` of a second mode near 1.3 ln C."""
    rng = np.random.default_rng(seed)
    second = rng.random(n) < share
    clean = rng.normal(0.35, 0.12, n)
    noisy = rng.normal(1.3, 0.25, n)
    return np.abs(np.where(second, noisy, clean)) * math.log(C)


@pytest.mark.parametrize("share", [0.0, 0.2, 0.4])
def test_the_noise_estimate_finds_the_share_of_a_second_loss_mode_within_5_points(share):
    for seed in range(3):
        estimate, threshold = noise_estimate(mixture(share, seed=seed), C)
        assert abs(estimate - share) <= 0.05, (share, seed, estimate)
        assert (threshold == math.inf) == (estimate == 0)


def test_the_noise_estimate_is_zero_on_a_skewed_single_mode_below_chance():
    # Clean data's losses: one skewed mode (most samples fit, a tail of hard ones), all below ln C on average.
    losses = np.random.default_rng(0).gamma(2.0, 0.25, 5000)
    assert noise_estimate(losses, C) == (0.0, math.inf)


def test_no_sample_below_chance_loss_is_judged_noisy():
    # A large-loss mode straddling ln C (asymmetric noise's shape: hard clean samples and flipped ones
    # overlap there): the mixture splits it, but a label given more than chance probability is kept.
    rng = np.random.default_rng(0)
    second = rng.random(5000) < 0.4
    losses = np.abs(np.where(second, rng.normal(1.1, 0.3, 5000), rng.normal(0.3, 0.12, 5000))) * math.log(C)
    estimate, threshold = noise_estimate(losses, C)
    assert threshold >= math.log(C)
    assert estimate == pytest.approx((losses >= math.log(C)).mean(), abs=1e-9)
    assert 0.2 < estimate < 0.4  # the part of the second mode above ln C


def labels_with_imbalance(imbalance: float, largest: int = 1000) -> np.ndarray:
    """CIFAR-LT's profile: class c has ``largest * imbalance ** (-c / (C - 1))`` samples."""
    sizes = np.round(largest * imbalance ** (-np.arange(C) / (C - 1))).astype(int)
    return np.repeat(np.arange(C), sizes)


@pytest.mark.parametrize("imbalance, strength", [(1, 0.0), (10, 0.5), (100, 1.0), (200, 1.0)])
def test_the_quota_strength_follows_the_imbalance(imbalance, strength):
    assert quota_strength(labels_with_imbalance(imbalance), C) == pytest.approx(strength, abs=1e-3)


def test_tempered_quotas_run_from_proportional_to_equal():
    rng = np.random.default_rng(0)
    sizes = np.array([800, 400, 100, 50])
    for strength in (0.0, 0.5, 1.0):
        quotas = tempered_quotas(sizes, sizes.astype(float) ** (1 - strength), 500, rng)
        assert quotas.sum() == 500 and (quotas <= sizes).all()
        if strength == 0:
            assert np.abs(quotas - 500 * sizes / sizes.sum()).max() <= 1
        if strength == 1:  # water-filling: 125 each is above 50, then 150 above 100, then 175 each
            assert quotas.tolist() == [175, 175, 100, 50]
    with pytest.raises(ValueError, match="k must be in"):
        tempered_quotas(sizes, np.ones(4), 2000, rng)


def observation(labels: np.ndarray, losses: np.ndarray, epoch_frac: float) -> dict[str, np.ndarray]:
    """A version-1 observation: labels, their class shares, losses (all seen)."""
    samples = np.zeros((len(labels), len(SAMPLE_FEATURES_V1)), dtype=np.float32)
    samples[:, LABEL], samples[:, CLASS_SHARE] = labels, class_shares(labels, C)
    samples[:, LAST_LOSS], samples[:, SEEN] = losses, 1
    progress = np.zeros(len(PROGRESS_FEATURES), dtype=np.float32)
    progress[EPOCH_FRAC] = epoch_frac
    return {"samples": samples, "progress": progress}


def test_auto_leaves_out_the_samples_judged_noisy_and_keeps_class_quotas_on_a_tail():
    rng = np.random.default_rng(1)
    labels = labels_with_imbalance(100, 500)
    second = rng.random(len(labels)) < 0.3
    losses = np.where(second, rng.normal(1.3, 0.2, len(labels)), rng.normal(0.3, 0.1, len(labels))) * math.log(C)
    agent = agents.make("auto", keep=0.3)
    agent.predict(observation(labels, np.full(len(labels), math.log(C)), 0.0))  # the first epoch: nothing seen yet
    mask = agent.predict(observation(labels, np.abs(losses), 0.5))[0]
    k = round(0.3 * len(labels))
    assert mask.sum() == k and agent.strength == 1.0 and abs(agent.noise_share - 0.3) <= 0.05
    assert mask[second].mean() < 0.02  # noisy samples only where a class has no clean ones left
    kept = np.bincount(labels[mask == 1], minlength=C)
    clean = np.bincount(labels[~second], minlength=C)
    assert (kept >= np.minimum(clean, kept.max() - 1)).all()  # equal quotas, a small class gives all its clean samples


def test_a_judgement_expires_once_the_sample_was_left_out_for_the_warm_up():
    """A large-loss sample left out for WARMUP of the schedule is drawn like a clean one; a recent one is not."""
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(C), 400)
    second = rng.random(len(labels)) < 0.3
    old = second & (rng.random(len(labels)) < 0.5)  # judged long ago: left out since
    losses = np.where(second, rng.normal(1.3, 0.2, len(labels)), rng.normal(0.3, 0.1, len(labels))) * math.log(C)
    obs = observation(labels, np.abs(losses), 0.5)
    obs["samples"][:, EPOCHS_SINCE_SELECTED] = np.where(old, WARMUP, 1 / 40)
    np.testing.assert_array_equal(expired(obs["samples"]), old)
    agent = agents.make("auto", keep=0.3)
    agent.reset(StubEnv(len(labels)))
    mask = agent.predict(obs)[0].astype(bool)
    assert mask.sum() == round(0.3 * len(labels))
    assert mask[second & ~old].mean() < 0.05  # judged on a recent loss: left out (but the few below ln C)
    rate = mask[~second | old].mean()  # the rest, expired judgements included, drawn alike
    assert abs(mask[old].mean() - rate) < 0.06 and abs(mask[~second].mean() - rate) < 0.06


class NoGroundTruth:
    """The env as a training loop sees it: every attribute but the ground truth, which fails the test."""

    def __init__(self, env) -> None:
        self._env = env

    @property
    def unwrapped(self) -> NoGroundTruth:
        return self

    def __getattr__(self, name: str):
        if name in ("corrupted", "clean_labels", "splits"):
            raise AssertionError(f"auto read env.{name}")
        return getattr(self._env, name)


def auto_masks(hide_truth: bool, other_truth: bool) -> list[np.ndarray]:
    """auto's masks over a 4-epoch noisy synthetic episode; ``other_truth`` swaps the ground truth for another."""
    env = gym.make("DataSelect/Synthetic-v1", epochs=4, synthetic={"label_noise": 0.3})
    base = env.unwrapped
    obs, _ = env.reset(seed=0)
    if other_truth:  # what auto may not see changes: every sample clean, the clean labels shifted
        base.splits.corrupted = torch.zeros_like(base.splits.corrupted)
        base.splits.y_train_clean = (base.splits.y_train_clean + 1) % base.splits.num_classes
    agent, masks = agents.make("auto", keep=0.5), []
    agent.reset(NoGroundTruth(base) if hide_truth else env)
    for _ in range(4):
        action, _ = agent.predict(obs)
        masks.append(action.copy())
        obs, *_ = env.step(action)
    return masks


def test_auto_reads_no_ground_truth_and_its_masks_do_not_depend_on_it(one_torch_thread):
    seen, hidden, other = auto_masks(False, False), auto_masks(True, False), auto_masks(False, True)
    for a, b, c in zip(seen, hidden, other):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert not agents.load_class("auto").privileged


class StubEnv:
    """What ``Agent.reset(env)`` reads: n, epochs, action_mode and a seeded np_random."""

    def __init__(self, n: int) -> None:
        self.n, self.epochs, self.action_mode = n, 3, "mask"
        self.np_random = np.random.default_rng(7)

    @property
    def unwrapped(self) -> StubEnv:
        return self


def test_auto_is_random_on_clean_balanced_data():
    """Without the ramp, auto's masks are random's own; with it, random's draws at the ramp's share."""
    labels = np.repeat(np.arange(C), 300)
    rng = np.random.default_rng(0)
    stream = [observation(labels, rng.gamma(2.0, 0.25, len(labels)), e / 3) for e in range(3)]
    runs = {}
    for name, kwargs in (("auto", {"ramp": False}), ("random", {})):
        agent = agents.make(name, keep=0.3, **kwargs)
        agent.reset(StubEnv(len(labels)))
        runs[name] = [agent.predict(obs)[0] for obs in stream]
    for a, b in zip(runs["auto"], runs["random"]):
        np.testing.assert_array_equal(a, b)
    agent = agents.make("auto", keep=0.3)
    agent.reset(StubEnv(len(labels)))
    for obs in stream:
        frac, draws = float(obs["progress"][EPOCH_FRAC]), copy.deepcopy(agent.rng)
        share = 1 - 0.7 * frac / WARMUP if frac < WARMUP else 0.3
        np.testing.assert_array_equal(agent.predict(obs)[0], random_mask(len(labels), keep_count(share, len(labels)),
                                                                         draws))


@pytest.mark.parametrize("keep", [0.3, 0.5])
def test_the_warm_up_ramps_from_all_data_down_to_keep(keep):
    agent = agents.make("auto", keep=keep)
    assert agent.share(0.0) == 1.0
    assert agent.share(WARMUP / 2) == pytest.approx((1 + keep) / 2)
    assert agent.share(WARMUP) == agent.share(0.9) == keep
    shares = [agent.share(e / 40) for e in range(40)]
    assert all(a >= b for a, b in zip(shares, shares[1:]))
    assert agents.make("auto", keep=keep, ramp=False).share(0.0) == keep
    with pytest.raises(ValueError, match="ramp must be True or False"):
        agents.make("auto", keep=keep, ramp="yes")

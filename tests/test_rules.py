"""The rule-based agents (class_balanced, small_loss), InfoBatch's pruning epochs and the oracles.

Each rule is checked against a hand computation or a re-implementation of its official code, on
stub envs that expose only what the agent may read, then end to end on the synthetic env.
"""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

import agents
import dataselect_env  # noqa: F401  (registers the env ids)
from agents.rules import class_quotas
from dataselect_env import EPOCH_FRAC, LAST_LOSS, PROGRESS_FEATURES, SAMPLE_FEATURES, SEEN
from dataselect_env.selection import keep_count

SYN = "DataSelect/Synthetic-v0"


class StubEnv:
    """What ``Agent.reset(env)`` reads (n, epochs, action_mode, np_random, action_space) and the given attributes."""

    def __init__(self, n: int, epochs: int = 10, action_mode: str = "mask", seed: int = 0, **attributes) -> None:
        self.n, self.epochs, self.action_mode = n, epochs, action_mode
        self.np_random = np.random.default_rng(seed)
        self.action_space = SimpleNamespace(high=np.full(n, 10.0, dtype=np.float32))
        for name, value in attributes.items():
            setattr(self, name, np.asarray(value))

    @property
    def unwrapped(self) -> StubEnv:
        return self


class LabelsOnlyEnv(StubEnv):
    """A training loop's view: labels, and no ground truth (reading it fails the test)."""

    @property
    def corrupted(self) -> np.ndarray:
        raise AssertionError("a controller read env.corrupted")

    @property
    def clean_labels(self) -> np.ndarray:
        raise AssertionError("a controller read env.clean_labels")


def observation(n: int, last_loss=None, epoch_frac: float = 0.0) -> dict[str, np.ndarray]:
    """A hand-made observation (features 0 but ``SEEN`` 1 and the given ``LAST_LOSS``)."""
    samples = np.zeros((n, len(SAMPLE_FEATURES)), dtype=np.float32)
    samples[:, SEEN] = 1
    if last_loss is not None:
        samples[:, LAST_LOSS] = last_loss
    progress = np.zeros(len(PROGRESS_FEATURES), dtype=np.float32)
    progress[EPOCH_FRAC] = epoch_frac  # float32, as the env writes it
    return {"samples": samples, "progress": progress}


def per_class(mask: np.ndarray, labels: np.ndarray, classes) -> list[int]:
    return [int(mask[labels == c].sum()) for c in classes]


# ---- class_balanced ------------------------------------------------------------------------
SIZES = {3: 50, 0: 30, 2: 10, 1: 5}  # class -> size; ids not in size order


def long_tail_labels(seed: int = 0) -> np.ndarray:
    labels = np.concatenate([np.full(size, c) for c, size in SIZES.items()])
    return np.random.default_rng(seed).permutation(labels)


def test_class_balanced_water_fills_the_budget_exactly():
    labels = long_tail_labels()
    agent = agents.make("class_balanced", keep=40 / 95)
    agent.reset(LabelsOnlyEnv(95, labels=labels))
    assert keep_count(agent.keep, 95) == 40
    # By hand: 40 / 4 = 10 each, class 1 has only 5: 35 left over 3 classes (11 each, 2 left); class 2
    # has only 10: 25 left over classes 3 and 0, 12 each and the last sample to one of them at random.
    seen = set()
    for _ in range(400):
        mask = agent.predict(observation(95))[0]
        assert mask.dtype == np.int8 and mask.sum() == 40
        counts = per_class(mask, labels, [3, 0, 2, 1])
        assert counts[2:] == [10, 5] and sorted(counts[:2]) == [12, 13]
        seen.add(tuple(counts))
    assert seen == {(13, 12, 10, 5), (12, 13, 10, 5)}  # the remainder goes to either large class


@pytest.mark.parametrize("sizes, k, expected", [
    ((7, 7, 7), 10, [3, 3, 3]),          # + 1 to a random class
    ((5, 5, 5, 5), 2, [0, 0, 0, 0]),     # fewer samples than classes: + 1 to 2 random classes
    ((1, 2, 100), 60, [1, 2, 57]),       # two levels of saturation, no remainder
    ((3, 3), 6, [3, 3]),                 # everything
])
def test_class_quotas_spread_the_remainder_over_random_classes(sizes, k, expected):
    rng = np.random.default_rng(0)
    winners = np.zeros(len(sizes), dtype=int)
    for _ in range(300):
        quotas = class_quotas(np.array(sizes), k, rng)
        assert quotas.sum() == k and (quotas <= sizes).all() and (quotas >= expected).all()
        assert (quotas - expected).sum() == k - sum(expected) and (quotas - expected).max() <= 1
        winners += quotas - expected
    remainder = k - sum(expected)
    if remainder:
        share = winners / (300 * remainder)
        assert share == pytest.approx(np.full(len(sizes), 1 / len(sizes)), abs=0.1)  # not always the first


def test_class_balanced_is_uniform_within_a_class_and_fresh_every_epoch():
    labels = long_tail_labels(1)
    agent = agents.make("class_balanced", keep=40 / 95)
    agent.reset(LabelsOnlyEnv(95, labels=labels, seed=3))
    masks = np.stack([agent.predict(observation(95))[0] for _ in range(3000)])
    freq = masks.mean(axis=0)
    for c, expected in [(3, 12.5 / 50), (0, 12.5 / 30), (2, 1.0), (1, 1.0)]:
        assert freq[labels == c] == pytest.approx(np.full(SIZES[c], expected), abs=0.05)
    assert (masks[1:] != masks[:-1]).any(axis=1).all()  # a fresh draw every epoch


def test_class_balanced_reads_labels_in_reset_and_never_the_ground_truth():
    with pytest.raises(RuntimeError, match=r"reset\(env\)"):
        agents.make("class_balanced").predict(observation(95))
    with pytest.raises(ValueError, match="keep"):
        agents.make("class_balanced", keep=0)
    with pytest.raises(ValueError, match="env.labels has shape"):
        agents.make("class_balanced").reset(LabelsOnlyEnv(95, labels=np.zeros(94, dtype=int)))
    agent = agents.make("class_balanced", keep=0.3)
    agent.reset(LabelsOnlyEnv(95, labels=long_tail_labels()))  # its corrupted / clean_labels raise
    for _ in range(3):
        assert agent.predict(observation(95))[0].sum() == keep_count(0.3, 95)  # 28.5: halves up


# ---- small_loss ----------------------------------------------------------------------------
def release_rate_schedule(n_epoch: int, forget_rate: float, num_gradual: int, exponent: float = 1) -> np.ndarray:
    """The two lines of Co-teaching's official main.py (bhanML/Co-teaching)."""
    rate_schedule = np.ones(n_epoch) * forget_rate
    rate_schedule[:num_gradual] = np.linspace(0, forget_rate ** exponent, num_gradual)
    return rate_schedule


@pytest.mark.parametrize("keep", [0.3, 0.5, 0.6, 1.0])
@pytest.mark.parametrize("epochs, t_k", [(10, 10), (20, 10), (40, 10), (20, 5), (12, 1), (8, 0), (3, 10), (7, 9)])
def test_small_loss_share_is_co_teachings_schedule(keep, epochs, t_k):
    agent = agents.make("small_loss", keep=keep, t_k=t_k)
    if epochs < t_k:  # the release fails there; the ramp is capped at E
        with pytest.raises(ValueError):
            release_rate_schedule(epochs, 1 - keep, t_k)
    rate = release_rate_schedule(epochs, 1 - keep, min(t_k, epochs))
    shares = [agent.share(t, epochs) for t in range(epochs)]
    assert shares == pytest.approx(1 - rate, abs=1e-12)
    plateau = np.flatnonzero(rate == 1 - keep)[0]  # t_k - 1, where linspace reaches forget_rate (or 1 or 0)
    assert all(s == keep for s in shares[plateau:])  # exactly keep, so round(keep * N) samples
    if keep < 1 and t_k >= 2:
        assert shares[0] == 1 and (np.diff(shares[:plateau + 1]) < 0).all()


def test_small_loss_trains_on_the_schedules_count_epoch_by_epoch():
    n, epochs, keep = 200, 12, 0.3
    rate = release_rate_schedule(epochs, 1 - keep, 10)
    expected = [round((1 - r) * n) for r in rate]
    assert expected == [200, 184, 169, 153, 138, 122, 107, 91, 76, 60, 60, 60]  # 200 - 140 t / 9, by hand
    loss = np.random.default_rng(0).random(n)
    with_env = agents.make("small_loss", keep=keep)
    with_env.reset(StubEnv(n, epochs=epochs))
    counts = [int(with_env.predict(observation(n, loss, t / epochs))[0].sum()) for t in range(epochs)]
    assert counts == expected
    without = agents.make("small_loss", keep=keep)  # E learnt from the episode's observations
    assert [int(without.predict(observation(n, loss, t / epochs))[0].sum()) for t in range(epochs)] == expected
    with pytest.raises(RuntimeError, match=r"reset\(env\)"):
        agents.make("small_loss").predict(observation(n, loss, 0.5))  # mid-episode, no env: E unknown


def test_small_loss_keeps_exactly_the_smallest_losses_ties_at_random():
    loss = np.array([0.9, 0.1, 2.0, 0.4, 0.3, 1.5, 0.05, 0.7, 3.0, 0.2], dtype=np.float32)
    agent = agents.make("small_loss", keep=0.1, t_k=10)
    agent.reset(StubEnv(10, epochs=10))
    mask = agent.predict(observation(10, loss, 5 / 10))[0]  # R(5) = 1 - 0.9 * 5 / 9 = 0.5: 5 samples
    assert np.flatnonzero(mask).tolist() == [1, 3, 4, 6, 9]  # losses 0.1, 0.4, 0.3, 0.05, 0.2
    tied = np.array([0.5, 0.1, 0.5, 0.2, 0.9], dtype=np.float32)
    agent = agents.make("small_loss", keep=0.6, t_k=0)  # 3 of 5 from the first epoch on
    agent.reset(StubEnv(5, epochs=4))
    masks = np.stack([agent.predict(observation(5, tied, 0.25))[0] for _ in range(2000)])
    assert (masks[:, [1, 3]] == 1).all() and (masks[:, 4] == 0).all()
    assert (masks[:, 0] + masks[:, 2] == 1).all() and masks[:, 0].mean() == pytest.approx(0.5, abs=0.05)


def test_small_loss_takes_keep_or_tau():
    assert agents.make("small_loss").keep == 0.5
    agent = agents.make("small_loss", tau=0.4)
    assert agent.keep == pytest.approx(0.6) and agent.tau == 0.4
    for kwargs, match in [({"keep": 0.5, "tau": 0.5}, "not both"), ({"tau": 1.0}, "tau"), ({"keep": 1.5}, "keep"),
                          ({"t_k": -1}, "t_k"), ({"t_k": 2.5}, "t_k")]:
        with pytest.raises(ValueError, match=match):
            agents.make("small_loss", **kwargs)


# ---- InfoBatch: the official release's pruning epochs ---------------------------------------
class ReleaseSampler:
    """The pruning decision of ``IBSampler`` (NUS-HPC-AI-Lab/InfoBatch, infobatch/infobatch.py)."""

    def __init__(self, num_epochs: int, delta: float) -> None:
        self.stop_prune = num_epochs * delta  # InfoBatch.stop_prune
        self.iterations, self.pruned = 0, []
        self.reset()  # IBSampler.__init__ calls reset()

    def reset(self) -> None:  # IBSampler.reset, which __iter__ calls at the start of every epoch
        self.pruned.append(not self.iterations > self.stop_prune)  # else: dataset.prune()
        self.iterations += 1


def release_pruning_epochs(epochs: int, delta: float) -> list[int]:
    sampler = ReleaseSampler(epochs, delta)
    for _ in range(epochs):
        sampler.reset()
    return [e for e, pruned in enumerate(sampler.pruned[1:]) if pruned]


def agent_pruning_epochs(epochs: int, delta: float, with_reset: bool) -> list[int]:
    loss = np.linspace(0.1, 2.0, 40, dtype=np.float32)  # half below the mean in every epoch
    agent = agents.make("infobatch", prune_ratio=0.5, delta=delta)
    if with_reset:
        agent.reset(StubEnv(40, epochs=epochs, action_mode="weights"))
    return [e for e in range(epochs) if (agent.predict(observation(40, loss, e / epochs))[0] != 1).any()]


def test_release_pruning_epochs_by_hand():
    assert release_pruning_epochs(10, 0.875) == list(range(0, 8))  # 1-7 once epoch 0's equal scores prune nothing
    assert release_pruning_epochs(20, 0.875) == list(range(0, 17))  # 1-16
    assert release_pruning_epochs(40, 0.875) == list(range(0, 35))  # 1-34
    old = {e: [t for t in range(e) if np.float32(t / e) < 0.875] for e in (10, 20, 40)}  # the rule before
    assert old == {10: list(range(9)), 20: list(range(18)), 40: list(range(35))}


@pytest.mark.parametrize("delta", [0.875, 0.5, 0.8, 0.9, 0.95, 0.7, 0.3, 0.1, 1.0, 0.0])
def test_infobatch_prunes_in_exactly_the_release_epochs(delta):
    for epochs in range(1, 41):
        expected = release_pruning_epochs(epochs, delta)
        assert agent_pruning_epochs(epochs, delta, with_reset=True) == expected, (epochs, delta)
        # Without reset, E is learnt from epoch 1's observation; at epoch 0 the agent cannot know
        # whether E * delta >= 1 and applies the below-mean rule, a no-op on the equal first scores.
        without = agent_pruning_epochs(epochs, delta, with_reset=False)
        assert [e for e in without if e > 0] == [e for e in expected if e > 0], (epochs, delta)


def test_infobatch_episode_prunes_in_epochs_1_to_7_of_10(one_torch_thread):
    env = gym.make(SYN, epochs=10, action_mode="weights", synthetic={"n_train": 700})
    trained = []
    agents.play_episode(agents.make("infobatch"), env, seed=0,
                        on_step=lambda info, reward, action: trained.append(info["samples_trained"]))
    n, per_epoch = env.unwrapped.n, np.diff(trained)
    assert [e for e in range(10) if per_epoch[e] < n] == list(range(1, 8))


# ---- oracles -------------------------------------------------------------------------------
CORRUPTED = np.array([0, 1, 0, 0, 1, 0, 1, 0, 1, 0], dtype=bool)  # 6 clean: 0, 2, 3, 5, 7, 9


@pytest.mark.parametrize("keep, always, never, among", [
    (0.4, [], [1, 4, 6, 8], [0, 2, 3, 5, 7, 9]),   # k = 4 < 6 clean: a random 4 of the clean
    (0.6, [0, 2, 3, 5, 7, 9], [1, 4, 6, 8], []),   # k = 6: exactly the clean
    (0.8, [0, 2, 3, 5, 7, 9], [], [1, 4, 6, 8]),   # k = 8: all clean + a random 2 of the corrupted
])
def test_oracle_clean_takes_clean_samples_first(keep, always, never, among):
    agent = agents.make("oracle_clean", keep=keep)
    agent.reset(StubEnv(10, corrupted=CORRUPTED, clean_labels=np.zeros(10, dtype=int)))
    masks = np.stack([agent.predict(observation(10))[0] for _ in range(1000)])
    assert (masks.sum(axis=1) == round(keep * 10)).all()
    assert (masks[:, always] == 1).all() and (masks[:, never] == 0).all()
    if among:
        expected = (round(keep * 10) - len(always)) / len(among)
        assert masks[:, among].mean(axis=0) == pytest.approx(np.full(len(among), expected), abs=0.06)


def test_oracle_balanced_fills_clean_label_quotas_clean_first():
    clean_labels = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    corrupted = np.array([0, 0, 0, 0, 1, 1, 0, 1, 1, 1, 0, 0], dtype=bool)
    labels = np.array([0, 0, 0, 0, 2, 1, 1, 0, 2, 0, 2, 2])  # noisy: ignored
    agent = agents.make("oracle_balanced", keep=0.75)  # k = 9: class 2 gives its 2, then 3 + 4 at random
    agent.reset(StubEnv(12, corrupted=corrupted, clean_labels=clean_labels, labels=labels))
    seen = set()
    for _ in range(400):
        mask = agent.predict(observation(12))[0]
        counts = per_class(mask, clean_labels, [0, 1, 2])
        assert mask.sum() == 9 and counts[2] == 2 and sorted(counts[:2]) == [3, 4]
        # Class 0 has 4 clean samples for its 3 or 4, class 1 only 1: then 2 or 3 of its corrupted.
        assert mask[[0, 1, 2, 3]].sum() == counts[0] and not mask[[4, 5]].any()
        assert mask[6] == 1 and mask[[7, 8, 9]].sum() == counts[1] - 1
        seen.add(tuple(counts))
    assert seen == {(4, 3, 2), (3, 4, 2)}


def test_oracles_are_the_only_privileged_agents():
    assert agents.Agent.privileged is False
    for name in agents.REGISTRY:
        if name != "sb3":
            assert agents.load_class(name).privileged is name.startswith("oracle_"), name
    with pytest.raises(RuntimeError, match=r"reset\(env\)"):
        agents.make("oracle_clean").predict(observation(10))


# ---- end to end on the synthetic env --------------------------------------------------------
@pytest.mark.parametrize("name, env_kwargs", [("class_balanced", {}), ("small_loss", {}),
                                              ("oracle_clean", {"label_noise": 0.4}),
                                              ("oracle_balanced", {"label_noise": 0.4})])
def test_agent_plays_a_synthetic_episode_with_exact_keep(name, env_kwargs, one_torch_thread):
    env = gym.make(SYN, epochs=3, **env_kwargs)
    agent, masks, trained = agents.make(name, keep=0.3), [], []

    def record(info, reward, action):
        trained.append(info["samples_trained"])
        if action is not None:
            masks.append(action)
    info = agents.play_episode(agent, env, seed=0, on_step=record)
    base, n = env.unwrapped, env.unwrapped.n
    assert info["epoch"] == 3 and 0 <= info["test_accuracy"] <= 1
    counts = np.diff(trained).tolist()
    if name == "small_loss":  # the ramp capped at E = 3: R = 1, 1 - 0.7 / 2, 0.3
        assert counts == [n, round(0.65 * n), round(0.3 * n)]
    else:
        assert counts == [round(0.3 * n)] * 3
    for mask in masks:
        if name == "oracle_clean":
            assert not mask[base.corrupted].any()  # more clean samples than k: only clean ones
        if name in ("class_balanced", "oracle_balanced"):
            labels = base.labels if name == "class_balanced" else base.clean_labels
            assert np.ptp(np.bincount(labels[mask == 1], minlength=4)) <= 1  # every class is larger than k / C here
        if name == "oracle_balanced":
            for c in range(4):  # within a class, corrupted samples only once its clean ones are in
                in_class = base.clean_labels == c
                assert mask[in_class & base.corrupted].sum() == 0 or mask[in_class & ~base.corrupted].all()

"""Corruptions of the training split: label noise, a long-tailed class profile, duplicates."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

import agents
import dataselect_env
from dataselect_env import corruptions, data

CLEAN = {"label_noise": 0.0, "n_train": 3000}  # synthetic data without its own label noise


def load_synthetic(**kwargs) -> data.Splits:
    return data.load("synthetic", val_size=500, data_seed=0, synthetic=CLEAN, **kwargs)


def same_holdout(a: data.Splits, b: data.Splits) -> bool:
    return all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("x_val", "y_val", "x_test", "y_test"))


def test_defaults_change_nothing_and_report_no_corruption():
    plain = data.load("synthetic", val_size=500, train_subset=1000, data_seed=3, synthetic=CLEAN)
    explicit = data.load("synthetic", val_size=500, train_subset=1000, data_seed=3, synthetic=CLEAN,
                         label_noise=0.0, noise_type="symmetric", imbalance=1.0, duplicates=0.0)
    for field in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "y_train_clean", "corrupted"):
        assert torch.equal(getattr(plain, field), getattr(explicit, field)), field
    assert torch.equal(plain.y_train_clean, plain.y_train) and not plain.corrupted.any()
    assert plain.corrupted.dtype == torch.bool and plain.corrupted.shape == plain.y_train.shape



def test_the_validation_split_of_noisy_synthetic_data_has_the_clean_labels():
    x, y_noisy, x_test, y_test, c, y_clean = data.make_synthetic(n_train=1000, label_noise=0.4, seed=2,
                                                                 return_clean=True)
    x = np.arange(len(x), dtype=np.float32)[:, None]  # each sample's input is its index
    splits = data.make_splits((x, y_noisy, x_test, y_test, c), "synthetic", 200, None, 0, y_train_clean=y_clean)
    idx = splits.x_val[:, 0].long().numpy()
    assert np.array_equal(splits.y_val.numpy(), y_clean[idx])
    assert (y_noisy[idx] != y_clean[idx]).mean() > 0.3  # the observed labels there were noisy

def test_synthetic_data_reports_its_own_label_noise():
    splits = data.load("synthetic")  # make_synthetic flips 20% of its training labels
    assert torch.equal(splits.corrupted, splits.y_train != splits.y_train_clean)
    assert 0.15 < splits.corrupted.float().mean() < 0.25
    plain, with_clean = data.make_synthetic(seed=1), data.make_synthetic(seed=1, return_clean=True)
    assert all(np.array_equal(a, b) for a, b in zip(plain, with_clean[:5]))  # same arrays as before
    moved = splits.to("meta")
    assert moved.corrupted.device.type == "meta" and moved.y_train_clean.device.type == "meta"


def test_symmetric_label_noise_hits_its_rate_on_the_training_split_only():
    clean = load_synthetic()
    noisy = load_synthetic(label_noise=0.3)
    n = len(clean.y_train)
    flipped = noisy.y_train != noisy.y_train_clean
    assert int(flipped.sum()) == round(0.3 * n)
    assert torch.equal(noisy.corrupted, flipped) and torch.equal(noisy.y_train_clean, clean.y_train)
    assert torch.equal(noisy.x_train, clean.x_train) and same_holdout(noisy, clean)
    wrong = (noisy.y_train[flipped] - noisy.y_train_clean[flipped]) % 4  # offsets to the other classes
    assert set(wrong.tolist()) == {1, 2, 3}


def test_corruptions_are_fixed_by_data_seed():
    kwargs = {"label_noise": 0.2, "imbalance": 5.0, "duplicates": 0.1}
    a, b = load_synthetic(**kwargs), load_synthetic(**kwargs)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert torch.equal(a.corrupted, b.corrupted)
    c = data.load("synthetic", val_size=500, data_seed=1, synthetic=CLEAN, label_noise=0.2)
    d = data.load("synthetic", val_size=500, data_seed=2, synthetic=CLEAN, label_noise=0.2)
    assert c.corrupted.sum() == d.corrupted.sum() and not torch.equal(c.corrupted, d.corrupted)


def test_asymmetric_noise_on_other_data_maps_each_class_to_the_next():
    clean, noisy = load_synthetic(), load_synthetic(label_noise=0.4, noise_type="asymmetric")
    flipped = noisy.corrupted
    assert int(flipped.sum()) == round(0.4 * len(clean.y_train))  # every class is mapped
    assert torch.equal(noisy.y_train[flipped], (clean.y_train[flipped] + 1) % 4)
    assert torch.equal(noisy.y_train[~flipped], clean.y_train[~flipped])


def test_asymmetric_maps_of_cifar():
    cifar10 = corruptions.asymmetric_map("cifar10", 10)
    # truck -> automobile, bird -> airplane, deer -> horse, cat <-> dog; the rest never flip
    assert cifar10.tolist() == [0, 1, 0, 5, 7, 3, 6, 7, 8, 1]
    cifar100 = corruptions.asymmetric_map("cifar100", 100)
    coarse = corruptions.CIFAR100_COARSE
    assert (coarse[cifar100] == coarse).all() and (cifar100 != np.arange(100)).all()
    assert sorted(cifar100) == list(range(100))
    assert [0, 51, 53, 57, 83] == sorted(np.flatnonzero(coarse == coarse[0]))  # fruit and vegetables
    assert (cifar100[[0, 51, 53, 57, 83]] == [51, 53, 57, 83, 0]).all()  # apple -> mushroom -> ... -> apple
    cycle = [0]
    while len(cycle) < 6:
        cycle.append(cifar100[cycle[-1]])
    assert cycle[5] == 0 and len(set(cycle[:5])) == 5  # each superclass is one 5-cycle
    assert corruptions.asymmetric_map("cifar10", 3).tolist() == [1, 2, 0]  # an image folder of 3 classes


def test_imbalance_drops_training_samples_along_the_long_tailed_profile():
    clean, tail = load_synthetic(), load_synthetic(imbalance=10.0)
    counts = np.bincount(clean.y_train.numpy(), minlength=4)
    expected = np.round(counts.max() * 10.0 ** (-np.arange(4) / 3)).astype(int)
    np.testing.assert_array_equal(np.bincount(tail.y_train.numpy(), minlength=4), np.minimum(counts, expected))
    rows = {r.tobytes() for r in clean.x_train.numpy()}
    assert all(r.tobytes() in rows for r in tail.x_train.numpy()) and not tail.corrupted.any()
    assert same_holdout(tail, clean)
    assert torch.equal(load_synthetic(imbalance=1.0).x_train, clean.x_train)


def test_duplicates_are_exact_copies_of_other_training_samples():
    clean, dup = load_synthetic(), load_synthetic(duplicates=0.25)
    n = len(clean.y_train)
    copies = dup.corrupted
    assert int(copies.sum()) == round(0.25 * n) and len(dup.y_train) == n
    originals = {r.tobytes(): int(y) for r, y in zip(dup.x_train[~copies].numpy(), dup.y_train[~copies])}
    assert all(originals.get(r.tobytes()) == int(y) for r, y in zip(dup.x_train[copies].numpy(), dup.y_train[copies]))
    assert len(np.unique(dup.x_train.numpy(), axis=0)) == n - int(copies.sum())
    assert torch.equal(dup.x_train[~copies], clean.x_train[~copies]) and same_holdout(dup, clean)
    assert torch.equal(dup.y_train, dup.y_train_clean)  # copies carry their source's (clean) label


def test_corruptions_compose_in_order():
    # imbalance first (it sets n), then duplicates, then label noise, each with its own stream
    tail = load_synthetic(imbalance=10.0)
    dup = load_synthetic(imbalance=10.0, duplicates=0.1)
    full = load_synthetic(imbalance=10.0, duplicates=0.1, label_noise=0.2)
    n = len(tail.y_train)
    flipped = full.y_train != full.y_train_clean
    assert len(full.y_train) == n and int(flipped.sum()) == round(0.2 * n)
    assert torch.equal(full.x_train, dup.x_train) and torch.equal(full.y_train_clean, dup.y_train)
    assert int(dup.corrupted.sum()) == round(0.1 * n)
    assert torch.equal(full.corrupted, dup.corrupted | flipped)


@pytest.mark.parametrize("kwargs, message", [
    ({"label_noise": 1.2}, r"label_noise must be in \[0, 1\).*1\.2"),
    ({"label_noise": -0.1}, "label_noise must be in"),
    ({"noise_type": "x"}, "noise_type must be 'symmetric' or 'asymmetric', got 'x'"),
    ({"imbalance": 0.5}, "imbalance must be >= 1.*0.5"),
    ({"imbalance": float("inf")}, "imbalance must be >= 1"),
    ({"duplicates": 1.0}, r"duplicates must be in \[0, 1\)"),
    ({"label_noise": float("nan")}, "label_noise"),
])
def test_bad_corruption_values_raise_naming_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_synthetic(**kwargs)
    raw = data.make_synthetic(n_train=100, n_test=10)
    with pytest.raises(ValueError, match=message):
        data.make_splits(raw, "synthetic", 20, None, 0, **kwargs)


# ---- a CIFAR-10 slice (the shared JPEG copy) ----------------------------------------------------


@pytest.fixture(scope="module")
def cifar_clean(cifar_archive) -> data.Splits:
    return data.load("cifar10", cifar_archive, train_subset=2000)


@pytest.mark.cifar
def test_cifar_defaults_are_bit_identical_and_clean(cifar_archive, cifar_clean):
    again = data.load("cifar10", cifar_archive, train_subset=2000, label_noise=0.0, imbalance=1.0, duplicates=0.0)
    assert torch.equal(again.x_train, cifar_clean.x_train) and torch.equal(again.y_train, cifar_clean.y_train)
    assert same_holdout(again, cifar_clean) and not cifar_clean.corrupted.any()
    assert torch.equal(cifar_clean.y_train_clean, cifar_clean.y_train)


@pytest.mark.cifar
def test_cifar_asymmetric_noise_maps_exactly_as_listed(cifar_archive, cifar_clean):
    noisy = data.load("cifar10", cifar_archive, train_subset=2000, label_noise=0.4, noise_type="asymmetric")
    clean_y = cifar_clean.y_train
    mapped = torch.isin(clean_y, torch.tensor([9, 2, 4, 3, 5]))
    flipped = noisy.y_train != clean_y
    assert int(flipped.sum()) == round(0.4 * int(mapped.sum())) and not flipped[~mapped].any()
    pairs = set(zip(clean_y[flipped].tolist(), noisy.y_train[flipped].tolist()))
    assert pairs == {(9, 1), (2, 0), (4, 7), (3, 5), (5, 3)}
    assert torch.equal(noisy.corrupted, flipped) and same_holdout(noisy, cifar_clean)


@pytest.mark.cifar
def test_cifar_long_tail_at_rho_100(cifar_archive, cifar_clean):
    tail = data.load("cifar10", cifar_archive, train_subset=2000, imbalance=100)
    n_max = np.bincount(cifar_clean.y_train.numpy()).max()
    counts = np.bincount(tail.y_train.numpy(), minlength=10)
    assert counts[0] == n_max == 200 and counts[9] == round(n_max / 100)
    np.testing.assert_array_equal(counts, np.round(n_max * 100.0 ** (-np.arange(10) / 9)))
    assert (np.diff(counts) <= 0).all() and same_holdout(tail, cifar_clean)
    np.testing.assert_array_equal(np.bincount(tail.y_val.numpy()), [500] * 10)  # val stays balanced


@pytest.mark.cifar
def test_cifar_symmetric_noise_and_duplicates(cifar_archive, cifar_clean):
    splits = data.load("cifar10", cifar_archive, train_subset=2000, duplicates=0.1, label_noise=0.2, data_seed=0)
    flipped = splits.y_train != splits.y_train_clean
    assert int(flipped.sum()) == 400 and same_holdout(splits, cifar_clean)
    _, inverse, repeats = np.unique(splits.x_train.numpy(), axis=0, return_inverse=True, return_counts=True)
    copies = splits.corrupted & ~flipped
    assert int(copies.sum()) > 150 and (repeats[inverse.ravel()][copies.numpy()] >= 2).all()
    other = data.load("cifar10", cifar_archive, train_subset=2000, duplicates=0.1, label_noise=0.2, data_seed=1)
    assert not torch.equal(other.y_train, splits.y_train)


# ---- the corruptions as env arguments (gym.make) ------------------------------------------------
SYN = "DataSelect/Synthetic-v0"
SYN_CLEAN = {"synthetic": {"label_noise": 0.0}}  # Synthetic-v0 without make_synthetic's own noise


def make_env(**kwargs) -> gym.Env:
    return gym.make(SYN, epochs=2, **SYN_CLEAN, **kwargs)


@pytest.mark.parametrize("kwargs", [{"label_noise": 0.3}, {"label_noise": 0.4, "noise_type": "asymmetric"},
                                    {"duplicates": 0.25}, {"imbalance": 10.0}])
def test_env_corruption_hits_its_rate_and_is_fixed_by_data_seed(kwargs):
    clean = make_env().unwrapped
    env = make_env(**kwargs).unwrapped
    obs, _ = env.reset(seed=0)
    corrupted, labels, clean_labels = env.corrupted, env.labels, env.clean_labels
    assert corrupted.dtype == bool and labels.dtype == clean_labels.dtype == np.int64
    assert corrupted.shape == labels.shape == clean_labels.shape == (env.n,) == obs["samples"].shape[:1]
    np.testing.assert_array_equal(labels, env.splits.y_train.numpy())
    n = clean.n
    if "label_noise" in kwargs:
        assert int(corrupted.sum()) == round(kwargs["label_noise"] * n)
        np.testing.assert_array_equal(corrupted, labels != clean_labels)
        np.testing.assert_array_equal(clean_labels, clean.labels)  # the clean labels are the clean env's
        if kwargs.get("noise_type") == "asymmetric":  # 4 classes, all mapped: c -> c + 1
            np.testing.assert_array_equal(labels[corrupted], (clean_labels[corrupted] + 1) % 4)
    elif "duplicates" in kwargs:
        assert int(corrupted.sum()) == round(0.25 * n) and (labels == clean_labels).all()
        x = env.splits.x_train.numpy()
        assert len(np.unique(x, axis=0)) == n - int(corrupted.sum())  # each copy repeats another row
    else:
        counts = np.bincount(clean.labels, minlength=4)
        expected = np.minimum(counts, np.round(counts.max() * 10.0 ** (-np.arange(4) / 3)))
        np.testing.assert_array_equal(np.bincount(labels, minlength=4), expected)
        assert env.n == expected.sum() < n and not corrupted.any()
    assert not clean.corrupted.any() and (clean.labels == clean.clean_labels).all()
    for name in ("x_val", "y_val", "x_test", "y_test"):  # validation and test stay clean and balanced
        assert torch.equal(getattr(env.splits, name), getattr(clean.splits, name)), name
    same = make_env(**kwargs).unwrapped
    np.testing.assert_array_equal(same.corrupted, corrupted)
    np.testing.assert_array_equal(same.labels, labels)
    other = make_env(data_seed=1, **kwargs).unwrapped
    assert other.corrupted.sum() == corrupted.sum() or "imbalance" in kwargs
    assert not np.array_equal(other.labels, labels) or not np.array_equal(other.corrupted, corrupted)


def test_ground_truth_properties_are_read_only_copies():
    env = make_env(label_noise=0.2).unwrapped
    with pytest.raises(AttributeError):
        env.corrupted = np.zeros(env.n, dtype=bool)
    env.labels[:] = 0
    env.corrupted[:] = False
    assert env.corrupted.any() and (env.labels != 0).any()


def test_no_corruption_information_reaches_the_controller():
    clean, noisy = make_env(), make_env(label_noise=0.4, duplicates=0.1)
    assert clean.observation_space == noisy.observation_space and clean.action_space == noisy.action_space
    obs_c, info_c = clean.reset(seed=0)
    obs_n, info_n = noisy.reset(seed=0)
    mask = noisy.unwrapped.corrupted.astype(np.float32)
    assert obs_c.keys() == obs_n.keys() and info_c.keys() == info_n.keys()
    for key in obs_c:  # nothing trained yet: the observations are identical
        np.testing.assert_array_equal(obs_c[key], obs_n[key])
    ones = np.ones(clean.unwrapped.n, dtype=np.int8)
    for _ in range(2):
        obs_c, _, _, _, info_c = clean.step(ones)
        obs_n, _, _, _, info_n = noisy.step(ones)
        assert obs_c.keys() == obs_n.keys() and info_c.keys() == info_n.keys()
        assert all(obs_c[k].shape == obs_n[k].shape and obs_c[k].dtype == obs_n[k].dtype for k in obs_c)
        assert not any(np.array_equal(column, mask) for column in obs_n["samples"].T)
        assert not any(np.array_equal(np.asarray(v), mask) for v in info_n.values() if np.ndim(v) == 1)


def test_the_controller_sees_the_same_whatever_the_ground_truth():
    """Two envs with the same training data and labels, but other ground truth (which samples are
    corrupted, their clean labels): every observation, reward and info must be bit-identical. Any
    use of the ground truth in what a controller sees (a feature, a summary, a reward term) differs."""
    truth, other = make_env(label_noise=0.4, duplicates=0.1), make_env(label_noise=0.4, duplicates=0.1)
    splits = other.unwrapped.splits
    rng = np.random.default_rng(0)
    other.unwrapped.splits = dataclasses.replace(
        splits, corrupted=torch.from_numpy(rng.random(len(splits.y_train)) < 0.15),  # another set, another share
        y_train_clean=torch.from_numpy(rng.integers(0, splits.num_classes, len(splits.y_train))))
    assert not np.array_equal(truth.unwrapped.corrupted, other.unwrapped.corrupted)
    results = []
    for env in (truth, other):
        obs, info = env.reset(seed=3)
        steps = [(obs, 0.0, info)]
        agent = agents.make("ucb", keep=0.4)
        agent.reset(env)
        for _ in range(2):
            obs, reward, _, _, info = env.step(agent.predict(obs)[0])
            steps.append((obs, reward, info))
        results.append(steps)
    for (obs_a, r_a, info_a), (obs_b, r_b, info_b) in zip(*results):
        for key in obs_a:
            np.testing.assert_array_equal(obs_a[key], obs_b[key])
        assert r_a == r_b and info_a == info_b


@pytest.mark.parametrize("kwargs, message", [
    ({"label_noise": 1.0}, r"label_noise must be in \[0, 1\)"),
    ({"label_noise": "0.2"}, "label_noise must be a finite number"),
    ({"label_noise": True}, "label_noise must be a finite number"),
    ({"noise_type": "pairwise"}, "noise_type must be one of"),
    ({"imbalance": 0.5}, "imbalance must be a finite number >= 1"),
    ({"imbalance": float("inf")}, "imbalance must be a finite number"),
    ({"duplicates": -0.1}, "duplicates must be a finite number >= 0"),
    ({"duplicates": 1.0}, r"duplicates must be in \[0, 1\)"),
])
def test_env_rejects_bad_corruptions_naming_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(SYN, **kwargs)


@pytest.mark.cifar
@pytest.mark.parametrize("env_id", [i for i in dataselect_env.ENV_IDS if any(c in i for c in ("Noisy", "Asym", "LT"))])
def test_corrupted_cifar_ids_run_on_a_slice_of_the_shared_copy(env_id, cifar_archive):
    env = gym.make(env_id, data_root=str(cifar_archive), train_subset=500, val_size=500, epochs=1, model="tiny",
                   device="cpu")
    u = env.unwrapped
    corrupted, labels, clean_labels = u.corrupted, u.labels, u.clean_labels
    if "Noisy" in env_id:
        assert u.n == 500 and int(corrupted.sum()) == 200 and (corrupted == (labels != clean_labels)).all()
    elif "Asym" in env_id:
        assert u.n == 500 and int(corrupted.sum()) == round(0.4 * 250)  # 5 mapped classes of 50 samples
        assert set(zip(clean_labels[corrupted], labels[corrupted])) <= {(9, 1), (2, 0), (4, 7), (3, 5), (5, 3)}
    else:
        assert np.bincount(labels, minlength=10).tolist() == [50, 30, 18, 11, 6, 4, 2, 1, 1, 0]
        assert u.n == 123 and not corrupted.any()
    np.testing.assert_array_equal(np.bincount(u.splits.y_val.numpy()), [50] * 10)  # val stays balanced
    obs, _ = env.reset(seed=0)
    obs, _, terminated, _, info = env.step(np.ones(u.n, dtype=np.int8))
    assert terminated and obs["samples"].shape[0] == u.n and 0 <= info["test_accuracy"] <= 1


@pytest.mark.cifar
def test_corrupted_proxy_ids_keep_the_5000_sample_subset_then_corrupt_it(cifar_archive):
    sizes = {}
    for name in ("Noisy40", "Asym40", "LT100"):
        env = gym.make(f"DataSelect/CIFAR10{name}Proxy-v0", data_root=str(cifar_archive), device="cpu")
        sizes[name] = (env.unwrapped.n, int(env.unwrapped.corrupted.sum()))
        assert env.spec.kwargs["train_subset"] == 5000 and env.spec.kwargs["model"] == "small"
    assert sizes == {"Noisy40": (5000, 2000), "Asym40": (5000, 1000), "LT100": (1242, 0)}

"""Loading (image folders, archives, the shared CIFAR-10 copy), splits, and per-sample statistics."""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from PIL import Image

import dataselect_env  # registers the ids
from dataselect_env import data, stats
from dataselect_env.stats import (
    EMA_LOSS,
    EPOCHS_SINCE_SELECTED,
    FORGETTING,
    LAST_CORRECT,
    LAST_LOSS,
    LAST_MARGIN,
    LOSS_VAR,
    SEEN,
    SELECTED_FRAC,
)


def make_image_folder(root, classes=("cat", "dog", "frog"), per_class=(12, 4)):
    """Write a tiny ImageFolder tree with class-coloured 8x8 PNGs; return its root."""
    rng = np.random.default_rng(0)
    for split, count in zip(("train", "test"), per_class):
        for c, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = np.full((8, 8, 3), 60 * c, dtype=np.uint8) + rng.integers(0, 20, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i:03d}.png")
    return root


def test_image_folder_loads_with_sorted_classes(tmp_path):
    root = make_image_folder(tmp_path / "folder")
    x_train, y_train, x_test, y_test, num_classes = data.load_image_folder(root)
    assert x_train.shape == (36, 3, 8, 8) and x_train.dtype == np.uint8
    assert x_test.shape == (12, 3, 8, 8) and num_classes == 3
    np.testing.assert_array_equal(np.bincount(y_train), [12, 12, 12])
    assert x_train[y_train == 2].mean() > x_train[y_train == 0].mean() + 60  # frog is brightest


def test_tar_archive_is_read_and_cached_outside_the_data_root(tmp_path):
    root = make_image_folder(tmp_path / "src" / "mini")
    archive = tmp_path / "mini.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="mini")
    env = gym.make("DataSelect/CIFAR10-v0", data_root=str(archive), val_size=6, model="tiny", epochs=1)
    u = env.unwrapped
    assert len(u.splits.y_train) == 30 and len(u.splits.y_val) == 6 and len(u.splits.y_test) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mini.tar.gz", "src"]  # nothing written beside it
    obs, _ = env.reset(seed=0)
    _, _, terminated, _, info = env.step(np.ones(30, dtype=np.int8))
    assert terminated and 0 <= info["test_accuracy"] <= 1
    start = time.perf_counter()
    data.cached_image_folder(archive)
    assert time.perf_counter() - start < 1.0


def test_data_root_from_environment_variable(tmp_path, monkeypatch):
    root = make_image_folder(tmp_path / "mini")
    monkeypatch.setenv("DATASELECT_DATA", str(root))
    env = gym.make("DataSelect/CIFAR10-v0", val_size=3, model="tiny")
    assert env.unwrapped.splits.num_classes == 3
    assert data.data_root(None) == root


def test_a_missing_archive_path_says_it_does_not_exist_and_creates_nothing(tmp_path, monkeypatch):
    missing = tmp_path / "nope" / "cifar10-jpeg.tar.gz"
    with pytest.raises(FileNotFoundError, match="does not exist") as err:
        data.load("cifar10", missing)
    assert str(missing) in str(err.value) and "data_root=" in str(err.value)
    monkeypatch.setenv("DATASELECT_DATA", str(missing))
    with pytest.raises(FileNotFoundError, match=r"\(given by DATASELECT_DATA\) does not exist"):
        gym.make("DataSelect/CIFAR10-v0", model="tiny")
    assert not missing.exists() and not missing.parent.exists()  # no directory left behind


def test_a_missing_directory_given_as_data_root_is_not_created(tmp_path, monkeypatch):
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(FileNotFoundError, match=r"\(given by data_root=\) does not exist") as err:
        gym.make("DataSelect/CIFAR10-v0", data_root=str(missing), model="tiny")
    assert "With download=True" not in str(err.value)  # download is on: the message does not suggest it
    monkeypatch.setenv("DATASELECT_DATA", str(missing))
    with pytest.raises(FileNotFoundError, match=r"\(given by DATASELECT_DATA\) does not exist"):
        gym.make("DataSelect/CIFAR10-v0", model="tiny")
    assert not (tmp_path / "no").exists()  # nothing created


def test_a_truncated_archive_names_the_file(tmp_path):
    root = make_image_folder(tmp_path / "src" / "mini")
    with tarfile.open(tmp_path / "mini.tar.gz", "w:gz") as tar:
        tar.add(root, arcname="mini")
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes((tmp_path / "mini.tar.gz").read_bytes()[:1000])
    with pytest.raises(data.DataError, match="damaged or truncated") as err:
        data.load("cifar10", broken)
    assert str(broken) in str(err.value) and "re-copy" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_no_dataset_without_download_explains_where_to_point(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        data.load("cifar10", tmp_path, download=False)
    message = str(err.value)
    for part in (str(tmp_path), "CIFAR-10", "cifar-10-batches-py", "DATASELECT_DATA", "data_root=",
                 "ImageFolder", ".tar.gz", "download=True", "~/.cache/dataselect"):
        assert part in message, part
    assert "shared/" not in message and list(tmp_path.iterdir()) == []


def test_splits_are_disjoint_stratified_and_fixed_by_data_seed():
    raw = data.make_synthetic(n_train=1000, n_test=100, num_classes=4, seed=0)
    x = torch.from_numpy(raw[0])
    a = data.make_splits(raw, "synthetic", val_size=200, train_subset=400, data_seed=1)
    b = data.make_splits(raw, "synthetic", val_size=200, train_subset=400, data_seed=1)
    rows = lambda t: {r.tobytes() for r in t.numpy()}  # noqa: E731
    assert rows(a.x_train).isdisjoint(rows(a.x_val))
    assert len(rows(a.x_train)) == 400 and len(rows(a.x_val)) == 200
    assert rows(a.x_val) <= rows(x) and torch.equal(a.x_val, b.x_val) and torch.equal(a.x_train, b.x_train)
    full = np.bincount(raw[1], minlength=4) / 1000
    assert np.abs(np.bincount(a.y_val.numpy(), minlength=4) / 200 - full).max() <= 1 / 200 + 1e-9
    c = data.make_splits(raw, "synthetic", val_size=200, train_subset=None, data_seed=2)
    assert not torch.equal(a.x_val, c.x_val) and len(c.y_train) == 800


def test_synthetic_label_noise_only_in_train():
    _, y_train, _, _, _ = data.make_synthetic(n_train=4000, label_noise=0.0, seed=5)
    _, y_noisy, _, _, _ = data.make_synthetic(n_train=4000, label_noise=0.3, seed=5)
    assert 0.2 < (y_train != y_noisy).mean() < 0.4


@pytest.mark.cifar
def test_shared_cifar10_copy_splits(cifar_archive):
    env = gym.make("DataSelect/CIFAR10-v0", data_root=str(cifar_archive), epochs=3, train_subset=2000,
                   val_size=5000, model="small", device="cpu", batch_size=64, lr=0.05)
    u = env.unwrapped
    assert len(u.splits.y_val) == 5000 and len(u.splits.y_test) == 10000
    assert u.splits.input_shape == (3, 32, 32) and u.splits.num_classes == 10
    np.testing.assert_array_equal(np.bincount(u.splits.y_val.cpu().numpy()), [500] * 10)
    full = data.load("cifar10", cifar_archive)
    assert len(full.y_train) == 45000 and len(full.y_val) == 5000 and len(full.y_test) == 10000
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        obs, _, done, _, info = env.step(np.ones(2000, dtype=np.int8))
    assert info["test_accuracy"] > 0.2  # well above chance (0.1) after 3 epochs on 2,000 images


# ---- statistics on hand-made sequences ---------------------------------------------------------


def feed(seq_loss, seq_correct, ema=0.5, num_classes=10):
    """Observe one sample through a sequence of (loss, correct); return the stats table row."""
    s = stats.SampleStats(2, epochs=len(seq_loss), num_classes=num_classes, device=torch.device("cpu"), ema=ema)
    idx = torch.tensor([0])
    for loss, correct in zip(seq_loss, seq_correct):
        s.observe(idx, torch.tensor([loss]), torch.tensor([float(correct)]), torch.tensor([0.25]))
        s.end_epoch(idx)
    return s


def test_unseen_sample_defaults():
    s = stats.SampleStats(3, epochs=5, num_classes=10, device=torch.device("cpu"))
    row = s.samples()[0]
    assert row[LAST_LOSS] == pytest.approx(math.log(10)) and row[EMA_LOSS] == pytest.approx(math.log(10))
    assert not np.isnan(s.samples()).any()
    assert row[[LOSS_VAR, LAST_CORRECT, LAST_MARGIN, SELECTED_FRAC, EPOCHS_SINCE_SELECTED,
                FORGETTING, SEEN]].tolist() == [0] * 7


def test_ema_and_variance_follow_their_recurrences():
    losses = [2.0, 1.0, 3.0, 0.5]
    row = feed(losses, [0, 1, 0, 1], ema=0.5).samples()[0]
    mean, var = losses[0], 0.0
    for x in losses[1:]:
        delta = x - mean
        mean += 0.5 * delta
        var = 0.5 * (var + 0.5 * delta**2)
    assert row[EMA_LOSS] == pytest.approx(mean) and row[LOSS_VAR] == pytest.approx(var)
    assert row[LAST_LOSS] == 0.5 and row[LAST_MARGIN] == 0.25 and row[SEEN] == 1


def test_forgetting_counts_correct_to_incorrect_transitions():
    row = feed([1] * 7, [0, 1, 0, 1, 1, 0, 0]).samples()[0]
    assert row[FORGETTING] == 2 and row[LAST_CORRECT] == 0
    assert feed([1] * 3, [1, 1, 1]).samples()[0][FORGETTING] == 0


def test_selection_fraction_and_staleness():
    s = stats.SampleStats(2, epochs=4, num_classes=10, device=torch.device("cpu"))
    for selected in ([0, 1], [0], [0], []):
        s.end_epoch(torch.tensor(selected, dtype=torch.long))
    table = s.samples()
    assert table[0, SELECTED_FRAC] == pytest.approx(3 / 4) and table[1, SELECTED_FRAC] == pytest.approx(1 / 4)
    assert table[0, EPOCHS_SINCE_SELECTED] == pytest.approx(1 / 4)
    assert table[1, EPOCHS_SINCE_SELECTED] == pytest.approx(3 / 4)


def test_augmentation_is_a_flip_and_a_reflect_padded_crop():
    import torch.nn.functional as F

    from dataselect_env.trainer import random_flip_translate, reflect_pad

    x = torch.randint(0, 255, (80, 3, 8, 8), dtype=torch.uint8)
    idx = torch.randperm(80)[:64]
    out = random_flip_translate(reflect_pad(x, 2), idx, 2, torch.Generator().manual_seed(0))
    padded = F.pad(x[idx], (2, 2, 2, 2), mode="reflect")
    assert out.shape == (64, 3, 8, 8)
    kinds = set()
    for i in range(len(idx)):
        crops = {(f, dy, dx) for f in (0, 1) for dy in range(5) for dx in range(5)
                 if torch.equal(out[i], (padded[i, :, dy:dy + 8, dx:dx + 8].flip(2) if f
                                         else padded[i, :, dy:dy + 8, dx:dx + 8]))}
        assert crops, f"image {i} is not a (flipped) crop of its padded original"
        kinds |= crops
    assert {f for f, _, _ in kinds} == {0, 1} and len({(dy, dx) for _, dy, dx in kinds}) > 10


@pytest.mark.parametrize("env_id", ["DataSelect/CIFAR10-v0", "DataSelect/CIFAR100-v0"])
def test_cifar_ids_run_an_episode_on_an_image_folder(env_id, tmp_path):
    root = make_image_folder(tmp_path / "mini")
    env = gym.make(env_id, data_root=str(root), val_size=6, epochs=2, model="tiny")
    obs, _ = env.reset(seed=0)
    done, steps = False, 0
    while not done:
        obs, _, done, _, info = env.step(np.ones(30, dtype=np.int8))
        steps += 1
    assert steps == 2 and 0 <= info["test_accuracy"] <= 1
    assert info["compute"] == pytest.approx(2.0 + 3 * 6 / (3 * 30))  # 3 validation passes of 6 images


@pytest.mark.cifar
def test_proxy_id_runs_an_episode_on_the_shared_copy(cifar_archive):
    env = gym.make("DataSelect/CIFAR10Proxy-v0", data_root=str(cifar_archive), epochs=1, device="cpu")
    obs, _ = env.reset(seed=0)
    assert obs["samples"].shape == (5000, len(dataselect_env.SAMPLE_FEATURES))
    obs, _, terminated, _, info = env.step(np.ones(5000, dtype=np.int8))
    assert terminated and info["samples_trained"] == 5000 and 0 <= info["test_accuracy"] <= 1


# A fresh process (the setting is process-wide) allocates 24 blocks of 1 MiB through libc, touches
# them, frees them, six times, and prints its own thread's minor faults in each round. One thread
# and RUSAGE_THREAD: the count is exact, whatever the machine's load (the whole process's count is
# not; benchmarks/allocator_faults.py measures a training step's).
KEEP_FREED_CHILD = """
import ctypes, ctypes.util, json, resource, sys
if sys.argv[1] == "on":
    from dataselect_env.hardware import keep_freed_memory
    assert keep_freed_memory()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
faults = []
for _ in range(6):
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    blocks = [libc.malloc(1 << 20) for _ in range(24)]
    for block in blocks:
        ctypes.memset(block, 1, 1 << 20)
    for block in blocks:
        libc.free(block)
    faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
print(json.dumps(faults))
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="the allocator setting is glibc's (and RUSAGE_THREAD Linux's)")
def test_keep_freed_memory_keeps_a_freed_heap_instead_of_handing_it_back():
    root = Path(__file__).resolve().parents[1]
    faults = {setting: json.loads(subprocess.run([sys.executable, "-c", KEEP_FREED_CHILD, setting], cwd=root,
                                                 check=True, capture_output=True, text=True).stdout)
              for setting in ("off", "on")}
    # glibc's defaults trim the freed 24 MiB off the heap each round: 6,112 faults a round here
    assert min(faults["off"][2:]) > 24 * 256 / 2, faults
    assert max(faults["on"][1:]) < 24 * 256 / 100, faults  # kept: reused without a fault (0 here)


def test_tune_process_applies_the_allocator_setting_and_construction_does_not(monkeypatch):
    from dataselect_env import hardware
    from dataselect_env.config import TrainConfig
    from dataselect_env.data import Splits
    from dataselect_env.trainer import Trainer

    calls = []
    monkeypatch.setattr(hardware, "keep_freed_memory", lambda: calls.append("applied") or True)
    x, y = torch.randint(0, 255, (8, 3, 8, 8), dtype=torch.uint8), torch.randint(0, 10, (8,))
    Trainer(Splits(x, y, x, y, x, y, 10, "random"), TrainConfig(model="tiny", epochs=1), torch.device("cpu"), "fp32",
            seed=0)
    assert calls == []  # opt-in: building a trainer changes nothing process-wide
    hardware.tune_process()
    assert calls == ["applied"]


@pytest.mark.parametrize("n", [1, 255, 256, 257, 10000, 45000])
def test_batches_of_an_epoch_are_balanced(n):
    from dataselect_env.trainer import batch_bounds

    sizes = np.diff(batch_bounds(n, 256))
    assert len(sizes) == -(-n // 256) and sizes.sum() == n
    assert sizes.max() - sizes.min() <= 1 and sizes.min() >= 1


def test_train_epoch_runs_balanced_batches():
    from dataselect_env.config import TrainConfig
    from dataselect_env.data import Splits
    from dataselect_env.trainer import Trainer

    x = torch.randint(0, 255, (257, 3, 8, 8), dtype=torch.uint8)
    y = torch.randint(0, 10, (257,))
    splits = Splits(x, y, x[:8], y[:8], x[:8], y[:8], 10, "random")
    trainer = Trainer(splits, TrainConfig(model="tiny", epochs=1, batch_size=256), torch.device("cpu"), "fp32", seed=0)
    seen = []
    trainer.model.register_forward_hook(lambda m, inp, out: seen.append(len(out)))
    with torch.no_grad():  # the trainer switches autograd on itself (ARS steps envs inside no_grad)
        trainer.train_epoch(0, torch.arange(257))
    assert seen == [128, 129]  # not 256 and a remainder of 1 at full learning rate


def image_splits(n: int = 300, side: int = 32):
    from dataselect_env.data import Splits

    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (n, 3, side, side), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    return Splits(x, y, x[:50], y[:50], x[:50], y[:50], 10, "random")


def test_trainers_share_the_prepared_data_and_train_as_without_it():
    from dataselect_env.config import TrainConfig
    from dataselect_env.trainer import Trainer, prepare_data

    splits, cfg = image_splits(), TrainConfig(model="tiny", epochs=1, batch_size=64)
    shared = prepare_data(splits, cfg)
    a, b = (Trainer(splits, cfg, torch.device("cpu"), "fp32", seed=3, data=shared) for _ in range(2))
    assert a.data is shared and b.data is shared  # nothing recomputed, nothing copied
    assert shared.padded.shape == (300, 3, 32 + 2 * cfg.translate, 32 + 2 * cfg.translate)
    alone = Trainer(splits, cfg, torch.device("cpu"), "fp32", seed=3)  # prepares its own: the same numbers
    everything = torch.arange(300)
    assert torch.equal(a.train_epoch(0, everything).loss, alone.train_epoch(0, everything).loss)
    with pytest.raises(ValueError, match="pad=2.*needs pad=None.*prepare_data"):
        Trainer(splits, TrainConfig(model="tiny", augment=False), torch.device("cpu"), "fp32", seed=0, data=shared)
    with pytest.raises(ValueError, match="prepared for 300 samples"):
        Trainer(image_splits(n=200), cfg, torch.device("cpu"), "fp32", seed=0, data=shared)


def test_an_env_prepares_its_data_once_for_all_its_trainers(monkeypatch):
    from dataselect_env import env as env_mod
    from dataselect_env import trainer

    prepared = []

    def count(splits, cfg):
        prepared.append(cfg)
        return prepare(splits, cfg)

    def refuse(splits, cfg):
        raise AssertionError("a trainer of an env prepared its own data")

    prepare = trainer.prepare_data
    monkeypatch.setattr(env_mod, "prepare_data", count)
    monkeypatch.setattr(trainer, "prepare_data", refuse)
    env = gym.make("DataSelect/Synthetic-v1", epochs=2).unwrapped
    for seed in (0, 1):  # each reset builds a trainer
        env.reset(seed=seed)
    env.frontier_val_accuracy(1.0)  # full-data reference runs
    env.irreducible_loss(epochs=1)  # two cross-fitted reference networks
    assert len(prepared) == 1


@pytest.mark.parametrize("name", ["fast", "small", "tiny", "resnet18"])
def test_networks_have_a_body_and_a_head_and_deterministic_pools(name):
    from torch import nn

    from dataselect_env.models import Classifier, make_model

    torch.manual_seed(0)
    model = make_model(name, 10, (3, 32, 32)).eval()
    assert isinstance(model, Classifier) and isinstance(model.head, nn.Linear)
    assert not any(isinstance(m, (nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d)) for m in model.modules())
    x = torch.randn(4, 3, 32, 32)
    h = model.body(x)
    assert h.shape == (4, model.head.in_features)
    assert torch.equal(model(x), model.head(h))


@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
def test_the_fixed_pools_are_bit_identical_to_the_adaptive_ones_on_the_cpu(fmt):
    """The global pools replaced (their CUDA backward passes are nondeterministic) give the same bits on
    the CPU, forward and backward; ReLU's zeros make ties, as in the ``small`` net."""
    from torch import nn

    from dataselect_env.models import GlobalAvgPool

    torch.manual_seed(0)
    pairs = [(nn.Sequential(nn.MaxPool2d((4, 4)), nn.Flatten()), nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten())),
             (GlobalAvgPool(), nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))]
    for fixed, adaptive in pairs:
        x = torch.relu(torch.randn(64, 128, 4, 4)).contiguous(memory_format=fmt)
        grad = torch.randn(64, 128)
        outs = []
        for pool in (fixed, adaptive):
            xi = x.clone().requires_grad_()
            y = pool(xi)
            y.backward(grad)
            outs.append((y.detach(), xi.grad))
        assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])

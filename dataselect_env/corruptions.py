"""Corruptions of a training split: label noise (symmetric or asymmetric), a long-tailed class
profile and duplicated samples, each fixed by ``data_seed`` (:func:`corrupt_train`, called by
:func:`dataselect_env.data.make_splits` on the training split only).
"""

from __future__ import annotations

import numpy as np

NOISE_TYPES = ("symmetric", "asymmetric")
# Asymmetric CIFAR-10 noise of Patrini et al. 2017: truck -> automobile, bird -> airplane,
# deer -> horse, cat <-> dog.
CIFAR10_ASYMMETRIC = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
# CIFAR-100 fine label -> coarse label (superclass), the dataset's own table.
CIFAR100_COARSE = np.array([
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
    6, 11, 5, 10, 7, 6, 13, 15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
    5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13])


def check_corruptions(label_noise: float = 0.0, noise_type: str = "symmetric",
                      imbalance: float = 1.0, duplicates: float = 0.0) -> None:
    """Raise ValueError naming the first corruption argument outside its range."""
    if not 0 <= label_noise < 1:
        raise ValueError(f"label_noise must be in [0, 1) (a fraction of the training set), got {label_noise!r}")
    if noise_type not in NOISE_TYPES:
        raise ValueError(f"noise_type must be 'symmetric' or 'asymmetric', got {noise_type!r}")
    if not 1 <= imbalance < float("inf"):
        raise ValueError(f"imbalance must be >= 1 and finite (largest / smallest class size), got {imbalance!r}")
    if not 0 <= duplicates < 1:
        raise ValueError(f"duplicates must be in [0, 1) (a fraction of the training set), got {duplicates!r}")


def asymmetric_map(dataset: str, num_classes: int) -> np.ndarray:
    """The class each class flips to under asymmetric label noise; unmapped classes map to themselves.

    ``"cifar10"`` (10 classes): truck -> automobile, bird -> airplane, deer -> horse,
    cat <-> dog (Patrini et al. 2017, "Making deep neural networks robust to label noise: a loss
    correction approach"); the other six classes are never flipped. ``"cifar100"`` (100 classes):
    the next fine class within its superclass, the superclass's five fine classes (by index)
    forming a cycle (ibid.). Any other dataset, or a CIFAR name with another class count (an
    image folder): ``c -> (c + 1) % num_classes``.
    """
    classes = np.arange(num_classes)
    if dataset == "cifar10" and num_classes == 10:
        target = classes.copy()
        target[list(CIFAR10_ASYMMETRIC)] = list(CIFAR10_ASYMMETRIC.values())
        return target
    if dataset == "cifar100" and num_classes == 100:
        order = np.lexsort((classes, CIFAR100_COARSE)).reshape(20, 5)  # fine classes by superclass
        target = np.empty(100, dtype=np.int64)
        target[order] = np.roll(order, -1, axis=1)
        return target
    return (classes + 1) % num_classes


def long_tail_keep(y: np.ndarray, num_classes: int, imbalance: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Sorted indices kept by the long-tailed profile of Cui et al. 2019 ("Class-balanced loss
    based on effective number of samples"): class ``c`` keeps
    ``round(n_max * imbalance ** (-c / (num_classes - 1)))`` samples, chosen at random."""
    counts = np.bincount(y, minlength=num_classes)
    exponent = -np.arange(num_classes) / max(num_classes - 1, 1)
    quota = np.minimum(counts, np.round(counts.max() * imbalance ** exponent).astype(np.int64))
    order = rng.permutation(len(y))
    order = order[np.argsort(y[order], kind="stable")]  # grouped by class, random within a class
    rank = np.arange(len(y)) - np.concatenate([[0], np.cumsum(counts)[:-1]])[y[order]]
    return np.sort(order[rank < quota[y[order]]])


def corrupt_train(x: np.ndarray, y: np.ndarray, y_clean: np.ndarray, num_classes: int, name: str,
                   data_seed: int, label_noise: float, noise_type: str, imbalance: float,
                   duplicates: float) -> tuple[np.ndarray, ...]:
    """Apply the training-split corruptions of :func:`make_splits` in order: imbalance, duplicates,
    label noise, each with its own generator ``default_rng([data_seed, k])``. The arrays (fresh
    copies from the caller) are modified in place.

    :return: ``(x, y, y_clean, corrupted)``; ``corrupted`` marks flipped labels and duplicate
        copies (and samples whose ``y`` already differs from ``y_clean``).
    """
    corrupted = y != y_clean
    if imbalance > 1:
        keep = long_tail_keep(y_clean, num_classes, imbalance, np.random.default_rng([data_seed, 1]))
        x, y, y_clean, corrupted = x[keep], y[keep], y_clean[keep], corrupted[keep]
    n = len(y)
    if duplicates > 0 and n > 1:
        rng = np.random.default_rng([data_seed, 2])
        k = min(round(duplicates * n), n - 1)
        order = rng.permutation(n)
        copies, sources = order[:k], rng.choice(order[k:], size=k)
        x[copies], y[copies], y_clean[copies] = x[sources], y[sources], y_clean[sources]
        corrupted[copies] = True
    if label_noise > 0 and num_classes > 1:
        rng = np.random.default_rng([data_seed, 3])
        target = asymmetric_map(name, num_classes)
        pool = np.arange(n) if noise_type == "symmetric" else np.flatnonzero(target[y_clean] != y_clean)
        flip = rng.choice(pool, size=round(label_noise * len(pool)), replace=False)
        if noise_type == "symmetric":
            y[flip] = (y_clean[flip] + rng.integers(1, num_classes, size=len(flip))) % num_classes
        else:
            y[flip] = target[y_clean[flip]]
        corrupted[flip] = True
    return x, y, y_clean, corrupted

"""Datasets as tensors: CIFAR-10/100, image folders (or a ``.tar.gz`` of one), synthetic clusters.

Every loader returns a :class:`Splits`: uint8 images ``(N, C, H, W)`` (or float32 vectors
``(N, D)`` for the synthetic data) and int64 labels for train / val / test. The validation split
is carved from the training set, stratified by class and fixed by ``data_seed``; the test split
is the dataset's own.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

CIFAR_CLASSES = 10
DEFAULT_ROOT = Path("~/.cache/dataselect").expanduser()
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class Splits:
    """A dataset split into train / val / test tensors (on the CPU until :meth:`to`)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    name: str

    def to(self, device: torch.device | str) -> "Splits":
        """Return a copy with every tensor on ``device``."""
        moved = {k: v.to(device) for k, v in self.__dict__.items() if isinstance(v, torch.Tensor)}
        return replace(self, **moved)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample, e.g. ``(3, 32, 32)``."""
        return tuple(self.x_train.shape[1:])


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Resolve the data root: ``root``, else ``$DATASELECT_DATA``, else ``~/.cache/dataselect``."""
    chosen = root if root is not None else os.environ.get("DATASELECT_DATA") or DEFAULT_ROOT
    return Path(chosen).expanduser()


def cache_dir() -> Path:
    """Where decoded arrays are cached: ``$DATASELECT_CACHE`` or ``~/.cache/dataselect/decoded``."""
    path = os.environ.get("DATASELECT_CACHE") or DEFAULT_ROOT / "decoded"
    return Path(path).expanduser()


# ---------------------------------------------------------------------------------------------
# Raw loaders: each returns (x_train, y_train, x_test, y_test, num_classes) as numpy arrays.
# ---------------------------------------------------------------------------------------------


def load_cifar(name: str, root: Path, download: bool) -> tuple[np.ndarray, ...]:
    """CIFAR-10 or CIFAR-100 through torchvision, as uint8 NCHW arrays."""
    from torchvision import datasets

    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except Exception as err:  # torchvision raises RuntimeError (missing) or URLError (offline)
        raise FileNotFoundError(
            f"{name} was not found under {root} and could not be downloaded ({err}). "
            "Point data_root= (or the DATASELECT_DATA environment variable) at a directory that "
            "holds torchvision's CIFAR files, or at an image folder with train/<class>/* and "
            "test/<class>/* (or a .tar.gz of one), e.g. data_root='shared/data/cifar10-jpeg.tar.gz'."
        ) from err
    to_nchw = lambda a: np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2))  # noqa: E731
    num_classes = len(train.classes)
    return (to_nchw(train.data), np.asarray(train.targets), to_nchw(test.data),
            np.asarray(test.targets), num_classes)


def is_image_folder(path: Path) -> bool:
    """True if ``path`` is a ``.tar.gz``/``.tgz`` archive or a directory holding ``train/``."""
    if path.is_file():
        return path.name.endswith((".tar.gz", ".tgz", ".tar"))
    return path.is_dir() and _find_split_root(path) is not None


def _find_split_root(path: Path) -> Path | None:
    """The directory at or one level below ``path`` that holds ``train/`` and ``test/``."""
    for candidate in [path, *sorted(p for p in path.iterdir() if p.is_dir())]:
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    return None


def _decode(blob: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as img:
        return np.asarray(img.convert("RGB")).transpose(2, 0, 1)


def _iter_folder_files(path: Path):
    """Yield (split, class name, bytes) for every image under a folder or inside an archive."""
    if path.is_file():
        with tarfile.open(path) as tar:
            for member in tar:
                parts = Path(member.name).parts
                if member.isfile() and len(parts) >= 3 and parts[-3] in ("train", "test") \
                        and member.name.lower().endswith(IMAGE_SUFFIXES):
                    yield parts[-3], parts[-2], tar.extractfile(member).read()
        return
    root = _find_split_root(path)
    for split in ("train", "test"):
        for file in sorted((root / split).glob("*/*")):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                yield split, file.parent.name, file.read_bytes()


def load_image_folder(path: Path) -> tuple[np.ndarray, ...]:
    """Decode an ImageFolder-layout directory (or archive) into uint8 NCHW arrays.

    Classes are the sorted directory names of ``train/`` (torchvision's ImageFolder convention).
    All images must share one size.
    """
    images: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    names: dict[str, list[str]] = {"train": [], "test": []}
    for split, cls, blob in _iter_folder_files(path):
        images[split].append(_decode(blob))
        names[split].append(cls)
    if not images["train"] or not images["test"]:
        raise FileNotFoundError(
            f"data_root={str(path)!r} holds no images under train/<class>/ and test/<class>/; "
            "expected the torchvision ImageFolder layout (or a .tar.gz of it)."
        )
    classes = sorted(set(names["train"]))
    unknown = set(names["test"]) - set(classes)
    if unknown:
        raise ValueError(f"test/ has classes missing from train/: {sorted(unknown)}")
    shapes = {img.shape for split in images.values() for img in split}
    if len(shapes) != 1:
        raise ValueError(f"images in {path} must all have one size, found {sorted(shapes)[:4]}")
    index = {c: i for i, c in enumerate(classes)}
    arrays = []
    for split in ("train", "test"):
        order = np.argsort(np.array(names[split]), kind="stable")  # group by class, keep file order
        arrays += [np.stack(images[split])[order], np.array([index[n] for n in names[split]])[order]]
    return (*arrays, len(classes))


def cached_image_folder(path: Path) -> tuple[np.ndarray, ...]:
    """:func:`load_image_folder` with its decoded arrays cached in :func:`cache_dir`.

    The cache key is the resolved path, size and modification time; nothing is written under
    ``path`` (which may be read-only).
    """
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    file = cache_dir() / f"imagefolder-{key[:20]}.npz"
    if file.exists():
        with np.load(file) as z:
            return z["x_train"], z["y_train"], z["x_test"], z["y_test"], int(z["num_classes"])
    x_train, y_train, x_test, y_test, num_classes = load_image_folder(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
             num_classes=num_classes)
    os.replace(tmp, file)  # atomic: a concurrent reader never sees half a file
    return x_train, y_train, x_test, y_test, num_classes


def make_synthetic(n_train: int = 2000, n_test: int = 1000, num_classes: int = 4, dim: int = 16,
                   noise: float = 1.0, label_noise: float = 0.2, hard_fraction: float = 0.2,
                   seed: int = 0) -> tuple[np.ndarray, ...]:
    """Gaussian class clusters in ``dim`` dimensions, as float32 vectors.

    ``hard_fraction`` of the samples sit near a decision boundary (halfway towards another
    class's mean); ``label_noise`` of the *training* labels are flipped to another class (the
    test labels stay clean), so which samples a controller keeps matters.
    Returns the train and test arrays; the train labels' clean values are not returned.
    """
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(num_classes, dim))
    means *= 3.0 / np.linalg.norm(means, axis=1, keepdims=True)

    def draw(n: int, flip: float) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(num_classes, size=n)
        x = means[y] + noise * rng.normal(size=(n, dim))
        hard = rng.random(n) < hard_fraction
        other = (y + rng.integers(1, num_classes, size=n)) % num_classes
        t = rng.uniform(0.35, 0.5, size=n)[:, None]
        x[hard] += t[hard] * (means[other[hard]] - means[y[hard]])
        noisy = rng.random(n) < flip
        y_obs = np.where(noisy, (y + rng.integers(1, num_classes, size=n)) % num_classes, y)
        return x.astype(np.float32), y_obs

    x_train, y_train = draw(n_train, label_noise)
    x_test, y_test = draw(n_test, 0.0)
    return x_train, y_train, x_test, y_test, num_classes


# ---------------------------------------------------------------------------------------------
# Splitting
# ---------------------------------------------------------------------------------------------


def stratified_indices(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a class-stratified random subset of ``size`` samples (sorted)."""
    if not 0 < size <= len(labels):
        raise ValueError(f"subset size must be in [1, {len(labels)}], got {size}")
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.floor(counts * size / len(labels)).astype(int)
    remainder = counts * size / len(labels) - quota
    quota[np.argsort(-remainder, kind="stable")[: size - quota.sum()]] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), q, replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(chosen))


def make_splits(raw: tuple[np.ndarray, ...], name: str, val_size: int,
                train_subset: int | None, data_seed: int) -> Splits:
    """Carve a stratified validation split (and optionally a stratified train subset)."""
    x_train, y_train, x_test, y_test, num_classes = raw
    n = len(y_train)
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be in [1, {n - 1}] for {name}, got {val_size}")
    rng = np.random.default_rng(data_seed)
    val = stratified_indices(y_train, val_size, rng)
    train = np.setdiff1d(np.arange(n), val)
    if train_subset is not None:
        if not 0 < train_subset <= len(train):
            raise ValueError(f"train_subset must be in [1, {len(train)}] for {name}, got {train_subset}")
        train = train[stratified_indices(y_train[train], train_subset, rng)]
    as_t = torch.from_numpy
    return Splits(as_t(np.ascontiguousarray(x_train[train])), as_t(y_train[train].astype(np.int64)),
                  as_t(np.ascontiguousarray(x_train[val])), as_t(y_train[val].astype(np.int64)),
                  as_t(np.ascontiguousarray(x_test)), as_t(y_test.astype(np.int64)),
                  num_classes, name)


def load(dataset: str, data_root_: str | os.PathLike | None = None, download: bool = True,
         val_size: int | None = None, train_subset: int | None = None, data_seed: int = 0,
         synthetic: dict | None = None) -> Splits:
    """Load ``dataset`` (``"cifar10"``, ``"cifar100"`` or ``"synthetic"``) into :class:`Splits`.

    For CIFAR, a ``data_root`` that is an image folder (or a ``.tar.gz`` of one) is read instead
    of torchvision's files. ``synthetic`` holds keyword arguments for :func:`make_synthetic`.
    """
    if dataset == "synthetic":
        raw = make_synthetic(**(synthetic or {}))
        default_val = 500
    elif dataset in ("cifar10", "cifar100"):
        root = data_root(data_root_)
        raw = cached_image_folder(root) if root.exists() and is_image_folder(root) \
            else load_cifar(dataset, root, download)
        default_val = 5000
    else:
        raise ValueError(f"dataset must be one of 'cifar10', 'cifar100', 'synthetic', got {dataset!r}")
    return make_splits(raw, dataset, val_size if val_size is not None else default_val,
                       train_subset, data_seed)

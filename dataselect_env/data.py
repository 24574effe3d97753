"""Datasets as tensors: CIFAR-10/100, image folders (or a ``.tar.gz`` of one), synthetic clusters.

Every loader returns a :class:`Splits`: uint8 images ``(N, C, H, W)`` (or float32 vectors
``(N, D)`` for the synthetic data) and int64 labels for train / val / test. The validation split
is carved from the training set, stratified by class and fixed by ``data_seed``; the test split
is the dataset's own.

Optional corruptions of the *training* split (label noise, a long-tailed class profile, duplicated
samples; :mod:`.corruptions`) model noisy, imbalanced or redundant data; see :func:`make_splits`.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .corruptions import check_corruptions, corrupt_train

CIFAR_CLASSES = 10
DEFAULT_ROOT = Path("~/.cache/dataselect").expanduser()
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".webp", ".tif", ".tiff")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
DEFAULT_VAL_SIZE = {"synthetic": 500, "cifar10": 5000, "cifar100": 5000}  # val_size=None
class DataError(ValueError):
    """A data file exists but cannot be read, e.g. a damaged or truncated archive."""


@dataclass
class Splits:
    """A dataset split into train / val / test tensors (on the CPU until :meth:`to`).

    ``y_train_clean`` holds the training labels before any label noise (equal to ``y_train``
    when there is none) and ``corrupted`` is a bool ``(N,)`` mask, True where a training
    sample's label was flipped or the sample is a duplicate copy (see :func:`make_splits`).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    name: str
    y_train_clean: torch.Tensor | None = None
    corrupted: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Splits:
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
    """CIFAR-10 or CIFAR-100 through torchvision, as uint8 NCHW arrays.

    With ``download=True`` torchvision downloads the dataset into ``root`` (creating it) when its
    files are missing; a ``root`` named like an archive is never created.
    """
    from torchvision import datasets

    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]
    check_root_exists(root)
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except Exception as err:  # torchvision raises RuntimeError (missing) or URLError (offline)
        raise FileNotFoundError(missing_dataset_message(name, root, download, err)) from err
    to_nchw = lambda a: np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2))  # noqa: E731
    num_classes = len(train.classes)
    return (to_nchw(train.data), np.asarray(train.targets), to_nchw(test.data),
            np.asarray(test.targets), num_classes)


def check_root_exists(root: Path, origin: str = "data_root= or DATASELECT_DATA", given: bool = False) -> None:
    """Raise FileNotFoundError when ``root`` does not exist and either names an archive
    (``.tar.gz``/``.tgz``/``.tar``) or was given by the user (``given``: ``data_root=`` or
    ``DATASELECT_DATA``), so that a mistyped path is reported instead of created as an empty
    directory. Only the default root (``~/.cache/dataselect``) is created, for a download."""
    if not root.exists() and (given or root.name.lower().endswith(ARCHIVE_SUFFIXES)):
        what = "it names an archive, so" if root.name.lower().endswith(ARCHIVE_SUFFIXES) else "it was given, so"
        raise FileNotFoundError(
            f"The data root {str(root)!r} (given by {origin}) does not exist. Check the path: "
            f"{what} nothing was downloaded or created there."
        )


def missing_dataset_message(name: str, root: Path, download: bool, err: Exception) -> str:
    """One paragraph saying what was looked for where, and how to point the loader at a copy."""
    label = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}[name]
    files = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}[name]
    tried = f"downloading it there failed ({err})" if download else "download=False, so it was not downloaded"
    return (
        f"{label} was not found in {str(root)!r}: looked for torchvision's {files}/ folder and for "
        f"an image folder with train/<class>/ and test/<class>/; {tried}. Point the "
        "DATASELECT_DATA environment variable or data_root= at a copy: a directory holding "
        f"torchvision's {files}/, or an ImageFolder directory (train/<class>/*, test/<class>/*) or "
        "a .tar.gz of one." + ("" if download else " With download=True torchvision downloads it into the "
                                "data root (default ~/.cache/dataselect).")
    )


def is_image_folder(path: Path) -> bool:
    """True if ``path`` is a ``.tar.gz``/``.tgz`` archive or a directory holding ``train/``."""
    if path.is_file():
        return path.name.endswith(ARCHIVE_SUFFIXES)
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
    """Yield (split, class name, bytes) for every image under a folder or inside an archive.

    A damaged or truncated archive raises :class:`DataError` naming it.
    """
    if path.is_file():
        try:
            with tarfile.open(path) as tar:
                for member in tar:
                    parts = Path(member.name).parts
                    if member.isfile() and len(parts) >= 3 and parts[-3] in ("train", "test") \
                            and member.name.lower().endswith(IMAGE_SUFFIXES):
                        yield parts[-3], parts[-2], tar.extractfile(member).read()
        except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
            raise DataError(
                f"The archive {str(path)!r} is damaged or truncated and could not be read ({err}). "
                "Re-download or re-copy it (compare its size or checksum with the original)."
            ) from err
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
                   seed: int = 0, *, return_clean: bool = False) -> tuple[np.ndarray, ...]:
    """Gaussian class clusters in ``dim`` dimensions, as float32 vectors.

    ``hard_fraction`` of the samples sit near a decision boundary (halfway towards another
    class's mean); ``label_noise`` of the *training* labels are flipped to another class (the
    test labels stay clean), so which samples a controller keeps matters.

    :param return_clean: also return the training labels before the flips, as a sixth array
        (a sample was flipped exactly where it differs from ``y_train``).
    :return: ``(x_train, y_train, x_test, y_test, num_classes)`` (``+ (y_train_clean,)``).
    """
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(num_classes, dim))
    means *= 3.0 / np.linalg.norm(means, axis=1, keepdims=True)

    def draw(n: int, flip: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y = rng.integers(num_classes, size=n)
        x = means[y] + noise * rng.normal(size=(n, dim))
        hard = rng.random(n) < hard_fraction
        other = (y + rng.integers(1, num_classes, size=n)) % num_classes
        t = rng.uniform(0.35, 0.5, size=n)[:, None]
        x[hard] += t[hard] * (means[other[hard]] - means[y[hard]])
        noisy = rng.random(n) < flip
        y_obs = np.where(noisy, (y + rng.integers(1, num_classes, size=n)) % num_classes, y)
        return x.astype(np.float32), y_obs, y

    x_train, y_train, y_clean = draw(n_train, label_noise)
    x_test, y_test, _ = draw(n_test, 0.0)
    raw = (x_train, y_train, x_test, y_test, num_classes)
    return (*raw, y_clean) if return_clean else raw


# ---------------------------------------------------------------------------------------------
# Corruptions of the training split
# ---------------------------------------------------------------------------------------------


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
                train_subset: int | None, data_seed: int, *, y_train_clean: np.ndarray | None = None,
                label_noise: float = 0.0, noise_type: str = "symmetric", imbalance: float = 1.0,
                duplicates: float = 0.0) -> Splits:
    """Carve a stratified validation split (and optionally a stratified train subset), then
    corrupt the remaining training split if asked.

    Corruptions touch the training split only and are applied after the validation split and
    train subset are drawn, with their own generators seeded by ``data_seed`` (so the same seed
    gives the same corruption, and the defaults give exactly the uncorrupted splits). Validation
    and test stay clean and balanced: the holdout assumption of RHO-LOSS (Mindermann et al. 2022,
    "Prioritized training on points that are learnable, worth learning, and not yet learnt").
    The order is imbalance (it changes ``n``), duplicates, label noise.

    :param raw: ``(x_train, y_train, x_test, y_test, num_classes)`` from a loader.
    :param name: dataset name; picks the asymmetric noise map (:func:`~dataselect_env.corruptions.asymmetric_map`).
    :param val_size: validation samples, stratified by class.
    :param train_subset: keep a stratified subset of this many training samples (None: all).
    :param data_seed: seeds the split, the subset and the corruptions.
    :param y_train_clean: clean labels of ``raw``'s training set when its labels already carry
        noise (the synthetic data's); None: ``y_train`` is clean. The validation split takes
        these clean labels (it is drawn, stratified, by the observed ones).
    :param label_noise: fraction in [0, 1). ``"symmetric"``: exactly
        ``round(label_noise * n)`` training samples, chosen uniformly, get a label drawn
        uniformly from the other classes. ``"asymmetric"``: among the samples of classes that
        :func:`~dataselect_env.corruptions.asymmetric_map` maps (all classes except on CIFAR-10), exactly
        ``round(label_noise * n_mapped)`` flip to their class's target, so ``label_noise`` is
        the flip rate within the mapped classes (Patrini et al. 2017).
    :param noise_type: ``"symmetric"`` or ``"asymmetric"``.
    :param imbalance: ratio rho >= 1 of the largest to the smallest class: class ``c`` keeps
        ``round(n_max * rho ** (-c / (C - 1)))`` samples, the others dropped at random (the
        long-tailed profile of Cui et al. 2019); 1 drops nothing.
    :param duplicates: fraction in [0, 1): ``round(duplicates * n)`` training samples are
        replaced by copies (input and label) of other, non-replaced training samples.
    :return: :class:`Splits` with ``y_train_clean`` (labels before noise) and ``corrupted``
        (True for flipped labels and duplicate copies) filled.
    """
    check_corruptions(label_noise, noise_type, imbalance, duplicates)
    x_train, y_train, x_test, y_test, num_classes = raw
    y_clean = y_train if y_train_clean is None else y_train_clean
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
    x, y, y_c, corrupted = corrupt_train(x_train[train], y_train[train], y_clean[train], num_classes,
                                          name, data_seed, label_noise, noise_type, imbalance, duplicates)
    as_t = torch.from_numpy
    return Splits(as_t(np.ascontiguousarray(x)), as_t(y.astype(np.int64)),
                  as_t(np.ascontiguousarray(x_train[val])), as_t(y_clean[val].astype(np.int64)),
                  as_t(np.ascontiguousarray(x_test)), as_t(y_test.astype(np.int64)),
                  num_classes, name, as_t(y_c.astype(np.int64)), as_t(corrupted))


def load(dataset: str, data_root_: str | os.PathLike | None = None, download: bool = True,
         val_size: int | None = None, train_subset: int | None = None, data_seed: int = 0,
         synthetic: dict | None = None, *, label_noise: float = 0.0, noise_type: str = "symmetric",
         imbalance: float = 1.0, duplicates: float = 0.0) -> Splits:
    """Load ``dataset`` (``"cifar10"``, ``"cifar100"`` or ``"synthetic"``) into :class:`Splits`.

    For CIFAR, a ``data_root`` that is an image folder (or a ``.tar.gz`` of one) is read instead
    of torchvision's files; a ``data_root`` naming an archive that does not exist raises
    FileNotFoundError (nothing is created there), a damaged archive raises :class:`DataError`.
    ``synthetic`` holds keyword arguments for :func:`make_synthetic`; its own label noise is
    reported in ``Splits.y_train_clean`` / ``Splits.corrupted``.

    ``label_noise``, ``noise_type``, ``imbalance`` and ``duplicates`` corrupt the training split
    only, fixed by ``data_seed``; validation and test stay clean and balanced (see
    :func:`make_splits`, which documents each one). The defaults corrupt nothing.
    """
    check_corruptions(label_noise, noise_type, imbalance, duplicates)
    y_clean = None
    if dataset == "synthetic":
        *raw, y_clean = make_synthetic(**(synthetic or {}), return_clean=True)
        default_val = DEFAULT_VAL_SIZE["synthetic"]
    elif dataset in ("cifar10", "cifar100"):
        root = data_root(data_root_)
        given = data_root_ is not None or bool(os.environ.get("DATASELECT_DATA"))
        check_root_exists(root, "data_root=" if data_root_ is not None else "DATASELECT_DATA", given)
        raw = cached_image_folder(root) if root.exists() and is_image_folder(root) \
            else load_cifar(dataset, root, download)
        default_val = DEFAULT_VAL_SIZE[dataset]
    else:
        raise ValueError(f"dataset must be one of 'cifar10', 'cifar100', 'synthetic', got {dataset!r}")
    return make_splits(tuple(raw), dataset, val_size if val_size is not None else default_val,
                       train_subset, data_seed, y_train_clean=y_clean, label_noise=label_noise,
                       noise_type=noise_type, imbalance=imbalance, duplicates=duplicates)

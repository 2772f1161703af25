"""``load``: a dataset as train, validation and test images with their labels (the ``Dataset`` record),
and the two reshapes between rows and images."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyae import backend
from tinyae.data.cache import dataset_dir, ensure_file
from tinyae.data.idx import load_idx
from tinyae.data.registry import DATASETS, REMOTE_DATASETS, DatasetUnavailableError

DIGITS_TEST_FRACTION = 0.2  # of the 1797 digits; the test split is the same for every seed


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train, validation and test images with their labels.

    X_* -- float images in [0, 1]: (N, C*H*W) when loaded with ``flatten=True``, else (N, C, H, W)
    y_* -- int64 class labels, y_*[i] belongs to X_*[i]
    image_shape -- (C, H, W) of one image;  name -- the dataset's name;  classes -- the class names
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple
    name: str
    classes: tuple

    @property
    def n_features(self) -> int:
        """Number of values in one image, C*H*W (the input size of a dense autoencoder)."""
        return math.prod(self.image_shape)

    def __repr__(self):
        return (
            f"Dataset({self.name!r}, image_shape={self.image_shape}, train={len(self.X_train)}, "
            f"val={len(self.X_val)}, test={len(self.X_test)}, X {tuple(self.X_train.shape[1:])} "
            f"{self.X_train.dtype}, {len(self.classes)} classes)"
        )


def load(
    name: str,
    *,
    data_dir=None,
    download: bool = True,
    flatten: bool = True,
    dtype=np.float32,
    val_fraction: float = 0.1,
    seed: int = 0,
    limit: int | None = None,
) -> Dataset:
    """Load a dataset as a ``Dataset`` of train/val/test images in [0, 1] with int64 labels.

    name         -- "digits", "mnist" or "fashion-mnist" (also "fashion_mnist")
    data_dir     -- root of the file cache for MNIST-like data (see the module docstring); unused for digits
    download     -- fetch missing MNIST files; with False, missing files raise DatasetUnavailableError
    flatten      -- images as (N, C*H*W) rows (dense models) or, with False, as (N, C, H, W) (conv models)
    dtype        -- float32 (default, for training) or float64 (for gradient checks)
    val_fraction -- share of the training pool held out for validation, stratified by class, drawn by seed;
                    0 gives empty validation arrays
    seed         -- int seed of the validation split (the test split never depends on it)
    limit        -- keep only the first ``limit`` training samples (quick runs); val and test are kept whole

    Sizes with the defaults (val_fraction=0.1):

    ==============  =====  =====  =====  ===========
    dataset         train  val    test   image_shape
    ==============  =====  =====  =====  ===========
    digits          1294   144    359    (1, 8, 8)
    mnist           54000  6000   10000  (1, 28, 28)
    fashion-mnist   54000  6000   10000  (1, 28, 28)
    ==============  =====  =====  =====  ===========

    digits: scikit-learn's copy of the UCI optical digits (1797 images, values 0..16, scaled by 1/16).
    Its test split is a fixed stratified 20% (359 images, the same for every seed, so scores compare
    across seeds); the validation split is ``round(val_fraction * 1438)`` of the rest, drawn by ``seed``.
    MNIST-like: the official 60000/10000 train/test files; validation is drawn from the 60000.
    Within each split the samples keep the order of the source.
    """
    key = name.lower().replace("_", "-") if isinstance(name, str) else name
    if key not in DATASETS:
        raise ValueError(f"tinyae.data.load: unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    dtype = backend.check_float_dtype(dtype, "tinyae.data.load")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 <= val_fraction < 1:
        raise ValueError(f"tinyae.data.load: val_fraction must be a number in [0, 1), got {val_fraction!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"tinyae.data.load: limit must be a positive int or None, got {limit!r}")

    if key == "digits":
        X_pool, y_pool, X_test, y_test, to_unit, image_shape, classes = _digits()
    else:
        try:
            X_pool, y_pool, X_test, y_test, to_unit, image_shape, classes = _idx_dataset(key, data_dir, download)
        except OSError as err:  # an unreadable cache folder or file: say which, and what to change
            where = getattr(err, "filename", None) or dataset_dir(key, data_dir)
            raise DatasetUnavailableError(
                f"tinyae.data.load({key!r}): cannot read the data cache at {where}: {err.strerror or err}; make it "
                f"readable, or give another folder (--data-dir DIR, or TINYAE_DATA_DIR=DIR)") from err

    n_val = round(val_fraction * len(y_pool))
    train_idx, val_idx = _stratified_split(y_pool, n_val, backend.make_rng(seed))
    if limit is not None:
        train_idx = train_idx[:limit]

    def images(X):  # stored values (N, C, H, W) -> floats in [0, 1], (N, C*H*W) or (N, C, H, W)
        X = to_unit(X, dtype)
        return X.reshape(len(X), -1) if flatten else X

    # Index first, convert after: only the selected samples are ever held as floats.
    return Dataset(
        X_train=images(X_pool[train_idx]),
        y_train=y_pool[train_idx],
        X_val=images(X_pool[val_idx]),
        y_val=y_pool[val_idx],
        X_test=images(X_test),
        y_test=y_test,
        image_shape=image_shape,
        name=key,
        classes=classes,
    )


def _digits():
    """scikit-learn's 8x8 digits as (pool, test) splits of images (N, 1, 8, 8) valued 0..16, int64 labels."""
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    bunch = load_digits()
    X = bunch.images.reshape(-1, 1, 8, 8)  # (N, 1, 8, 8), float64 values 0..16
    y = bunch.target.astype(np.int64)
    n_test = round(DIGITS_TEST_FRACTION * len(y))
    pool_idx, test_idx = _stratified_split(y, n_test, backend.make_rng(0))  # fixed: same for every seed

    def to_unit(a, dtype):  # 0..16 -> [0, 1]
        return a.astype(dtype) / 16  # a Python int keeps the float dtype

    classes = tuple(str(d) for d in range(10))
    return X[pool_idx], y[pool_idx], X[test_idx], y[test_idx], to_unit, (1, 8, 8), classes


def _stratified_split(y, n_out, rng):
    """Split indices 0..len(y)-1 into (kept, out) with ``len(out) == n_out``, classes in proportion.

    Each class gives its share ``n_out * count / len(y)``, rounded so that the shares add up exactly
    to n_out (largest remainders round up). Both index arrays are sorted: the source order is kept.
    """
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * n_out / len(y)
    take = np.floor(quota).astype(np.int64)
    largest_remainders = np.argsort(-(quota - take), kind="stable")
    take[largest_remainders[: n_out - take.sum()]] += 1
    out = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, take)]
    out = np.sort(np.concatenate(out))
    kept = np.setdiff1d(np.arange(len(y)), out)
    return kept, out


def _idx_dataset(key, data_dir, download):
    """An MNIST-like dataset from its four IDX files (fetched if needed): uint8 (N, 1, H, W) pool and test."""
    remote = REMOTE_DATASETS[key]
    folder = dataset_dir(key, data_dir)
    paths = {role: ensure_file(key, remote, role, folder, download) for role in remote.files}
    arrays = {}
    for role, path in paths.items():
        want = tuple(remote.files[role].shape)
        try:
            arr = load_idx(path, expect_shape=want)  # a header that claims another shape is refused unread
        except ValueError as err:
            raise DatasetUnavailableError(f"tinyae.data.load({key!r}): {err}; the file is not the published one. "
                                          f"Delete it and load again.") from err
        if arr.shape != want or arr.dtype != np.uint8:
            raise DatasetUnavailableError(
                f"tinyae.data.load({key!r}): {path} holds a {arr.dtype} array of shape {arr.shape}, "
                f"expected uint8 {want}; the file is not the published one. Delete it and load again."
            )
        arrays[role] = arr
    for split in ("train", "test"):
        labels = arrays[f"{split}_labels"]
        if labels.max(initial=0) >= len(remote.classes):
            raise DatasetUnavailableError(
                f"tinyae.data.load({key!r}): {paths[split + '_labels']} holds label {labels.max()}, "
                f"but the dataset has {len(remote.classes)} classes; the file is not the published one."
            )
    _, h, w = arrays["train_images"].shape
    return (
        arrays["train_images"].reshape(-1, 1, h, w),  # (N, 1, H, W) uint8
        arrays["train_labels"].astype(np.int64),
        arrays["test_images"].reshape(-1, 1, h, w),
        arrays["test_labels"].astype(np.int64),
        backend.to_unit_float,  # uint8 0..255 -> x / 255
        (1, h, w),
        remote.classes,
    )


# --------------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------------


def to_images(X, image_shape):
    """Rows (N, C*H*W) -> images (N, C, H, W) (a view); the inverse of ``flatten_images``."""
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) != 3:
        raise ValueError(f"tinyae.data.to_images: image_shape must be (C, H, W), got {image_shape}")
    if X.ndim != 2 or X.shape[1] != math.prod(image_shape):
        raise ValueError(
            f"tinyae.data.to_images: expected rows of shape (N, {math.prod(image_shape)}) for images "
            f"{image_shape}, got {tuple(X.shape)}"
        )
    return X.reshape(X.shape[0], *image_shape)  # (N, C, H, W)


def flatten_images(X):
    """Images (N, ...) -> rows (N, prod(...)) (a view when X is contiguous)."""
    if X.ndim < 1:
        raise ValueError(f"tinyae.data.flatten_images: expected a batch (N, ...), got shape {tuple(X.shape)}")
    return X.reshape(X.shape[0], -1)  # (N, C*H*W)

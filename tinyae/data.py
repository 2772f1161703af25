"""Datasets, the IDX file format, corruptions for denoising autoencoders, and input validation.

    ds = load("digits")                   # 8x8 digits bundled with scikit-learn: works offline
    ds = load("mnist")                    # 28x28 MNIST, downloaded once into a cache directory
    ds = load("fashion-mnist", flatten=False)   # images as (N, 1, 28, 28) for conv models
    ds.X_train, ds.y_train, ds.X_val, ds.y_val, ds.X_test, ds.y_test

Every split keeps its labels (aligned with the images), for plots and downstream classifiers.
Images are float in [0, 1] (float32 by default); labels are int64.

Where MNIST lives. The four IDX files of a dataset are kept in ``<root>/<name>/`` (e.g.
``~/.cache/tinyae/mnist/train-images-idx3-ubyte.gz``). ``<root>`` is the ``data_dir`` argument, else the
environment variable ``TINYAE_DATA_DIR``, else the user's cache directory (``$XDG_CACHE_HOME/tinyae`` or
``~/.cache/tinyae`` on Linux, ``~/Library/Caches/tinyae`` on macOS, ``%LOCALAPPDATA%\\tinyae`` on Windows).
Files already there are used without any network access, gzipped as published or unpacked (the same
name without ``.gz``). A missing file is downloaded with ``urllib`` from the mirrors in
``REMOTE_DATASETS``: into a temporary file in the same directory, checked against its SHA-256, then moved
into place with ``os.replace`` (atomic), so an interrupted download never leaves a half file behind.

Why SHA-256 and which sums. The published ``.gz`` files' SHA-256 sums in ``REMOTE_DATASETS`` are the ones
many independent projects pin (torchvision's mirror, TensorFlow Datasets and others agree on them, and
the same files' MD5 sums match those torchvision verifies). A ``.gz`` file is verified every time it is
loaded (hashing ~26 MB costs well under a second). An unpacked file cannot be checked against the
published sums (they are of the ``.gz`` files), so it is checked by its IDX header instead: it must hold
exactly the array shape the table states.

The IDX format (LeCun et al., used by MNIST): 4 magic bytes ``00 00 <type> <ndim>``, then ``ndim``
big-endian uint32 sizes, then the values, big-endian, row-major. ``load_idx`` reads any such file.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import numbers
import os
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tinyae import backend
from tinyae.functional import random_mask  # re-exported: tinyae.data.random_mask

# --------------------------------------------------------------------------------------------------
# The datasets: where the files come from, what they must hash to, what they must contain
# --------------------------------------------------------------------------------------------------


class RemoteFile(NamedTuple):
    """One published file: its name, the SHA-256 and size in bytes of the ``.gz``, the parsed array's shape."""

    filename: str
    sha256: str
    size: int
    shape: tuple


class RemoteDataset(NamedTuple):
    """A dataset published as four IDX files, the mirrors that serve them (tried in order) and class names."""

    mirrors: tuple
    files: dict  # role ("train_images", "train_labels", "test_images", "test_labels") -> RemoteFile
    classes: tuple


REMOTE_DATASETS = {
    "mnist": RemoteDataset(
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",  # PyTorch's mirror
            "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's mirror
            "http://yann.lecun.com/exdb/mnist/",  # the original site (often refuses scripts now)
        ),
        files={
            "train_images": RemoteFile(
                "train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                9912422,
                (60000, 28, 28),
            ),
            "train_labels": RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                28881,
                (60000,),
            ),
            "test_images": RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                1648877,
                (10000, 28, 28),
            ),
            "test_labels": RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                4542,
                (10000,),
            ),
        },
        classes=tuple(str(d) for d in range(10)),
    ),
    "fashion-mnist": RemoteDataset(
        mirrors=(
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's own (HTTP only)
        ),
        files={
            "train_images": RemoteFile(
                "train-images-idx3-ubyte.gz",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                26421880,
                (60000, 28, 28),
            ),
            "train_labels": RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                29515,
                (60000,),
            ),
            "test_images": RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                4422102,
                (10000, 28, 28),
            ),
            "test_labels": RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                5148,
                (10000,),
            ),
        },
        classes=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
    ),
}

DATASETS = ("digits", *REMOTE_DATASETS)

DIGITS_TEST_FRACTION = 0.2  # of the 1797 digits; the test split is the same for every seed


class DatasetUnavailableError(RuntimeError):
    """A dataset's files are missing and could not be downloaded, or a file is damaged (bad checksum)."""


# --------------------------------------------------------------------------------------------------
# The Dataset record and load()
# --------------------------------------------------------------------------------------------------


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
    paths = {role: _ensure_file(key, remote, role, folder, download) for role in remote.files}
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
# The file cache: find, verify, download
# --------------------------------------------------------------------------------------------------


def default_data_dir() -> Path:
    """The root of the file cache: ``$TINYAE_DATA_DIR``, else the user's cache directory + ``tinyae``."""
    env = os.environ.get("TINYAE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    return base / "tinyae"


def dataset_dir(name: str, data_dir=None) -> Path:
    """The folder that holds (or will hold) a dataset's files: ``<root>/<name>``."""
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    return root / name


def sha256_of(path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _ensure_file(key, remote, role, folder, download) -> Path:
    """The path of one of the dataset's files: a verified .gz, an unpacked copy, or a fresh download."""
    spec = remote.files[role]
    gz = folder / spec.filename
    raw = folder / spec.filename.removesuffix(".gz")
    if gz.is_file():
        got = sha256_of(gz)
        if got != spec.sha256:
            raise DatasetUnavailableError(
                f"tinyae.data.load({key!r}): {gz} is damaged or not the published file: its SHA-256 is "
                f"{got}, expected {spec.sha256}. Delete it and call load again to download it, or place "
                f"the official file there by hand.\n" + _manual_help(key, remote, folder)
            )
        return gz
    if raw.is_file():
        return raw  # unpacked by the user: checked by its IDX shape after parsing
    if not download:
        raise DatasetUnavailableError(
            f"tinyae.data.load({key!r}): {spec.filename} is not in {folder} and download=False.\n"
            + _manual_help(key, remote, folder)
        )
    failures = []
    for mirror in remote.mirrors:
        url = mirror + spec.filename
        try:
            _download_verified(url, gz, spec)
            return gz
        except (OSError, http.client.HTTPException, ValueError) as err:  # URLError, timeouts; a bad checksum
            failures.append(f"  {url}: {err}")
    raise DatasetUnavailableError(
        f"tinyae.data.load({key!r}): could not download {spec.filename} (no internet, or the mirrors failed):\n"
        + "\n".join(failures)
        + "\n"
        + _manual_help(key, remote, folder)
    )


def _manual_help(key, remote, folder) -> str:
    """The part of every error that lists the files, where they go and how to put them there by hand."""
    lines = [f"The {key} dataset needs these files in {folder}:"]
    for spec in remote.files.values():
        gz = folder / spec.filename
        raw = folder / spec.filename.removesuffix(".gz")
        state = "present" if gz.is_file() else "present (unpacked)" if raw.is_file() else "missing"
        lines.append(f"  {spec.filename:<28} {state:<18} sha256 {spec.sha256}")
    lines += [
        "To place them by hand: download the four files on a machine with internet from one of",
        *(f"  {m}" for m in remote.mirrors),
        f"and copy them into {folder} (gzipped as downloaded, or unpacked without the .gz suffix).",
        "To use another folder: load(..., data_dir=ROOT) reads ROOT/" + key + "/, or set TINYAE_DATA_DIR=ROOT.",
    ]
    return "\n".join(lines)


def _fetch_url(url: str, out, max_bytes: int):
    """Stream ``url`` into the open binary file ``out``; refuse more than ``max_bytes`` (a wrong file)."""
    request = urllib.request.Request(url, headers={"User-Agent": "tinyae"})
    with urllib.request.urlopen(request, timeout=60) as response:
        received = 0
        for chunk in iter(lambda: response.read(1 << 20), b""):
            received += len(chunk)
            if received > max_bytes:
                raise ValueError(f"the server sent more than the expected {max_bytes} bytes")
            out.write(chunk)


def _download_verified(url: str, dest: Path, spec: RemoteFile):
    """Download to a temporary file next to ``dest``, check its SHA-256, then move it into place atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    print(f"tinyae: downloading {url} -> {dest}", file=sys.stderr)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch_url(url, out, spec.size)
        got = sha256_of(tmp)
        if got != spec.sha256:
            raise ValueError(f"downloaded file has SHA-256 {got}, expected {spec.sha256}")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache holds public data
        os.replace(tmp, dest)  # atomic: dest is either absent or complete and verified
    except BaseException:  # also Ctrl-C: never leave the partial file behind
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------------
# The IDX format
# --------------------------------------------------------------------------------------------------

# type code -> big-endian dtype of the values (IDX stores every multi-byte value most significant byte first)
IDX_TYPES = {
    0x08: np.dtype(">u1"),  # unsigned byte
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short
    0x0C: np.dtype(">i4"),  # int
    0x0D: np.dtype(">f4"),  # float
    0x0E: np.dtype(">f8"),  # double
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 24


def load_idx(path, expect_shape=None) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a NumPy array of native byte order.

    Layout: magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then
    ``prod(sizes)`` big-endian values of the type (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64). Gzip is recognised by its magic bytes, not by the file name.
    Only bytes are parsed (nothing is ever unpickled or executed). A wrong magic, an unknown type code,
    missing data or bytes after the data raise ValueError naming the file. With ``expect_shape``, a header
    that claims another shape is refused before any data is read (a small file cannot make it allocate
    what its header claims).
    """
    path = Path(path)
    with open(path, "rb") as f:
        compressed = f.read(2) == _GZIP_MAGIC
    opener = gzip.open if compressed else open
    kind = "gzipped IDX file" if compressed else "IDX file"
    try:
        with opener(path, "rb") as f:
            magic = _read_up_to(f, 4)
            if len(magic) < 4:
                raise ValueError(f"load_idx({path}): {kind} too short ({len(magic)} bytes) to hold the 4 magic bytes")
            if magic[:2] != b"\x00\x00":
                raise ValueError(
                    f"load_idx({path}): not an IDX file: it starts with bytes {magic.hex(' ')}, "
                    f"expected 00 00 <type> <ndim> (an HTML error page saved under this name looks like this too)"
                )
            type_code, ndim = magic[2], magic[3]
            if type_code not in IDX_TYPES:
                known = ", ".join(f"0x{c:02X} {t.name}" for c, t in IDX_TYPES.items())
                raise ValueError(f"load_idx({path}): unknown IDX type code 0x{type_code:02X}; known: {known}")
            header = _read_up_to(f, 4 * ndim)
            if len(header) < 4 * ndim:
                raise ValueError(
                    f"load_idx({path}): truncated header: {ndim} dimensions need {4 * ndim} bytes, "
                    f"got {len(header)}"
                )
            shape = tuple(int(s) for s in np.frombuffer(header, dtype=">u4"))
            if expect_shape is not None and shape != tuple(expect_shape):
                raise ValueError(f"load_idx({path}): the header says shape {shape}, expected {tuple(expect_shape)}")
            dtype = IDX_TYPES[type_code]
            nbytes = math.prod(shape) * dtype.itemsize
            data = _read_up_to(f, nbytes)
            if len(data) < nbytes:
                raise ValueError(
                    f"load_idx({path}): truncated data: shape {shape} of {dtype.name} needs {nbytes} bytes, "
                    f"the {kind} holds {len(data)}"
                )
            if f.read(1):
                raise ValueError(
                    f"load_idx({path}): trailing bytes after the {nbytes} data bytes of shape {shape}; "
                    f"the header does not describe this file"
                )
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:  # a damaged or cut-off gzip stream
        raise ValueError(f"load_idx({path}): damaged gzip stream: {err}") from err
    values = np.frombuffer(data, dtype=dtype).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # a writable copy in the machine's byte order


def _read_up_to(f, n: int) -> bytes:
    """Read ``n`` bytes or until the end of the stream, in chunks (a lying header must not allocate terabytes)."""
    chunks, got = [], 0
    while got < n:
        chunk = f.read(min(n - got, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def save_idx(path, array) -> None:
    """Write ``array`` as an IDX file (gzipped when ``path`` ends in ``.gz``); the inverse of ``load_idx``."""
    array = np.asarray(array)
    codes = {t.newbyteorder("="): c for c, t in IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise TypeError(f"save_idx({path}): IDX cannot store dtype {array.dtype}; use one of {list(codes)}")
    if array.ndim > 255:
        raise ValueError(f"save_idx({path}): IDX stores at most 255 dimensions, got {array.ndim}")
    payload = (
        bytes([0, 0, codes[native], array.ndim])
        + np.asarray(array.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(array, dtype=IDX_TYPES[codes[native]]).tobytes()
    )
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)


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


# --------------------------------------------------------------------------------------------------
# Corruptions for denoising autoencoders
# --------------------------------------------------------------------------------------------------
# Each returns a corrupted copy and leaves x untouched (the clean x is the denoising target).
# The randomness is drawn on the host with NumPy's Generator and moved to x's device, so CPU and GPU
# runs with one seed corrupt identically (CuPy's Generator lacks most samplers and has other streams).


def _check_corruption_input(x, where):
    """x must be a float array of NumPy, CuPy or another array-API library; returns the host dtype to draw in."""
    if not (isinstance(x, np.ndarray) or backend.is_cupy_array(x) or hasattr(x, "__array_namespace__")):
        raise TypeError(f"{where}: expected a NumPy or CuPy array, got {type(x).__name__}")
    if isinstance(x, np.ndarray) or backend.is_cupy_array(x):
        if x.dtype.kind != "f":
            raise TypeError(f"{where}: expected a float array (images in [0, 1]), got dtype {x.dtype}")
        return x.dtype
    return backend.host_dtype(x)  # another array-API library: float32/float64 only, or a TypeError


def _check_fraction(fraction, where):
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)) or not 0 <= fraction <= 1:
        raise ValueError(f"{where}: fraction must be a number in [0, 1], got {fraction!r}")
    return float(fraction)


def gaussian_noise(x, std, rng, clip=(0.0, 1.0)):
    """``x + std * eps``, eps ~ N(0, 1) entry-wise, then clipped to ``clip`` (None: no clipping).

    Clipping keeps the corrupted input in the data range (a sigmoid/BCE model sees only [0, 1]).
    rng -- a seed or a numpy Generator.  Returns a new array of x's dtype and device.
    """
    where = "tinyae.data.gaussian_noise"
    dtype = _check_corruption_input(x, where)
    if isinstance(std, bool) or not isinstance(std, (int, float, np.floating)) or not 0 <= std < math.inf:
        raise ValueError(f"{where}: std must be a finite number >= 0, got {std!r}")
    xp = backend.array_module(x)
    eps = backend.make_rng(rng).standard_normal(tuple(x.shape), dtype=dtype)  # drawn on the host
    y = x + float(std) * backend.from_host(eps, like=x)  # a Python float keeps x's dtype
    if clip is not None:
        low, high = clip
        y = xp.clip(y, float(low), float(high))  # Python floats: x's dtype is kept
    return y


def masking_noise(x, fraction, rng):
    """Set a random ``fraction`` of each sample's entries to 0 (input dropout, without rescaling).

    As in the denoising autoencoders of Vincent et al. (2008, 2010): in each sample, exactly
    ``round(fraction * D)`` of its D entries, chosen at random, are forced to 0 and the rest are kept
    as they are (no 1/(1-fraction) rescaling as inverted dropout would do: the network must learn to
    fill in the missing values, and the clean target is unchanged).
    rng -- a seed or a numpy Generator.  Returns a new array of x's dtype and device.
    """
    where = "tinyae.data.masking_noise"
    _check_corruption_input(x, where)
    fraction = _check_fraction(fraction, where)
    drop = random_mask(tuple(x.shape), fraction, backend.make_rng(rng))
    return backend.times_mask(x, backend.from_host(~drop, like=x))  # x where kept, 0 where dropped


def salt_and_pepper(x, fraction, rng, low=0.0, high=1.0):
    """Set a random ``fraction`` of each sample's entries to ``low`` or ``high``, by a fair coin each.

    Vincent et al. (2010): exactly ``round(fraction * D)`` entries per sample are chosen at random and
    set to the minimum or maximum of the data range (0 and 1 for images in [0, 1]).
    rng -- a seed or a numpy Generator.  Returns a new array of x's dtype and device.
    """
    where = "tinyae.data.salt_and_pepper"
    _check_corruption_input(x, where)
    fraction = _check_fraction(fraction, where)
    xp = backend.array_module(x)
    gen = backend.make_rng(rng)
    hit = random_mask(tuple(x.shape), fraction, gen)
    salt = gen.random(tuple(x.shape)) < 0.5  # the coin, used only where hit
    hit, salt = backend.from_host(hit, like=x), backend.from_host(salt, like=x)
    y = xp.where(hit, float(low), x)  # pepper everywhere it hits (a Python float keeps x's dtype) ...
    return xp.where(hit & salt, float(high), y)  # ... then salt where the coin says so


# --------------------------------------------------------------------------------------------------
# Validation of user data (used by training and the CLI)
# --------------------------------------------------------------------------------------------------


def check_data(X, where: str = "data", *, tail=None, expect_range=None, dtype=None):
    """Return ``X`` as a float array fit for training, or raise an error that says what is wrong and how to fix it.

    X            -- a NumPy/CuPy float array, or a numeric array-like (list, object array of numbers),
                    which is converted with np.asarray; strings and other non-numbers are refused
    where        -- the caller's name for messages, e.g. "fit(X)"
    tail         -- required shape after the batch axis, e.g. (64,) for a dense model or (1, 28, 28) for a
                    conv model; None entries are free
    expect_range -- (low, high) the values must lie in, e.g. (0, 1) for a model trained with BCE
                    (a probability target outside [0, 1] makes the loss meaningless, so this is an error)
    dtype        -- float dtype to cast to (the model's); None keeps a float array's dtype, and array-likes
                    become float32

    Checks: numeric and float dtype (integer images: scale them, e.g. with backend.to_unit_float),
    at least 2-D with a non-empty batch, ``tail``, no NaN/Inf, ``expect_range``.
    """
    if dtype is not None:
        dtype = backend.check_float_dtype(dtype, where)
    if not (isinstance(X, np.ndarray) or backend.is_cupy_array(X)):
        X = _numeric_array(X, where, dtype or backend.DEFAULT_DTYPE)
    elif X.dtype == object:
        X = _numeric_array(X, where, dtype or backend.DEFAULT_DTYPE)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected real numbers, got an array of dtype {X.dtype}")
    if X.dtype.kind != "f":
        hint = "backend.to_unit_float(X) (uint8 0..255 -> [0, 1])" if X.dtype == np.uint8 else "X.astype(np.float32)"
        raise TypeError(f"{where}: expected a float array, got dtype {X.dtype}; convert it with {hint}")
    if dtype is not None and X.dtype != dtype:
        X = X.astype(dtype)
    if X.ndim < 2:
        raise ValueError(
            f"{where}: expected a batch of samples (N, ...) with at least 2 dimensions, got shape {tuple(X.shape)}; "
            f"a single sample x is x[None]"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{where}: got no samples (shape {tuple(X.shape)})")
    if tail is not None:
        tail = tuple(tail)
        got = tuple(X.shape[1:])
        if len(got) != len(tail) or any(t is not None and t != g for t, g in zip(tail, got)):
            want = "(N, " + ", ".join("*" if t is None else str(t) for t in tail) + ")"
            msg = f"{where}: expected data of shape {want}, got {tuple(X.shape)}"
            if None not in tail and math.prod(got) == math.prod(tail):
                fix = "to_images(X, image_shape)" if len(tail) == 3 else "flatten_images(X)"
                msg += f"; the sizes match, reshape with tinyae.data.{fix} (or load with flatten={len(tail) == 1})"
            raise ValueError(msg)
    xp = backend.array_module(X)
    finite = xp.isfinite(X)
    if not bool(finite.all()):  # once per dataset, so the device sync on a GPU does not matter
        bad_rows = xp.flatnonzero(~finite.reshape(X.shape[0], -1).all(axis=1))
        count = int((~finite).sum())
        raise ValueError(
            f"{where}: data contains {count} NaN/Inf value(s) in {len(bad_rows)} sample(s), the first at index "
            f"{int(bad_rows[0])}; remove or impute them (e.g. X[~np.isfinite(X)] = 0)"
        )
    if expect_range is not None:
        low, high = expect_range
        lo, hi = float(X.min()), float(X.max())
        if lo < low or hi > high:
            raise ValueError(
                f"{where}: values must lie in [{low}, {high}] (e.g. for a BCE loss or a sigmoid output), "
                f"but they span [{lo:.6g}, {hi:.6g}]. Rescale them, e.g. (X - X.min()) / (X.max() - X.min()) "
                f"with the training set's min and max, or train with the MSE loss"
            )
    return X


def _numeric_array(X, where, dtype):
    """np.asarray(X) as floats when every value is a number, else a TypeError naming the first non-number."""
    arr = np.asarray(X) if not isinstance(X, np.ndarray) else X
    if arr.dtype.kind in "biuf":
        return arr.astype(dtype)
    if arr.dtype.kind == "O":
        for v in arr.reshape(-1):
            if not isinstance(v, numbers.Real):
                raise TypeError(f"{where}: expected real numbers, found a {type(v).__name__} value {v!r}")
        return arr.astype(dtype)
    first = arr.reshape(-1)[0] if arr.size else None
    raise TypeError(f"{where}: expected real numbers, got values of dtype {arr.dtype} (e.g. {first!r})")

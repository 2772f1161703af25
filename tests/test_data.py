"""tinyae.data: datasets and their splits, the IDX parser, the download cache, corruptions, check_samples.

No test touches the network: urlopen is replaced by a function that fails, and downloads are faked
by replacing ``data.cache._fetch_url``.
"""

import gzip
import hashlib
import struct
import urllib.error
import urllib.request

import numpy as np
import pytest

from tinyae import backend, data

# ----------------------------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def idx_bytes(type_code, shape, payload: bytes) -> bytes:
    """An IDX file written by hand: 00 00 type ndim, big-endian uint32 sizes, payload."""
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


def write(path, content: bytes, gz=False):
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


# ----------------------------------------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def test_digits_shapes_dtypes_and_range(digits):
    assert (digits.X_train.shape, digits.X_val.shape, digits.X_test.shape) == ((1294, 64), (144, 64), (359, 64))
    assert (digits.y_train.shape, digits.y_val.shape, digits.y_test.shape) == ((1294,), (144,), (359,))
    assert len(digits.y_train) + len(digits.y_val) + len(digits.y_test) == 1797
    assert digits.image_shape == (1, 8, 8) and digits.n_features == 64 and digits.name == "digits"
    assert digits.classes == tuple("0123456789")
    for X in (digits.X_train, digits.X_val, digits.X_test):
        assert X.dtype == np.float32
        assert X.min() == 0.0 and X.max() == 1.0
    for y in (digits.y_train, digits.y_val, digits.y_test):
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    assert "train=1294" in repr(digits)


def test_digits_splits_partition_the_data_with_labels_aligned(digits):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    reference = np.column_stack([bunch.data / 16, bunch.target])  # each image with its label
    ours = np.vstack([
        np.column_stack([X.astype(np.float64), y])
        for X, y in ((digits.X_train, digits.y_train), (digits.X_val, digits.y_val), (digits.X_test, digits.y_test))
    ])
    # Same multiset of (image, label) rows: nothing lost, nothing duplicated, labels stay with their images.
    np.testing.assert_array_equal(np.unique(ours, axis=0), np.unique(reference, axis=0))
    np.testing.assert_array_equal(ours[np.lexsort(ours.T)], reference[np.lexsort(reference.T)])
    # Class means differ visibly (a zero has a hole where a one has its stroke).
    mean0, mean1 = digits.X_train[digits.y_train == 0].mean(0), digits.X_train[digits.y_train == 1].mean(0)
    assert np.abs(mean0 - mean1).max() > 0.5


def test_digits_splits_are_stratified(digits):
    full = np.bincount(np.concatenate([digits.y_train, digits.y_val, digits.y_test]), minlength=10)
    for y in (digits.y_val, digits.y_test):
        expected = full * len(y) / full.sum()
        assert np.abs(np.bincount(y, minlength=10) - expected).max() < 1


def test_digits_seed_moves_validation_not_test(digits):
    same = data.load("digits", seed=0)
    np.testing.assert_array_equal(same.X_val, digits.X_val)
    np.testing.assert_array_equal(same.y_train, digits.y_train)
    other = data.load("digits", seed=1)
    np.testing.assert_array_equal(other.X_test, digits.X_test)
    np.testing.assert_array_equal(other.y_test, digits.y_test)
    assert not np.array_equal(other.X_val, digits.X_val)


def test_digits_images_dtype_limit_and_val_fraction(digits):
    ds = data.load("digits", flatten=False, dtype=np.float64, limit=100, val_fraction=0.0)
    assert ds.X_train.shape == (100, 1, 8, 8) and ds.X_train.dtype == np.float64
    assert ds.X_val.shape == (0, 1, 8, 8) and ds.y_val.shape == (0,)
    assert ds.X_test.shape == (359, 1, 8, 8)
    np.testing.assert_array_equal(ds.X_test.reshape(359, 64).astype(np.float32), digits.X_test)
    assert data.load("digits", limit=10_000).X_train.shape == (1294, 64)  # limit above the size keeps all
    np.testing.assert_array_equal(data.load("digits", limit=5).X_train, digits.X_train[:5])


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(name="cifar"), "unknown dataset"),
        (dict(name="digits", val_fraction=1.0), "val_fraction"),
        (dict(name="digits", val_fraction=-0.1), "val_fraction"),
        (dict(name="digits", limit=0), "limit"),
        (dict(name="digits", limit=2.5), "limit"),
    ],
)
def test_load_refuses_bad_arguments(kwargs, error):
    with pytest.raises(ValueError, match=error):
        data.load(kwargs.pop("name"), **kwargs)


def test_load_refuses_integer_dtype():
    with pytest.raises(TypeError, match="float32 or float64"):
        data.load("digits", dtype=np.int32)


# ----------------------------------------------------------------------------------------------- IDX parser


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_ubyte_3d(tmp_path, gz):
    values = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 7
    path = write(tmp_path / "images.idx", idx_bytes(0x08, (2, 3, 4), values.tobytes()), gz=gz)
    out = data.load_idx(path)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, values)
    out[0, 0, 0] = 1  # a writable copy


def test_load_idx_float_2d_big_endian(tmp_path):
    values = np.array([[1.5, -2.25, 3.0], [0.1, 1e30, -0.0]], dtype=np.float32)
    payload = struct.pack(">6f", *values.ravel())  # big-endian, as IDX stores it
    out = data.load_idx(write(tmp_path / "f.gz", idx_bytes(0x0D, (2, 3), payload), gz=True))
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, values)


@pytest.mark.parametrize(
    "code, fmt, dtype",
    [(0x09, "b", np.int8), (0x0B, "h", np.int16), (0x0C, "i", np.int32), (0x0E, "d", np.float64)],
)
def test_load_idx_other_types(tmp_path, code, fmt, dtype):
    values = [-3, 1, 2, 100]
    out = data.load_idx(write(tmp_path / "t", idx_bytes(code, (4,), struct.pack(f">4{fmt}", *values))))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, values)


def test_load_idx_detects_gzip_by_content_not_name(tmp_path):
    path = write(tmp_path / "labels-idx1-ubyte", idx_bytes(0x08, (3,), bytes([1, 2, 3])), gz=True)
    np.testing.assert_array_equal(data.load_idx(path), [1, 2, 3])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_save_idx_round_trip(tmp_path, dtype, name):
    values = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    data.save_idx(tmp_path / name, values)
    out = data.load_idx(tmp_path / name)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, values)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "content, message",
    [
        (b"PK\x03\x04" + bytes(12), "not an IDX file"),  # a zip file
        (b"<!DOCTYPE html>", "not an IDX file"),  # an error page saved under the file's name
        (bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 5]), "unknown IDX type code 0x0A"),
        (bytes([0, 0]), "too short"),
        (bytes([0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0]), "truncated header"),
        (idx_bytes(0x08, (2, 3, 4), bytes(23)), r"truncated data: shape \(2, 3, 4\) of uint8 needs 24 bytes"),
        (idx_bytes(0x0C, (2, 2), bytes(15)), "needs 16 bytes"),
        (idx_bytes(0x08, (2, 2), bytes(5)), "trailing bytes"),
    ],
)
def test_load_idx_refuses_damaged_files_naming_them(tmp_path, content, message, gz):
    path = write(tmp_path / "bad-file.idx", content, gz=gz)
    with pytest.raises(ValueError, match=message) as info:
        data.load_idx(path)
    assert "bad-file.idx" in str(info.value)


def test_load_idx_refuses_a_cut_off_gzip_stream(tmp_path):
    whole = gzip.compress(idx_bytes(0x08, (100,), bytes(range(100))))
    path = write(tmp_path / "cut.gz", whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="cut.gz"):
        data.load_idx(path)


def test_load_idx_with_a_lying_header_does_not_allocate(tmp_path):
    path = write(tmp_path / "huge", idx_bytes(0x0E, (2**32 - 1, 2**32 - 1), bytes(8)))
    with pytest.raises(ValueError, match="truncated data"):
        data.load_idx(path)


# ----------------------------------------------------------------------------------------------- MNIST cache

N_TRAIN, N_TEST, H, W = 20, 10, 4, 5


def fake_mnist_files(rng):
    """Tiny MNIST-like files: each image's pixels encode its label (pixel = 20 * label + 3 * row)."""
    files = {}
    for split, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        labels = np.arange(n, dtype=np.uint8) % 10
        rng.shuffle(labels)
        images = (20 * labels[:, None, None] + 3 * np.arange(H)[None, :, None] + np.zeros((1, 1, W))).astype(np.uint8)
        files[f"{split}-images-idx3-ubyte"] = (idx_bytes(0x08, images.shape, images.tobytes()), images.shape)
        files[f"{split}-labels-idx1-ubyte"] = (idx_bytes(0x08, labels.shape, labels.tobytes()), labels.shape)
    return files


@pytest.fixture
def fake_remote(monkeypatch):
    """Replace the mnist entry of the checksum table by tiny files; returns {gz filename: gz bytes}."""
    files = fake_mnist_files(np.random.default_rng(0))
    gz_bytes, table = {}, {}
    roles = {
        "train_images": "train-images-idx3-ubyte",
        "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte",
        "test_labels": "t10k-labels-idx1-ubyte",
    }
    for role, stem in roles.items():
        raw, shape = files[stem]
        blob = gzip.compress(raw, mtime=0)
        gz_bytes[stem + ".gz"] = blob
        table[role] = data.RemoteFile(stem + ".gz", hashlib.sha256(blob).hexdigest(), len(blob), shape)
    mirrors = ("https://mirror-a.invalid/", "https://mirror-b.invalid/")
    remote = data.RemoteDataset(mirrors, table, data.REMOTE_DATASETS["mnist"].classes)
    monkeypatch.setitem(data.REMOTE_DATASETS, "mnist", remote)
    return {"gz": gz_bytes, "raw": {stem: files[stem][0] for stem in roles.values()}}


def check_fake_mnist(ds, dtype=np.float32):
    assert ds.image_shape == (1, H, W) and ds.name == "mnist"
    assert len(ds.X_train) == N_TRAIN - 2 and len(ds.X_val) == 2 and len(ds.X_test) == N_TEST
    for X, y in ((ds.X_train, ds.y_train), (ds.X_val, ds.y_val), (ds.X_test, ds.y_test)):
        assert X.dtype == dtype and y.dtype == np.int64 and X.shape[1:] == (H * W,)
        assert 0 <= X.min() and X.max() <= 1
        pixels = np.rint(X * 255).reshape(-1, H, W)
        np.testing.assert_array_equal(pixels[:, 0, 0], 20 * y)  # labels aligned with their images


def test_mnist_from_placed_gz_files(tmp_path, fake_remote):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, blob in fake_remote["gz"].items():
        (folder / name).write_bytes(blob)
    check_fake_mnist(data.load("mnist", data_dir=tmp_path, download=False))


def test_mnist_from_unpacked_files_via_env_var(tmp_path, fake_remote, monkeypatch):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, blob in fake_remote["raw"].items():
        (folder / name).write_bytes(blob)
    monkeypatch.setenv("TINYAE_DATA_DIR", str(tmp_path))
    ds = data.load("mnist", download=False, flatten=False, dtype=np.float64)
    assert ds.X_train.shape == (N_TRAIN - 2, 1, H, W) and ds.X_train.dtype == np.float64


def test_mnist_download_is_verified_atomic_and_cached(tmp_path, fake_remote, monkeypatch):
    calls = []

    def fake_fetch(url, out, max_bytes):
        calls.append(url)
        if url.startswith("https://mirror-a"):
            raise urllib.error.URLError("mirror a is down")
        out.write(fake_remote["gz"][url.rsplit("/", 1)[1]])

    monkeypatch.setattr(data.cache, "_fetch_url", fake_fetch)
    check_fake_mnist(data.load("mnist", data_dir=tmp_path))
    assert len(calls) == 8  # each file: mirror a fails, mirror b serves it
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(fake_remote["gz"])  # no .part left

    def offline(url, out, max_bytes):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data.cache, "_fetch_url", offline)
    check_fake_mnist(data.load("mnist", data_dir=tmp_path))  # cached: no download needed


def test_mnist_offline_error_lists_files_folder_and_manual_steps(tmp_path, fake_remote, monkeypatch):
    def offline(url, out, max_bytes):
        out.write(b"partial")
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data.cache, "_fetch_url", offline)
    with pytest.raises(data.DatasetUnavailableError) as info:
        data.load("mnist", data_dir=tmp_path)
    message = str(info.value)
    folder = tmp_path / "mnist"
    for name in fake_remote["gz"]:
        assert name in message
    assert str(folder) in message and "by hand" in message and "TINYAE_DATA_DIR" in message
    assert "name resolution" in message and "https://mirror-b.invalid/" in message
    assert list(folder.iterdir()) == []  # the partial downloads were removed


def test_mnist_bad_checksum_on_download(tmp_path, fake_remote, monkeypatch):
    def wrong_file(url, out, max_bytes):
        out.write(gzip.compress(b"not mnist"))

    monkeypatch.setattr(data.cache, "_fetch_url", wrong_file)
    with pytest.raises(data.DatasetUnavailableError, match="SHA-256") as info:
        data.load("mnist", data_dir=tmp_path)
    assert "by hand" in str(info.value)
    assert list((tmp_path / "mnist").iterdir()) == []  # nothing unverified was kept


def test_mnist_bad_checksum_of_a_placed_file(tmp_path, fake_remote):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, blob in fake_remote["gz"].items():
        (folder / name).write_bytes(blob)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"tampered"))
    with pytest.raises(data.DatasetUnavailableError, match="t10k-labels-idx1-ubyte.gz is damaged") as info:
        data.load("mnist", data_dir=tmp_path, download=False)
    assert "Delete it" in str(info.value)


def test_mnist_missing_with_download_false(tmp_path, fake_remote, monkeypatch):
    monkeypatch.setattr(data.cache, "_fetch_url", lambda *a: pytest.fail("download=False must not download"))
    with pytest.raises(data.DatasetUnavailableError, match="download=False") as info:
        data.load("mnist", data_dir=tmp_path, download=False)
    assert "missing" in str(info.value)
    assert not (tmp_path / "mnist").exists()  # nothing created


def test_mnist_unpacked_file_with_wrong_shape(tmp_path, fake_remote):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, blob in fake_remote["raw"].items():
        (folder / name).write_bytes(blob)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(0x08, (7,), bytes(7)))
    with pytest.raises(data.DatasetUnavailableError, match=r"says shape \(7,\), expected \(20,\)"):
        data.load("mnist", data_dir=tmp_path)


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYAE_DATA_DIR", str(tmp_path / "d"))
    assert data.dataset_dir("fashion-mnist") == tmp_path / "d" / "fashion-mnist"
    monkeypatch.delenv("TINYAE_DATA_DIR")
    assert data.default_data_dir().name == "tinyae"
    assert data.dataset_dir("mnist", tmp_path) == tmp_path / "mnist"


def test_checksum_table_is_well_formed():
    for remote in data.REMOTE_DATASETS.values():
        assert len(remote.classes) == 10 and remote.mirrors
        for spec in remote.files.values():
            assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0 and spec.size > 0
            assert spec.filename.endswith("-ubyte.gz")


# ----------------------------------------------------------------------------------------------- corruptions


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_noise_statistics(dtype):
    x = np.full((200, 500), 0.5, dtype=dtype)
    y = data.gaussian_noise(x, 0.1, rng=0, clip=None)
    assert y.dtype == dtype and y.shape == x.shape
    noise = (y - x).astype(np.float64)
    assert abs(noise.std() - 0.1) < 0.002  # 100k draws: the estimate's standard error is 0.00022
    assert abs(noise.mean()) < 0.002


def test_gaussian_noise_clips_to_the_data_range():
    x = np.random.default_rng(1).random((50, 40)).astype(np.float32)
    y = data.gaussian_noise(x, 0.5, rng=1)
    assert y.min() == 0.0 and y.max() == 1.0  # large noise: clipping happened, and held
    y = data.gaussian_noise(x, 0.5, rng=1, clip=(0.2, 0.7))
    assert y.min() == np.float32(0.2) and y.max() == np.float32(0.7)


def test_masking_noise_zeroes_exactly_the_fraction_without_rescaling():
    rng = np.random.default_rng(2)
    x = rng.uniform(0.1, 1.0, size=(2000, 50)).astype(np.float32)  # no zeros before corruption
    y = data.masking_noise(x, 0.3, rng=3)
    zeroed = y == 0
    np.testing.assert_array_equal(zeroed.sum(axis=1), 15)  # exactly round(0.3 * 50) per sample
    np.testing.assert_array_equal(y[~zeroed], x[~zeroed])  # the rest untouched, not rescaled
    per_column = zeroed.mean(axis=0)  # positions uniform: every column masked about 30% of the time
    assert np.abs(per_column - 0.3).max() < 0.06  # 2000 draws: the standard error is 0.01
    assert y.dtype == np.float32
    np.testing.assert_array_equal(data.masking_noise(x, 0.0, rng=0), x)
    assert not data.masking_noise(x, 1.0, rng=0).any()


def test_masking_noise_on_images_counts_per_sample():
    x = np.ones((6, 1, 4, 5))
    y = data.masking_noise(x, 0.25, rng=0)
    np.testing.assert_array_equal((y == 0).reshape(6, -1).sum(axis=1), 5)


def test_salt_and_pepper():
    x = np.full((1000, 40), 0.5, dtype=np.float32)
    y = data.salt_and_pepper(x, 0.2, rng=4)
    hit = y != 0.5
    np.testing.assert_array_equal(hit.sum(axis=1), 8)
    assert set(np.unique(y[hit])) == {0.0, 1.0}
    assert abs((y[hit] == 1.0).mean() - 0.5) < 0.03  # a fair coin over 8000 hits
    assert y.dtype == np.float32


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda x, r: data.gaussian_noise(x, 0.2, r),
        lambda x, r: data.masking_noise(x, 0.4, r),
        lambda x, r: data.salt_and_pepper(x, 0.4, r),
    ],
)
def test_corruptions_copy_and_are_deterministic(corrupt):
    x = np.random.default_rng(5).random((8, 30))
    before = x.copy()
    y1, y2, y3 = corrupt(x, 7), corrupt(x, np.random.default_rng(7)), corrupt(x, 8)
    np.testing.assert_array_equal(x, before)  # input not modified
    assert not np.shares_memory(x, y1)
    np.testing.assert_array_equal(y1, y2)  # a seed and a Generator with that seed agree
    assert not np.array_equal(y1, y3)
    assert not np.array_equal(y1, x)


def test_corruptions_refuse_bad_input():
    x = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(TypeError, match="float array"):
        data.masking_noise(np.zeros((2, 3), dtype=np.uint8), 0.1, 0)
    with pytest.raises(TypeError, match="NumPy or CuPy array"):
        data.gaussian_noise([[0.1, 0.2]], 0.1, 0)
    with pytest.raises(ValueError, match="fraction"):
        data.salt_and_pepper(x, 1.5, 0)
    with pytest.raises(ValueError, match="std"):
        data.gaussian_noise(x, -0.1, 0)


def gpu_ready():
    return backend.gpu_available()


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_ready(), reason="needs CuPy and a CUDA device")
def test_corruptions_on_the_gpu_match_the_cpu():
    import cupy

    x = np.random.default_rng(6).random((16, 30)).astype(np.float32)
    xg = cupy.asarray(x)
    for corrupt in (
        lambda a: data.gaussian_noise(a, 0.3, 9),
        lambda a: data.masking_noise(a, 0.3, 9),
        lambda a: data.salt_and_pepper(a, 0.3, 9),
    ):
        yg = corrupt(xg)
        assert isinstance(yg, cupy.ndarray) and yg.dtype == np.float32
        np.testing.assert_array_equal(yg.get(), corrupt(x))
    np.testing.assert_array_equal(xg.get(), x)
    assert data.check_samples(xg, "gpu data", expect_range=(0, 1)) is xg


# ----------------------------------------------------------------------------------------------- check_samples


def test_check_samples_accepts_good_data_and_numeric_lists():
    X = np.random.default_rng(0).random((4, 6)).astype(np.float32)
    assert data.check_samples(X, "fit(X)", tail=(6,), expect_range=(0, 1)) is X
    out = data.check_samples([[0.0, 0.5], [1, 0.25]], "fit(X)")
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (2, 2)
    out = data.check_samples(np.array([[1, 0.5]], dtype=object), "fit(X)", dtype=np.float64)
    assert out.dtype == np.float64
    assert data.check_samples(X, "fit(X)", dtype=np.float64).dtype == np.float64


def test_check_samples_nan():
    X = np.zeros((5, 3), dtype=np.float32)
    X[3, 1] = np.nan
    X[4, 0] = np.inf
    message = r"fit\(X\): data contains 2 NaN/Inf value\(s\) in 2 sample\(s\), the first at index 3"
    with pytest.raises(ValueError, match=message):
        data.check_samples(X, "fit(X)")


@pytest.mark.parametrize(
    "X",
    [np.array([["a", "b"]]), [["0.1", "x"]], np.array([[0.1, "x"]], dtype=object), np.array([[1 + 2j]])],
)
def test_check_samples_non_numeric(X):
    with pytest.raises(TypeError, match="real numbers"):
        data.check_samples(X, "fit(X)")


def test_check_samples_integers_get_a_hint():
    with pytest.raises(TypeError, match="to_unit_float"):
        data.check_samples(np.zeros((2, 3), dtype=np.uint8), "fit(X)")


def test_check_samples_shapes():
    with pytest.raises(ValueError, match=r"expected data of shape \(N, 1, 8, 8\), got \(5, 64\).*to_images"):
        data.check_samples(np.zeros((5, 64)), "ConvAE.fit(X)", tail=(1, 8, 8))
    with pytest.raises(ValueError, match=r"expected data of shape \(N, 64\), got \(5, 1, 8, 8\).*flatten_images"):
        data.check_samples(np.zeros((5, 1, 8, 8)), "fit(X)", tail=(64,))
    with pytest.raises(ValueError, match=r"expected data of shape \(N, 1, 28, 28\), got \(5, 1, 8, 8\)$"):
        data.check_samples(np.zeros((5, 1, 8, 8)), "fit(X)", tail=(1, 28, 28))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        data.check_samples(np.zeros(5), "fit(X)")
    with pytest.raises(ValueError, match="no samples"):
        data.check_samples(np.zeros((0, 5)), "fit(X)")


def test_check_samples_range_for_bce():
    X = np.array([[0.0, 255.0], [3.0, 4.0]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\].*span \[0, 255\].*MSE"):
        data.check_samples(X, "fit(X)", expect_range=(0, 1))
    data.check_samples(X - 1, "fit(X)")  # no range asked: fine


def test_to_images_and_back():
    X = np.arange(2 * 12, dtype=np.float32).reshape(2, 12)
    images = data.to_images(X, (3, 2, 2))
    assert images.shape == (2, 3, 2, 2) and np.shares_memory(images, X)
    np.testing.assert_array_equal(data.flatten_images(images), X)
    with pytest.raises(ValueError, match=r"\(N, 16\)"):
        data.to_images(X, (1, 4, 4))

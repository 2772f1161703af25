"""Issue 15, items 12-15: checkpoints and data files that lie are refused by a CheckpointError (or a
DatasetUnavailableError) naming the file and the member, before anything large is allocated."""

import gzip
import json
import os
import time
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

from tinyae import data, io, zoo
from tinyae.cli import main
from tinyae.optim import Adam
from tinyae.train import History


@pytest.fixture
def ckpt(tmp_path):
    model = zoo.build("ae", (64,), n_hidden=16)
    history = History()
    history._append(1, 0.5, {}, None, {}, 0.1)
    history.params = {"seed": 0}
    return io.save(tmp_path / "model.npz", model, optimizer=Adam(model.params()), history=history,
                   extra={"train": {"model": "ae", "data": "digits", "seed": 0, "batch_size": 32}})


def members(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def rewrite(path, edit=None, arrays=None, fix=True):
    """Rewrite a checkpoint as an editor would: ``edit(manifest)`` changes its JSON; checksums recomputed."""
    arrays = dict(members(path) if arrays is None else arrays)
    manifest = json.loads(arrays[io.META_KEY].tobytes())
    if edit is not None:
        edit(manifest)
    if fix:
        manifest["arrays"] = {k: io.spec.array_sha256(v) for k, v in arrays.items() if k != io.META_KEY}
    arrays[io.META_KEY] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    return path


def peak_mib(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


# -- item 12: every corruption is a CheckpointError naming the file (and the member) ----------------------


def test_every_single_byte_change_is_a_checkpoint_error_or_a_clean_load(ckpt):
    blob = ckpt.read_bytes()
    rng = np.random.default_rng(0)
    # the local headers and .npy headers of each member, the central directory, and random places
    starts = [i for i in range(len(blob)) if blob[i:i + 4] in (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06")]
    spots = sorted({s + k for s in starts for k in range(0, 64, 6)} | set(rng.integers(0, len(blob), 40).tolist()))
    kinds = set()
    for i in spots:
        if i >= len(blob):
            continue
        bad = bytearray(blob)
        bad[i] ^= 0x5A
        ckpt.write_bytes(bytes(bad))
        try:
            io.load_checkpoint(ckpt)  # a byte nothing reads (e.g. a zip timestamp) may change nothing
        except io.CheckpointError as err:
            assert str(ckpt) in str(err) and "\n" not in str(err) and "pickle" not in str(err)
            kinds.add(str(err).split("): ", 1)[1][:25])
    assert len(kinds) >= 5  # many different faults were met, each a CheckpointError


def test_an_npy_header_that_claims_a_trillion_values_is_refused_unread(ckpt):
    blob = ckpt.read_bytes()
    old = b"'shape': (64, 16), }"
    new = b"'shape': (1000000, 1000000), }"  # the header's padding spaces make room: same length
    at = blob.index(old)
    end = at + len(new)
    assert blob[at + len(old):end].strip() == b""
    ckpt.write_bytes(blob[:at] + new + blob[end:])
    with pytest.raises(io.CheckpointError, match=r"member 'param/encoder.0.Dense.W': its header claims shape "
                                                 r"\(1000000, 1000000\)") as info:
        assert peak_mib(lambda: io.load_checkpoint(ckpt)) < 10
    assert str(ckpt) in str(info.value)


# -- item 13: shapes compared before allocating --------------------------------------------------------


def test_a_config_that_asks_for_huge_layers_is_refused_before_building(ckpt):
    def huge(m):
        m["model"]["encoder"]["layers"][0]["config"].update(in_features=20000, out_features=20000)

    rewrite(ckpt, huge)
    t0 = time.perf_counter()
    with pytest.raises(io.CheckpointError, match=r"asks for layers of up to about 4e\+08 values \(e.g. "
                                                 r"Dense\(in_features=20000, out_features=20000"):
        assert peak_mib(lambda: io.load_checkpoint(ckpt)) < 10
    assert time.perf_counter() - t0 < 2


def test_a_deflate_bomb_is_refused_before_inflating(ckpt):
    arrays = members(ckpt)
    with zipfile.ZipFile(ckpt, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            if name == "param/decoder.0.Dense.b":
                value = np.zeros(12_500_000)  # 100 MB of zeros, about 100 kB deflated
            with zf.open(name + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, value)
    peak = []
    with pytest.raises(io.CheckpointError, match=r"member 'param/decoder.0.Dense.b' would expand from \d+ to "
                                                 r"100000128 bytes"):
        peak.append(peak_mib(lambda: io.load_checkpoint(ckpt)))


def test_an_idx_header_with_another_shape_is_refused_before_reading(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"  # the unpacked name, holding a gzip stream
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + np.asarray([60000 * 70, 28, 28], ">u4").tobytes())
        f.write(bytes(1 << 20))
    with pytest.raises(ValueError, match=r"the header says shape \(4200000, 28, 28\), expected \(60000, 28, 28\)"):
        assert peak_mib(lambda: data.load_idx(path, expect_shape=(60000, 28, 28))) < 10


# -- item 14: every JSON field validated at load --------------------------------------------------------


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.update(epoch=float("inf")), r"'epoch' must be an int >= 0 or null, got inf"),
    (lambda m: m.update(epoch="abc"), r"'epoch' must be an int >= 0 or null, got 'abc'"),
    (lambda m: m["optimizer"].update(t=-1), r"step count 't' must be an int >= 0, got -1"),
    (lambda m: m.update(extra=[1, 2]), r"'extra' must be a JSON object or null, got a list"),
    (lambda m: m["model"].update(input_shape=[-64]), r"'input_shape' must be a list of ints >= 1"),
    (lambda m: m["history"].update(epoch=[float("inf")]), r"the saved history is damaged"),
    (lambda m: m.update(format_version=True), r"unknown checkpoint format version True"),
    (lambda m: m["params"][0].update(shape="64x16"), r"params\[0\] must be"),
])
def test_each_field_of_the_manifest_is_checked(ckpt, edit, match):
    rewrite(ckpt, edit)
    with pytest.raises(io.CheckpointError, match=match):
        io.load_checkpoint(ckpt)


def test_bad_resume_settings_are_one_line(ckpt, capsys):
    rewrite(ckpt, lambda m: m["extra"]["train"].update(batch_size=0))
    assert main(["train", "--resume", str(ckpt), "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'batch_size' must be an int >= 1, got 0" in err


def test_non_finite_weights_warn_at_save_and_at_load(tmp_path):
    model = zoo.build("ae", (64,), n_hidden=16)
    model.encoder[0].W.value[0, 0] = np.nan
    with pytest.warns(RuntimeWarning, match=r"Param\(s\) \['encoder.0.Dense.W'\] hold NaN/Inf"):
        path = io.save(tmp_path / "nan.npz", model)
    with pytest.warns(RuntimeWarning, match=r"nan.npz.*\['encoder.0.Dense.W'\] hold NaN/Inf"):
        io.load(path)


# -- item 15: stale temporary files, the user's umask ---------------------------------------------------


def test_stale_temporaries_of_the_same_checkpoint_are_removed_and_the_mode_follows_the_umask(tmp_path):
    model = zoo.build("ae", (64,), n_hidden=16)
    dead = tmp_path / ".model.npz.999999999.abc123.tmp"  # a killed save (no such process)
    old = tmp_path / ".model.npz.x9y8z7.tmp"  # an older tinyae's name, without the process id
    alive = tmp_path / f".model.npz.{os.getppid()}.def456.tmp"  # a save still running elsewhere
    other = tmp_path / ".other.npz.999999999.abc.tmp"  # another checkpoint's
    for f in (dead, old, alive, other):
        f.write_bytes(b"partial")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    mask = os.umask(0o027)
    try:
        path = io.save(tmp_path / "model.npz", model)
    finally:
        os.umask(mask)
    assert not dead.exists() and not old.exists()
    assert alive.exists() and other.exists()
    assert (path.stat().st_mode & 0o777) == 0o640
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        io.load(path)  # and a clean checkpoint loads without a warning

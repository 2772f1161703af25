"""tinyae.io: save/load round trips, exact resume, and files that are broken, edited or hostile."""

import json
import os
import pathlib
import pickle

import numpy as np
import pytest

from tinyae import data, io, train, zoo
from tinyae.optim import SGD, Adam

MODELS = list(zoo.MODELS)  # every zoo model, tied, VAE and conv included


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", flatten=False)


def rows(X, model):
    return X.reshape(len(X), *model.input_shape)


def read_npz(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def manifest_of(arrays):
    return json.loads(arrays[io.META_KEY].tobytes().decode())


def write_npz(path, arrays, manifest=None, fix_checksums=False):
    """Rewrite a checkpoint by hand, as someone editing it would (optionally with recomputed checksums)."""
    arrays = dict(arrays)
    manifest = manifest_of(arrays) if manifest is None else manifest
    if fix_checksums:
        manifest["arrays"] = {k: io.spec.array_sha256(v) for k, v in arrays.items() if k != io.META_KEY}
    arrays[io.META_KEY] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


@pytest.fixture
def saved(tmp_path, digits):
    model = zoo.build("tied", digits.image_shape)
    path = io.save(tmp_path / "model.npz", model)
    return path, model


# --------------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_round_trip_gives_identical_outputs(tmp_path, digits, name):
    model = zoo.build(name, digits.image_shape, seed=4)
    X = rows(digits.X_test[:16], model)
    train.fit(model, X, epochs=1, batch_size=8, verbose=0)  # trained weights, advanced noise generators
    path = io.save(tmp_path / "m.npz", model)
    loaded = io.load(path)
    assert type(loaded) is type(model) and loaded.config() == model.config()
    assert [label for label, _ in loaded.named_params()] == [label for label, _ in model.named_params()]
    for (_, a), (_, b) in zip(model.named_params(), loaded.named_params()):
        assert a.value.dtype == b.value.dtype and np.array_equal(a.value, b.value)
    assert np.array_equal(loaded.reconstruct(X), model.reconstruct(X))
    assert np.array_equal(loaded.encode(X), model.encode(X))
    # a training step draws the same noise (denoising masks, VAE eps) and gives the same loss and gradients
    assert loaded.rng_states() == model.rng_states()
    model.zero_grad()
    loaded.zero_grad()
    assert float(model.loss_and_backward(X)) == float(loaded.loss_and_backward(X))
    for a, b in zip(model.params(), loaded.params()):
        assert np.array_equal(a.grad, b.grad)


def test_tied_weights_stay_one_param_after_loading(saved):
    path, model = saved
    loaded = io.load(path)
    dense, tied = loaded.encoder.layers[0], loaded.decoder.layers[0]
    assert tied.W is dense.W  # the very same Param object
    assert len(list(loaded.params())) == len(list(model.params())) == 3
    assert len(read_npz(path)) == 1 + 3  # manifest + W, encoder b, decoder b: W stored once


def test_float64_model_and_gpu_free_load(tmp_path, digits):
    model = zoo.build("sparse-kl", digits.image_shape, dtype=np.float64)
    loaded = io.load(io.save(tmp_path / "m64", model))  # ".npz" appended
    assert (tmp_path / "m64.npz").is_file()
    assert next(loaded.params()).value.dtype == np.float64
    assert not loaded.training


def test_checkpoint_holds_optimizer_history_epoch_and_extra(tmp_path, digits):
    model = zoo.build("ae", digits.image_shape)
    X = rows(digits.X_train[:200], model)
    opt = SGD(model.params(), lr=0.05, momentum=0.9)
    history = train.fit(model, X, epochs=2, batch_size=50, optimizer=opt, validation_data=X[:40], verbose=0)
    io.save(tmp_path / "ck.npz", model, optimizer=opt, history=history, extra={"data": "digits", "note": [1, 2]})
    ck = io.load_checkpoint(tmp_path / "ck.npz")
    assert ck.epoch == 2 and ck.extra == {"data": "digits", "note": [1, 2]}
    assert ck.history.state() == history.state()
    assert isinstance(ck.optimizer, SGD) and ck.optimizer.config() == opt.config() and ck.optimizer.t == opt.t == 8
    assert [p for p in ck.optimizer.params] == list(ck.model.params())
    want = opt.state_dict()
    got = ck.optimizer.state_dict()
    assert set(got) == set(want) and all(np.array_equal(got[k], want[k]) for k in want)
    assert ck.format_version == io.FORMAT_VERSION and ck.tinyae_version


@pytest.mark.parametrize("name", ["ae", "denoising", "vae"])
def test_resume_from_a_checkpoint_gives_exactly_the_losses_of_an_uninterrupted_run(tmp_path, digits, name):
    """float32, exact equality: the shuffling, Adam's moments and the noise generators all carry over."""
    X = digits.X_train[:240]

    def fresh():
        model = zoo.build(name, digits.image_shape, seed=2)
        return model, rows(X, model), rows(digits.X_val[:60], model)

    model, Xr, Xv = fresh()
    straight = train.fit(model, Xr, epochs=4, batch_size=32, optimizer=Adam(model.params()), seed=9,
                         validation_data=Xv, verbose=0)

    model, Xr, Xv = fresh()
    opt = Adam(model.params())
    first = train.fit(model, Xr, epochs=2, batch_size=32, optimizer=opt, seed=9, validation_data=Xv, verbose=0)
    io.save(tmp_path / "ck.npz", model, optimizer=opt, history=first)
    del model, opt
    ck = io.load_checkpoint(tmp_path / "ck.npz")
    resumed = train.fit(ck.model, Xr, epochs=4, batch_size=32, optimizer=ck.optimizer, seed=9, validation_data=Xv,
                        initial_epoch=ck.epoch, history=ck.history, verbose=0)
    assert resumed.epoch == [1, 2, 3, 4]
    assert resumed.loss == straight.loss
    assert resumed.val_loss == straight.val_loss
    assert resumed.terms == straight.terms


def test_save_is_atomic_an_interrupted_write_leaves_the_old_file(tmp_path, digits, monkeypatch):
    model = zoo.build("ae", digits.image_shape)
    path = io.save(tmp_path / "m.npz", model)
    before = path.read_bytes()

    def dies_halfway(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        io.save(path, zoo.build("ae", digits.image_shape, seed=1))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary file left behind


def test_save_refuses_what_it_cannot_describe(tmp_path, digits):
    with pytest.raises(TypeError, match="expected a tinyae model"):
        io.save(tmp_path / "x.npz", object())
    model = zoo.build("ae", digits.image_shape)
    with pytest.raises(TypeError, match="JSON"):
        io.save(tmp_path / "x.npz", model, extra={"a": object()})
    other = zoo.build("ae", digits.image_shape)
    with pytest.raises(ValueError, match="not a Param of this model"):
        io.save(tmp_path / "x.npz", model, optimizer=Adam(other.params()))
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------------------------------
# Broken, edited and hostile files: always a CheckpointError naming the file
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.97])
def test_truncated_file(saved, keep):
    path, _ = saved
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(io.CheckpointError, match=str(path.name)):
        io.load(path)


def test_flipped_byte_in_an_array(saved):
    path, _ = saved
    raw = bytearray(path.read_bytes())
    arrays = read_npz(path)
    w = arrays["param/encoder.0.Dense.W"]
    at = bytes(raw).find(w.tobytes()[:64])  # the array's data inside the (uncompressed) archive
    assert at > 0
    raw[at + 10] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(io.CheckpointError, match="damaged|checksum") as info:
        io.load(path)
    assert "encoder.0.Dense.W" in str(info.value) and path.name in str(info.value)


def test_array_edited_by_hand_fails_its_checksum(saved):
    path, _ = saved
    arrays = read_npz(path)
    arrays["param/decoder.0.TiedDense.b"] = arrays["param/decoder.0.TiedDense.b"] + 1
    write_npz(path, arrays)
    with pytest.raises(io.CheckpointError, match="'param/decoder.0.TiedDense.b' does not match its SHA-256"):
        io.load(path)


def test_unknown_format_version(saved):
    path, _ = saved
    arrays = read_npz(path)
    manifest = manifest_of(arrays)
    manifest["format_version"] = 99
    write_npz(path, arrays, manifest)
    with pytest.raises(io.CheckpointError, match="unknown checkpoint format version 99.*newer tinyae"):
        io.load(path)


def test_unknown_layer_type(saved):
    path, _ = saved
    arrays = read_npz(path)
    manifest = manifest_of(arrays)
    manifest["model"]["encoder"]["layers"][1]["class"] = "os.system"
    write_npz(path, arrays, manifest)
    with pytest.raises(io.CheckpointError, match="cannot rebuild the model.*unknown layer 'os.system'"):
        io.load(path)


def test_missing_and_extra_arrays(saved):
    path, model = saved
    arrays = read_npz(path)
    del arrays["param/encoder.0.Dense.b"]
    write_npz(path, arrays)
    with pytest.raises(io.CheckpointError, match=r"missing array\(s\) \['param/encoder.0.Dense.b'\]"):
        io.load(path)

    arrays = read_npz(path)  # still without it
    write_npz(path, arrays, fix_checksums=True)  # checksums made consistent; the Param list still names it
    with pytest.raises(io.CheckpointError, match="no array for Param 'encoder.0.Dense.b'"):
        io.load(path)
    manifest = manifest_of(arrays)
    manifest["params"] = [e for e in manifest["params"] if e["label"] != "encoder.0.Dense.b"]
    write_npz(path, arrays, manifest, fix_checksums=True)  # a consistent file, but the model needs that Param
    with pytest.raises(io.CheckpointError, match=r"missing \['encoder.0.Dense.b'\]"):
        io.load(path)

    arrays = read_npz(io.save(path, model))
    arrays["sneaky"] = np.zeros(3)
    write_npz(path, arrays)
    with pytest.raises(io.CheckpointError, match=r"unexpected array\(s\) \['sneaky'\]"):
        io.load(path)


def test_shape_mismatch(saved):
    path, _ = saved
    arrays = read_npz(path)
    arrays["param/encoder.0.Dense.W"] = np.zeros((64, 17), np.float32)
    write_npz(path, arrays, fix_checksums=True)
    with pytest.raises(io.CheckpointError, match=r"'encoder.0.Dense.W' has shape \(64, 17\).*needs \(64, 16\)"):
        io.load(path)


def test_loading_never_executes_code(tmp_path):
    """An object array (which only pickle can hold) is refused; its payload never runs."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (pathlib.Path.touch, (marker,))

    # a checkpoint whose parameter array is an object array carrying a pickled payload
    good = io.save(tmp_path / "good.npz", zoo.build("ae", (64,)))
    arrays = read_npz(good)
    arrays["param/encoder.0.Dense.b"] = np.array([Payload()], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)  # np.savez pickles object arrays
    with pytest.raises(io.CheckpointError, match="cannot be read safely"):
        io.load(tmp_path / "evil.npz")
    # and a plain pickle file posing as a checkpoint
    (tmp_path / "evil2.npz").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(io.CheckpointError, match="evil2.npz"):
        io.load(tmp_path / "evil2.npz")
    assert not marker.exists()


def test_files_that_are_not_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        io.load(tmp_path / "nope.npz")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(io.CheckpointError, match="single .npy array"):
        io.load(tmp_path / "one.npy")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(io.CheckpointError, match="not written by tinyae.io.save"):
        io.load(tmp_path / "plain.npz")
    np.savez(tmp_path / "badjson.npz", **{io.META_KEY: np.frombuffer(b"{not json", np.uint8)})
    with pytest.raises(io.CheckpointError, match="not valid JSON"):
        io.load(tmp_path / "badjson.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(io.CheckpointError, match="text.npz"):
        io.load(tmp_path / "text.npz")


def test_unknown_optimizer_is_refused(tmp_path, digits):
    model = zoo.build("ae", digits.image_shape)
    path = io.save(tmp_path / "m.npz", model, optimizer=Adam(model.params()))
    arrays = read_npz(path)
    manifest = manifest_of(arrays)
    manifest["optimizer"]["class"] = "Evil"
    write_npz(path, arrays, manifest)
    with pytest.raises(io.CheckpointError, match="unknown optimizer 'Evil'"):
        io.load_checkpoint(path)


@pytest.mark.gpu
def test_gpu_model_saves_and_loads_on_either_device(tmp_path, digits, cupy):
    model = zoo.build("vae", digits.image_shape, dtype=np.float64).to("gpu")
    X = rows(digits.X_test[:32], model).astype(np.float64)  # the model's dtype (reconstruct refuses a mix)
    opt = Adam(model.params())
    train.fit(model, X, epochs=1, batch_size=8, optimizer=opt, verbose=0)
    path = io.save(tmp_path / "gpu.npz", model, optimizer=opt)
    on_cpu = io.load(path)
    np.testing.assert_allclose(on_cpu.reconstruct(X), cupy.asnumpy(model.reconstruct(cupy.asarray(X))), rtol=1e-12)
    ck = io.load_checkpoint(path, device="gpu")
    assert isinstance(next(ck.model.params()).value, cupy.ndarray)
    train.fit(ck.model, X, epochs=2, batch_size=8, optimizer=ck.optimizer, initial_epoch=1, verbose=0)

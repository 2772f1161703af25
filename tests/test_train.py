"""tinyae.train: fit, History, early stopping, callbacks, NaN/Inf detection, Ctrl-C, batched inference."""

import csv
import json
import os
import signal

import numpy as np
import pytest

from tinyae import data, train, zoo
from tinyae.layers.base import Layer
from tinyae.models import Autoencoder, Sequential
from tinyae.optim import SGD, Adam


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def weights(model):
    return [p.value.copy() for p in model.params()]


def same_weights(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


class Snapshots:
    """A callback that keeps the weights at the end of every epoch."""

    def __init__(self, model):
        self.model, self.at = model, {}

    def on_epoch_end(self, epoch, logs):
        self.at[epoch] = weights(self.model)


class Exploding:
    """A code 'penalty' that returns +inf on its ``at``-th call (a stand-in for any term that overflows),
    keeping a copy of the model's weights at that moment (= the weights before the failing step)."""

    name = "exploding"

    def __init__(self, model_ref, at):
        self.model_ref, self.at, self.calls, self.weights_then = model_ref, at, 0, None

    def forward(self, h):
        self.calls += 1
        if self.calls == self.at:
            self.weights_then = weights(self.model_ref[0])
            return np.asarray(np.inf, dtype=h.dtype)
        return np.zeros((), dtype=h.dtype)

    def backward(self):
        return np.zeros(1, dtype=np.float32)  # broadcasts into dh (only reached while finite)

    def clear_cache(self):
        pass

    def config(self):
        return {}


# --------------------------------------------------------------------------------------------------
# fit learns, and History records it
# --------------------------------------------------------------------------------------------------


def test_fit_reduces_loss_on_digits_and_beats_the_mean_image(digits):
    model = zoo.shallow_ae(64, output="logits")
    before = train.evaluate(model, digits.X_test)["reconstruction"]
    history = train.fit(model, digits.X_train, epochs=15, batch_size=32, optimizer=Adam(model.params(), lr=1e-2),
                        validation_data=digits.X_val, verbose=0)
    after = train.evaluate(model, digits.X_test)["reconstruction"]
    assert history.loss[-1] < 0.7 * history.loss[0]
    assert after < 0.7 * before
    recon = train.predict(model, digits.X_test)
    mse = float(((recon - digits.X_test) ** 2).mean())
    baseline = float(((digits.X_test - digits.X_train.mean(axis=0)) ** 2).mean())
    assert mse < 0.5 * baseline, (mse, baseline)


def test_history_records_every_term_and_round_trips_through_json_and_csv(digits, tmp_path):
    model = zoo.sparse_l1_ae(64, 32)
    history = train.fit(model, digits.X_train, epochs=3, batch_size=64, validation_data=digits.X_val, verbose=0)
    assert history.epoch == [1, 2, 3] and len(history) == 3
    assert set(history.terms) == {"reconstruction", "l1_activity"}
    assert set(history.val_terms) == {"reconstruction", "l1_activity"}
    assert len(history.val_loss) == 3 and all(t > 0 for t in history.epoch_time)
    for i in range(3):  # the total is the sum of its terms, epoch by epoch (both batch-weighted means)
        assert history.loss[i] == pytest.approx(history.terms["reconstruction"][i] + history.terms["l1_activity"][i],
                                                rel=1e-6)
        assert history.val_loss[i] == pytest.approx(
            history.val_terms["reconstruction"][i] + history.val_terms["l1_activity"][i], rel=1e-6)
    assert history.best_epoch == history.epoch[int(np.argmin(history.val_loss))]
    series = history.as_dict()
    assert list(series) == ["loss", "reconstruction", "l1_activity", "val_loss", "val_reconstruction",
                            "val_l1_activity"]
    assert history["val_l1_activity"] == history.val_terms["l1_activity"]

    history.to_json(tmp_path / "h.json")
    again = train.History.from_json(tmp_path / "h.json")
    assert again.state() == history.state()
    assert json.loads((tmp_path / "h.json").read_text())["params"]["batch_size"] == 64

    history.to_csv(tmp_path / "h.csv")
    with open(tmp_path / "h.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert list(rows[0]) == ["epoch", *series, "epoch_time"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["val_loss"]) for r in rows] == history.val_loss  # repr round-trips floats exactly


def test_history_from_state_refuses_a_damaged_record():
    with pytest.raises(ValueError, match="not a History record"):
        train.History.from_state({"loss": [1.0]})
    with pytest.raises(ValueError, match="2 epochs but 1 losses"):
        train.History.from_state({"epoch": [1, 2], "loss": [1.0], "epoch_time": [0.1, 0.1]})


def test_epoch_order_is_a_permutation_derived_from_seed_and_epoch_alone():
    a, b = train.epoch_order(100, 7, 3), train.epoch_order(100, 7, 3)
    assert np.array_equal(a, b) and np.array_equal(np.sort(a), np.arange(100))
    assert not np.array_equal(a, train.epoch_order(100, 7, 4))
    assert not np.array_equal(a, train.epoch_order(100, 8, 3))


def test_continuing_with_initial_epoch_gives_the_losses_of_one_uninterrupted_run(digits):
    X = digits.X_train[:300]
    m1 = zoo.denoising_ae(64, seed=3)  # a noise layer: its Generator must simply carry on
    h1 = train.fit(m1, X, epochs=4, batch_size=50, optimizer=Adam(m1.params()), seed=5, verbose=0)
    m2 = zoo.denoising_ae(64, seed=3)
    opt = Adam(m2.params())
    h2 = train.fit(m2, X, epochs=2, batch_size=50, optimizer=opt, seed=5, verbose=0)
    h2 = train.fit(m2, X, epochs=4, batch_size=50, optimizer=opt, seed=5, verbose=0, initial_epoch=2, history=h2)
    assert h2.epoch == [1, 2, 3, 4]
    assert h2.loss == h1.loss  # exact, float32
    assert same_weights(weights(m1), weights(m2))


def test_fit_argument_errors():
    model = zoo.shallow_ae(4, 2)
    X = np.full((8, 4), 0.5, dtype=np.float32)
    with pytest.raises(ValueError, match="batch_size"):
        train.fit(model, X, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="initial_epoch"):
        train.fit(model, X, epochs=2, initial_epoch=3, verbose=0)
    with pytest.raises(ValueError, match="needs validation_data"):
        train.fit(model, X, early_stopping=train.EarlyStopping(), verbose=0)
    with pytest.raises(ValueError, match="pair up"):
        train.fit(model, X, target=X[:3], verbose=0)
    with pytest.raises(ValueError, match="validation_data"):
        train.fit(model, X, validation_data=(X, X, X), verbose=0)


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------


def test_bad_data_is_refused_with_clear_messages(digits):
    model = zoo.shallow_ae(64)
    X = digits.X_train[:20].copy()
    X[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN/Inf"):
        train.fit(model, X, verbose=0)
    with pytest.raises(TypeError, match="real numbers"):
        train.fit(model, np.array([["a"] * 64] * 4), verbose=0)
    with pytest.raises(ValueError, match=r"expected data of shape \(N, 64\)"):
        train.fit(model, digits.X_train[:20, :60], verbose=0)
    images = digits.X_train[:20].reshape(20, 1, 8, 8)
    with pytest.raises(ValueError, match="flatten_images"):  # the message says how to fix it
        train.fit(model, images, verbose=0)
    with pytest.raises(ValueError, match="NaN/Inf"):
        train.fit(model, digits.X_train[:20], validation_data=X, verbose=0)


def test_bce_models_refuse_data_outside_the_unit_interval(digits):
    bce = zoo.shallow_ae(64, output="logits")  # BCE on the logits: targets must be probabilities
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train.fit(bce, digits.X_train[:50] * 2, verbose=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train.evaluate(bce, digits.X_train[:50] - 0.5)
    assert train.predict(bce, digits.X_train[:50] * 2).shape == (50, 64)  # no loss, no range to respect
    # an MSE model takes any real values
    mse = zoo.shallow_ae(64, output="linear")
    train.fit(mse, digits.X_train[:50] * 2 - 1, epochs=1, verbose=0)
    # with a separate target only the target must lie in [0, 1]: the input may be corrupted beyond it
    train.fit(bce, digits.X_train[:50] * 2, target=digits.X_train[:50], epochs=1, verbose=0)


# --------------------------------------------------------------------------------------------------
# Early stopping and callbacks
# --------------------------------------------------------------------------------------------------


def rising_validation(digits):
    """Validation data whose loss rises while the model learns: the target is the negative image 1 - x."""
    return digits.X_val, 1 - digits.X_val


def test_early_stopping_restores_the_weights_of_the_best_epoch(digits):
    model = zoo.shallow_ae(64, seed=1)
    snaps = Snapshots(model)
    es = train.EarlyStopping(patience=2)
    history = train.fit(model, digits.X_train, epochs=30, batch_size=32, optimizer=Adam(model.params(), lr=1e-2),
                        validation_data=rising_validation(digits), early_stopping=es, callbacks=[snaps], verbose=0)
    best = history.best_epoch
    assert history.stopped_early and not history.interrupted
    assert history.epoch[-1] == best + 2 < 30  # patience 2: two epochs without improvement, then stop
    assert history.val_loss[-1] > min(history.val_loss)
    assert es.best_epoch == best
    assert same_weights(weights(model), snaps.at[best])
    assert not same_weights(weights(model), snaps.at[history.epoch[-1]])


def test_early_stopping_without_restore_keeps_the_last_weights(digits):
    model = zoo.shallow_ae(64, seed=1)
    snaps = Snapshots(model)
    history = train.fit(model, digits.X_train, epochs=30, batch_size=32, optimizer=Adam(model.params(), lr=1e-2),
                        validation_data=rising_validation(digits), callbacks=[snaps], verbose=0,
                        early_stopping=train.EarlyStopping(patience=1, restore_best=False))
    assert history.stopped_early
    assert same_weights(weights(model), snaps.at[history.epoch[-1]])


def test_early_stopping_min_delta_and_arguments():
    es = train.EarlyStopping(patience=2, min_delta=0.1)
    assert es.update(1, {"val_loss": 1.0}) == (True, False)
    assert es.update(2, {"val_loss": 0.95}) == (False, False)  # better, but by less than min_delta
    assert es.update(3, {"val_loss": 0.95}) == (False, True)
    assert es.best_epoch == 1
    with pytest.raises(ValueError, match="patience"):
        train.EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="min_delta"):
        train.EarlyStopping(min_delta=float("nan"))


def test_callbacks_see_the_logs_and_can_stop(digits):
    model = zoo.shallow_ae(64)
    seen = []

    def plain_function(epoch, logs):
        seen.append((epoch, sorted(logs)))
        return epoch == 2  # True stops training

    class Quiet:
        def on_epoch_end(self, epoch, logs):
            return "not True: ignored"

    history = train.fit(model, digits.X_train[:200], epochs=10, validation_data=digits.X_val,
                        callbacks=[Quiet(), plain_function], verbose=0)
    assert history.epoch == [1, 2] and history.stopped_early
    assert seen[0] == (1, sorted(["epoch", "loss", "reconstruction", "val_loss", "val_reconstruction",
                                  "epoch_time"]))
    with pytest.raises(TypeError, match="callback"):
        train.fit(model, digits.X_train[:20], epochs=1, callbacks=[42], verbose=0)


# --------------------------------------------------------------------------------------------------
# NaN / Inf
# --------------------------------------------------------------------------------------------------


def test_a_term_that_overflows_stops_training_naming_epoch_step_and_term(digits):
    ref = []
    bomb = Exploding(ref, at=13)  # 1294 samples / 128 = 11 steps per epoch: the 13th call is epoch 2, step 2
    model = zoo.shallow_ae(64)
    model = Autoencoder(model.encoder, model.decoder, penalties=[bomb], input_shape=(64,))
    ref.append(model)
    snaps = Snapshots(model)
    with pytest.raises(train.TrainingError) as info:
        train.fit(model, digits.X_train, epochs=5, verbose=0, callbacks=[snaps])
    err = info.value
    assert isinstance(err, FloatingPointError)
    assert (err.epoch, err.step, err.term) == (2, 2, "exploding")
    msg = str(err)
    assert "epoch 2, step 2" in msg and "'exploding'" in msg and "learning rate" in msg
    # The weights of the failing step gave the inf; those at the start of epoch 2 gave a finite loss at its step 1.
    assert "restored to the weights at the start of epoch 2 (its step 1 gave the finite loss" in msg
    assert same_weights(weights(model), snaps.at[1])
    assert len(err.history) == 1  # the completed epoch is kept


def test_an_absurd_learning_rate_is_caught_with_advice(digits):
    model = zoo.shallow_ae(64, output="linear")  # nothing bounds a linear output: it can overflow
    with pytest.raises(train.TrainingError, match=r"lower the learning rate \(now 1e\+08") as info:
        train.fit(model, digits.X_train, epochs=3, optimizer=SGD(model.params(), lr=1e8), verbose=0)
    assert info.value.epoch == 1
    assert all(np.isfinite(p.value).all() for p in model.params())


def test_weights_poisoned_by_a_step_are_rolled_back_to_the_start_of_the_epoch(digits):
    model = zoo.shallow_ae(64)

    class PoisoningSGD(SGD):
        def step(self):
            super().step()
            if self.t == 14:  # epoch 2, step 3 (11 steps per epoch)
                self.params[0].value[0, 0] = np.nan

    snaps = Snapshots(model)
    with pytest.raises(train.TrainingError, match="restored to the weights at the start of epoch 2") as info:
        train.fit(model, digits.X_train, epochs=3, optimizer=PoisoningSGD(model.params(), lr=0.1),
                  callbacks=[snaps], verbose=0)
    assert (info.value.epoch, info.value.step) == (2, 4)
    assert "NaN/Inf" in str(info.value)
    assert same_weights(weights(model), snaps.at[1])


def test_a_layer_producing_inf_is_reported_as_divergence(digits):
    class Exp(Layer):
        def forward(self, x, training=False):
            return np.exp(x * 1e4)

        def backward(self, dy):
            raise AssertionError("not reached")

    base = zoo.shallow_ae(64)
    model = Autoencoder(Sequential(*base.encoder.layers, Exp()), base.decoder, input_shape=(64,))
    with pytest.raises(train.TrainingError, match="epoch 1, step 1: a NaN/Inf appeared inside the model"):
        train.fit(model, digits.X_train, epochs=1, verbose=0)


def test_other_errors_inside_the_model_are_not_disguised(digits):
    class Broken(Layer):
        def forward(self, x, training=False):
            raise ValueError("a plain bug")

    base = zoo.shallow_ae(64)
    model = Autoencoder(Sequential(*base.encoder.layers, Broken()), base.decoder, input_shape=(64,))
    with pytest.raises(ValueError, match="a plain bug"):
        train.fit(model, digits.X_train, epochs=1, verbose=0)


# --------------------------------------------------------------------------------------------------
# Ctrl-C
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def default_sigint():
    """Python's own SIGINT handler for the test (a test runner may have installed another)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def test_keyboard_interrupt_returns_the_history_with_the_best_weights(digits):
    model = zoo.shallow_ae(64, seed=1)
    snaps = Snapshots(model)

    def interrupt(epoch, logs):
        if epoch == 4:
            raise KeyboardInterrupt

    history = train.fit(model, digits.X_train, epochs=30, batch_size=32, optimizer=Adam(model.params(), lr=1e-2),
                        validation_data=rising_validation(digits), callbacks=[snaps, interrupt], verbose=0)
    assert history.interrupted and not history.stopped_early
    assert history.epoch == [1, 2, 3, 4]
    assert history.best_epoch < 4
    assert same_weights(weights(model), snaps.at[history.best_epoch])
    assert not model.training  # left in eval mode


def test_keyboard_interrupt_without_validation_keeps_the_current_weights(digits):
    model = zoo.shallow_ae(64)
    snaps = Snapshots(model)

    def interrupt(epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    history = train.fit(model, digits.X_train[:100], epochs=5, callbacks=[snaps, interrupt], verbose=0)
    assert history.interrupted and history.epoch == [1, 2]
    assert same_weights(weights(model), snaps.at[2])


def test_ctrl_c_finishes_the_current_step_then_stops(digits, default_sigint):
    ref = []

    class CtrlC:  # presses Ctrl-C (sends SIGINT) during the forward pass of the 3rd step
        name = "ctrl_c"
        calls = 0

        def forward(self, h):
            self.calls += 1
            if self.calls == 3:
                os.kill(os.getpid(), signal.SIGINT)
            return np.zeros((), dtype=h.dtype)

        def backward(self):
            return np.zeros(1, dtype=np.float32)

    base = zoo.shallow_ae(64)
    model = Autoencoder(base.encoder, base.decoder, penalties=[CtrlC()], input_shape=(64,))
    ref.append(model)
    opt = Adam(model.params())
    history = train.fit(model, digits.X_train, epochs=5, optimizer=opt, verbose=0)
    assert history.interrupted and len(history) == 0
    assert opt.t == 3  # the step that was running when Ctrl-C came was completed, no other was started
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler put back


def test_ctrl_c_between_epochs_stops_after_the_epoch(digits, default_sigint, capsys):
    def press(epoch, logs):
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)

    model = zoo.shallow_ae(64)
    history = train.fit(model, digits.X_train[:100], epochs=5, callbacks=[press], verbose=2)
    assert history.interrupted and history.epoch == [1, 2]
    out = capsys.readouterr().out
    assert "Ctrl-C: stopping after this step" in out and "interrupted after 2 complete epoch(s)" in out


# --------------------------------------------------------------------------------------------------
# Progress output
# --------------------------------------------------------------------------------------------------


def test_verbose_0_prints_nothing_and_non_tty_prints_one_line_per_epoch(digits, capsys):
    model = zoo.shallow_ae(64)
    train.fit(model, digits.X_train[:100], epochs=2, validation_data=digits.X_val, verbose=0)
    assert capsys.readouterr().out == ""
    train.fit(model, digits.X_train[:100], epochs=2, validation_data=digits.X_val, verbose=1)  # captured: no TTY
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2") and "val_loss" in lines[0] and "reconstruction" in lines[0]


def test_a_terminal_gets_a_progress_bar_with_loss_and_val_loss(digits, capsys, monkeypatch):
    monkeypatch.setattr(train.progress, "_isatty", lambda stream: True)
    model = zoo.shallow_ae(64)
    train.fit(model, digits.X_train[:300], epochs=2, batch_size=50, validation_data=digits.X_val, verbose=1)
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and "6/6" in out and "val_loss" in out


# --------------------------------------------------------------------------------------------------
# predict / encode / evaluate in batches
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ae", "sparse-l1", "denoising", "tied"])
def test_batched_inference_equals_one_pass(digits, name):
    model = zoo.build(name, (64,), dtype=np.float64)
    X = digits.X_test.astype(np.float64)
    np.testing.assert_allclose(train.predict(model, X, batch_size=37), model.reconstruct(X), rtol=1e-12, atol=0)
    np.testing.assert_allclose(train.encode(model, X, batch_size=37), model.encode(X), rtol=1e-12, atol=0)
    scores = train.evaluate(model, X, batch_size=37)
    total = model.evaluate_loss(X)
    assert scores["loss"] == pytest.approx(float(total), rel=1e-12)
    for key, value in model.terms.items():
        assert scores[key] == pytest.approx(float(value), rel=1e-12)


def test_vae_encode_in_batches_returns_the_means(digits):
    model = zoo.vae(64, latent_dim=2, dtype=np.float64)
    X = digits.X_test.astype(np.float64)
    np.testing.assert_allclose(train.encode(model, X, batch_size=100), model.encode(X), rtol=1e-12, atol=0)
    assert train.predict(model, X, batch_size=100).shape == X.shape


def test_inference_restores_the_training_mode_and_checks_its_input(digits):
    model = zoo.shallow_ae(64).train()
    train.predict(model, digits.X_test[:10])
    assert model.training
    with pytest.raises(ValueError, match="batch_size"):
        train.predict(model, digits.X_test, batch_size=0)
    with pytest.raises(ValueError, match=r"predict\(X\)"):
        train.predict(model, digits.X_test[:, :10])


# --------------------------------------------------------------------------------------------------
# GPU (skipped without CuPy and a device)
# --------------------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_fit_predict_evaluate_on_the_gpu_match_the_cpu(digits, cupy):
    X = digits.X_train[:256].astype(np.float64)  # float64: CPU and GPU agree to rounding, not to float32 noise
    cpu = zoo.shallow_ae(64, dtype=np.float64)
    gpu = zoo.shallow_ae(64, dtype=np.float64).to("gpu")
    h_cpu = train.fit(cpu, X, epochs=2, batch_size=32, validation_data=X[:64], verbose=0)
    h_gpu = train.fit(gpu, X, epochs=2, batch_size=32, validation_data=X[:64], verbose=0)  # host X, moved per batch
    np.testing.assert_allclose(h_gpu.loss, h_cpu.loss, rtol=1e-9)
    np.testing.assert_allclose(h_gpu.val_loss, h_cpu.val_loss, rtol=1e-9)
    R = train.predict(gpu, X, batch_size=100)
    assert isinstance(R, np.ndarray)  # host in, host out
    np.testing.assert_allclose(R, train.predict(cpu, X), rtol=1e-9)
    R_dev = train.predict(gpu, cupy.asarray(X), batch_size=100)
    assert isinstance(R_dev, cupy.ndarray)  # device in, device out
    assert train.evaluate(gpu, X)["loss"] == pytest.approx(train.evaluate(cpu, X)["loss"], rel=1e-9)
    h_dev = train.fit(gpu, cupy.asarray(X), epochs=1, batch_size=32, verbose=0)  # data already on the device
    assert np.isfinite(h_dev.loss[0])


def test_divergence_is_recognised_by_the_error_type_not_by_its_words():
    """Layers and losses raise backend.NonFiniteError for a NaN/Inf (or an infinite KL): fit stops with a
    TrainingError, whatever the message says. Any other ValueError, even one that mentions NaN/Inf, is a
    bug to show as it is while the weights are finite."""
    from tinyae import backend
    from tinyae.layers import Dense
    from tinyae.layers.base import Layer
    from tinyae.models import Autoencoder
    from tinyae.optim import Adam
    from tinyae.train import TrainingError, fit

    class Raises(Layer):
        def __init__(self, error):
            self.error = error

        def forward(self, x, training=False):
            raise self.error

        def backward(self, dy):
            return dy

    x = np.random.default_rng(0).uniform(size=(8, 4)).astype(np.float32)

    def model(error):
        return Autoencoder([Dense(4, 2), Raises(error)], [Dense(2, 4)])

    m = model(backend.NonFiniteError("a custom layer: the numbers blew up"))
    with pytest.raises(TrainingError, match="training diverged"):
        fit(m, x, epochs=1, batch_size=4, optimizer=Adam(m.params()), verbose=0)
    m = model(ValueError("a custom layer: a message that merely mentions NaN/Inf"))
    with pytest.raises(ValueError, match="merely mentions NaN/Inf") as err:
        fit(m, x, epochs=1, batch_size=4, optimizer=Adam(m.params()), verbose=0)
    assert not isinstance(err.value, TrainingError)

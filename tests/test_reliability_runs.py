"""Issue 15, lost or damaged work: double Ctrl-C, a bad --out, divergence, an interrupted tour.

Ctrl-C is sent as a real SIGINT (os.kill) at the worst moments: in the middle of restoring the best
weights, during the optimizer's update, while `tinyae train` saves; and twice, a few ms apart, to a real
`tinyae train` process.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinyae import data, io, train, zoo
from tinyae.cli import main
from tinyae.models import VAE, Autoencoder
from tinyae.optim import Adam

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


@pytest.fixture
def default_sigint():
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def press_ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


def weights(model):
    return [p.value.copy() for p in model.params()]


# -- item 1: a second Ctrl-C never leaves a mixed model -----------------------------------------------


def test_a_second_ctrl_c_in_the_middle_of_restoring_the_best_weights_waits_for_it(digits, default_sigint,
                                                                                  monkeypatch):
    model = zoo.stacked_ae(64, sizes=(32, 16), seed=1)  # 12 Params
    snaps = {}
    X, Xv = digits.X_train[:200], digits.X_val[:50]

    def keep_and_press(epoch, logs):
        snaps[epoch] = weights(model)
        if epoch == 3:
            press_ctrl_c()  # the first: fit stops after this epoch and restores the best weights

    real_restore = train.rescue.restore

    def restore_pressing_halfway(m, snapshot):  # the second Ctrl-C arrives after 6 of 12 Params
        params = list(m.params())
        for i, (p, value) in enumerate(zip(params, snapshot)):
            if i == len(params) // 2:
                press_ctrl_c()
            p.value[...] = value
        assert real_restore  # the real one does the same loop, without the press

    monkeypatch.setattr(train.rescue, "restore", restore_pressing_halfway)
    history = train.fit(model, X, epochs=20, batch_size=32, optimizer=Adam(model.params(), lr=1e-2),
                        validation_data=Xv, callbacks=[keep_and_press], verbose=0)
    assert history.interrupted and history.epoch == [1, 2, 3]
    best = snaps[history.best_epoch]
    assert all(np.array_equal(a, b) for a, b in zip(weights(model), best))  # all 12, not 6 of them


def test_a_second_ctrl_c_during_the_optimizer_update_is_held_until_the_update_is_complete(digits, default_sigint):
    X = digits.X_train[:160]

    class PressingAdam(Adam):
        def step(self):
            if self.t == 2:  # inside the update of the 3rd step: two presses
                press_ctrl_c()
                press_ctrl_c()
            super().step()

    model = zoo.shallow_ae(64, seed=3)
    opt = PressingAdam(model.params(), lr=1e-2)
    history = train.fit(model, X, epochs=5, batch_size=32, optimizer=opt, shuffle=False, verbose=0)
    assert history.interrupted and opt.t == 3  # the 3rd update was finished, no 4th started
    reference = zoo.shallow_ae(64, seed=3)
    ref_opt = Adam(reference.params(), lr=1e-2)
    for a in range(0, 96, 32):  # three plain steps on the same batches
        reference.zero_grad()
        reference.loss_and_backward(X[a:a + 32], training=True)
        ref_opt.step()
    assert all(np.array_equal(a, b) for a, b in zip(weights(model), weights(reference)))


def test_ctrl_c_while_train_saves_the_run_still_saves_it(tmp_path, monkeypatch, default_sigint, capsys):
    real_step, real_save = Autoencoder.loss_and_backward, io.save
    calls = []

    def step_pressing(*a, **k):  # the first Ctrl-C during training
        calls.append(1)
        if len(calls) == 5:
            press_ctrl_c()
        return real_step(*a, **k)

    def save_pressing(*a, **k):  # the second one after fit has returned, while the checkpoint is written
        press_ctrl_c()
        return real_save(*a, **k)

    monkeypatch.setattr(Autoencoder, "loss_and_backward", step_pressing)
    monkeypatch.setattr(io, "save", save_pressing)
    out = tmp_path / "cc"
    rc = main(["train", "--model", "stacked", "--epochs", "300", "--limit", "200", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 130 and "interrupted while saving: the run is saved" in err
    ck = io.load_checkpoint(out / "model.npz")
    assert ck.history.interrupted and ck.extra["train"]["interrupted"]
    assert (out / "history.json").is_file()


def test_two_real_sigints_a_few_ms_apart_save_the_run(tmp_path):
    out = tmp_path / "cc"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tinyae", "train", "--model", "stacked", "--epochs", "300",
                             "--limit", "100", "--out", str(out), "--no-figures"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # one line per epoch (not a terminal)
            if line.startswith("epoch 2/"):
                break
        proc.send_signal(signal.SIGINT)
        time.sleep(0.003)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    ck = io.load_checkpoint(out / "model.npz")
    assert ck.history.interrupted and len(ck.history) >= 2


# -- item 2: the run folder is checked before training, an earlier run is never replaced ---------------


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr("tinyae.cli.train.fit", refuse)  # the name `tinyae train` calls it by


def test_an_out_that_is_a_file_or_cannot_be_made_is_refused_before_training(tmp_path, capsys, no_training):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    assert main(["train", "--model", "ae", "--out", str(afile), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not a folder" in err
    assert afile.read_text() == "mine"
    assert main(["train", "--model", "ae", "--out", str(afile / "sub"), "--quiet"]) == 2  # under a file
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write the run folder" in err


def test_an_earlier_run_is_refused_without_force_and_the_default_folder_gets_a_fresh_number(tmp_path, capsys,
                                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", "--model", "ae", "--epochs", "1", "--limit", "64", "--no-figures", "--quiet"]
    assert main([*args, "--out", "run"]) == 0
    before = (tmp_path / "run" / "model.npz").read_bytes()
    assert main(["train", "--model", "vae", "--epochs", "1", "--out", "run", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run (model.npz, history.json, history.csv)" in err and "--force" in err
    assert (tmp_path / "run" / "model.npz").read_bytes() == before  # the ae is still there
    assert main([*args, "--out", "run", "--force"]) == 0
    assert main(args) == 0 and main(args) == 0  # the default folder, twice
    assert (tmp_path / "runs" / "ae-digits" / "model.npz").is_file()
    assert (tmp_path / "runs" / "ae-digits-2" / "model.npz").is_file()


# -- item 3: after divergence the kept weights give a finite loss ---------------------------------------


@pytest.mark.parametrize("name, lr", [("vae", 1e3), ("sparse-kl", 1e6)])
def test_after_divergence_the_kept_weights_give_a_finite_loss(digits, name, lr):
    model = zoo.build(name, (1, 8, 8), seed=0)
    X = digits.X_train[:256]
    with pytest.raises(train.TrainingError, match=r"restored to the weights at the start of epoch 1 \(its step 1 "
                                                  r"gave the finite loss") as info:
        train.fit(model, X, epochs=5, batch_size=32, optimizer=Adam(model.params(), lr=lr), verbose=0)
    assert "\n" not in str(info.value)  # one line, with what to try
    scores = train.evaluate(model, X)
    assert all(np.isfinite(v) for v in scores.values())


def test_divergence_with_validation_keeps_the_best_validation_epoch(digits):
    model = zoo.build("vae", (1, 8, 8), seed=0)
    X, Xv = digits.X_train[:256], digits.X_val[:64]
    snaps = {}

    class Boost(Adam):  # trains well for 2 epochs, then a huge rate makes it diverge
        def step(self):
            self.lr = 1e-3 if self.t < 16 else 1e4
            super().step()

    with pytest.raises(train.TrainingError, match="restored to the weights of the best validation epoch 2") as info:
        train.fit(model, X, epochs=10, batch_size=32, optimizer=Boost(model.params()), validation_data=Xv,
                  callbacks=[lambda e, logs: snaps.__setitem__(e, weights(model))], verbose=0)
    assert info.value.epoch == 3
    assert all(np.array_equal(a, b) for a, b in zip(weights(model), snaps[2]))
    assert np.isfinite(train.evaluate(model, X)["loss"])


def test_train_saves_what_it_kept_when_training_diverges(tmp_path, capsys, monkeypatch):
    out = tmp_path / "kl"
    rc = main(["train", "--model", "sparse-kl", "--lr", "1e6", "--epochs", "3", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    # item 8: a KL code driven to 0 or 1 is the divergence it is, not a plain ValueError's traceback
    assert rc == 2 and err.count("\n") == 1 and "training diverged at epoch 1, step 2" in err
    assert not (out / "model.npz").exists()  # it diverged in its first epoch: nothing learned, nothing saved
    real_step, calls = VAE.loss_and_backward, []

    def nan_in_epoch_2(*a, **k):  # 256 samples / 32 = 8 steps per epoch: step 12 is in epoch 2
        calls.append(1)
        loss = real_step(*a, **k)
        return loss * float("nan") if len(calls) == 12 else loss

    monkeypatch.setattr(VAE, "loss_and_backward", nan_in_epoch_2)
    out = tmp_path / "vae"
    rc = main(["train", "--model", "vae", "--epochs", "9", "--limit", "256", "--out", str(out), "--quiet",
               "--no-figures"])
    err = capsys.readouterr().err
    assert rc == 1 and "training diverged at epoch" in err and "saved" in err
    ck = io.load_checkpoint(out / "model.npz")
    assert "diverged" in ck.extra["train"] and len(ck.history) >= 1


# -- item 4: the tour says it was interrupted ---------------------------------------------------------


def test_an_interrupted_tour_says_so_marks_the_report_and_exits_130(tmp_path, monkeypatch, default_sigint, capsys):
    monkeypatch.setattr("tinyae.cli.tour._gradcheck", lambda lines: (lines.append("gradient table") or (1, 1, 0.0)))
    real_fit, calls = train.fit, []

    def fit_pressed_in_the_second_model(*a, callbacks=(), **k):
        calls.append(1)
        extra = [lambda epoch, logs: press_ctrl_c()] if len(calls) == 2 else []
        return real_fit(*a, callbacks=[*callbacks, *extra], **k)

    monkeypatch.setattr("tinyae.experiment.fit", fit_pressed_in_the_second_model)  # the tour trains through it
    out = tmp_path / "tour"
    assert main(["tour", "--quick", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "interrupted by Ctrl-C during the training of the sparse AE (KL)" in err
    report = (out / "report.md").read_text()
    assert report.startswith("# tinyae tour on digits (INTERRUPTED)")
    assert "| sparse AE (KL) |" in report and "(stopped by Ctrl-C)" in report
    assert "denoising AE |" not in report and not list(out.glob("*.png"))

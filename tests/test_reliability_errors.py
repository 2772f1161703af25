"""Issue 15, items 5-11: bad input gets ONE line, naming what was expected and what came in, before any work."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyae import data, train, zoo
from tinyae.cli import main
from tinyae.optim import Adam

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "demos"))
import _common  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if training, a gradient check or a benchmark starts."""

    def refuse(*a, **k):
        raise AssertionError("work started before the arguments were checked")

    # The commands' own names for fit first: patching them imports their modules, which must bind the real fit
    monkeypatch.setattr("tinyae.cli.train.fit", refuse)  # the name `tinyae train` calls it by
    monkeypatch.setattr("tinyae.experiment.fit", refuse)  # and the tour's (tinyae.experiment.train)
    monkeypatch.setattr(train, "fit", refuse)
    monkeypatch.setattr("tinyae.cli.tour._gradcheck", refuse)
    monkeypatch.setattr("tinyae.cli.bench.measure_round", refuse)


def one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


# -- item 5: arguments first -------------------------------------------------------------------------


@pytest.mark.parametrize("argv, needles", [
    (["train", "--model", "ae", "--lr", "inf"], ["--lr must be a finite number > 0, got inf"]),
    (["train", "--model", "ae", "--seed", "-1"], ["--seed must be >= 0, got -1"]),
    (["train", "--model", "ae", "--epochs", "0"], ["--epochs must be >= 1, got 0"]),
    (["train", "--model", "vae", "--arg", "latent_dim=two"], ["--arg latent_dim: expected an int, got 'two'"]),
    (["train", "--model", "ae", "--arg", "sizes=[10]"], ["'ae' takes no argument 'sizes'"]),
    (["train", "--model", "ae", "--data", "digitz"], ["unknown dataset 'digitz'"]),
    (["eval", "x.npz", "--batch-size", "0"], ["--batch-size must be >= 1, got 0"]),
])
def test_bad_arguments_are_one_line_before_any_work(argv, needles, capsys, no_work, tmp_path):
    assert main([*argv, *(["--out", str(tmp_path / "o")] if argv[0] == "train" else [])]) == 2
    one_line_error(capsys, *needles)


def test_tour_checks_its_folder_and_data_before_the_gradient_table(tmp_path, capsys, no_work, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["tour", "--out", str(afile)]) == 2
    one_line_error(capsys, "is a file, not a folder")
    monkeypatch.setenv("TINYAE_DATA_DIR", str(tmp_path / "empty"))
    assert main(["tour", "--data", "mnist", "--out", str(tmp_path / "t")]) == 2  # no_work: no gradient table
    assert "not available offline" in capsys.readouterr().err


def test_bench_checks_json_path_and_backend_before_measuring(tmp_path, capsys, no_work, monkeypatch):
    with pytest.raises(SystemExit, match=r"--json .*x.json: the folder .*no-such-dir does not exist"):
        main(["bench", "dense", "--inprocess", "--json", str(tmp_path / "no-such-dir" / "x.json")])
    from tinyae import backend

    monkeypatch.setattr(backend, "gpu_available", lambda: False)  # item 10: as on a machine without CuPy
    with pytest.raises(SystemExit) as info:
        main(["bench", "dense", "--inprocess", "--backend", "gpu"])
    msg = str(info.value)
    assert "\n" not in msg and "--backend gpu needs CuPy" in msg and "Traceback" not in msg


@pytest.mark.parametrize("argv, needle", [(["--epochs", "0"], "--epochs must be >= 1, got 0"),
                                          (["--data", "digitz"], "unknown dataset 'digitz'"),
                                          (["--seed", "-3"], "--seed must be >= 0")])
def test_demo_arguments_are_checked_by_the_parser(argv, needle, capsys):
    with pytest.raises(SystemExit) as info:
        _common.parse_args("doc", "dense_ae", argv)
    assert info.value.code == 2
    assert needle in capsys.readouterr().err


def test_fit_checks_eval_batch_size_before_the_first_step(digits):
    model = zoo.shallow_ae(64)
    before = [p.value.copy() for p in model.params()]
    with pytest.raises(ValueError, match="eval_batch_size must be a positive int, got 0"):
        train.fit(model, digits.X_train[:64], epochs=1, validation_data=digits.X_val[:10], eval_batch_size=0,
                  verbose=0)
    assert all(np.array_equal(a, p.value) for a, p in zip(before, model.params()))


# -- item 6: eval takes a run folder; a wrong file is named for what it is -----------------------------


def test_eval_takes_the_run_folder_and_names_a_json_file(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "ae", "--epochs", "1", "--limit", "64", "--out", str(run), "--quiet",
                 "--no-figures"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    assert "reconstruction MSE per pixel" in capsys.readouterr().out
    assert main(["eval", str(run / "history.json")]) == 2
    err = one_line_error(capsys, "this is a JSON file (a run's history.json?), not a tinyae checkpoint")
    assert "pickle" not in err


# -- item 7: an optimizer over another model's Params ---------------------------------------------------


def test_fit_refuses_an_optimizer_over_another_models_params(digits):
    model, other = zoo.shallow_ae(64, seed=0), zoo.shallow_ae(64, seed=1)
    with pytest.raises(ValueError, match=r"updates none of the model's 4 Params \(it was built over another"):
        train.fit(model, digits.X_train[:64], epochs=1, optimizer=Adam(other.params()), verbose=0)
    with pytest.raises(ValueError, match="updates 2 of the model's 4 Params"):
        train.fit(model, digits.X_train[:64], epochs=1, optimizer=Adam(model.encoder.params()), verbose=0)


# -- item 9: a closed pipe ----------------------------------------------------------------------------


def test_a_closed_pipe_ends_quietly(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tinyae", "gradcheck", "-v"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    proc.stdout.readline()
    proc.stdout.close()  # `| head -1`
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141


# -- item 11: what to change, not a raw PermissionError or MemoryError -----------------------------------


def test_an_unreadable_data_cache_says_what_to_change(tmp_path, monkeypatch):
    def denied(key, remote, role, folder, download):
        raise PermissionError(13, "Permission denied", str(folder))

    monkeypatch.setattr(data.loading, "ensure_file", denied)
    with pytest.raises(data.DatasetUnavailableError, match=r"cannot read the data cache at .*mnist: Permission "
                                                           r"denied; make it readable, or give another folder"):
        data.load("mnist", data_dir=tmp_path)


def test_a_model_too_large_for_memory_is_refused_before_allocating(tmp_path, capsys, no_work):
    assert main(["train", "--model", "stacked", "--arg", "sizes=[100000000000,10]", "--out", str(tmp_path / "m"),
                 "--quiet"]) == 2
    one_line_error(capsys, "asks for a weight matrix of about", "give smaller sizes")
    assert not (tmp_path / "m").exists()  # and no empty folder left behind

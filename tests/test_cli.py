"""The `tinyae train` and `tinyae eval` commands, run through tinyae.cli.main as the console script runs them."""

import importlib.util
import json
import subprocess
import sys

import pytest

from tinyae import zoo
from tinyae.cli import COMMANDS, main


def train(tmp_path, *extra, out="run"):
    out_dir = tmp_path / out
    rc = main(["train", "--data", "digits", "--out", str(out_dir), "--quiet", *extra])
    return rc, out_dir


def test_train_writes_checkpoint_history_and_figures_then_eval_reads_it(tmp_path, capsys):
    rc, out = train(tmp_path, "--model", "ae", "--epochs", "1")
    assert rc == 0
    for name in ("model.npz", "history.json", "history.csv"):
        assert (out / name).is_file(), name
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1] and len(history["val_loss"]) == 1 and "reconstruction" in history["terms"]
    assert len((out / "history.csv").read_text().splitlines()) == 2
    if importlib.util.find_spec("tinyae.viz") is not None:
        assert (out / "loss_curves.png").is_file() and (out / "reconstructions.png").is_file()
    capsys.readouterr()

    assert main(["eval", str(out / "model.npz")]) == 0
    text = capsys.readouterr().out
    assert "digits test split, 359 samples" in text
    assert "reconstruction" in text and "baseline, the mean training image" in text


def test_train_conv_model_on_images_and_builder_arguments(tmp_path, capsys):
    rc, out = train(tmp_path, "--model", "conv", "--epochs", "1", "--limit", "64", "--no-figures")
    assert rc == 0 and (out / "model.npz").is_file()
    rc, out = train(tmp_path, "--model", "sparse-kl", "--epochs", "1", "--limit", "64", "--no-figures",
                    "--arg", "rho=0.05", "--arg", "n_hidden=20", out="kl")
    assert rc == 0
    history = json.loads((out / "history.json").read_text())
    assert "kl_sparsity" in history["terms"]
    assert main(["eval", str(out / "model.npz"), "--split", "val"]) == 0
    assert "kl_sparsity" in capsys.readouterr().out


def test_resume_continues_exactly(tmp_path):
    common = ["--model", "denoising", "--limit", "200", "--batch-size", "32", "--no-figures", "--seed", "3"]
    assert train(tmp_path, *common, "--epochs", "3", out="straight")[0] == 0
    rc, out = train(tmp_path, *common, "--epochs", "2", out="resumed")
    assert rc == 0
    assert main(["train", "--resume", str(out / "model.npz"), "--epochs", "3", "--quiet", "--no-figures"]) == 0
    straight = json.loads((tmp_path / "straight" / "history.json").read_text())
    resumed = json.loads((out / "history.json").read_text())
    assert resumed["epoch"] == [1, 2, 3]
    assert resumed["loss"] == straight["loss"] and resumed["val_loss"] == straight["val_loss"]


def test_user_errors_give_a_message_and_status_2(tmp_path, capsys):
    assert main(["train", "--data", "digits", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "give --model NAME" in capsys.readouterr().err
    rc, _ = train(tmp_path, "--model", "ae", "--arg", "no_such_argument=1", "--no-figures")
    assert rc == 2 and "cannot build 'ae'" in capsys.readouterr().err
    rc, _ = train(tmp_path, "--model", "ae", "--epochs", "0")
    assert rc == 2 and "--epochs" in capsys.readouterr().err
    rc, _ = train(tmp_path, "--model", "ae", "--data", "no-such-data")
    assert rc == 2 and "unknown dataset" in capsys.readouterr().err

    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really")
    assert main(["eval", str(broken)]) == 2
    assert "broken.npz" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse refuses an unknown model name itself
        main(["train", "--model", "nope"])


def test_train_help_teaches_every_model_with_an_example(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for name, description in zoo.MODELS.items():
        assert f"  {name}" in text and description in text
    assert "tinyae train --model ae --data digits" in text
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "tinyae eval runs/ae/model.npz" in capsys.readouterr().out


def test_python_dash_m_tinyae_help_runs():
    result = subprocess.run([sys.executable, "-m", "tinyae", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "train" in result.stdout and "eval" in result.stdout and "gradcheck" in result.stdout


LOADED = """
import sys
from tinyae.cli import COMMANDS, main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("LOADED", sorted(name for name, (module, _) in COMMANDS.items() if module in sys.modules))
"""


@pytest.mark.parametrize("argv, loaded", [(["--help"], []), (["train", "--help"], ["train"]),
                                          (["--version"], []), (["bench", "--help"], ["bench"])])
def test_the_command_imports_only_the_module_of_the_command_it_runs(argv, loaded):
    """`tinyae --help` lists every command without importing one (start-up time); a command imports its own."""
    result = subprocess.run([sys.executable, "-c", LOADED, *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"LOADED {loaded}"
    if argv == ["--help"]:
        assert all(f"    {name}" in result.stdout for name in COMMANDS)

"""`tinyae tour --quick` runs end to end and writes every figure it lists, plus report.md."""

import pytest

from tinyae.cli import main
from tinyae.cli.tour import FIGURES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_tour_quick_writes_every_figure_and_the_report(tmp_path, capsys):
    out = tmp_path / "tour"
    assert main(["tour", "--quick", "--out", str(out)]) == 0
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == PNG_SIGNATURE, f"{name} is not a PNG"
        assert len(data) > 1000, f"{name} is only {len(data)} bytes"
    report = (out / "report.md").read_text()
    for name in FIGURES:
        assert f"]({name})" in report, f"report.md does not show {name}"
    assert "0 failed" in report and "test MSE" in report
    printed = capsys.readouterr().out
    assert "passed, 0 failed" in printed  # the gradient-check table was printed
    assert str(out / "report.md") in printed  # and where the report went


def test_tour_on_missing_mnist_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYAE_DATA_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("tinyae.cli.tour._gradcheck", lambda lines: (1, 1, 0.0))  # not what this test is about
    assert main(["tour", "--quick", "--data", "mnist", "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert "not available offline" in err and "tinyae tour --data digits" in err
    assert not (tmp_path / "t").exists()


def test_tour_help_lists_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["tour", "--help"])
    text = capsys.readouterr().out
    for option in ("--out", "--quick", "--data", "--seed"):
        assert option in text


def fake_mnist_cache(root, monkeypatch, n_train=240, n_test=60):
    """A tiny MNIST-shaped cache (28x28 uint8 blobs whose position follows the label), registered in place of
    the real checksum table, so ``--data mnist`` finds its files offline."""
    import hashlib

    import numpy as np

    from tinyae import data

    rng = np.random.default_rng(0)
    folder = root / "mnist"
    folder.mkdir(parents=True)
    table = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        rows, cols = np.mgrid[:28, :28]
        images = np.empty((n, 28, 28), np.uint8)
        for i, label in enumerate(labels):
            r, c = 6 + 1.5 * label + rng.normal(), 14 + rng.normal(scale=3)
            images[i] = np.clip(255 * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / 18), 0, 255)
        role = "train" if split == "train" else "test"
        for kind, array in (("images", images), ("labels", labels)):
            name = f"{split}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"
            data.save_idx(folder / name, array)
            blob = (folder / name).read_bytes()
            table[f"{role}_{kind}"] = data.RemoteFile(name, hashlib.sha256(blob).hexdigest(), len(blob), array.shape)
    real = data.REMOTE_DATASETS["mnist"]
    monkeypatch.setitem(data.REMOTE_DATASETS, "mnist", data.RemoteDataset(real.mirrors, table, real.classes))
    monkeypatch.setenv("TINYAE_DATA_DIR", str(root))


def test_tour_quick_on_28x28_mnist_files(tmp_path, monkeypatch, capsys):
    fake_mnist_cache(tmp_path / "cache", monkeypatch)
    monkeypatch.setattr("tinyae.cli.tour._gradcheck", lambda lines: (1, 1, 0.0))  # checked by the digits test
    out = tmp_path / "tour"
    assert main(["tour", "--quick", "--data", "mnist", "--out", str(out)]) == 0
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE, name
    report = (out / "report.md").read_text()
    assert "# tinyae tour on mnist" in report and "(1, 28, 28)" in report

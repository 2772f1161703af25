"""`tinyae tour --quick` runs end to end and writes every figure it lists, plus report.md."""

import pytest

from tinyae.cli import main
from tinyae.tour import FIGURES

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
    monkeypatch.setattr("tinyae.tour._gradcheck", lambda lines: (1, 1, 0.0))  # not what this test is about
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

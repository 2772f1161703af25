"""`tinyae gradcheck`: every built-in layer, loss and penalty passes, and none is left out."""

import inspect

import pytest

import tinyae.layers
import tinyae.losses
from tinyae.gradcheck.cases import layer_cases, loss_cases, run_cases

LAYER_CASES = layer_cases()
LOSS_CASES = loss_cases()


@pytest.mark.parametrize("case", LAYER_CASES + LOSS_CASES, ids=lambda c: c.name)
def test_every_builtin_case_passes_at_1e_7(case):
    report = case.run()
    assert report.tol <= 1e-7
    assert report.passed, report
    assert report.tensors, "a check that compared nothing"
    assert report.diagnoses == [], report.hints  # correct code gets no hint


def _covered(cls, cases):
    return any(case.name.split(" ")[0] == cls.__name__ for case in cases)


def test_every_public_layer_has_a_case():
    layers = [obj for name in tinyae.layers.__all__
              if inspect.isclass(obj := getattr(tinyae.layers, name))
              and issubclass(obj, tinyae.layers.Layer) and obj is not tinyae.layers.Layer
              and not inspect.isabstract(obj) and obj.__name__ != "Activation"]
    missing = [cls.__name__ for cls in layers if not _covered(cls, LAYER_CASES)]
    assert not missing, f"layers without a gradcheck case: {missing}"


def test_every_public_loss_has_a_case():
    losses = [obj for _, obj in inspect.getmembers(tinyae.losses, inspect.isclass)
              if issubclass(obj, tinyae.losses.Loss) and obj is not tinyae.losses.Loss
              and obj.__module__ == "tinyae.losses"]
    missing = [cls.__name__ for cls in losses if not _covered(cls, LOSS_CASES)]
    assert not missing, f"losses without a gradcheck case: {missing}"


def test_cli_prints_the_table(capsys):
    from tinyae.cli import main

    assert main(["gradcheck", "--only", "Dense"]) == 0
    out = capsys.readouterr().out
    assert "TiedDense" in out and "passed, 0 failed" in out


def test_cli_checks_whole_models(capsys):
    from tinyae.cli import main

    assert main(["gradcheck", "--only", "model tied", "--model", "tied"]) == 0
    out = capsys.readouterr().out
    assert "model tied" in out and "1 passed, 0 failed" in out and "tolerance 1e-06" in out
    assert main(["gradcheck", "--model", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().out


def test_run_cases_reports_failures():
    from tinyae.gradcheck import Report, TensorResult
    from tinyae.gradcheck.cases import Case

    bad = Report("bad", 1e-7, "test", tensors=[TensorResult("W", (2,), 2, 0.5, (1,), 1.0, 3.0, False)])
    lines = []
    reports = run_cases([Case("bad", "layer", lambda: bad)], out=lines.append)
    assert not reports["bad"].passed
    assert any("FAIL" in line for line in lines) and any("0 passed, 1 failed" in line for line in lines)


def test_verbose_mode_prints_no_table_header_without_rows():
    """Issue 15 item 9: with -v each case prints its whole report, so the one-line table's header (a header
    with no rows under it) is left out; without -v the header heads the rows."""
    cases = [c for c in layer_cases() if c.name == "Dense"]
    lines = []
    run_cases(cases, verbose=True, out=lines.append)
    assert not any(line.startswith("case ") and "max rel err" in line for line in lines), lines[:3]
    lines = []
    run_cases(cases, verbose=False, out=lines.append)
    assert lines[0].startswith("case ") and "max rel err" in lines[0] and lines[1].startswith("Dense ")

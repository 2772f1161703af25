"""Every demo runs in --quick mode and writes the figures it promises (so the demos never rot).

The demos are imported and their ``main(argv)`` called in this process (sharing the imports keeps the
suite fast); one demo also runs as a script, the way a reader runs it.
"""

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

DEMOS = Path(__file__).resolve().parents[1] / "demos"
NAMES = sorted(p.stem for p in DEMOS.glob("*.py") if not p.stem.startswith("_"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_output(out: Path, name: str):
    numbers = json.loads((out / "numbers.json").read_text())
    assert numbers["demo"] == name and numbers["quick"] is True
    assert numbers["figures"], f"{name} wrote no figure"
    for fig in numbers["figures"]:
        data = (out / fig).read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 1000, f"{name}: {fig} is not a valid PNG"
    return numbers


def test_every_demo_is_listed():
    assert set(NAMES) == {
        "dense_ae", "stacked_greedy_vs_end_to_end", "sparse_l1_vs_kl", "conv_upsample_vs_transpose", "denoising",
        "ae_vs_vae_generation", "pca_vs_linear_vs_nonlinear", "features_for_classifier", "anomaly_detection",
        "whitening_natural_patches", "inpainting", "colorization",
        "image_search", "compression",
        "dbn_pretraining",
    }


def test_demos_import_the_library_never_an_application():
    """A demo is library code a reader copies from: its helpers come from tinyae.experiment, not the tour."""
    for path in sorted(DEMOS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):  # from tinyae.x import y: both tinyae.x and tinyae.x.y
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            applications = [n for n in names if n == "tinyae.cli" or n.startswith("tinyae.cli.")]
            assert not applications, f"{path.name} imports {applications[0]}, an application"


@pytest.mark.parametrize("name", NAMES)
def test_demo_quick(name, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(DEMOS))
    module = importlib.import_module(name)
    assert "What to look for" in module.__doc__
    out = tmp_path / name
    assert module.main(["--quick", "--out", str(out)]) == 0
    check_output(out, name)


def test_demo_runs_as_a_script(tmp_path):
    out = tmp_path / "dense"
    proc = subprocess.run([sys.executable, str(DEMOS / "dense_ae.py"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "test MSE" in proc.stdout
    check_output(out, "dense_ae")


def test_a_bad_holdout_digit_is_refused_in_one_line_before_any_work(capsys):
    sys.path.insert(0, str(DEMOS))
    try:
        module = importlib.import_module("anomaly_detection")
    finally:
        sys.path.remove(str(DEMOS))
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--holdout", "12", "--quick"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--holdout: invalid choice: 12" in err, err

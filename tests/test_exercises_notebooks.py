"""The exercise notebooks run: every solved notebook passes its check, every blank one reports "not done".

Starting a Jupyter kernel costs seconds, so each test starts ONE kernel and runs its 21 notebooks in it,
one after the other, each with a fresh namespace (``%reset -f`` as the first cell; imported modules
stay loaded, which is the saving). The kernel imports this tree's tinyae (PYTHONPATH), runs tinyae's
reference kernels (no Numba compiling) with one BLAS thread.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tinyae.exercises import EXERCISES, source

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]


def run_all(solutions: bool, tmp_path, monkeypatch) -> dict:
    from jupyter_client.manager import AsyncKernelManager
    from nbformat import v4

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("TINYAE_KERNELS", "reference")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    km, kc, outputs = AsyncKernelManager(kernel_name="python3"), None, {}
    start = time.perf_counter()
    try:
        for e in EXERCISES:
            nb = source.notebook(e.name, solutions=solutions)
            nbformat.validate(nb)
            nb.cells.insert(0, v4.new_code_cell("%reset -f"))
            client = nbclient.NotebookClient(nb, km=km, timeout=300, resources={"metadata": {"path": str(tmp_path)}})
            client.kc = kc  # the client of the previous notebook (None the first time: one is started)
            client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
            kc = client.kc
            outputs[e.name] = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("name") == "stdout")
    finally:
        if kc is not None:
            kc.stop_channels()
        if km.has_kernel:
            nbclient.util.run_sync(km.shutdown_kernel)(now=True)
    print(f"{len(EXERCISES)} {'solved' if solutions else 'blank'} notebooks in {time.perf_counter() - start:.1f} s")
    return outputs


def test_every_solved_notebook_passes_its_check(tmp_path, monkeypatch):
    outputs = run_all(True, tmp_path, monkeypatch)
    for name, text in outputs.items():
        assert "parts pass: done." in text, f"{name}:\n{text}"
    assert (tmp_path / "sparse_ae_filters.png").is_file()  # stage 3 trains and draws its filters


def test_every_blank_notebook_reports_not_done(tmp_path, monkeypatch):
    outputs = run_all(False, tmp_path, monkeypatch)
    for name, text in outputs.items():
        assert "not written yet: YOUR CODE HERE" in text and "parts pass (seed" in text, f"{name}:\n{text}"
        assert "Traceback" not in text, f"{name}:\n{text}"


def test_a_students_notebook_is_checked_from_the_command_line(tmp_path, capsys):
    import json

    from tinyae.cli import main

    folder = tmp_path / "work"
    assert main(["exercise", "start", "relu", "--notebook", "--dir", str(folder)]) == 0
    path = folder / "relu.ipynb"
    assert main(["exercise", "check", "relu", "--dir", str(folder)]) == 1
    assert "not written yet: YOUR CODE HERE at relu.ipynb" in capsys.readouterr().out
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if "exercise" in c["metadata"].get("tags", []))
    cell["source"] = source.split_module(source.student_text("relu", solutions=True))[1]  # the student solved it
    path.write_text(json.dumps(nb))
    assert main(["exercise", "check", "relu", "--dir", str(folder)]) == 0
    assert "4/4 parts pass: done." in capsys.readouterr().out

"""The student's folder: starting an exercise, loading the student's code, progress and hints.

    tinyae-exercises/            (``--dir``; the default is ./tinyae-exercises)
        dense.py                 the student's file (or dense.ipynb)
        .tinyae-progress.json    {"dense": {"passed": 4, "total": 4}, ...}, written by ``check``
        .tinyae-hints.json       {"dense": 2, ...}: how many hints were shown

Loading a student's file runs it (it is their code, in their own folder), never with __name__ ==
"__main__". A file that does not import gives a ``LoadError`` with one line: what and where.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
import types
from pathlib import Path

from tinyae.exercises import source
from tinyae.exercises.checking import quiet_numerics
from tinyae.exercises.course import Exercise

DEFAULT_DIR = "tinyae-exercises"
PROGRESS = ".tinyae-progress.json"
HINTS = ".tinyae-hints.json"


class LoadError(Exception):
    """The student's file cannot be loaded; the message is one line for the student."""


def student_path(ex: Exercise, folder) -> Path | None:
    """The student's file for ``ex`` in ``folder``: NAME.py, else NAME.ipynb, else None."""
    folder = Path(folder)
    for suffix in (".py", ".ipynb"):
        path = folder / f"{ex.name}{suffix}"
        if path.is_file():
            return path
    return None


def start(ex: Exercise, folder, notebook: bool = False) -> tuple[Path, bool]:
    """Write the student's file for ``ex`` into ``folder``; (path, written). Never overwrites a started file."""
    folder = Path(folder)
    existing = student_path(ex, folder)
    if existing is not None:
        return existing, False
    folder.mkdir(parents=True, exist_ok=True)
    if notebook:
        path = folder / f"{ex.name}.ipynb"
        source.write_notebook(ex.name, path)
    else:
        path = folder / f"{ex.name}.py"
        path.write_text(source.student_text(ex.name), encoding="utf-8")
    return path, True


def _one_line_error(exc: BaseException, path: Path) -> str:
    if isinstance(exc, SyntaxError):
        return f"{path.name} does not compile: {exc.msg} at line {exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.basename(f.filename) == path.name]
    at = f" at line {frames[-1].lineno} ({frames[-1].line.strip()})" if frames and frames[-1].line else ""
    return f"{path.name} raised {type(exc).__name__}: {exc} while loading{at}"


def load_module(path) -> types.ModuleType:
    """Run the student's .py (or the exercise cells of their .ipynb) as a fresh module; LoadError if it fails."""
    path = Path(path)
    name = f"tinyae_student_{path.stem}"
    try:
        if path.suffix == ".ipynb":
            code = source.code_from_notebook(path)
            module = types.ModuleType(name)
            module.__file__ = str(path)
            sys.modules[name] = module
            with quiet_numerics():
                exec(compile(code, str(path), "exec"), module.__dict__)  # noqa: S102 -- the student's own code
            return module
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and friends look their module up here
        with quiet_numerics():
            spec.loader.exec_module(module)
        return module
    except (KeyboardInterrupt, MemoryError):
        raise
    except BaseException as exc:  # noqa: BLE001 -- SystemExit in a student's file is a load error too
        raise LoadError(_one_line_error(exc, path)) from exc


def load_targets(ex: Exercise, path) -> tuple:
    """The objects the exercise checks, from the student's file (LoadError names a missing one)."""
    module = load_module(path)
    missing = [t for t in ex.targets if not hasattr(module, t)]
    if missing:
        raise LoadError(f"{Path(path).name} defines no {', '.join(missing)} (the exercise checks "
                        f"{', '.join(ex.targets)}; keep their names)")
    return tuple(getattr(module, t) for t in ex.targets)


# --------------------------------------------------------------------------------------------------
# Progress and hints (small JSON files in the student's folder)
# --------------------------------------------------------------------------------------------------


def _read(folder, name) -> dict:
    path = Path(folder) / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(folder, name, data: dict):
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def record_progress(folder, name: str, passed: int, total: int):
    data = _read(folder, PROGRESS)
    data[name] = {"passed": int(passed), "total": int(total)}
    _write(folder, PROGRESS, data)


def progress(folder) -> dict:
    return _read(folder, PROGRESS)


def next_hint(ex: Exercise, folder) -> tuple[list, bool]:
    """The hints shown so far plus one more (recorded in the folder); (hints, all_shown)."""
    data = _read(folder, HINTS)
    shown = min(int(data.get(ex.name, 0) or 0) + 1, len(ex.hints))
    data[ex.name] = shown
    _write(folder, HINTS, data)
    return list(ex.hints[:shown]), shown == len(ex.hints)

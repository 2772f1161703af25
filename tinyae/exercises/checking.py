"""The machinery of a check: parts, their results, and calling a student's code without crashing.

A check is a list of *parts* (forward values, backward values, finite differences, the contract, ...).
Each part is a function that returns a ``PartResult`` or raises; ``run_parts`` runs them one by one, so
a part that fails, or a blank that is still ``raise NotImplementedError("YOUR CODE HERE")``, never stops
the others and never shows the student a traceback of tinyae's own code:

    not done   the student's code reached a YOUR CODE HERE blank (or a method left unimplemented)
    FAIL       the part ran and found a difference; ``detail`` says which tensor, where, by how much
    error      the student's code raised; ``detail`` names the exception and the line of their file
    ok         the part passed
"""

from __future__ import annotations

import os
import re
import sys
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

BLANK = "YOUR CODE HERE"
_TINYAE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SOLUTIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "solutions")


class PartFailed(Exception):
    """Raised inside a part to fail it with a message (``fail(...)``)."""

    def __init__(self, detail: str, report=None):
        super().__init__(detail)
        self.detail = detail
        self.report = report


class PartError(PartFailed):
    """Raised inside a part when the student's code raised (caught by the gradient checker, say)."""


def fail(detail: str, report=None):
    raise PartFailed(detail, report)


def caught_by_checker(report):
    """Fail the part as an error when tinyae.gradcheck caught an exception in the student's code."""
    caught = getattr(report, "exception", None)
    if caught is not None:
        where = f"\nat {os.path.basename(caught.file)}:{caught.line}" if getattr(caught, "file", None) else ""
        code = f": {caught.code}" if getattr(caught, "code", None) and where else ""
        raise PartError(f"your code raised {caught.type}: {caught.message} (in {caught.during}){where}{code}", report)


@dataclass
class PartResult:
    name: str
    status: str  # "ok", "FAIL", "not done", "error"
    detail: str = ""
    report: object = None  # a gradcheck Report, when the part is a gradient check

    @property
    def passed(self) -> bool:
        return self.status == "ok"


@dataclass
class CheckResult:
    """What ``check`` found: one ``PartResult`` per part; ``str()`` is the text a student reads."""

    exercise: str
    title: str
    parts: list = field(default_factory=list)
    seed: int = 0
    next_step: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.parts) and all(p.passed for p in self.parts)

    @property
    def n_passed(self) -> int:
        return sum(p.passed for p in self.parts)

    @property
    def not_done(self) -> bool:
        """True when every part that did not pass stopped at a YOUR CODE HERE blank."""
        return any(p.status == "not done" for p in self.parts) and all(
            p.status in ("ok", "not done") for p in self.parts)

    @property
    def summary(self) -> str:
        return f"{self.n_passed}/{len(self.parts)} parts pass"

    def to_dict(self) -> dict:
        return {"exercise": self.exercise, "passed": self.passed, "parts_passed": self.n_passed,
                "parts_total": len(self.parts), "not_done": self.not_done, "seed": self.seed,
                "parts": [{"name": p.name, "status": p.status, "detail": p.detail} for p in self.parts],
                "text": str(self)}

    def __str__(self):
        lines = [f"{self.exercise}: {self.title}"]
        for p in self.parts:
            detail = p.detail.splitlines()
            if p.passed and len(detail) == 1:  # a passing part on one line
                lines.append(f"  {p.status:<8}  {p.name}: {detail[0]}")
                continue
            lines.append(f"  {p.status:<8}  {p.name}")
            lines += [f"            {d}" for d in detail]
        if self.passed:
            lines.append(f"{self.summary}: done.")
        else:
            lines.append(f"{self.summary} (seed {self.seed}).")
        if self.next_step:
            lines.append(self.next_step)
        return "\n".join(lines)

    def __repr__(self):
        return f"CheckResult({self.exercise!r}: {self.summary})"

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


# --------------------------------------------------------------------------------------------------
# Running the student's code
# --------------------------------------------------------------------------------------------------


def _is_student_frame(filename: str) -> bool:
    """A frame of the student's code: not tinyae's (except the shipped solutions), not a library's."""
    path = os.path.abspath(filename) if not filename.startswith("<") else filename
    if path.startswith(_SOLUTIONS_DIR):
        return True
    if path.startswith(_TINYAE_DIR):
        return False
    lib = os.path.dirname(os.__file__)
    return not (path.startswith(lib) or "site-packages" in path or "dist-packages" in path)


def _last_student_frame(exc: BaseException):
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_student_frame(f.filename)]
    return frames[-1] if frames else None


def where_in_student_code(exc: BaseException) -> str:
    """'file.py:LINE in function (the line)' of the last frame of the student's code ('' if none)."""
    f = _last_student_frame(exc)
    if f is None:
        return ""
    text = f": {f.line.strip()}" if f.line else ""
    return f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}{text}"


def is_blank(exc: BaseException) -> bool:
    """Whether ``exc`` is a YOUR CODE HERE blank or a method the student has not written."""
    return isinstance(exc, NotImplementedError)


def describe_exception(exc: BaseException) -> tuple[str, str]:
    """(status, detail) for an exception raised while running a part."""
    where = where_in_student_code(exc)
    if is_blank(exc):
        f = _last_student_frame(exc)
        msg = str(exc)
        if f is not None and (BLANK in msg or not msg):
            return "not done", f"{f.name} is not written yet: {BLANK} at {os.path.basename(f.filename)}:{f.lineno}"
        return "not done", msg or f"not implemented ({where or 'your code'})"
    text = f"{type(exc).__name__}: {exc}".strip()
    if len(text) > 300:
        text = text[:297] + "..."
    return "error", f"your code raised {text}" + (f"\nat {where}" if where else "")


@contextmanager
def quiet_numerics():
    """Overflow, division by zero and invalid values in a student's code become NaN/Inf, not warnings:
    a part then reports the non-finite value itself, which names the problem better."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def run_part(name: str, fn) -> PartResult:
    """Run one part; any exception becomes a status and a message (never a traceback)."""
    try:
        with quiet_numerics():
            out = fn()
    except PartFailed as f:
        return PartResult(name, "error" if isinstance(f, PartError) else "FAIL", f.detail, f.report)
    except RecursionError:
        return PartResult(name, "error", "your code recursed without end (RecursionError): does a method call itself?")
    except Exception as exc:  # noqa: BLE001 -- any exception from student code is a result, not a crash
        status, detail = describe_exception(exc)
        return PartResult(name, status, detail)
    if isinstance(out, PartResult):
        return out
    return PartResult(name, "ok", out or "")


# --------------------------------------------------------------------------------------------------
# Comparing values
# --------------------------------------------------------------------------------------------------


def as_array(value, what: str):
    """``value`` as a float64 NumPy array, or a failed part that says what came back instead."""
    if value is None:
        fail(f"{what} is None: did you forget a return?")
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001
        fail(f"{what} is a {type(value).__name__}, expected an array")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        fail(f"{what} is a {type(value).__name__} of dtype {arr.dtype}, expected a float array")
    return arr.astype(np.float64)


def compare(what: str, got, want, *, context: str = "", rtol: float = 1e-9, atol: float = 1e-12):
    """Fail unless ``got`` equals ``want`` (shape exactly, values to rounding); the message names ``what``."""
    where = f" {context}" if context else ""
    got = as_array(got, what)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        fail(f"{what} has shape {got.shape}, expected {want.shape}{where}")
    if not np.all(np.isfinite(got)):
        bad = int(np.sum(~np.isfinite(got)))
        fail(f"{what} has {bad} non-finite entries (NaN or Inf){where}: an overflow, a log of 0 or a division by 0?")
    close = np.isclose(got, want, rtol=rtol, atol=atol)
    if close.all():
        return
    wrong = int(np.sum(~close))
    err = np.abs(got - want) / np.maximum(np.abs(want), 1e-300)
    err = np.where(close, -1.0, err)
    k = np.unravel_index(int(np.argmax(err)), got.shape) if got.ndim else ()
    at = f" at {tuple(int(i) for i in k)}" if got.ndim else ""
    fail(f"{what} differs from tinyae's in {wrong} of {got.size} entries{where}; worst{at}: "
         f"yours {got[k]:.6g}, tinyae's {want[k]:.6g}{_pattern(got, want)}")


def _pattern(got, want) -> str:
    """A pattern between two arrays of the same shape that a student can act on ('' if none is seen)."""
    nonzero = np.abs(want) > 1e-12 * max(1.0, float(np.abs(want).max()))
    if nonzero.sum() >= 2:
        ratios = got[nonzero] / want[nonzero]
        r = float(np.median(ratios))
        if r != 0 and np.allclose(ratios, r, rtol=1e-6) and np.allclose(got[~nonzero], 0, atol=1e-12):
            return f" (yours is {r:.4g} x tinyae's in every entry)"
    if got.ndim == 2 and got.shape[0] == got.shape[1] and got.shape[0] > 1 and np.allclose(got.T, want, rtol=1e-9):
        return " (yours is the transpose of tinyae's)"
    if np.allclose(got, 0):
        return " (yours is all zeros: never written?)"
    return ""


_OBJECT_REPR = re.compile(r"<(?:[\w.]+\.)?(\w+) object at 0x[0-9a-fA-F]+>")


def compare_all(items, *, context: str = "", **tolerances):
    """``compare`` each (what, got, want) and fail once, naming EVERY tensor that differs (one line each)."""
    problems = []
    for what, got, want in items:
        try:
            compare(what, got, want, context=context, **tolerances)
        except PartFailed as f:
            problems.append(f.detail)
    if problems:
        fail("\n".join(problems))


def show_report(report) -> str:
    """The gradcheck report's text, for a part's detail ('<mod.Dense object at 0x7f..>' shown as 'Dense')."""
    return _OBJECT_REPR.sub(r"\1", str(report))


def student_file(obj) -> str:
    """The file a student's class or function was defined in (basename), for messages."""
    code = getattr(obj, "__code__", None)
    module = sys.modules.get(getattr(obj, "__module__", ""), None)
    path = code.co_filename if code is not None else getattr(module, "__file__", None)
    return os.path.basename(path) if path else "your code"

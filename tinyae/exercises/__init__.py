"""A staged course of backprop exercises on tinyae's own layers, checked and diagnosed.

    tinyae exercise list                 # the course and what is done in this folder
    tinyae exercise start dense          # writes ./tinyae-exercises/dense.py (or --notebook)
    tinyae exercise check dense          # structural, gradient and value checks: "3/4 parts pass"
    tinyae exercise hint dense           # one more hint each time

From Python or a notebook cell::

    from tinyae.exercises import check
    check("dense", Dense)

A check runs the student's code in this process (a notebook cannot do otherwise); ``tinyae exercise
grade`` runs each submission in its own subprocess with a time and a memory limit (see grade.py).
"""

from __future__ import annotations

import secrets

from tinyae.exercises import files
from tinyae.exercises.checking import CheckResult, PartResult, run_part
from tinyae.exercises.course import EXERCISES, STAGES, Exercise, get, next_after

__all__ = ["check", "hint", "CheckResult", "PartResult", "EXERCISES", "STAGES", "Exercise", "get"]


def next_step_text(ex: Exercise, result: CheckResult, how: str = "cli") -> str:
    if result.passed:
        nxt = next_after(ex.name)
        if nxt is None:
            return "That was the last exercise of the course: well done."
        return f"Next exercise: {nxt.name} ({nxt.title}): tinyae exercise start {nxt.name}"
    first = next(p for p in result.parts if not p.passed)
    if result.not_done:
        return (f"Next: fill in the YOUR CODE HERE blanks ({', '.join(ex.targets)}), then check again. "
                f"Stuck? tinyae exercise hint {ex.name} (in Python: hint({ex.name!r}))")
    return (f"Next: fix the first failing part ({first.name.split(':')[0]}) and check again. "
            f"Stuck? tinyae exercise hint {ex.name} (in Python: hint({ex.name!r}))")


def check(name: str, *targets, seed: int | None = None, verbose: bool = True) -> CheckResult:
    """Check the student's ``targets`` (their class or functions, in the order the exercise names them)
    for the exercise ``name``; print the result (``verbose``) and return it.

    ``seed`` fixes the random inputs (a fresh one by default; a failing result prints it so the same
    numbers can be had again). Never raises for anything the student's code does.
    """
    ex = get(name)
    seed = secrets.randbelow(10**6) if seed is None else int(seed)
    result = CheckResult(ex.name, ex.title, seed=seed)
    if len(targets) != len(ex.targets):
        wanted = ", ".join(ex.targets)
        result.parts.append(PartResult("setup", "error",
                                       f"check({ex.name!r}, ...) takes {len(ex.targets)} object(s): {wanted}; "
                                       f"got {len(targets)}"))
    else:
        import numpy as np

        rng = np.random.default_rng(seed)
        try:
            parts = ex.parts(targets, rng)
        except Exception as exc:  # noqa: BLE001 -- a target of the wrong kind, for instance
            parts = [("setup", _raise(exc))]
        for part_name, fn in parts:
            result.parts.append(run_part(part_name, fn))
    result.next_step = next_step_text(ex, result)
    if verbose:
        print(result)
    return result


def hint(name: str, folder: str | None = None) -> list:
    """Print the hints of exercise ``name`` shown so far plus one more (counted in ``folder``, by default
    ./tinyae-exercises, as ``tinyae exercise hint`` counts them); return them."""

    ex = get(name)
    hints, last = files.next_hint(ex, folder or files.DEFAULT_DIR)
    print(f"{ex.name}: hints {len(hints)} of {len(ex.hints)} (derivation: docs/{ex.docs})")
    for i, text in enumerate(hints, 1):
        print(f"  {i}. {text}")
    if last:
        print("That is every hint; the derivation page works through it line by line.")
    return hints


def _raise(exc):
    def fn():
        raise exc

    return fn

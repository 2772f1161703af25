"""What a gradient check found: the ``Report`` of ``check_layer`` / ``check_loss`` / ``check_model``.

A report keeps the evidence, not only the verdict, so that a student (or a grader's script) can see
the pattern of a bug. ``Report``'s docstring lists the programmatic API (``help(Report)``); the names
are re-exported by ``tinyae.gradcheck``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class GradcheckError(AssertionError):
    """Raised by ``Report.raise_if_failed`` with the whole report as its message."""


@dataclass
class Diagnosis:
    """One pattern found in a failed check: ``code`` (stable), the ``tensor`` it is about, the ``message``."""

    code: str
    tensor: str | None
    message: str
    value: object = None

    def __str__(self):
        return self.message

    def to_dict(self) -> dict:
        value = self.value
        if isinstance(value, (np.floating, np.integer)):
            value = value.item()
        elif isinstance(value, tuple):
            value = list(value)
        return {"code": self.code, "tensor": self.tensor, "message": self.message, "value": value}


@dataclass
class CaughtException:
    """An exception raised inside the checked object's own code, located in the student's file."""

    type: str
    message: str
    during: str  # "forward", "backward", ...
    file: str | None = None
    line: int | None = None
    code: str = ""

    def __str__(self):
        where = f" at {self.file}:{self.line}" if self.file else ""
        code = f": {self.code}" if self.code else ""
        return f"{self.type} raised in {self.during}{where}{code} ({self.message})"

    def to_dict(self) -> dict:
        return dict(vars(self))


def worst_order(errors):
    """Indices of ``errors``, largest first. Errors equal to 6 significant digits of the largest (a
    constant-ratio bug makes them all equal up to rounding) keep their index order, so the same entries
    come first on every machine; errors near the tolerance (1e-7) are still told apart."""
    err = np.nan_to_num(np.asarray(errors, dtype=np.float64), nan=2.0)
    top = float(np.max(err, initial=0.0))
    key = np.round(err / top, 6) if top > 0 else err
    return np.argsort(-key, kind="stable")


@dataclass
class TensorResult:
    """Finite differences vs backward for one tensor (an input or a Param); see the module docstring."""

    name: str
    shape: tuple
    checked: int
    max_error: float
    where: tuple | None  # index of the worst entry
    analytic: float  # the two values at that entry, for the message
    numeric: float
    passed: bool
    indices: list = field(default_factory=list)
    analytic_values: np.ndarray | None = None
    numeric_values: np.ndarray | None = None
    errors: np.ndarray | None = None
    gradient: np.ndarray | None = None
    tol: float | None = None
    roundoff: np.ndarray | None = None  # the finite differences' own rounding error, per compared entry
    kinks: list = field(default_factory=list)
    diagnoses: list = field(default_factory=list)

    @property
    def wrong_shape(self) -> bool:
        return self.gradient is not None and tuple(self.gradient.shape) != tuple(self.shape)

    @property
    def n_failed(self) -> int:
        """How many compared entries exceed the tolerance (all of them when the shape is wrong)."""
        if self.wrong_shape:
            return int(np.prod(self.shape))
        if self.errors is None or self.tol is None:
            return 0 if self.passed else self.checked
        return int(np.sum(~(self.errors <= self.tol)))

    def worst(self, k: int = 5) -> list:
        """The ``k`` entries with the largest relative error: (index, analytic, numeric, error) tuples."""
        if self.errors is None or not len(self.errors):
            return []
        order = worst_order(self.errors)[:k]
        return [(tuple(int(i) for i in self.indices[j]), float(self.analytic_values[j]),
                 float(self.numeric_values[j]), float(self.errors[j])) for j in order]

    def _as_array(self, values):
        out = np.full(self.shape, np.nan)
        if values is not None:
            for index, v in zip(self.indices, values):
                out[index] = v
        return out

    def analytic_array(self) -> np.ndarray:
        """Backward's gradient at the compared entries, shaped like the tensor (NaN elsewhere)."""
        return self._as_array(self.analytic_values)

    def numeric_array(self) -> np.ndarray:
        """The finite-difference gradient at the compared entries, shaped like the tensor (NaN elsewhere)."""
        return self._as_array(self.numeric_values)

    def summary(self) -> str:
        if self.wrong_shape:
            return f"{self.name}: the gradient has shape {tuple(self.gradient.shape)}, the tensor {tuple(self.shape)}"
        return (f"{self.name}: max relative error {self.max_error:.2e} at {self.where} "
                f"(backward {self.analytic:.6g}, finite differences {self.numeric:.6g})")

    def evidence(self, k: int = 5) -> list:
        """The lines printed under a failed tensor: how many entries fail, and the worst side by side."""
        if self.wrong_shape:
            return [f"{self.name}: the gradient has shape {tuple(self.gradient.shape)}, but {self.name} has "
                    f"shape {tuple(self.shape)}: nothing compared"]
        lines = [f"{self.name}: {self.n_failed} of {self.checked} entries fail"]
        rows = [row for row in self.worst(k) if self.tol is None or not row[3] <= self.tol]  # failing ones only
        if rows:
            width = max(10, max(len(str(r[0])) for r in rows))
            lines.append(f"  {'index':<{width}}  {'backward':>12}  {'finite diff':>12}  {'rel err':>8}")
            lines += [f"  {str(i):<{width}}  {a:>12.6g}  {n:>12.6g}  {e:>8.2e}" for i, a, n, e in rows]
        return lines

    def to_dict(self) -> dict:
        def floats(a):
            return None if a is None else [float(v) for v in np.ravel(a)]

        return {
            "name": self.name, "shape": list(self.shape), "passed": self.passed, "checked": self.checked,
            "failed": self.n_failed, "max_error": float(self.max_error),
            "where": None if self.where is None else [int(i) for i in self.where],
            "analytic": float(self.analytic), "numeric": float(self.numeric),
            "wrong_shape": self.wrong_shape,
            "gradient_shape": None if self.gradient is None else list(self.gradient.shape),
            "worst": [{"index": list(i), "analytic": a, "numeric": n, "error": e} for i, a, n, e in self.worst(5)],
            "indices": [[int(i) for i in ix] for ix in self.indices],
            "analytic_values": floats(self.analytic_values), "numeric_values": floats(self.numeric_values),
            "kinks": [[int(i) for i in ix] for ix in self.kinks],
            "diagnoses": [d.to_dict() for d in self.diagnoses],
        }


@dataclass
class StructuralResult:
    name: str
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass
class Report:
    """Result of a gradient check; ``str(report)`` is a readable table, ``report.passed`` a bool.

    The programmatic API, for graders and exercises (all of it stays; new names may be added):

        report.passed                 True only if every tensor and every structural check passed
        report.max_error              the largest relative error of any tensor
        report.tensors                one ``TensorResult`` per checked tensor (input x first, then the Params)
        report.tensor("W")            the TensorResult of that tensor (KeyError names the ones there are)
        report.structural             ``StructuralResult``s: contract checks finite differences cannot see
        report.diagnoses              every ``Diagnosis`` (the patterns found in the failures); [] for correct code
        report.hints                  the same as plain sentences
        report.exception              a ``CaughtException`` when the student's forward/backward raised, else None
        report.failures()             one line per failed tensor or structural check
        report.to_dict()              all of it as JSON-ready data (``tinyae gradcheck FILE --json`` prints it)
        report.explain()              the text below the table: what failed, the worst entries, the diagnosis
        report.notes                  the Diagnoses about the whole object (not one tensor), also in diagnoses
        report.raise_if_failed()      raise ``GradcheckError`` with the whole text

    A ``TensorResult`` (``t = report.tensor("W")``) holds:

        t.name, t.shape, t.passed     the tensor, its shape, the verdict
        t.checked, t.n_failed         how many entries were compared, how many exceed the tolerance
        t.max_error, t.where          the largest relative error and its index
        t.analytic, t.numeric         backward's and finite differences' values at that index
        t.indices                     the compared indices (tuples), in order
        t.analytic_values, t.numeric_values, t.errors     1-D float64 arrays over those indices
        t.roundoff                    the same: each finite difference's estimated rounding error
        t.gradient                    the whole gradient backward produced (a NumPy copy, whatever its shape)
        t.analytic_array(), t.numeric_array()   the same shaped like the tensor (NaN where not compared)
        t.worst(k)                    the k worst entries as (index, analytic, numeric, error) tuples
        t.wrong_shape                 True when backward's gradient does not have the tensor's shape
        t.kinks                       indices of failing entries where the function has a kink
        t.diagnoses                   the Diagnosis objects about this tensor

    A ``Diagnosis`` has a stable ``code`` for graders ("ratio", "sign", "transpose", "wrong_shape", "zeros",
    "flipped_kernel", "dx_uses_param", "input_for_output", "only_dx", "only_param", "kink", "term",
    "not_in_params", "overwrites", "exception"), the ``tensor`` it is about (None: the whole object),
    the ``message`` printed, and ``value`` (the ratio, the permutation, ... or None).
    """

    title: str
    tol: float
    method: str
    tensors: list = field(default_factory=list)
    structural: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # Diagnoses about the whole object (not one tensor)
    exception: CaughtException | None = None

    @property
    def passed(self) -> bool:
        return (self.exception is None and all(t.passed for t in self.tensors)
                and all(s.passed for s in self.structural))

    @property
    def max_error(self) -> float:
        return max((t.max_error for t in self.tensors), default=0.0)

    @property
    def diagnoses(self) -> list:
        """Every Diagnosis: those of the tensors (in table order), then those about the whole object."""
        return [d for t in self.tensors for d in t.diagnoses] + list(self.notes)

    @property
    def hints(self) -> list:
        return [d.message for d in self.diagnoses]

    def tensor(self, name: str) -> TensorResult:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"no tensor {name!r} in this report; it has {[t.name for t in self.tensors]}")

    def failures(self) -> list:
        """One line per failed tensor or structural check (and the exception, if one was raised)."""
        lines = []
        if self.exception is not None:
            lines.append(f"exception: {self.exception}")
        lines += [f"{t.summary()} exceeds {self.tol:.0e}" if not t.wrong_shape else t.summary()
                  for t in self.tensors if not t.passed]
        lines += [f"{s.name}: {s.detail}" for s in self.structural if not s.passed]
        return lines

    def raise_if_failed(self):
        if not self.passed:
            raise GradcheckError(str(self))
        return self

    def to_dict(self) -> dict:
        """Everything in the report as JSON-ready data."""
        return {
            "title": self.title, "passed": self.passed, "tolerance": self.tol, "method": self.method,
            "max_error": float(self.max_error),
            "tensors": [t.to_dict() for t in self.tensors],
            "structural": [s.to_dict() for s in self.structural],
            "diagnoses": [d.to_dict() for d in self.diagnoses],
            "exception": None if self.exception is None else self.exception.to_dict(),
            "failures": self.failures(),
        }

    def __str__(self):
        head = f"{'tensor':<24} {'shape':<16} {'checked':>9}  {'max rel err':>11}  {'at':<14} result"
        lines = [f"Gradient check: {self.title}", f"  [{self.method}, tolerance {self.tol:.0e}]", "  " + head]
        for t in self.tensors:
            where = "" if t.where is None else str(tuple(int(i) for i in t.where))
            lines.append(
                f"  {t.name:<24} {str(tuple(t.shape)):<16} {t.checked:>9}  {t.max_error:>11.2e}  "
                f"{where:<14} {'ok' if t.passed else 'FAIL'}"
            )
        for s in self.structural:
            detail = f" ({s.detail})" if s.detail and not s.passed else ""
            lines.append(f"  {'ok  ' if s.passed else 'FAIL'} {s.name}{detail}")
        if self.passed:
            lines.append("  PASSED")
            return "\n".join(lines)
        return "\n".join(lines + self._explanation())

    def _explanation(self) -> list:
        lines = ["  FAILED:", *(f"    {line}" for line in self.failures())]
        evidence = [line for t in self.tensors if not t.passed for line in t.evidence()]
        if evidence:
            lines.append("  Evidence (the worst entries):")
            lines += [f"    {line}" for line in evidence]
        if self.diagnoses:
            lines.append("  Diagnosis:")
            lines += [f"    - {d.message}" for d in self.diagnoses]
        return lines

    def explain(self) -> str:
        """The part of ``str(report)`` that explains a failure (what failed, the evidence, the diagnosis),
        without the table; "PASSED" for a passing check."""
        if self.passed:
            return f"Gradient check: {self.title}: PASSED"
        return "\n".join([f"Gradient check: {self.title}", *self._explanation()])

    def _repr_pretty_(self, p, cycle):  # IPython shows the table
        p.text(str(self))

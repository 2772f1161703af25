"""Walking an object that follows the layer contract, and comparing one tensor's two gradients."""


from __future__ import annotations

import numpy as np

from tinyae import backend
from tinyae.gradcheck.contract import (
    StudentException,
    overwrite_message,
    unlisted_message,
    unlisted_params,
)
from tinyae.gradcheck.diagnose import (
    diagnose_shape,
    diagnose_values,
    kink_message,
    pick,
    term_attribution,
)
from tinyae.gradcheck.numeric import KINK_H, MAX_KINK_PROBES, _f_at, differences, rel_error
from tinyae.gradcheck.report import (
    Diagnosis,
    StructuralResult,
    TensorResult,
    worst_order,
)
from tinyae.models.sequential import each_param_once, noise_sources

# --------------------------------------------------------------------------------------------------
# Walking an object that follows the contract
# --------------------------------------------------------------------------------------------------


def named_params(obj):
    """(label, Param) pairs of ``obj``, each Param once (a tied Param appears under its first label)."""
    if hasattr(obj, "named_params"):
        pairs = list(obj.named_params())
    else:
        pairs = [(p.name, p) for p in (obj.params() if hasattr(obj, "params") else ())]
    return list(each_param_once(pairs, param=lambda pair: pair[1]))


def reseed(obj, seed):
    """Give every noise source of ``obj`` (each part with its own Generator in ``.rng``) a fresh Generator of
    ``seed``, so that every forward of a check draws the same noise."""
    for part in noise_sources(obj):
        part.rng = np.random.default_rng(seed)


def _require_float64(what, arrays_by_name):
    for name, a in arrays_by_name:
        if a.dtype != np.float64:
            raise TypeError(
                f"{what}: gradient checks run in float64, but {name} is {a.dtype}; "
                f"use .astype(np.float64) on the layer/model and the inputs"
            )


def _pick_indices(shape, max_checks, rng):
    size = int(np.prod(shape))
    if max_checks is None or size <= max_checks:
        return list(np.ndindex(*shape))
    flat = rng.choice(size, size=max_checks, replace=False)
    return [np.unravel_index(int(k), shape) for k in np.sort(flat)]


def _host(a):
    """A float64 NumPy copy of a gradient as backward produced it (whatever its shape)."""
    return np.array(backend.to_numpy(a), dtype=np.float64)


def _compare(name, array, gradient, f, *, h, order, tol, max_checks, rng, line, sizes, kind="param",
             term_names=(), magnitude=0.0):
    """Finite differences of f wrt ``array`` (perturbed in place) against ``gradient``, then the diagnosis.

    ``f()`` returns a 1-D array: the loss, then (optionally) the values of its terms ``term_names``.
    ``magnitude``: the size of the terms the loss sums, for the round-off estimate (``differences``).
    """
    shape = tuple(array.shape)
    indices = _pick_indices(shape, max_checks, rng)
    values, noise = differences(f, array, indices, h=h, order=order, roundoff=True, magnitude=magnitude)
    numeric, roundoff = values[:, 0], noise[:, 0]
    if tuple(gradient.shape) != shape:  # never index a wrong-shaped gradient: say what it should be
        return TensorResult(name, shape, 0, 1.0, None, 0.0, 0.0, False, indices=indices, numeric_values=numeric,
                            gradient=gradient, tol=tol,
                            diagnoses=diagnose_shape(name, gradient, shape, indices, numeric, line))
    if not indices:
        return TensorResult(name, shape, 0, 0.0, None, 0.0, 0.0, True, gradient=gradient, tol=tol)
    picked = pick(gradient, indices)
    err = rel_error(picked, numeric, roundoff, tol)  # a difference within the stencil's round-off agrees
    passed = bool(np.all(err <= tol)) and bool(np.all(np.isfinite(picked)))
    # The worst entry: a failing tensor's errors often tie up to rounding (a constant-ratio bug), and then the
    # first of them is named, the same on every machine; a passing one names its exact argmax.
    k = int(np.nanargmax(err)) if passed else int(worst_order(err)[0])
    worst = float(np.max(np.nan_to_num(err, nan=1.0)))  # a NaN gradient is as wrong as it gets
    result = TensorResult(name, shape, len(indices), worst, tuple(indices[k]), float(picked[k]),
                          float(numeric[k]), passed, indices=indices, analytic_values=picked, numeric_values=numeric,
                          errors=err, gradient=gradient, tol=tol, roundoff=roundoff)
    if passed:
        return result
    result.diagnoses = diagnose_values(name, gradient, indices, numeric, line, sizes, kind, roundoff)
    if len(term_names) > 1:
        terms = dict(zip(term_names, values[:, 1:].T))
        result.diagnoses += term_attribution(name, picked, numeric, terms, sizes)
    if not result.diagnoses:
        _find_kinks(result, array, f, h)
    return result


def _find_kinks(result, array, f, h):
    """Mark the failing entries where the function has a kink: its slope jumps within the stencil's reach
    (2h), and backward equals one of the one-sided slopes there."""
    bad = [j for j in np.flatnonzero(~(result.errors <= result.tol))][:MAX_KINK_PROBES]
    sides = None
    for j in bad:
        i = result.indices[j]
        if not _slope_jumps(f, array, i, h, result.roundoff[j]):
            continue  # smooth here: a wrong derivative, however close to the true one, is not a kink
        f0 = _f_at(f, array, i, 0.0)[0]
        right = (_f_at(f, array, i, KINK_H)[0] - f0) / KINK_H
        left = (f0 - _f_at(f, array, i, -KINK_H)[0]) / KINK_H
        a = result.analytic_values[j]
        atol = 1e-7 * (1 + abs(f0))
        if any(abs(a - s) <= 1e-4 * (abs(a) + abs(s)) + atol for s in (left, right)):
            result.kinks.append(tuple(int(v) for v in i))
            if sides is None or abs(left - right) > abs(sides[0] - sides[1]):
                sides = (left, right)
    if result.kinks:
        result.diagnoses.append(Diagnosis("kink", result.name, kink_message(
            result.name, result.kinks, result.n_failed, result.checked, sides, h), value=len(result.kinks)))


def _slope_jumps(f, array, i, h, roundoff):
    """Whether f's slope along ``array[i]`` jumps somewhere in [-2h, 2h] (a kink the stencil reaches across).

    The slopes of the stencil's four steps, s_k = (f(t + (k+1) h) - f(t + k h)) / h, change smoothly where
    f is smooth: their third differences are ~ f'''(t) h^2, a relative 1e-8. A kink inside one step moves
    that step's slope by a fraction of the jump, and some third difference by at least a third of the jump.
    ``roundoff`` (the stencil's rounding estimate, 1.5 eps |f| / h) bounds their rounding: each s_k is off
    by at most 4/3 of it, a second difference of the slopes (weights 1, -2, 1) by 16/3 of it.
    """
    values = np.array([_f_at(f, array, i, k * h)[0] for k in (-2, -1, 0, 1, 2)])
    slopes = np.diff(values) / h
    third = np.abs(np.diff(slopes, 2))
    return bool(np.max(third) > 1e-5 * np.max(np.abs(slopes)) + 8 * roundoff)


def _zero(params):
    for _, p in params:
        g = p.grad
        if hasattr(g, "shape") and tuple(g.shape) == tuple(p.value.shape):
            g[...] = 0
        else:  # a student's backward replaced it with an array of another shape
            p.grad = backend.array_module(p.value).zeros_like(p.value)


def _snapshot(params):
    return [_host(p.grad) for _, p in params]


def _same(a, b):
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=1e-300)


def _method(order, h):
    return f"float64, centered {order + 1 if order == 4 else order}-point differences, h={h:g}"


def _title(obj) -> str:
    """repr(obj), or the class name where the class keeps object's default repr (it shows a memory address)."""
    text = repr(obj)
    return type(obj).__name__ if " object at 0x" in text else text


def _param_line(label):
    owner, _, name = label.rpartition(".")
    return f"{owner}'s backward, where it adds into {name}.grad" if owner else f"the line that adds into {label}.grad"


def _all_params(obj, report):
    """The Params to check: those ``params()`` yields, then Param attributes it forgets (reported)."""
    listed = named_params(obj)
    unlisted = unlisted_params(obj, [p for _, p in listed])
    report.structural.append(StructuralResult("every Param attribute is yielded by params()", not unlisted,
                                              unlisted_message(unlisted) if unlisted else ""))
    if unlisted:
        report.notes.append(Diagnosis("not_in_params", unlisted[0][0], unlisted_message(unlisted),
                                      value=[label for label, _ in unlisted]))
    return listed + unlisted


def _caught(report, err: StudentException):
    report.exception = err.caught
    c = err.caught
    where = f" at {c.file}, line {c.line}" + (f": {c.code}" if c.code else "") if c.file else ""
    report.notes.append(Diagnosis("exception", None, f"Your {c.during} raised {c.type}{where} "
                                                     f"({c.message}). Fix it and check again.",
                                  value=c.type))


def _overwrites(report, found):
    for path, lost, shared in found:
        msg = overwrite_message(path, lost, shared)
        report.structural.append(StructuralResult(f"{path} adds into its gradients", False, msg))
        report.notes.append(Diagnosis("overwrites", path, msg, value=lost))

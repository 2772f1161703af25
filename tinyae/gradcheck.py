"""Gradient checking: compare a hand-written backward pass with finite differences.

This is the heart of tinyae, and it works on ANY object that follows the layer contract
(``forward(x, training)``, ``backward(dy)`` adding into ``param.grad``, ``params()``), a student's own
layer included:

    >>> import numpy as np
    >>> from tinyae.layers import Dense
    >>> from tinyae.gradcheck import check_layer
    >>> x = np.random.default_rng(0).normal(size=(2, 3))
    >>> report = check_layer(Dense(3, 4, dtype=np.float64), x)
    >>> report.passed
    True

How a check works (docs/gradcheck.md derives each choice):

1. Everything is float64. In float32 the rounding error of a finite difference (~1e-7 / h) swamps
   the quantity being measured.
2. A layer's output y is turned into a scalar with a RANDOM upstream gradient g:  L = sum(y * g),
   so dL/dy = g. With g = ones, a transposed weight gradient can still come out right on a square
   matrix; with a random g it cannot.
3. Numerical gradient by centered differences. The default is the 4th-order centered stencil

        f'(t) ~ [-f(t+2h) + 8 f(t+h) - 8 f(t-h) + f(t-2h)] / (12 h),  h = 1e-4,

   whose truncation error O(h^4) ~ 1e-16 and rounding error ~ 1e-16 |L| / h ~ 1e-12 are both far
   below the 1e-7 relative tolerance even for gradient entries as small as 1e-4. The textbook
   2-point formula [f(t+h) - f(t-h)] / 2h with h = 1e-6 (``order=2``) has a rounding error near 1e-10,
   which fails a 1e-7 relative test for entries below ~1e-3 although the backward pass is right.
4. Relative error per entry: |a - n| / max(|a| + |n|, 1e-12); the report gives the maximum per tensor
   and where it happened. Every Param is checked, biases included (a random subset of ``max_checks``
   entries for large tensors).
5. Kinks (ReLU at 0, max-pool ties, |h| at 0) make finite differences meaningless there: choose
   inputs away from them (at least 2h). Tolerances are never loosened to hide one.
6. Stochastic layers keep their Generator in ``.rng``; the checker re-seeds it before every forward
   so the same noise is drawn each time.

Beyond finite differences, structural checks catch contract bugs: gradient shapes/dtypes, ``backward``
leaving ``dy`` and the parameter values untouched, ``backward`` twice accumulating exactly twice,
and a zero upstream gradient giving zero gradients.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from tinyae import backend

DEFAULT_H = {2: 1e-6, 4: 1e-4}  # step size per stencil order (see the module docstring)
DEFAULT_TOL = 1e-7


class GradcheckError(AssertionError):
    """Raised by ``Report.raise_if_failed`` with the whole report as its message."""


# --------------------------------------------------------------------------------------------------
# The two building blocks a student can use alone
# --------------------------------------------------------------------------------------------------


def rel_error(analytic, numeric):
    """Element-wise relative error |a - n| / max(|a| + |n|, 1e-12) (a NumPy array)."""
    a = backend.to_numpy(analytic).astype(np.float64)
    n = backend.to_numpy(numeric).astype(np.float64)
    if a.shape != n.shape:
        raise ValueError(f"rel_error: shapes differ, analytic {a.shape} vs numeric {n.shape}")
    return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), 1e-12)


def numerical_gradient(f, x, *, h=None, order=4, indices=None):
    """Centered finite-difference gradient of the scalar function ``f()`` with respect to array ``x``.

    ``x`` is perturbed IN PLACE one entry at a time (and always restored), so ``f`` must read ``x``
    (typically a closure over a layer's input or a Param's value). ``indices`` (a list of index
    tuples) restricts the work to those entries; the result then holds only those entries, in order.
    Returns a float64 NumPy array shaped like ``x`` (or ``(len(indices),)``).
    """
    if order not in DEFAULT_H:
        raise ValueError(f"numerical_gradient: order must be 2 or 4, got {order}")
    if x.dtype != np.float64:
        raise TypeError(
            f"numerical_gradient: x must be float64 (finite differences in float32 are noise), got {x.dtype}"
        )
    h = DEFAULT_H[order] if h is None else h

    def f_at(i, delta):
        old = x[i].copy()
        x[i] = old + delta
        try:
            return float(f())
        finally:
            x[i] = old

    all_indices = list(np.ndindex(*x.shape)) if indices is None else list(indices)
    out = np.empty(len(all_indices), dtype=np.float64)
    for k, i in enumerate(all_indices):
        if order == 2:
            out[k] = (f_at(i, h) - f_at(i, -h)) / (2 * h)
        else:
            # Differences first: where f does not depend on x[i] (a dead ReLU) this is exactly 0, while
            # -f + 8f - 8f + f rounds to ~1e-16 |f| / h and fails the relative test against a true 0.
            out[k] = (8 * (f_at(i, h) - f_at(i, -h)) - (f_at(i, 2 * h) - f_at(i, -2 * h))) / (12 * h)
    return out.reshape(x.shape) if indices is None else out


# --------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------


@dataclass
class TensorResult:
    """Finite differences vs backward for one tensor (an input or a Param)."""

    name: str
    shape: tuple
    checked: int
    max_error: float
    where: tuple | None  # index of the worst entry
    analytic: float  # the two values at that entry, for the message
    numeric: float
    passed: bool


@dataclass
class StructuralResult:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class Report:
    """Result of a gradient check; ``str(report)`` is a readable table, ``report.passed`` a bool."""

    title: str
    tol: float
    method: str
    tensors: list = field(default_factory=list)
    structural: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tensors) and all(s.passed for s in self.structural)

    @property
    def max_error(self) -> float:
        return max((t.max_error for t in self.tensors), default=0.0)

    def failures(self) -> list:
        """One line per failed tensor or structural check."""
        lines = [
            f"{t.name}: max relative error {t.max_error:.2e} at {t.where} "
            f"(backward {t.analytic:.6g}, finite differences {t.numeric:.6g}) exceeds {self.tol:.0e}"
            for t in self.tensors
            if not t.passed
        ]
        lines += [f"{s.name}: {s.detail}" for s in self.structural if not s.passed]
        return lines

    def raise_if_failed(self):
        if not self.passed:
            raise GradcheckError(str(self))
        return self

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
        lines.append("  PASSED" if self.passed else "  FAILED:\n    " + "\n    ".join(self.failures()))
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):  # IPython shows the table
        p.text(str(self))


# --------------------------------------------------------------------------------------------------
# Walking an object that follows the contract
# --------------------------------------------------------------------------------------------------


def named_params(obj):
    """(label, Param) pairs of ``obj``, each Param once (a tied Param appears under its first label)."""
    if hasattr(obj, "named_params"):
        pairs = list(obj.named_params())
    else:
        pairs = [(p.name, p) for p in (obj.params() if hasattr(obj, "params") else ())]
    seen, out = set(), []
    for label, p in pairs:
        if id(p) not in seen:
            seen.add(id(p))
            out.append((label, p))
    return out


def _walk(obj):
    yield obj
    for child in obj.children() if hasattr(obj, "children") else ():
        yield from _walk(child)


def _reseed(obj, seed):
    """Give every stochastic part (anything with an ``rng`` Generator) a fresh Generator of ``seed``."""
    for part in _walk(obj):
        if isinstance(getattr(part, "rng", None), np.random.Generator):
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


def _compare(name, array, analytic, f, *, h, order, tol, max_checks, rng):
    """Finite differences of f wrt ``array`` (perturbed in place) against ``analytic``."""
    indices = _pick_indices(array.shape, max_checks, rng)
    numeric = numerical_gradient(f, array, h=h, order=order, indices=indices)
    a_host = backend.to_numpy(analytic)
    picked = np.array([a_host[i] for i in indices], dtype=np.float64)
    if picked.size == 0:
        return TensorResult(name, tuple(array.shape), 0, 0.0, None, 0.0, 0.0, True)
    err = rel_error(picked, numeric)
    k = int(np.argmax(err))
    return TensorResult(
        name=name,
        shape=tuple(array.shape),
        checked=len(indices),
        max_error=float(err[k]),
        where=tuple(indices[k]),
        analytic=float(picked[k]),
        numeric=float(numeric[k]),
        passed=bool(err[k] <= tol) and bool(np.all(np.isfinite(picked))),
    )


def _snapshot(params):
    return [backend.to_numpy(p.grad).copy() for _, p in params]


def _zero(params):
    for _, p in params:
        p.grad[...] = 0


def _same(a, b):
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=1e-300)


def _method(order, h):
    return f"float64, centered {order + 1 if order == 4 else order}-point differences, h={h:g}"


# --------------------------------------------------------------------------------------------------
# check_layer
# --------------------------------------------------------------------------------------------------


def check_layer(layer, x, *, dy=None, seed=0, training=False, max_checks=None, tol=DEFAULT_TOL, order=4, h=None,
                check_input=True):
    """Check ``layer.backward`` against finite differences of L = sum(layer.forward(x) * dy).

    layer      -- anything following the contract, with float64 Params
    x          -- float64 input batch (perturbed in place during the check, then restored)
    dy         -- upstream gradient; by default a random normal array (never all ones)
    training   -- passed to forward (stochastic layers then draw noise from their re-seeded ``rng``)
    max_checks -- check at most this many random entries per tensor (None: all)
    Returns a ``Report``.
    """
    title = repr(layer)
    params = named_params(layer)
    _require_float64(f"check_layer({title})", [("the input x", x)] + [(f"Param {n}", p.value) for n, p in params])
    h = DEFAULT_H[order] if h is None else h
    rng = np.random.default_rng(seed)

    def run_forward():
        _reseed(layer, seed)
        return layer.forward(x, training=training)

    y = run_forward()
    if dy is None:
        dy = backend.to_device(rng.normal(size=y.shape), backend.device_of(y))
    if tuple(dy.shape) != tuple(y.shape):
        raise ValueError(f"check_layer({title}): dy has shape {tuple(dy.shape)}, the output has {tuple(y.shape)}")
    xp = backend.array_module(y)

    def loss():
        return xp.sum(run_forward() * dy)

    # Analytic gradients: one forward, one backward from zeroed grads.
    _zero(params)
    values_before = [backend.to_numpy(p.value).copy() for _, p in params]
    dy_before = backend.to_numpy(dy).copy()
    run_forward()
    dx = layer.backward(dy)
    grads = _snapshot(params)
    dx_host = None if dx is None else backend.to_numpy(dx).copy()

    report = Report(title, tol, _method(order, h))
    report.structural += _structural_after_backward(layer, params, x, dx, grads, dy, dy_before, values_before,
                                                    check_input)
    if check_input and dx_host is not None:
        report.tensors.append(_compare("input x", x, dx_host, loss, h=h, order=order, tol=tol,
                                       max_checks=max_checks, rng=rng))
    for (label, p), g in zip(params, grads):
        report.tensors.append(_compare(label, p.value, g, loss, h=h, order=order, tol=tol,
                                       max_checks=max_checks, rng=rng))
    _zero(params)
    return report


def _structural_after_backward(layer, params, x, dx, grads, dy, dy_before, values_before, check_input):
    """Contract checks that finite differences cannot see (run right after one forward+backward)."""
    out = []
    problems = []
    if check_input:
        if dx is None:
            problems.append("backward returned None instead of dx")
        elif tuple(dx.shape) != tuple(x.shape) or dx.dtype != x.dtype:
            problems.append(f"dx is {tuple(dx.shape)} {dx.dtype}, input is {tuple(x.shape)} {x.dtype}")
    for label, p in params:
        if tuple(p.grad.shape) != tuple(p.value.shape) or p.grad.dtype != p.value.dtype:
            problems.append(f"{label}.grad is {tuple(p.grad.shape)} {p.grad.dtype}, value is "
                            f"{tuple(p.value.shape)} {p.value.dtype}")
    out.append(StructuralResult("gradient shapes and dtypes match their tensors", not problems, "; ".join(problems)))

    changed = [label for (label, p), v in zip(params, values_before)
               if not np.array_equal(backend.to_numpy(p.value), v)]
    out.append(StructuralResult("backward leaves parameter values unchanged", not changed,
                                f"changed: {', '.join(changed)} (an optimizer step inside backward?)"))
    out.append(StructuralResult("backward leaves dy unchanged", np.array_equal(backend.to_numpy(dy), dy_before),
                                "dy was modified in place"))

    # Backward again WITHOUT zeroing: the cache must still be intact and grads must add up (2x).
    dx_again = layer.backward(dy)
    bad = [label for (label, p), g in zip(params, grads) if not _same(backend.to_numpy(p.grad), 2 * g)]
    if dx is not None and dx_again is not None and not _same(backend.to_numpy(dx_again), backend.to_numpy(dx)):
        bad.append("dx")
    out.append(StructuralResult("backward twice gives the same gradients (and grads accumulate)", not bad,
                                f"differs for: {', '.join(bad)} (grads overwritten instead of added, "
                                f"or backward changed its cache)"))

    _zero(params)
    dx_zero = layer.backward(dy * 0)
    nonzero = [label for label, p in params if np.any(backend.to_numpy(p.grad) != 0)]
    if dx_zero is not None and np.any(backend.to_numpy(dx_zero) != 0):
        nonzero.append("dx")
    out.append(StructuralResult("zero upstream gradient gives zero gradients", not nonzero,
                                f"non-zero: {', '.join(nonzero)}"))
    return out


# --------------------------------------------------------------------------------------------------
# check_loss
# --------------------------------------------------------------------------------------------------


def check_loss(loss, *inputs, seed=0, max_checks=None, tol=DEFAULT_TOL, order=4, h=None, wrt=None):
    """Check ``loss.backward()`` against finite differences of ``loss.forward(*inputs)``.

    ``backward()`` returns the gradient of the first input, or a tuple with the gradients of the first
    len(tuple) inputs, or None (a penalty on Params, such as weight decay, that adds into ``param.grad``).
    ``wrt`` names the inputs for the report (default x0, x1, ...). Params of the loss (``loss.params()``)
    are checked too.
    """
    title = repr(loss)
    params = named_params(loss)
    _require_float64(f"check_loss({title})", [(f"input {i}", a) for i, a in enumerate(inputs)]
                     + [(f"Param {n}", p.value) for n, p in params])
    h = DEFAULT_H[order] if h is None else h
    rng = np.random.default_rng(seed)

    def value():
        return loss.forward(*inputs)

    _zero(params)
    value()
    grads = loss.backward()
    if grads is None:
        grads = ()
    elif not isinstance(grads, tuple):
        grads = (grads,)
    grads = tuple(backend.to_numpy(g).copy() for g in grads)
    pgrads = _snapshot(params)

    report = Report(title, tol, _method(order, h))
    names = list(wrt) if wrt is not None else [f"input {i}" for i in range(len(inputs))]
    shape_problems = [f"{names[i]}: gradient {g.shape} vs input {tuple(inputs[i].shape)}"
                      for i, g in enumerate(grads) if tuple(g.shape) != tuple(inputs[i].shape)]
    report.structural.append(StructuralResult("gradient shapes match their inputs", not shape_problems,
                                              "; ".join(shape_problems)))
    if shape_problems:
        return report
    for i, g in enumerate(grads):
        report.tensors.append(_compare(names[i], inputs[i], g, value, h=h, order=order, tol=tol,
                                       max_checks=max_checks, rng=rng))
    for (label, p), g in zip(params, pgrads):
        report.tensors.append(_compare(label, p.value, g, value, h=h, order=order, tol=tol,
                                       max_checks=max_checks, rng=rng))
    _zero(params)
    return report


# --------------------------------------------------------------------------------------------------
# check_model
# --------------------------------------------------------------------------------------------------


def check_model(model, loss=None, x=None, target=None, *, seed=0, training=False, max_checks=None, tol=DEFAULT_TOL,
                order=4, h=None, **step_kwargs):
    """Check a whole model end to end: every Param's gradient of the total loss.

    Two kinds of model are accepted:
    - a layer stack (e.g. ``Sequential``) and a ``loss``: L = loss.forward(model.forward(x), target),
      with ``target = x`` by default (an autoencoder reconstructs its input). The input gradient is
      checked too.
    - a model with its own ``loss_and_backward(x, target, training=..., **step_kwargs) -> loss``
      (``Autoencoder``, ``VAE``; pass e.g. ``eps=`` to fix a VAE's noise) and ``loss=None``.
    """
    if x is None:
        raise ValueError("check_model: give the input batch x")
    title = repr(model)
    params = named_params(model)
    _require_float64(f"check_model({title})", [("the input x", x)] + [(f"Param {n}", p.value) for n, p in params])
    h = DEFAULT_H[order] if h is None else h
    rng = np.random.default_rng(seed)
    own_step = loss is None
    if own_step and not hasattr(model, "loss_and_backward"):
        raise TypeError(f"check_model({title}): give a loss, or a model with loss_and_backward()")
    tgt = x.copy() if target is None else target  # a copy: perturbing x must not move the target

    def value():
        _reseed(model, seed)
        if own_step:
            result = model.loss_and_backward(x, target, training=training, **step_kwargs)
            _zero(params)  # this evaluation only wants the number
            return result
        return loss.forward(model.forward(x, training=training), tgt)

    _zero(params)
    _reseed(model, seed)
    values_before = [backend.to_numpy(p.value).copy() for _, p in params]
    if own_step:
        model.loss_and_backward(x, target, training=training, **step_kwargs)
        dx = None
    else:
        loss.forward(model.forward(x, training=training), tgt)
        dx = model.backward(loss.backward())
    grads = _snapshot(params)
    dx_host = None if dx is None else backend.to_numpy(dx).copy()

    report = Report(title, tol, _method(order, h))
    changed = [label for (label, p), v in zip(params, values_before)
               if not np.array_equal(backend.to_numpy(p.value), v)]
    report.structural.append(StructuralResult("backward leaves parameter values unchanged", not changed,
                                              f"changed: {', '.join(changed)}"))
    if dx_host is not None:
        report.tensors.append(_compare("input x", x, dx_host, value, h=h, order=order, tol=tol,
                                       max_checks=max_checks, rng=rng))
    for (label, p), g in zip(params, grads):
        report.tensors.append(_compare(label, p.value, g, value, h=h, order=order, tol=tol,
                                       max_checks=max_checks, rng=rng))
    _zero(params)
    return report


def float64_copy(obj):
    """A float64 deep copy of a layer/model (the original is left as it is)."""
    return copy.deepcopy(obj).astype(np.float64)

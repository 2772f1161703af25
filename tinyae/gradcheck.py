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
   so dL/dy = g. With g = ones, every bug that sends the upstream gradient to the wrong place (a
   forgotten transpose or reshape of dy, a max-pool gradient routed to the wrong window entry) is
   invisible: a permuted array of ones is still ones. A random g gives each entry its own weight.
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
   inputs away from them (at least 2h). Tolerances are never loosened to hide one; a failure at a
   kink is reported as one (the one-sided slopes there differ, and backward gives one of them).
6. Stochastic layers keep their Generator in ``.rng``; the checker re-seeds it before every forward
   so the same noise is drawn each time.

Beyond finite differences, structural checks catch contract bugs: gradient shapes/dtypes, ``backward``
leaving ``dy`` and the parameter values untouched, ``backward`` twice accumulating exactly twice,
a zero upstream gradient giving zero gradients, and every Param attribute being yielded by
``params()`` (tinyae.gradcheck_contract). Inside a model each layer's backward is watched for
overwriting (``W.grad = ...``) a gradient instead of adding to it, so a tied layer is named.

A failed check is diagnosed (tinyae.gradcheck_diagnose): a constant ratio (2, 1/N, -1), a transpose,
a wrong shape, an all-zero gradient, a flipped kernel, dx vs the parameter lines, kinks, and in a
model the loss term whose gradient the error equals. An exception raised by the checked code is
caught and reported with its file and line (but NotImplementedError, a method not written yet,
propagates). The ``Report`` keeps the evidence for programs too
(tinyae.gradcheck_report documents its API).
"""

from __future__ import annotations

import copy

import numpy as np

from tinyae import backend
from tinyae.gradcheck_contract import (
    StudentException,
    call,
    overwrite_message,
    unlisted_message,
    unlisted_params,
    watch_overwrites,
)
from tinyae.gradcheck_diagnose import (
    diagnose_shape,
    diagnose_values,
    kink_message,
    matches,
    pick,
    sizes_of,
    split_message,
    term_attribution,
)
from tinyae.gradcheck_report import (  # noqa: F401  (re-exported: the public names stay here)
    CaughtException,
    Diagnosis,
    GradcheckError,
    Report,
    StructuralResult,
    TensorResult,
    worst_order,
)

DEFAULT_H = {2: 1e-6, 4: 1e-4}  # step size per stencil order (see the module docstring)
DEFAULT_TOL = 1e-7
KINK_H = 1e-7  # one-sided slopes at this step tell a kink from a bug
MAX_KINK_PROBES = 50


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
    all_indices = list(np.ndindex(*x.shape)) if indices is None else list(indices)
    out = differences(lambda: np.array([float(f())]), x, all_indices, h=h, order=order)[:, 0]
    return out.reshape(x.shape) if indices is None else out


def _f_at(f, x, i, delta):
    """f() with x[i] moved by delta (restored afterwards, whatever happens)."""
    old = x[i].copy()
    x[i] = old + delta
    try:
        return f()
    finally:
        x[i] = old


def differences(f, x, indices, *, h=None, order=4):
    """The stencil of ``numerical_gradient`` for a function returning a 1-D array of values (a loss and
    its terms): row k holds the derivatives of every value with respect to ``x[indices[k]]``."""
    h = DEFAULT_H[order] if h is None else h
    out = None
    for k, i in enumerate(indices):
        def f_at(delta, i=i):
            return _f_at(f, x, i, delta)

        if order == 2:
            row = (f_at(h) - f_at(-h)) / (2 * h)
        else:
            # Differences first: where f does not depend on x[i] (a dead ReLU) this is exactly 0, while
            # -f + 8f - 8f + f rounds to ~1e-16 |f| / h and fails the relative test against a true 0.
            row = (8 * (f_at(h) - f_at(-h)) - (f_at(2 * h) - f_at(-2 * h))) / (12 * h)
        if out is None:
            out = np.empty((len(indices), len(row)), dtype=np.float64)
        out[k] = row
    return np.empty((0, 1)) if out is None else out


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


def _host(a):
    """A float64 NumPy copy of a gradient as backward produced it (whatever its shape)."""
    return np.array(backend.to_numpy(a), dtype=np.float64)


def _compare(name, array, gradient, f, *, h, order, tol, max_checks, rng, line, sizes, kind="param",
             term_names=()):
    """Finite differences of f wrt ``array`` (perturbed in place) against ``gradient``, then the diagnosis.

    ``f()`` returns a 1-D array: the loss, then (optionally) the values of its terms ``term_names``.
    """
    shape = tuple(array.shape)
    indices = _pick_indices(shape, max_checks, rng)
    values = differences(f, array, indices, h=h, order=order)
    numeric = values[:, 0]
    if tuple(gradient.shape) != shape:  # never index a wrong-shaped gradient: say what it should be
        return TensorResult(name, shape, 0, 1.0, None, 0.0, 0.0, False, indices=indices, numeric_values=numeric,
                            gradient=gradient, tol=tol,
                            diagnoses=diagnose_shape(name, gradient, shape, indices, numeric, line))
    if not indices:
        return TensorResult(name, shape, 0, 0.0, None, 0.0, 0.0, True, gradient=gradient, tol=tol)
    picked = pick(gradient, indices)
    err = rel_error(picked, numeric)
    passed = bool(np.all(err <= tol)) and bool(np.all(np.isfinite(picked)))
    # The worst entry: a failing tensor's errors often tie up to rounding (a constant-ratio bug), and then the
    # first of them is named, the same on every machine; a passing one names its exact argmax.
    k = int(np.nanargmax(err)) if passed else int(worst_order(err)[0])
    worst = float(np.max(np.nan_to_num(err, nan=1.0)))  # a NaN gradient is as wrong as it gets
    result = TensorResult(name, shape, len(indices), worst, tuple(indices[k]), float(picked[k]),
                          float(numeric[k]), passed, indices=indices, analytic_values=picked, numeric_values=numeric,
                          errors=err, gradient=gradient, tol=tol)
    if passed:
        return result
    result.diagnoses = diagnose_values(name, gradient, indices, numeric, line, sizes, kind)
    if len(term_names) > 1:
        terms = dict(zip(term_names, values[:, 1:].T))
        result.diagnoses += term_attribution(name, picked, numeric, terms, sizes)
    if not result.diagnoses:
        _find_kinks(result, array, f, h)
    return result


def _find_kinks(result, array, f, h):
    """Mark the failing entries where the function has a kink: backward equals a one-sided slope there."""
    bad = [j for j in np.flatnonzero(~(result.errors <= result.tol))][:MAX_KINK_PROBES]
    sides = None
    for j in bad:
        i = result.indices[j]
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
    Returns a ``Report`` (never raises for a bug in the layer: an exception in its forward or backward
    is caught and reported with its file and line).
    """
    title = _title(layer)
    report = Report(title, tol, _method(order, DEFAULT_H[order] if h is None else h))
    params = _all_params(layer, report)
    _require_float64(f"check_layer({title})", [("the input x", x)] + [(f"Param {n}", p.value) for n, p in params])
    h = DEFAULT_H[order] if h is None else h
    rng = np.random.default_rng(seed)
    try:
        _check_layer(report, layer, params, x, dy, seed, training, max_checks, tol, order, h, check_input, rng)
    except StudentException as err:
        _caught(report, err)
    finally:
        _zero(params)
    return report


def _check_layer(report, layer, params, x, dy, seed, training, max_checks, tol, order, h, check_input, rng):
    def run_forward(inp=x):
        _reseed(layer, seed)
        return call("forward", layer.forward, inp, training=training)

    y = run_forward()
    if dy is None:
        dy = backend.to_device(rng.normal(size=y.shape), backend.device_of(y))
    if tuple(dy.shape) != tuple(y.shape):
        raise ValueError(f"check_layer({report.title}): dy has shape {tuple(dy.shape)}, "
                         f"the output has {tuple(y.shape)}")
    xp = backend.array_module(y)

    def loss():
        return np.array([float(xp.sum(run_forward() * dy))])

    # Analytic gradients: one forward, one backward from zeroed grads (each sub-layer watched for overwrites).
    _zero(params)
    values_before = [backend.to_numpy(p.value).copy() for _, p in params]
    dy_before = backend.to_numpy(dy).copy()
    run_forward()
    found = []
    with watch_overwrites(layer, np.random.default_rng(seed + 1), found):
        dx = call("backward", layer.backward, dy)
    grads = _snapshot(params)
    dx_host = None if dx is None else _host(dx)

    report.structural += _structural_after_backward(layer, params, x, dx, grads, dy, dy_before, values_before,
                                                    check_input)
    _overwrites(report, found)
    sizes = sizes_of(x)
    if check_input and dx_host is not None:
        report.tensors.append(_compare("input x", x, dx_host, loss, h=h, order=order, tol=tol, max_checks=max_checks,
                                       rng=rng, line="the dx your backward returns", sizes=sizes, kind="input"))
    for (label, p), g in zip(params, grads):
        report.tensors.append(_compare(label, p.value, g, loss, h=h, order=order, tol=tol, max_checks=max_checks,
                                       rng=rng, line=_param_line(label), sizes=sizes))
    x_result = report.tensors[0] if report.tensors and report.tensors[0].name == "input x" else None
    if x_result is not None and not x_result.passed and not x_result.wrong_shape and not x_result.kinks:
        _zero(params)
        x_result.diagnoses += _dx_counterfactuals(layer, params, x, y, dy, x_result, run_forward)
    report.notes[:0] = split_message(report, params_checked=bool(params))


def _dx_counterfactuals(layer, params, x, y, dy, x_result, run_forward):
    """Run backward again with one thing changed; if dx then comes out right, that thing is the bug.

    - a square weight W replaced by W.T (the dx line multiplies by W where it needs W.T);
    - a kernel (3+ axes) rotated 180 degrees (dx needs the flipped kernel);
    - for a layer without Params that keeps the shape: forward run on its own OUTPUT first (the
      derivative formula of an activation is in terms of y, and backward evaluated it at x).
    """
    found = []

    def dx_matches(dx):
        return dx is not None and tuple(dx.shape) == tuple(x.shape) and matches(
            pick(_host(dx), x_result.indices), x_result.numeric_values)

    for label, p in params:
        value = p.value
        tries = []
        if value.ndim == 2 and value.shape[0] == value.shape[1]:
            tries.append(("transpose", value.T, (
                f"input x: your dx comes out right when {label} is replaced by {label}.T: the dx line uses "
                f"{label} where it needs its transpose (e.g. dy @ W where it should be dy @ W.T).")))
        if value.ndim >= 3:
            tries.append(("flip", value[..., ::-1, ::-1], (
                f"input x: your dx comes out right when the kernel {label} is rotated 180 degrees first "
                f"({label}[..., ::-1, ::-1]): your dx line forgets to flip the kernel, or flips it where it "
                f"should not. dx is a full correlation of the padded dy with the kernel rotated 180 degrees "
                f"(or dy scattered back through the unrotated kernel, window by window).")))
        for what, changed, message in tries:
            p.value = backend.array_module(value).ascontiguousarray(changed)
            try:
                dx = layer.backward(dy)
            except Exception:
                dx = None
            finally:
                p.value = value
                _zero(params)
            if dx_matches(dx):
                found.append(Diagnosis("flipped_kernel" if what == "flip" else "dx_uses_param", "input x", message,
                                       value=(what, label)))
    if not params and tuple(y.shape) == tuple(x.shape):
        try:
            run_forward(backend.array_module(y).asarray(y).copy())
            dx = layer.backward(dy)
        except Exception:
            dx = None
        finally:
            run_forward()
        if dx_matches(dx):
            found.append(Diagnosis("input_for_output", "input x", (
                "input x: your dx comes out right when backward reads the layer's OUTPUT where it reads its input: "
                "the derivative is a formula in y = f(x) (sigmoid: y * (1 - y) with y the output), and your "
                "backward evaluates it at the input x. Keep y in forward and use it.")))
    return found


def _structural_after_backward(layer, params, x, dx, grads, dy, dy_before, values_before, check_input):
    """Contract checks that finite differences cannot see (run right after one forward+backward)."""
    out = []
    problems = []
    if check_input:
        if dx is None:
            problems.append("backward returned None instead of dx")
        elif tuple(dx.shape) != tuple(x.shape) or dx.dtype != x.dtype:
            problems.append(f"dx is {tuple(dx.shape)} {dx.dtype}, input is {tuple(x.shape)} {x.dtype}")
    for (label, p), g in zip(params, grads):
        if tuple(g.shape) != tuple(p.value.shape) or p.grad.dtype != p.value.dtype:
            problems.append(f"{label}.grad is {tuple(g.shape)} {p.grad.dtype}, value is "
                            f"{tuple(p.value.shape)} {p.value.dtype}")
    out.append(StructuralResult("gradient shapes and dtypes match their tensors", not problems, "; ".join(problems)))

    changed = [label for (label, p), v in zip(params, values_before)
               if not np.array_equal(backend.to_numpy(p.value), v)]
    out.append(StructuralResult("backward leaves parameter values unchanged", not changed,
                                f"changed: {', '.join(changed)} (an optimizer step inside backward?)"))
    out.append(StructuralResult("backward leaves dy unchanged", np.array_equal(backend.to_numpy(dy), dy_before),
                                "dy was modified in place"))

    # Backward again WITHOUT zeroing: the cache must still be intact and grads must add up (2x).
    dx_again = call("backward (called a second time)", layer.backward, dy)
    bad = [label for (label, p), g in zip(params, grads) if not _same(_host(p.grad), 2 * g)]
    if dx is not None and dx_again is not None and not _same(_host(dx_again), _host(dx)):
        bad.append("dx")
    out.append(StructuralResult("backward twice gives the same gradients (and grads accumulate)", not bad,
                                f"differs for: {', '.join(bad)} (grads overwritten instead of added, "
                                f"or backward changed its cache)"))

    _zero(params)
    dx_zero = call("backward (with dy = 0)", layer.backward, dy * 0)
    nonzero = [label for label, p in params if np.any(_host(p.grad) != 0)]
    if dx_zero is not None and np.any(_host(dx_zero) != 0):
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
    are checked too. An exception in the loss's forward or backward is caught and reported.
    """
    title = _title(loss)
    h = DEFAULT_H[order] if h is None else h
    report = Report(title, tol, _method(order, h))
    params = _all_params(loss, report)
    _require_float64(f"check_loss({title})", [(f"input {i}", a) for i, a in enumerate(inputs)]
                     + [(f"Param {n}", p.value) for n, p in params])
    rng = np.random.default_rng(seed)
    names = list(wrt) if wrt is not None else [f"input {i}" for i in range(len(inputs))]

    def value():
        return np.array([float(call("forward", loss.forward, *inputs))])

    try:
        _zero(params)
        value()
        grads = call("backward", loss.backward)
        if grads is None:
            grads = ()
        elif not isinstance(grads, tuple):
            grads = (grads,)
        grads = tuple(_host(g) for g in grads)
        pgrads = _snapshot(params)
        shape_problems = [f"{names[i]}: gradient {g.shape} vs input {tuple(inputs[i].shape)}"
                          for i, g in enumerate(grads) if tuple(g.shape) != tuple(inputs[i].shape)]
        report.structural.append(StructuralResult("gradient shapes match their inputs", not shape_problems,
                                                  "; ".join(shape_problems)))
        sizes = sizes_of(inputs[0]) if inputs else {}
        for i, g in enumerate(grads):
            report.tensors.append(_compare(names[i], inputs[i], g, value, h=h, order=order, tol=tol,
                                           max_checks=max_checks, rng=rng, sizes=sizes, kind="input",
                                           line="the gradient your backward() returns"))
        for (label, p), g in zip(params, pgrads):
            report.tensors.append(_compare(label, p.value, g, value, h=h, order=order, tol=tol,
                                           max_checks=max_checks, rng=rng, line=_param_line(label), sizes=sizes))
    except StudentException as err:
        _caught(report, err)
    finally:
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
      (``Autoencoder``, ``VAE``; pass e.g. ``eps=`` to fix a VAE's noise) and ``loss=None``. When the
      model keeps its loss terms in ``model.terms`` (a dict, as Autoencoder and VAE do), a failing
      tensor whose error equals one term's gradient names that term.
    Every layer's backward is watched during the pass: one that overwrites a gradient (``W.grad = ...``)
    is named, even a tied decoder that runs first onto a zeroed gradient.
    """
    if x is None:
        raise ValueError("check_model: give the input batch x")
    title = _title(model)
    h = DEFAULT_H[order] if h is None else h
    report = Report(title, tol, _method(order, h))
    params = _all_params(model, report)
    _require_float64(f"check_model({title})", [("the input x", x)] + [(f"Param {n}", p.value) for n, p in params])
    rng = np.random.default_rng(seed)
    own_step = loss is None
    if own_step and not hasattr(model, "loss_and_backward"):
        raise TypeError(f"check_model({title}): give a loss, or a model with loss_and_backward()")
    tgt = x.copy() if target is None else target  # a copy: perturbing x must not move the target
    term_names = []

    def value():
        _reseed(model, seed)
        if own_step:
            result = call("loss_and_backward", model.loss_and_backward, x, target, training=training, **step_kwargs)
            _zero(params)  # this evaluation only wants the number
            terms = getattr(model, "terms", None) or {}
            return np.array([float(result)] + [float(terms[k]) for k in term_names])
        out = call("forward", model.forward, x, training=training)
        return np.array([float(call("loss forward", loss.forward, out, tgt))])

    try:
        _zero(params)
        _reseed(model, seed)
        values_before = [backend.to_numpy(p.value).copy() for _, p in params]
        found = []
        with watch_overwrites(model, np.random.default_rng(seed + 1), found):
            if own_step:
                call("loss_and_backward", model.loss_and_backward, x, target, training=training, **step_kwargs)
                dx = None
                terms = getattr(model, "terms", None)
                if isinstance(terms, dict):
                    term_names = [k for k in terms if k != "loss"]
            else:
                call("loss forward", loss.forward, call("forward", model.forward, x, training=training), tgt)
                dx = call("backward", model.backward, call("loss backward", loss.backward))
        grads = _snapshot(params)
        dx_host = None if dx is None else _host(dx)

        changed = [label for (label, p), v in zip(params, values_before)
                   if not np.array_equal(backend.to_numpy(p.value), v)]
        report.structural.append(StructuralResult("backward leaves parameter values unchanged", not changed,
                                                  f"changed: {', '.join(changed)}"))
        _overwrites(report, found)
        sizes = sizes_of(x)
        if dx_host is not None:
            report.tensors.append(_compare("input x", x, dx_host, value, h=h, order=order, tol=tol,
                                           max_checks=max_checks, rng=rng, line="the dx the model returns",
                                           sizes=sizes, kind="input"))
        for (label, p), g in zip(params, grads):
            report.tensors.append(_compare(label, p.value, g, value, h=h, order=order, tol=tol, max_checks=max_checks,
                                           rng=rng, line=_param_line(label), sizes=sizes, term_names=term_names))
    except StudentException as err:
        _caught(report, err)
    finally:
        _zero(params)
    return report


def float64_copy(obj):
    """A float64 deep copy of a layer/model (the original is left as it is)."""
    return copy.deepcopy(obj).astype(np.float64)

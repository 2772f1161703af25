"""check_layer, check_loss and check_model (the package docstring says how a check works)."""


from __future__ import annotations

import copy

import numpy as np

from tinyae import backend
from tinyae.gradcheck.compare import (
    _all_params,
    _caught,
    _compare,
    _host,
    _method,
    _overwrites,
    _param_line,
    _require_float64,
    _same,
    _snapshot,
    _title,
    _zero,
    reseed,
)
from tinyae.gradcheck.contract import (
    StudentException,
    call,
    watch_overwrites,
)
from tinyae.gradcheck.diagnose import (
    matches,
    pick,
    sizes_of,
    split_message,
)
from tinyae.gradcheck.numeric import DEFAULT_H, DEFAULT_TOL
from tinyae.gradcheck.report import (
    Diagnosis,
    Report,
    StructuralResult,
)

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
        reseed(layer, seed)
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
    magnitude = float(xp.sum(xp.abs(y * dy)))  # L = sum(y * dy) cancels; its rounding is eps * this
    if check_input and dx_host is not None:
        report.tensors.append(_compare("input x", x, dx_host, loss, h=h, order=order, tol=tol, max_checks=max_checks,
                                       rng=rng, line="the dx your backward returns", sizes=sizes, kind="input",
                                       magnitude=magnitude))
    for (label, p), g in zip(params, grads):
        report.tensors.append(_compare(label, p.value, g, loss, h=h, order=order, tol=tol, max_checks=max_checks,
                                       rng=rng, line=_param_line(label), sizes=sizes, magnitude=magnitude))
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
      (``Autoencoder``, ``VAE``; pass e.g. ``eps=`` to fix a VAE's noise) and ``loss=None``. A failing
      tensor whose error equals one term's gradient names that term. The terms are ``model.terms``
      (a dict, as Autoencoder and VAE keep it), or else the float variables of ``loss_and_backward``
      that add up to the loss it returns (``return reconstruction + decay + sparsity`` names those three).
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
    term_names = []  # the loss's terms, when the model keeps them in a dict ``terms`` (tinyae's models do)

    def value():
        reseed(model, seed)
        if own_step:
            result = call("loss_and_backward", model.loss_and_backward, x, target, training=training, **step_kwargs)
            terms = getattr(model, "terms", None) or {}
            _zero(params)  # this evaluation only wants the number
            return np.array([float(result)] + [float(terms.get(k, np.nan)) for k in term_names])
        out = call("forward", model.forward, x, training=training)
        return np.array([float(call("loss forward", loss.forward, out, tgt))])

    try:
        _zero(params)
        reseed(model, seed)
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

"""Finite differences and the relative error: the two building blocks a student can use alone."""


from __future__ import annotations

import numpy as np

from tinyae import backend

DEFAULT_H = {2: 1e-6, 4: 1e-4}  # step size per stencil order (see the module docstring)
DEFAULT_TOL = 1e-7
EPS = float(np.finfo(np.float64).eps)
# The stencil's weights: sum |c_k| / denominator, in units of 1/h. Each f(t + s_k h) is rounded by about
# eps |f|, and the stencil multiplies those rounding errors by its weights: 2-point (|1| + |-1|) / 2 = 1,
# 5-point (|-1| + |8| + |-8| + |1|) / 12 = 1.5.
STENCIL_WEIGHT = {2: 1.0, 4: 1.5}
KINK_H = 1e-7  # one-sided slopes at this step tell a kink from a bug
MAX_KINK_PROBES = 50


# --------------------------------------------------------------------------------------------------
# The two building blocks a student can use alone
# --------------------------------------------------------------------------------------------------


def rel_error(analytic, numeric, roundoff=0.0, tol=DEFAULT_TOL):
    """Element-wise relative error |a - n| / max(|a| + |n|, roundoff / tol, 1e-12) (a NumPy array).

    ``roundoff``: the finite-difference value's own rounding error, per entry (``differences(...,
    roundoff=True)`` estimates it). An entry smaller than what the stencil can resolve is then measured
    against that resolution instead of its own size: a difference within ``roundoff`` is an error of at
    most ``tol``, i.e. agreement. With ``roundoff=0`` (the default) this is the plain relative error.
    """
    a = backend.to_numpy(analytic).astype(np.float64)
    n = backend.to_numpy(numeric).astype(np.float64)
    if a.shape != n.shape:
        raise ValueError(f"rel_error: shapes differ, analytic {a.shape} vs numeric {n.shape}")
    floor = np.maximum(np.asarray(roundoff, dtype=np.float64) / tol, 1e-12)
    return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), floor)


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


def differences(f, x, indices, *, h=None, order=4, roundoff=False, magnitude=0.0):
    """The stencil of ``numerical_gradient`` for a function returning a 1-D array of values (a loss and
    its terms): row k holds the derivatives of every value with respect to ``x[indices[k]]``.

    With ``roundoff=True`` it returns ``(derivatives, roundoff)``: the second array (same shape) estimates
    each derivative's rounding error, STENCIL_WEIGHT * eps * max(|f| over the stencil's points,
    ``magnitude``) / h. ``magnitude`` is the size of the terms f sums, where it is larger than |f| itself
    (L = sum(y * g) with a random g cancels, its rounding does not).
    """
    h = DEFAULT_H[order] if h is None else h
    out = noise = None
    for k, i in enumerate(indices):
        values = {}

        def f_at(delta, i=i, values=values):
            values[delta] = v = _f_at(f, x, i, delta)
            return v

        if order == 2:
            row = (f_at(h) - f_at(-h)) / (2 * h)
        else:
            # Differences first: where f does not depend on x[i] (a dead ReLU) this is exactly 0, while
            # -f + 8f - 8f + f rounds to ~1e-16 |f| / h and fails the relative test against a true 0.
            row = (8 * (f_at(h) - f_at(-h)) - (f_at(2 * h) - f_at(-2 * h))) / (12 * h)
        if out is None:
            out = np.empty((len(indices), len(row)), dtype=np.float64)
            noise = np.empty_like(out)
        out[k] = row
        size = np.maximum(np.max(np.abs(np.array(list(values.values()), dtype=np.float64)), axis=0), magnitude)
        noise[k] = STENCIL_WEIGHT[order] * EPS * size / h
    if out is None:
        out = noise = np.empty((0, 1))
    return (out, noise) if roundoff else out

"""Finite differences and the relative error: the two building blocks a student can use alone."""


from __future__ import annotations

import numpy as np

from tinyae import backend

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

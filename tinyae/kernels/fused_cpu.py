"""Fused element-wise loops for the CPU (Numba): the Adam update and binary cross-entropy on logits.

Why these two. In a dense autoencoder almost all arithmetic is in the matrix products, which BLAS
runs near the machine's peak. What is left is element-wise work: NumPy runs each operation of a
formula as its own pass over memory, creating a temporary array each time, on ONE core. The Adam
update is 12 such passes over every parameter; BCE-with-logits is about 15 over the whole output
batch (and ``log1p`` and ``exp`` are not vectorised by NumPy). Measured on the dense AE
784-256-64-256-784 they cost about as much as a third of the matrix products (docs/performance.md).
A Numba loop does the whole formula per element in registers, in one pass.

On one core, like the kernels of numba_cpu.py: a ``prange`` version was measured slower here (0.38 vs
0.35 s per epoch of the dense AE on 2 cores). Waking the other thread costs more than these loops take,
and Numba's default OpenMP threads keep spinning after a parallel loop, on the cores the next OpenBLAS
product needs (with that default the epoch took 0.99 s). What one core needs is a loop LLVM can
vectorise (see ``error_model`` below).

The readable versions stay where they belong and remain the reference: ``Adam._update`` in optim.py
and ``BCEWithLogits`` in losses.py. They run on CuPy arrays and whenever ``TINYAE_KERNELS=reference``;
these twins run for C-contiguous float32/float64 NumPy arrays (the same rule as the other Numba
kernels, see ``tinyae.kernels.select_impl``), and tests/test_fused.py checks each against its reference.

- ``adam_update`` performs exactly the reference's operations in the same order, in the array's dtype
  (the scalars are cast to it first, as NumPy does with Python floats): the result is bit-identical.
- ``bce_with_logits_forward`` takes e = exp(-|z|) from NumPy (vectorised), then computes the per-element
  losses in one pass, with log1p by Goldberg's trick (below); NumPy sums the terms, as in the reference.
  It keeps e for the backward, which then needs no second exponential. Equal to the reference within
  float32 rounding (measured on one (128, 784) batch: forward 1.4 ms instead of 2.3, backward 0.1 ms
  instead of 1.4).

Rules as in numba_cpu.py: ``cache=True``, no ``fastmath`` (it would reorder the arithmetic and assume no
Inf/NaN), one compile per dtype. And ``error_model="numpy"``: by default Numba makes a float division
check for a zero divisor, to raise ZeroDivisionError as Python does; that branch in the loop stops LLVM
from vectorising it (the Adam step of the dense AE took 2.8 ms instead of 1.0, slower than NumPy's 2.3).
With "numpy", x / 0 gives inf or nan, exactly as in the NumPy reference.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


def _flat(a):
    """A 1-D view of a C-contiguous array (the loops are element-wise: the shape does not matter)."""
    return a.reshape(-1)


# --------------------------------------------------------------------------------------------------
# Adam (see tinyae.optim.Adam for the derivation)
# --------------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _adam_kernel(w, g, m, v, b1, c1, b2, c2, sqrt_bias2, eps, step_size, decay):
    for i in range(w.size):
        gi = g[i]
        mi = m[i] * b1 + c1 * gi  # m <- b1 m + (1 - b1) g
        vi = v[i] * b2 + c2 * (gi * gi)  # v <- b2 v + (1 - b2) g^2
        m[i] = mi
        v[i] = vi
        wi = w[i] * decay  # decoupled weight decay (decay = 1 - lr*wd; exactly 1 without it)
        denom = np.sqrt(vi) / sqrt_bias2 + eps  # sqrt(v_hat) + eps
        w[i] = wi - (mi / denom) * step_size  # w <- w - lr/(1 - b1^t) * m / (sqrt(v_hat) + eps)


def adam_update(w, g, m, v, *, lr, beta1, beta2, eps, t, weight_decay=0.0):
    """One Adam step (t counted from 1) on w, m, v in place; the twin of ``tinyae.optim.Adam._update``."""
    f = w.dtype.type  # every scalar in the array's dtype, as NumPy does with Python floats
    decay = f(1 - lr * weight_decay) if weight_decay else f(1)
    _adam_kernel(_flat(w), _flat(g), _flat(m), _flat(v), f(beta1), f(1 - beta1), f(beta2), f(1 - beta2),
                 f(math.sqrt(1 - beta2**t)), f(eps), f(lr / (1 - beta1**t)), decay)


# --------------------------------------------------------------------------------------------------
# Binary cross-entropy on logits (see tinyae.losses.BCEWithLogits)
# --------------------------------------------------------------------------------------------------


# The constants 0 and 1 come in as arguments of the arrays' dtype: in Numba a literal 1 is an int64, and
# int64 + float32 is float64, which would silently move the float32 arithmetic to float64.
#
# log1p(e) without log1p. The library's log1p costs 3 to 6 times a log here (it is not vectorised, in
# NumPy either), and it would be half of the loss's time. log(1 + e) alone is not accurate: for a small e,
# u = 1 + e is rounded and the rounding error of u is all that log(u) ~ e then measures. Goldberg's
# trick (What Every Computer Scientist Should Know About Floating-Point Arithmetic, 1991, Theorem 4)
# divides that error out: log(u) * e / (u - 1) has the relative error of log itself (a few ulps),
# because log(u) / (u - 1) varies slowly and u - 1 is exact; when u rounds to exactly 1, log1p(e) = e.


@njit(cache=True, error_model="numpy")
def _bce_logits_forward_kernel(z, t, e, zero, one, terms):
    for i in range(z.size):
        zi, ei = z[i], e[i]
        u = one + ei
        log1p_e = ei if u == one else np.log(u) * ei / (u - one)  # = log1p(e), accurately (see above)
        terms[i] = max(zi, zero) - zi * t[i] + log1p_e  # max(z, 0) - z t + log(1 + exp(-|z|))


@njit(cache=True, error_model="numpy")
def _bce_logits_backward_kernel(z, t, e, one, denom, dz):
    for i in range(z.size):
        r = one / (one + e[i])  # sigmoid(|z|)
        s = r if z[i] >= 0 else e[i] * r  # sigmoid(z), as tinyae.layers.activations.sigmoid computes it
        dz[i] = (s - t[i]) / denom


def bce_with_logits_forward(z, t):
    """(sum of the per-element losses, e = exp(-|z|) kept for the backward)."""
    f = z.dtype.type
    # e by NumPy: its exp is vectorised (SIMD), Numba's calls the C library's scalar expf, 30% slower here.
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|z|), in (0, 1]: never overflows
    terms = np.empty_like(z)
    _bce_logits_forward_kernel(_flat(z), _flat(t), _flat(e), f(0), f(1), _flat(terms))
    return terms.sum(), e  # summed by NumPy, as in the reference (pairwise: accurate, and fast)


def bce_with_logits_backward(z, t, e, denom):
    """dL/dz = (sigmoid(z) - t) / denom, with sigmoid(z) built from the forward's e = exp(-|z|)."""
    f = z.dtype.type
    dz = np.empty_like(z)
    _bce_logits_backward_kernel(_flat(z), _flat(t), _flat(e), f(1), f(denom), _flat(dz))
    return dz

"""Fused element-wise loops for the CPU (Numba): the Adam update, binary cross-entropy on logits, ReLU, upsampling.

Why Adam and the loss. In a dense autoencoder almost all arithmetic is in the matrix products, which BLAS
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

The readable versions stay where they belong and remain the reference: ``Adam._update`` in optim.py,
``BCEWithLogits`` in losses.py, ``ReLU.forward`` and ``Upsample2D`` in layers/. Each is a
``@kernels.hot_spot``; the ``@kernels.twin`` functions at the end of each section below are their
twins, which the dispatcher (tinyae/kernels/__init__.py) runs for C-contiguous float32/float64 NumPy
arrays; the method bodies run on CuPy arrays and whenever the teaching switch says "reference".
tests/test_fused.py checks each twin against its reference.

- ``adam_update`` performs exactly the reference's operations in the same order, in the array's dtype
  (the scalars are cast to it first, as NumPy does with Python floats): the result is bit-identical.
  One call updates every Param of the optimizer (``Adam.step``).
- ``bce_with_logits_forward`` computes the per-element losses in one pass and keeps e = exp(-|z|) for
  the backward, which then needs no second exponential; NumPy sums the terms, as in the reference. In
  float32 the loop computes exp and log1p itself so that it vectorises (see below); in float64 it takes
  e from NumPy and log1p by Goldberg's trick. Equal to the reference within rounding (measured on one
  (128, 784) float32 batch: forward 0.53 ms instead of 2.3, backward 0.1 ms instead of 1.4).
- ``relu_forward`` and ``upsample_nearest`` (+ backward) are one-pass twins of the lines in
  ``ReLU.forward`` and ``Upsample2D`` (nearest), for the conv AE's large activations.

Rules as in numba_cpu.py: ``cache=True``, no ``fastmath`` (it would reorder the arithmetic and assume no
Inf/NaN), one compile per dtype. And ``error_model="numpy"``: by default Numba makes a float division
check for a zero divisor, to raise ZeroDivisionError as Python does; that branch in the loop stops LLVM
from vectorising it (the Adam step of the dense AE took 2.8 ms instead of 1.0, slower than NumPy's 2.3).
With "numpy", x / 0 gives inf or nan, exactly as in the NumPy reference.
"""

from __future__ import annotations

import copyreg
import functools
import math
import sys

import numpy as np
from numba import njit

from tinyae import kernels
from tinyae.functional import adam_step_scalars
from tinyae.kernels import method_twins


def _flat(a):
    """A 1-D view of a C-contiguous array (the loops are element-wise: the shape does not matter)."""
    return a.reshape(-1)


# --------------------------------------------------------------------------------------------------
# Adam (see tinyae.optim.Adam for the derivation)
# --------------------------------------------------------------------------------------------------


# One call updates a pack of up to _PACK Params: a Python call per Param (about 20 us of argument
# checking and dispatch) was a fifth of a small model's training step. Numba compiles a function once
# per tuple length, so every pack is padded to _PACK with empty arrays: one compile per dtype.
_PACK = 8


@njit(cache=True, error_model="numpy")
def _adam_kernel(ws, gs, ms, vs, b1, c1, b2, c2, eps_hat, step_size, decay):
    for k in range(len(ws)):  # each Param of the pack, as flat arrays
        w, g, m, v = ws[k], gs[k], ms[k], vs[k]
        for i in range(w.size):
            gi = g[i]
            mi = m[i] * b1 + c1 * gi  # m <- b1 m + (1 - b1) g
            vi = v[i] * b2 + c2 * (gi * gi)  # v <- b2 v + (1 - b2) g^2
            m[i] = mi
            v[i] = vi
            wi = w[i] * decay  # decoupled weight decay (decay = 1 - lr*wd; exactly 1 without it)
            denom = np.sqrt(vi) + eps_hat  # sqrt(v) + eps sqrt(1 - b2^t)
            w[i] = wi - (mi / denom) * step_size  # w <- w - lr_t * m / (sqrt(v) + eps_hat)


@functools.lru_cache(maxsize=16)
def _adam_scalars(dtype, lr, beta1, beta2, eps, t, weight_decay):
    """The kernel's scalars at step t, each in the arrays' dtype (as NumPy does with Python floats).

    Cached: making seven NumPy scalars costs more (about 5 us) than the update of a bias vector itself,
    and the step's groups (one per dtype) share them."""
    f = dtype.type
    step_size, eps_hat = adam_step_scalars(lr, beta1, beta2, eps, t)  # the reference's own: bit-identical
    decay = f(1 - lr * weight_decay) if weight_decay else f(1)
    return f(beta1), f(1 - beta1), f(beta2), f(1 - beta2), f(eps_hat), f(step_size), decay


def adam_update(ws, gs, ms, vs, *, lr, beta1, beta2, eps, t, weight_decay=0.0):
    """One Adam step (t counted from 1) on every Param: ws[k], ms[k], vs[k] updated in place from gs[k].

    The arithmetic of ``tinyae.optim.Adam._update`` run on each Param; all arrays writable, C-contiguous,
    of one dtype (Numba types a read-only array differently, and a pack's arrays must share one type)."""
    scalars = _adam_scalars(ws[0].dtype, lr, beta1, beta2, eps, t, weight_decay)
    empty = np.empty(0, dtype=ws[0].dtype)
    for start in range(0, len(ws), _PACK):
        padding = [empty] * (_PACK - len(ws[start:start + _PACK]))
        packs = [tuple([_flat(a) for a in arrays[start:start + _PACK]] + padding) for arrays in (ws, gs, ms, vs)]
        _adam_kernel(*packs, *scalars)


def _numpy_arrays_fit(arrays) -> bool:
    """What the Numba loops take: writable C-contiguous float32/float64 NumPy arrays."""
    return all(isinstance(a, np.ndarray) and a.flags.c_contiguous and a.flags.writeable and a.dtype in _FLOATS
               for a in arrays)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
adam_step, _adam_accepts = method_twins.adam_step(sys.modules[__name__], _numpy_arrays_fit)
kernels.twin("Adam.step", "numba", accepts=_adam_accepts)(adam_step)


# --------------------------------------------------------------------------------------------------
# Zeroing lazily, and a weight gradient written straight into a zeroed W.grad (see tinyae.layers.base, dense)
# --------------------------------------------------------------------------------------------------
#
# Every step starts with zero_grad() -- 434 k zeros written for the dense AE, about 80 us on this machine
# (memory-bound) -- and then each dense backward makes x.T @ dy in a fresh temporary and adds it into
# W.grad, a pass that reads two arrays and writes one. Right after zero_grad both are wasted: 0 + a @ b
# is a @ b. So the twin of ``Layer.zero_grad`` (a model's zero_grad too) only MARKS each gradient as
# zero, and the twins of ``Dense.backward``/``TiedDense.backward`` write the product straight into a marked W.grad
# (np.matmul(..., out=W.grad), BLAS's output); the second use of a tied W finds it unmarked and adds.
#
# The mark needs a ``grad`` that writes the zeros when anything else reads it (an optimizer, a test, a
# student's print, the method body's ``W.grad += ...``), and ``Param`` is a plain value and gradient. So
# the first time its twin runs, a Param becomes a ``LazyZeroParam`` (``_lazy_class(type(p))``, its repr
# says so): a subclass whose ``grad`` is a property that writes the pending zeros on read. The Param
# object stays the same (ties, optimizer state), and ``Param``'s own source stays what the docs derive.
# Under the teaching switch the twin never runs; a Param turned earlier keeps working (its reads write
# the zeros). What this costs a reader: the array ``p.grad`` returned BEFORE a zero_grad() keeps its old
# numbers until ``p.grad`` is read again (every reader in tinyae reads ``p.grad`` afresh each step);
# Param.zero_grad's docstring says so. Without this twin a dense AE's step is about 3% slower
# (docs/performance.md 15).

_LAZY_CLASSES = {}


def _lazy_class(cls):
    """``cls`` (a Param class) with ``grad`` a property that writes pending zeros when it is read."""
    if cls not in _LAZY_CLASSES:
        def read(p):
            if p._zero_pending:  # zero_grad() was called and nothing has written the gradient since
                p._grad[...] = 0
                p._zero_pending = False
            return p._grad

        def write(p, g):
            p._grad = g
            p._zero_pending = False

        def reduce(p, protocol):  # pickled (and deep-copied) as the plain class, its zeros written
            state = {k: v for k, v in p.__dict__.items() if k not in ("_grad", "_zero_pending")}
            state["grad"] = read(p)
            return copyreg._reconstructor, (cls, object, None), state

        def describe(p):
            return f"LazyZeroParam({p.name!r}, shape={tuple(p.shape)}, dtype={p.value.dtype})"

        _LAZY_CLASSES[cls] = type(f"LazyZero{cls.__name__}", (cls,), {
            "grad": property(read, write), "__reduce_ex__": reduce, "__repr__": describe, "__slots__": (),
            "__doc__": f"A {cls.__name__} whose zero_grad() only marks the gradient as zero: the zeros are "
                       f"written when grad is next read (tinyae/kernels/fused_cpu.py, the zero_grad twin).",
            "__module__": __name__})
    return _LAZY_CLASSES[cls]


def _grad_array(p):
    """p's gradient array, without writing pending zeros."""
    return p.__dict__["_grad"] if "_grad" in p.__dict__ else p.__dict__["grad"]


def _lazy_fits(p) -> bool:
    g = _grad_array(p)
    return isinstance(g, np.ndarray) and g.flags.c_contiguous and g.flags.writeable


@kernels.twin("Layer.zero_grad", "numba")
def layer_zero_grad_twin(layer):
    """Twin of ``Layer.zero_grad`` (a model's too): mark each NumPy grad as zero; the zeros are written when
    it is next read. A Param of another kind gets its own ``zero_grad()``."""
    for p in layer.params():
        if not _lazy_fits(p):
            p.zero_grad()
            continue
        if "grad" in p.__dict__:  # first time: the same object, with the lazy grad
            # In an order that leaves p.grad readable between any two statements (a Ctrl-C may land there):
            p.__dict__["_grad"], p.__dict__["_zero_pending"] = p.__dict__["grad"], False
            p.__class__ = _lazy_class(type(p))  # from here on grad is the property, reading _grad
            del p.__dict__["grad"]
        p._zero_pending = True


def add_matmul_into(p, a, b):
    """p.grad += a @ b; right after the zero_grad twin, a @ b is written into p.grad directly."""
    if p.__dict__.get("_zero_pending"):
        np.matmul(a, b, out=p.__dict__["_grad"])  # the product lands in grad: 0 + a @ b
        p._zero_pending = False
    else:
        p.grad += a @ b


def _weight_grad_fits(layer, dy, need_dx=True) -> bool:
    g = _grad_array(layer.W)
    return isinstance(g, np.ndarray) and g.flags.c_contiguous and g.flags.writeable and g.dtype == dy.dtype


def _dense_backward_twin(tied: bool):
    """The twin of ``Dense.backward`` (tied=False) or ``TiedDense.backward`` (W used transposed): the same
    lines, dW written into a zeroed W.grad (see above)."""

    def twin(layer, dy, need_dx=True):
        x = layer._cached("_x")
        layer.check_grad(dy, (x.shape[0], layer.out_features))
        if tied:
            add_matmul_into(layer.W, dy.T, x)  # W.grad += dy.T @ x: (in, N) @ (N, out) -> (in, out)
        else:
            add_matmul_into(layer.W, x.T, dy)  # W.grad += x.T @ dy: (in, N) @ (N, out) -> (in, out)
        if layer.b is not None:
            layer.b.grad += np.sum(dy, axis=0)
        if not need_dx:
            return None
        return dy @ layer.W.value if tied else dy @ layer.W.value.T

    return twin


kernels.twin("Dense.backward", "numba", accepts=_weight_grad_fits)(_dense_backward_twin(tied=False))
kernels.twin("TiedDense.backward", "numba", accepts=_weight_grad_fits)(_dense_backward_twin(tied=True))


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
        s = r if z[i] >= 0 else e[i] * r  # sigmoid(z), as tinyae.functional.sigmoid computes it
        dz[i] = (s - t[i]) / denom


# --- float32: exp and log1p written out, so that the whole loop vectorises ----------------------------
#
# In float32 (training) the two library calls were most of the loss's time: neither NumPy's float32 exp
# and log (vectorised only for AVX-512 CPUs) nor the C library's scalar expf/logf that Numba calls run
# more than one number at a time, about 4 ns per element each. Written as polynomials they are plain
# multiplies and adds that LLVM runs 8 at a time (AVX2), and the loss kernel went from 1.1 to 0.35 ms
# on a (128, 784) batch (the whole forward call, input checks included: 1.33 -> 0.53 ms). Accuracy,
# measured against float64 over [-120, 120]: exp within 1 ulp, log1p(e) within 4 (tests/test_fused.py).
# float64 (gradient checks) keeps the library functions above.
#
# exp(-a), a >= 0 (Cody and Waite's range reduction). Write a = k ln2 + r with k = round(a / ln2), so
# |r| <= ln2 / 2 and exp(-a) = 2^-k exp(-r):
#   - ln2 is split into LN2_HI, whose few significant bits make k * LN2_HI exact, and the small rest
#     LN2_LO: r = (a - k LN2_HI) - k LN2_LO loses nothing even for k = 150;
#   - exp(-r) is its Taylor series to degree 7: the first term left out, r^8 / 8!, is about 5e-9 for
#     |r| <= ln2 / 2 = 0.347, a tenth of float32's rounding error (6e-8);
#   - 2^-k is exact: a float32 with exponent field 127 - k and a zero mantissa, made from its bits. Two
#     halves 2^-k1 * 2^-k2 keep each factor a normal number up to k = 150, where exp(-a) underflows
#     to 0 (a is capped at 104: exp(-104) < 2^-150 rounds to 0, as does the exact value beyond).
#
# log1p(e), 0 <= e <= 1: with s = e / (2 + e), (1 + s) / (1 - s) = 1 + e, so log(1 + e) = 2 atanh(s)
# = 2 (s + s^3/3 + s^5/5 + ...). s lies in [0, 1/3], and seven terms leave out less than
# s^14 / 15 <= 1.4e-8 of s, below float32's half-ulp (6e-8). No 1 + e is rounded first, so a tiny e
# keeps all its digits (log1p(e) ~ e).
#
# fastmath={"contract"} lets LLVM fuse a * b + c into one FMA instruction (one rounding instead of two):
# nothing else of fastmath (no reordering, no assumption that there is no NaN or Inf).

_f32 = np.float32
_ZERO, _HALF, _ONE, _TWO = _f32(0), _f32(0.5), _f32(1), _f32(2)
_LOG2E = _f32(1.4426950408889634)  # 1 / ln 2
_LN2_HI = _f32(0.693359375)  # ln 2 to 9 bits: k * _LN2_HI is exact for k < 2^15
_LN2_LO = _f32(-2.12194440e-4)  # ln 2 - _LN2_HI
_A_MAX = _f32(104.0)  # exp(-104) < 2^-150: rounds to 0 in float32
_EXP_TAYLOR = tuple(_f32(1 / math.factorial(n)) for n in range(8))  # 1/0!, 1/1!, ..., 1/7!
_ATANH_SERIES = tuple(_f32(1 / (2 * n + 1)) for n in range(7))  # 1, 1/3, 1/5, ..., 1/13


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def exp_neg_f32(a):
    """exp(-a) for a float32 a >= 0 (see above), within 1 ulp; exp(-inf) = 0, and NaN gives NaN.

    Only for a >= 0 (the caller passes |z|): a negative a would be truncated, not rounded, to k."""
    a = min(a, _A_MAX)
    k = np.int32(a * _LOG2E + _HALF)  # round(a / ln2): a >= 0, so truncating a / ln2 + 1/2 rounds
    kf = _f32(k)
    r = (a - kf * _LN2_HI) - kf * _LN2_LO  # a - k ln2, |r| <= ln2 / 2
    c = _EXP_TAYLOR
    p = c[0] - r * (c[1] - r * (c[2] - r * (c[3] - r * (c[4] - r * (c[5] - r * (c[6] - r * c[7]))))))  # exp(-r)
    k1 = k >> 1
    k2 = k - k1
    two_k1 = np.int32((127 - k1) << 23).view(_f32)  # 2^-k1: sign 0, exponent field 127 - k1, mantissa 0
    two_k2 = np.int32((127 - k2) << 23).view(_f32)
    return p * two_k1 * two_k2


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def log1p_f32(e):
    """log(1 + e) for a float32 0 <= e <= 1, as 2 atanh(e / (2 + e)) (see above), within 4 ulps."""
    s = e / (_TWO + e)
    w = s * s
    c = _ATANH_SERIES
    return _TWO * s * (c[0] + w * (c[1] + w * (c[2] + w * (c[3] + w * (c[4] + w * (c[5] + w * c[6]))))))


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _bce_logits_forward_kernel_f32(z, t, e, terms):
    for i in range(z.size):
        zi = z[i]
        ei = exp_neg_f32(abs(zi))  # exp(-|z|), in [0, 1]
        e[i] = ei
        terms[i] = max(zi, _ZERO) - zi * t[i] + log1p_f32(ei)  # max(z, 0) - z t + log(1 + exp(-|z|))


def bce_with_logits_forward(z, t):
    """(sum of the per-element losses, e = exp(-|z|) kept for the backward)."""
    terms = np.empty_like(z)
    if z.dtype == np.float32:
        e = np.empty_like(z)
        _bce_logits_forward_kernel_f32(_flat(z), _flat(t), _flat(e), _flat(terms))  # one pass, 8 at a time
        return terms.sum(), e  # summed by NumPy, as in the reference (pairwise: accurate, and fast)
    f = z.dtype.type
    e = np.abs(z)  # float64: e by the library's exp (NumPy), log1p by Goldberg's trick in the loop
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|z|), in (0, 1]: never overflows
    _bce_logits_forward_kernel(_flat(z), _flat(t), _flat(e), f(0), f(1), _flat(terms))
    return terms.sum(), e


def bce_with_logits_backward(z, t, e, denom):
    """dL/dz = (sigmoid(z) - t) / denom, with sigmoid(z) built from the forward's e = exp(-|z|)."""
    f = z.dtype.type
    dz = np.empty_like(z)
    _bce_logits_backward_kernel(_flat(z), _flat(t), _flat(e), f(1), f(denom), _flat(dz))
    return dz


def _target_fits(loss, pred, target=None) -> bool:
    target = loss._t if target is None else target
    return isinstance(target, np.ndarray) and target.flags.c_contiguous and target.dtype == pred.dtype


bce_forward_twin, bce_backward_twin = method_twins.bce_with_logits(sys.modules[__name__])
kernels.twin("BCEWithLogits.forward", "numba", accepts=_target_fits)(bce_forward_twin)
kernels.twin("BCEWithLogits.backward", "numba", accepts=lambda loss: _target_fits(loss, loss._z))(bce_backward_twin)


# --------------------------------------------------------------------------------------------------
# ReLU (see tinyae.layers.activations.ReLU)
# --------------------------------------------------------------------------------------------------
#
# NumPy's float32 maximum(x, 0) is not vectorised on this CPU (about 1 ns per element: 1.6 ms on the conv
# AE's (128, 16, 28, 28) activations), and the layer makes a second pass for the mask x > 0. One loop
# writes both; LLVM turns the comparison and the choice into vector instructions: 2.2 -> 1.0 ms there,
# 0.04 -> 0.012 ms on a (128, 256) batch. (The backward, dy * mask, stays NumPy's: a loop was slower.)
# The choice is "x if x > 0 else 0", which is max(x, 0) for every finite x (layers refuse NaN/Inf
# inputs), and for -0.0 both give +0.0.


@njit(cache=True, error_model="numpy")
def _relu_forward_kernel(x, zero, y, mask):
    for i in range(x.size):
        positive = x[i] > zero
        mask[i] = positive
        y[i] = x[i] if positive else zero


def relu_forward(x):
    """(max(x, 0), the mask x > 0) in one pass; the twin of ``ReLU.forward``'s two lines."""
    y, mask = np.empty_like(x), np.empty(x.shape, dtype=np.bool_)
    _relu_forward_kernel(_flat(x), x.dtype.type(0), _flat(y), _flat(mask))
    return y, mask


@kernels.twin("ReLU.forward", "numba")
def relu_forward_twin(layer, x, training=False):
    """Twin of ``ReLU.forward``: the same check, output and mask, in one pass."""
    layer.check_input(x)
    y, layer._mask = relu_forward(x)
    return y


# --------------------------------------------------------------------------------------------------
# Nearest upsampling (see tinyae.layers.pooling.Upsample2D)
# --------------------------------------------------------------------------------------------------
#
# The layer's offset loop makes sh*sw strided passes over the output (a strided store or load in each);
# here one pass per image row: each input row is read once and written to its sh output rows (forward),
# each block is summed in the reference's order, entry (0, 0) first, then (0, 1), ..., row by row
# (backward), so the sums are the same, bit for bit. On the conv AE's (128, 16, 28, 28) output:
# forward 2.4 -> 0.7 ms, backward 2.6 -> 0.8 ms.


@njit(cache=True)
def _upsample_nearest_kernel(x, sh, sw, y):
    N, C, H, W = x.shape
    for n in range(N):
        for c in range(C):
            for h in range(H):
                src = x[n, c, h]  # (W,)
                for i in range(sh):
                    dst = y[n, c, h * sh + i]  # (W*sw,)
                    for w in range(W):
                        for j in range(sw):
                            dst[w * sw + j] = src[w]


@njit(cache=True)
def _upsample_nearest_backward_kernel(dy, sh, sw, dx):
    N, C, H, W = dx.shape
    for n in range(N):
        for c in range(C):
            for h in range(H):
                dst = dx[n, c, h]  # (W,)
                for i in range(sh):
                    src = dy[n, c, h * sh + i]  # (W*sw,)
                    for w in range(W):
                        for j in range(sw):
                            if i == 0 and j == 0:
                                dst[w] = src[w * sw]  # entry (0, 0) of the block starts its sum
                            else:
                                dst[w] += src[w * sw + j]


def upsample_nearest(x, sh, sw):
    """y[n, c, h, w] = x[n, c, h // sh, w // sw]; the twin of ``Upsample2D.forward`` (nearest)."""
    N, C, H, W = x.shape
    y = np.empty((N, C, H * sh, W * sw), dtype=x.dtype)
    _upsample_nearest_kernel(x, sh, sw, y)
    return y


def upsample_nearest_backward(dy, sh, sw):
    """dx = the sum of dy over each sh x sw block; the twin of ``Upsample2D.backward`` (nearest)."""
    N, C, H, W = dy.shape[0], dy.shape[1], dy.shape[2] // sh, dy.shape[3] // sw
    dx = np.empty((N, C, H, W), dtype=dy.dtype)
    _upsample_nearest_backward_kernel(dy, sh, sw, dx)
    return dx


@kernels.twin("Upsample2D.forward", "numba", accepts=lambda layer, x, training=False: layer.mode == "nearest")
def upsample2d_forward_twin(layer, x, training=False):
    """Twin of ``Upsample2D.forward`` in mode "nearest": the same check and cache, the copies in one pass."""
    layer.check_input(x, ndim=4)
    layer._x_shape = tuple(x.shape)
    return upsample_nearest(x, *layer.scale)


@kernels.twin("Upsample2D.backward", "numba", accepts=lambda layer, dy: layer.mode == "nearest")
def upsample2d_backward_twin(layer, dy):
    """Twin of ``Upsample2D.backward`` in mode "nearest": the same checks, the block sums in one pass."""
    N, C, H, W = layer._cached("_x_shape")
    sh, sw = layer.scale
    layer.check_grad(dy, (N, C, H * sh, W * sw))
    return upsample_nearest_backward(dy, sh, sw)

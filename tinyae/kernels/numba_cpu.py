"""Numba twins of the reference kernels (reference.py): the CPU fast path.

Same functions, same arguments, same col layout (C*KH*KW, N*OH*OW), same results -- bit for bit,
because every output is computed with the same operations in the same order as the reference:
copies for im2col, a max with a strict ``>`` in window order for max-pool, and for the two
scatter-adds (col2im, maxpool_backward) each input pixel's terms are added in window-offset order
starting from 0, exactly like the reference's KH*KW slice additions.

Why a twin: the reference's slice copies are vectorised but make several passes over memory
(padding, one strided slice per offset, a transposing assignment). Here one pass does the work with
plain loops that LLVM compiles to tight machine code. Two details matter for speed:

- The inner loops run over slice VIEWS with an index counting from 0 (``dst[t] += src[t]``). An
  index such as ``ow + j - pw``, which Numba cannot prove non-negative, gets a negative-index
  wraparound check that stops LLVM from vectorising the loop.
- The kernels are serial. ``prange`` over the (sample, channel) planes is correct here (planes are
  independent) but did not pay on the 2-core machines this project targets: the kernels are
  memory-bound, OpenBLAS keeps its threads spinning between the matrix products they alternate
  with, and a parallel kernel on a busy core waits for a time slice (measured: slower under load,
  and twice the compile time).

Rules kept here: only C-contiguous float32/float64 arrays reach these kernels (the dispatcher in
__init__.py checks); ``cache=True`` so a compiled kernel is loaded from __pycache__ on the next run
(one compile per dtype actually used); no ``fastmath`` -- max-pool pads with -inf, and fastmath would
also let LLVM reorder the additions that make the results bit-identical to the reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def _out_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


@njit(cache=True)
def _valid_range(j, pw, sw, W, OW):
    """The output columns ow whose window entry j falls inside the input: 0 <= ow*sw + j - pw < W."""
    lo = min(max(0, (pw - j + sw - 1) // sw), OW)  # ceil((pw - j) / sw), clipped to [0, OW]
    hi = max(min(OW, (W + pw - j + sw - 1) // sw), lo)  # ceil((W + pw - j) / sw), clipped to [lo, OW]
    return lo, hi


# --------------------------------------------------------------------------------------------------
# im2col / col2im
# --------------------------------------------------------------------------------------------------


@njit(cache=True)
def _im2col_kernel(x, KH, KW, sh, sw, ph, pw, OH, OW, col):
    N, C, H, W = x.shape
    P = OH * OW
    for nc in range(N * C):  # one (sample, channel) plane at a time
        n, c = nc // C, nc % C
        for i in range(KH):
            for j in range(KW):
                r = (c * KH + i) * KW + j  # the col row of (c, i, j)
                lo, hi = _valid_range(j, pw, sw, W, OW)
                for oh in range(OH):
                    h = oh * sh + i - ph
                    dst = col[r, n * P + oh * OW:n * P + (oh + 1) * OW]  # (OW,) windows of output row oh
                    if h < 0 or h >= H or hi == lo:  # the whole row of windows reads padding here
                        for t in range(OW):
                            dst[t] = 0
                        continue
                    for t in range(lo):
                        dst[t] = 0
                    if sw == 1:  # a contiguous run of input pixels: a view with unit stride, a vector copy
                        src = x[n, c, h, lo + j - pw:hi + j - pw]  # (hi - lo,)
                        for t in range(hi - lo):
                            dst[lo + t] = src[t]
                    else:
                        src_s = x[n, c, h, lo * sw + j - pw:(hi - 1) * sw + j - pw + 1:sw]  # (hi - lo,) every sw-th
                        for t in range(hi - lo):
                            dst[lo + t] = src_s[t]
                    for t in range(hi, OW):
                        dst[t] = 0


@njit(cache=True)
def _col2im_kernel(col, KH, KW, sh, sw, ph, pw, OH, OW, dx):
    N, C, H, W = dx.shape
    P = OH * OW
    for nc in range(N * C):
        n, c = nc // C, nc % C
        plane = dx[n, c]  # (H, W)
        for h in range(H):
            for w in range(W):
                plane[h, w] = 0
        for i in range(KH):  # offsets in the reference's order: same sum order, same bits
            for j in range(KW):
                r = (c * KH + i) * KW + j
                lo, hi = _valid_range(j, pw, sw, W, OW)
                if hi == lo:
                    continue
                for oh in range(OH):
                    h = oh * sh + i - ph
                    if h < 0 or h >= H:  # contributions to the padding are dropped
                        continue
                    src = col[r, n * P + oh * OW + lo:n * P + oh * OW + hi]  # (hi - lo,)
                    if sw == 1:  # the pixels they land on are a contiguous run: vectorised adds
                        dst = plane[h, lo + j - pw:hi + j - pw]  # (hi - lo,)
                        for t in range(hi - lo):
                            dst[t] += src[t]
                    else:
                        dst_s = plane[h, lo * sw + j - pw:(hi - 1) * sw + j - pw + 1:sw]  # (hi - lo,) every sw-th
                        for t in range(hi - lo):
                            dst_s[t] += src[t]


def im2col(x, KH, KW, stride, padding):
    """Twin of reference.im2col: x (N, C, H, W) -> col (C*KH*KW, N*OH*OW)."""
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x.shape
    OH, OW = _out_size(H, KH, sh, ph), _out_size(W, KW, sw, pw)
    col = np.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    _im2col_kernel(x, KH, KW, sh, sw, ph, pw, OH, OW, col)
    return col


def col2im(col, x_shape, KH, KW, stride, padding):
    """Twin of reference.col2im: col (C*KH*KW, N*OH*OW) -> dx of shape x_shape, overlapping entries added."""
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x_shape
    OH, OW = _out_size(H, KH, sh, ph), _out_size(W, KW, sw, pw)
    dx = np.empty((N, C, H, W), dtype=col.dtype)
    _col2im_kernel(col, KH, KW, sh, sw, ph, pw, OH, OW, dx)
    return dx


# --------------------------------------------------------------------------------------------------
# max-pooling
# --------------------------------------------------------------------------------------------------


@njit(cache=True)
def _maxpool_forward_kernel(x, KH, KW, sh, sw, ph, pw, y, argmax):
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    for nc in range(N * C):
        n, c = nc // C, nc % C
        for oh in range(OH):
            for ow in range(OW):
                best = -np.inf  # padding is -inf: it never wins a strict comparison
                k_best = 0
                for i in range(KH):
                    h = oh * sh + i - ph
                    for j in range(KW):
                        w = ow * sw + j - pw
                        if 0 <= h < H and 0 <= w < W:
                            v = x[n, c, h, w]
                            if v > best:  # strict: the first maximum in window order wins a tie
                                best = v
                                k_best = i * KW + j
                y[n, c, oh, ow] = best
                argmax[n, c, oh, ow] = k_best


@njit(cache=True)
def _maxpool_backward_kernel(dy, argmax, KH, KW, sh, sw, ph, pw, dx):
    N, C, H, W = dx.shape
    OH, OW = dy.shape[2], dy.shape[3]
    for nc in range(N * C):
        n, c = nc // C, nc % C
        for h in range(H):
            for w in range(W):
                dx[n, c, h, w] = 0
        # Windows in DECREASING (oh, ow) order: a pixel then meets the windows it wins in increasing
        # window-offset order (i, j), the order the reference adds them in -- same sums, same bits.
        for oh in range(OH - 1, -1, -1):
            for ow in range(OW - 1, -1, -1):
                k = argmax[n, c, oh, ow]
                h = oh * sh + k // KW - ph
                w = ow * sw + k % KW - pw
                if 0 <= h < H and 0 <= w < W:
                    dx[n, c, h, w] += dy[n, c, oh, ow]


def maxpool_forward(x, KH, KW, stride, padding):
    """Twin of reference.maxpool_forward: (y, argmax) with argmax the flat in-window offset i*KW + j (int32)."""
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x.shape
    OH, OW = _out_size(H, KH, sh, ph), _out_size(W, KW, sw, pw)
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = np.empty((N, C, OH, OW), dtype=np.int32)
    _maxpool_forward_kernel(x, KH, KW, sh, sw, ph, pw, y, argmax)
    return y, argmax


def maxpool_backward(dy, argmax, x_shape, KH, KW, stride, padding):
    """Twin of reference.maxpool_backward: dx of shape x_shape, each dy entry added to its window's winner."""
    (sh, sw), (ph, pw) = stride, padding
    dx = np.empty(tuple(x_shape), dtype=dy.dtype)
    _maxpool_backward_kernel(dy, argmax, KH, KW, sh, sw, ph, pw, dx)
    return dx

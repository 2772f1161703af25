"""Numba twins of the reference kernels (reference.py): the CPU fast path.

Same functions, same arguments, same col layout (C*KH*KW, N*OH*OW), same results -- bit for bit,
because every output is computed with the same operations in the same order as the reference:
copies for im2col, a max with a strict ``>`` in window order for max-pool, and for the two
scatter-adds (col2im, maxpool_backward) each input pixel's terms are added in window-offset order
starting from 0, exactly like the reference's KH*KW slice additions.

Why a twin: the reference's slice copies are vectorised but make several passes over memory
(padding, one strided slice per offset, a transposing assignment). Here one pass does the work with
plain loops that LLVM compiles to tight machine code. Three details matter for speed:

- Each kernel pads ONE plane at a time into a small scratch buffer (fill-and-slice, as in the
  reference), so its loops need no bounds tests: every window entry is inside the padded plane.
- The inner loops run over slice VIEWS with an index counting from 0 (``dst[t] = run[t]``). An
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

from tinyae.kernels.shapes import window_count


@njit(cache=True)
def _im2col_kernel(x, KH, KW, sh, sw, ph, pw, OH, OW, col):
    N, C, H, W = x.shape
    P = OH * OW
    xpad = np.zeros((H + 2 * ph, W + 2 * pw), dtype=x.dtype)  # one padded plane, reused: its border stays 0
    for nc in range(N * C):  # one (sample, channel) plane at a time
        n, c = nc // C, nc % C
        for h in range(H):
            src, dst = x[n, c, h], xpad[h + ph, pw:pw + W]
            for w in range(W):
                dst[w] = src[w]
        for i in range(KH):
            for j in range(KW):
                r = (c * KH + i) * KW + j  # the col row of (c, i, j)
                for oh in range(OH):
                    dst = col[r, n * P + oh * OW:n * P + (oh + 1) * OW]  # (OW,) window entries of output row oh
                    if sw == 1:  # a contiguous run of the padded row: a unit-stride view, a vector copy
                        run = xpad[oh * sh + i, j:j + OW]
                        for t in range(OW):
                            dst[t] = run[t]
                    else:
                        every = xpad[oh * sh + i, j:j + sw * (OW - 1) + 1:sw]  # every sw-th entry
                        for t in range(OW):
                            dst[t] = every[t]


@njit(cache=True)
def _col2im_kernel(col, KH, KW, sh, sw, ph, pw, OH, OW, dx):
    N, C, H, W = dx.shape
    P = OH * OW
    acc = np.empty((H + 2 * ph, W + 2 * pw), dtype=dx.dtype)  # one padded plane to add into, reused
    for nc in range(N * C):
        n, c = nc // C, nc % C
        for h in range(H + 2 * ph):
            for w in range(W + 2 * pw):
                acc[h, w] = 0
        for i in range(KH):  # offsets in the reference's order: same sum order, same bits
            for j in range(KW):
                r = (c * KH + i) * KW + j
                for oh in range(OH):
                    src = col[r, n * P + oh * OW:n * P + (oh + 1) * OW]  # (OW,)
                    if sw == 1:  # the padded pixels they land on are a contiguous run: vectorised adds
                        run = acc[oh * sh + i, j:j + OW]
                        for t in range(OW):
                            run[t] += src[t]
                    else:
                        every = acc[oh * sh + i, j:j + sw * (OW - 1) + 1:sw]
                        for t in range(OW):
                            every[t] += src[t]
        for h in range(H):  # what landed on the padding is not part of x
            inner, dst = acc[h + ph, pw:pw + W], dx[n, c, h]
            for w in range(W):
                dst[w] = inner[w]


def im2col(x, KH, KW, stride, padding):
    """Twin of reference.im2col: x (N, C, H, W) -> col (C*KH*KW, N*OH*OW)."""
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x.shape
    OH, OW = window_count(H, KH, sh, ph), window_count(W, KW, sw, pw)
    col = np.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    _im2col_kernel(x, KH, KW, sh, sw, ph, pw, OH, OW, col)
    return col


def col2im(col, x_shape, KH, KW, stride, padding):
    """Twin of reference.col2im: col (C*KH*KW, N*OH*OW) -> dx of shape x_shape, overlapping entries added."""
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x_shape
    OH, OW = window_count(H, KH, sh, ph), window_count(W, KW, sw, pw)
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
    xpad = np.full((H + 2 * ph, W + 2 * pw), -np.inf, dtype=x.dtype)  # one padded plane; -inf never wins
    for nc in range(N * C):
        n, c = nc // C, nc % C
        for h in range(H):
            src, dst = x[n, c, h], xpad[h + ph, pw:pw + W]
            for w in range(W):
                dst[w] = src[w]
        y_plane, arg_plane = y[n, c], argmax[n, c]  # (OH, OW) each
        for oh in range(OH):
            for ow in range(OW):
                best = -np.inf
                k_best = 0
                for i in range(KH):  # window entries indexed directly: a slice view per window row costs more
                    for j in range(KW):  # than the comparisons themselves (4.7 -> 1 ms on the conv AE's 28x28 maps)
                        v = xpad[oh * sh + i, ow * sw + j]
                        if v > best:  # strict: the first maximum in window order wins a tie
                            best = v
                            k_best = i * KW + j
                y_plane[oh, ow] = best
                arg_plane[oh, ow] = k_best


@njit(cache=True)
def _maxpool_backward_kernel(dy, argmax, KH, KW, sh, sw, ph, pw, dx):
    N, C, H, W = dx.shape
    OH, OW = dy.shape[2], dy.shape[3]
    acc = np.empty((H + 2 * ph, W + 2 * pw), dtype=dx.dtype)  # one padded plane to add into, reused
    row_of = np.empty(KH * KW, dtype=np.int64)  # offset k = i*KW + j -> (i, j), looked up: an integer
    col_of = np.empty(KH * KW, dtype=np.int64)  # division per window was most of this kernel's time
    for k in range(KH * KW):
        row_of[k], col_of[k] = k // KW, k % KW
    for nc in range(N * C):
        n, c = nc // C, nc % C
        for h in range(H + 2 * ph):
            for w in range(W + 2 * pw):
                acc[h, w] = 0
        dy_plane, arg_plane = dy[n, c], argmax[n, c]  # (OH, OW) each
        # Windows in DECREASING (oh, ow) order: a pixel then meets the windows it wins in increasing
        # window-offset order (i, j), the order the reference adds them in -- same sums, same bits.
        for oh in range(OH - 1, -1, -1):
            for ow in range(OW - 1, -1, -1):
                k = arg_plane[oh, ow]
                if k < 0 or k >= KH * KW:  # a foreign argmax must not write outside the plane
                    raise ValueError("maxpool_backward: argmax holds an offset outside the window")
                acc[oh * sh + row_of[k], ow * sw + col_of[k]] += dy_plane[oh, ow]
        for h in range(H):  # crop: padding wins only in a window of -inf inputs, and is dropped as in the reference
            inner, dst = acc[h + ph, pw:pw + W], dx[n, c, h]
            for w in range(W):
                dst[w] = inner[w]


# The 2x2 window without padding, by far the most common pooling, has kernels of its own: with the
# window's four entries written out (no loops of run-time length around them), LLVM turns the running
# maximum into branch-free selects; the backward zeroes one flat plane and writes each winner into it
# while it is in the cache. On the conv AE's (128, 16, 28, 28) maps the forward took 1.2 ms instead of
# 3.5, the backward 1-2 ms instead of 4. Same comparisons in the same order (strict >, window order):
# the same results as the reference (tests/test_kernels.py) for every input without NaN. (A NaN first
# entry would win here, not in the reference, which starts from -inf; MaxPool2D refuses NaN input.)


@njit(cache=True)
def _maxpool2x2_forward_kernel(x, sh, sw, y, argmax):
    N, C = x.shape[0], x.shape[1]
    OH, OW = y.shape[2], y.shape[3]
    for n in range(N):
        for c in range(C):
            x_plane, y_plane, arg_plane = x[n, c], y[n, c], argmax[n, c]  # (H, W), (OH, OW), (OH, OW)
            for oh in range(OH):
                for ow in range(OW):
                    h, w = oh * sh, ow * sw
                    best, k = x_plane[h, w], 0  # offset 0 = (0, 0); then (0, 1), (1, 0), (1, 1)
                    v = x_plane[h, w + 1]
                    k = 1 if v > best else k
                    best = v if v > best else best
                    v = x_plane[h + 1, w]
                    k = 2 if v > best else k
                    best = v if v > best else best
                    v = x_plane[h + 1, w + 1]
                    k = 3 if v > best else k
                    best = v if v > best else best
                    y_plane[oh, ow] = best
                    arg_plane[oh, ow] = k


@njit(cache=True)
def _maxpool2x2_backward_kernel(dy, argmax, zero, dx):
    """Stride 2: the windows tile the map without overlap, so each winner is written once, no sums."""
    N, C, H, W = dx.shape
    OH, OW = dy.shape[2], dy.shape[3]
    dx_planes = dx.reshape(N * C, H * W)  # flat planes: one index per pixel, cheap to compute
    dy_planes, arg_planes = dy.reshape(N * C, OH * OW), argmax.reshape(N * C, OH * OW)
    for p in range(N * C):
        d, g, a = dx_planes[p], dy_planes[p], arg_planes[p]
        for i in range(H * W):  # zero the plane (while it is in the cache), then place each window's winner
            d[i] = zero
        for oh in range(OH):
            for ow in range(OW):
                k = a[oh * OW + ow]
                if k < 0 or k >= 4:  # a foreign argmax must not write outside the window
                    raise ValueError("maxpool_backward: argmax holds an offset outside the window")
                d[(2 * oh + k // 2) * W + 2 * ow + k % 2] = g[oh * OW + ow]  # offset k = (k // 2, k % 2)


def maxpool_forward(x, KH, KW, stride, padding):
    """Twin of reference.maxpool_forward: (y, argmax) with argmax the flat in-window offset i*KW + j (int32)."""
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x.shape
    OH, OW = window_count(H, KH, sh, ph), window_count(W, KW, sw, pw)
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = np.empty((N, C, OH, OW), dtype=np.int32)
    if (KH, KW, ph, pw) == (2, 2, 0, 0):
        _maxpool2x2_forward_kernel(x, sh, sw, y, argmax)
    else:
        _maxpool_forward_kernel(x, KH, KW, sh, sw, ph, pw, y, argmax)
    return y, argmax


def maxpool_backward(dy, argmax, x_shape, KH, KW, stride, padding):
    """Twin of reference.maxpool_backward: dx of shape x_shape, each dy entry added to its window's winner."""
    (sh, sw), (ph, pw) = stride, padding
    dx = np.empty(tuple(x_shape), dtype=dy.dtype)
    if (KH, KW, sh, sw, ph, pw) == (2, 2, 2, 2, 0, 0):
        _maxpool2x2_backward_kernel(dy, argmax, dy.dtype.type(0), dx)
    else:
        _maxpool_backward_kernel(dy, argmax, KH, KW, sh, sw, ph, pw, dx)
    return dx

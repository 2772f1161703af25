"""The readable kernels: im2col / col2im and max-pooling, written with whole-array operations only.

These are the teaching versions (docs/layers/conv.md walks through them) and the ground truth every fast twin
(numba_cpu.py, cupy_gpu.py) is tested against. They use only operations of the array API standard
(slicing with steps, reshape, permute_dims, where, boolean-mask assignment), no ``np.pad``,
``as_strided``, ``np.add.at`` or ``unravel_index``, so the same lines run on NumPy, CuPy and
array-api-strict.

Notation: x is (N, C, H, W); a KH x KW window moves with stride (sh, sw) over x padded by (ph, pw)
on each side, giving OH x OW output positions (see shapes.py). Window entry (i, j) of output pixel
(oh, ow) is the padded-input pixel (oh*sh + i, ow*sw + j).

The col layout (the same for every twin)
----------------------------------------
    col has shape (C*KH*KW, N*OH*OW):  row    r = (c*KH + i)*KW + j   -- one input channel and window entry
                                       column q = (n*OH + oh)*OW + ow -- one output pixel of one sample

The rows are ordered like a weight W (F, C, KH, KW) flattened to (F, C*KH*KW), so a convolution of the
whole batch is ONE matrix product  W_mat @ col -> (F, N*OH*OW), and the weight gradient is another,
dy_mat @ col.T. Each row is a contiguous run over (n, oh, ow), which is also the order in which the
copy reads x: for stride 1, a row segment is a contiguous run of an input row.

The kernel-offset loop
----------------------
Instead of visiting N*OH*OW pixels, visit the KH*KW window offsets. For a fixed offset (i, j), the
entries all output pixels need form ONE strided slice of the padded input:

    xpad[:, :, i : i + sh*(OH-1) + 1 : sh,  j : j + sw*(OW-1) + 1 : sw]      # (N, C, OH, OW)

so im2col is KH*KW slice copies and col2im is KH*KW slice additions -- a Python loop of 9 steps for a
3x3 kernel, each step a vectorised operation over the whole batch.
"""

from __future__ import annotations

import numpy as np

from tinyae import backend
from tinyae.kernels.shapes import window_count, window_slices


def _namespace(x):
    """The array module of x: numpy / cupy via the backend, or the array's own namespace (array-api-strict)."""
    if isinstance(x, np.ndarray) or backend.is_cupy_array(x):
        return backend.array_module(x)
    return x.__array_namespace__()


def _full(x, shape, value, dtype=None):
    """A new array filled with ``value``, on x's module and device, with x's dtype unless one is given."""
    xp = _namespace(x)
    dtype = x.dtype if dtype is None else dtype
    if isinstance(x, np.ndarray) or backend.is_cupy_array(x):
        return xp.full(shape, value, dtype=dtype)
    return xp.full(shape, value, dtype=dtype, device=x.device)


def _pad(x, ph, pw, value):
    """x (N, C, H, W) padded by ph rows and pw columns of ``value`` on each side (fill, then copy the inside)."""
    if ph == 0 and pw == 0:
        return x
    N, C, H, W = x.shape
    xpad = _full(x, (N, C, H + 2 * ph, W + 2 * pw), value)  # (N, C, H+2ph, W+2pw)
    xpad[:, :, ph:ph + H, pw:pw + W] = x
    return xpad


def _crop(xpad, ph, pw, H, W):
    """The inside (N, C, H, W) of a padded array, as a new contiguous array (padding contributions dropped)."""
    if ph == 0 and pw == 0:
        return xpad
    N, C = xpad.shape[0], xpad.shape[1]
    x = _full(xpad, (N, C, H, W), 0)
    x[...] = xpad[:, :, ph:ph + H, pw:pw + W]
    return x


# --------------------------------------------------------------------------------------------------
# im2col / col2im
# --------------------------------------------------------------------------------------------------


def im2col(x, KH, KW, stride, padding):
    """Unfold x (N, C, H, W) into col (C*KH*KW, N*OH*OW): column q holds the window of output pixel q.

    col[(c*KH + i)*KW + j, (n*OH + oh)*OW + ow] = xpad[n, c, oh*sh + i, ow*sw + j]
    """
    xp = _namespace(x)
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x.shape
    OH, OW = window_count(H, KH, sh, ph), window_count(W, KW, sw, pw)
    xpad = _pad(x, ph, pw, 0)  # (N, C, H+2ph, W+2pw), zeros around
    col = _full(x, (C, KH, KW, N, OH, OW), 0)
    for i in range(KH):
        for j in range(KW):
            rows, cols = window_slices(i, j, (sh, sw), (OH, OW))
            # window entry (i, j) of every output pixel, channels first to match col's rows
            col[:, i, j, ...] = xp.permute_dims(xpad[:, :, rows, cols], (1, 0, 2, 3))  # (N,C,OH,OW) -> (C,N,OH,OW)
    return xp.reshape(col, (C * KH * KW, N * OH * OW))


def col2im(col, x_shape, KH, KW, stride, padding):
    """The adjoint of im2col: add every col entry back onto the input pixel it was copied from.

    dx[n, c, h, w] = sum of col[(c*KH + i)*KW + j, (n*OH + oh)*OW + ow] over all (i, j, oh, ow) with
    oh*sh + i - ph = h and ow*sw + j - pw = w. This is the input gradient of a convolution
    (col = dcol = W_mat.T @ dy_mat) and the forward pass of a transposed convolution. Windows overlap
    when stride < kernel, so entries ADD up. Each pixel sums its terms in window-offset order (i, j),
    starting from 0 -- the order the fast twins reproduce, so they match this bit for bit.
    """
    xp = _namespace(col)
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x_shape
    OH, OW = window_count(H, KH, sh, ph), window_count(W, KW, sw, pw)
    col6 = xp.reshape(col, (C, KH, KW, N, OH, OW))
    dxpad = _full(col, (N, C, H + 2 * ph, W + 2 * pw), 0)
    for i in range(KH):
        for j in range(KW):
            rows, cols = window_slices(i, j, (sh, sw), (OH, OW))
            dxpad[:, :, rows, cols] += xp.permute_dims(col6[:, i, j, ...], (1, 0, 2, 3))  # (C,N,OH,OW) -> (N,C,OH,OW)
    return _crop(dxpad, ph, pw, H, W)  # what landed on the padding is not part of x


# --------------------------------------------------------------------------------------------------
# max-pooling
# --------------------------------------------------------------------------------------------------


def maxpool_forward(x, KH, KW, stride, padding):
    """Max over each KH x KW window: y (N, C, OH, OW) and argmax (N, C, OH, OW, int32).

    argmax holds the winner's flat offset inside its window, k = i*KW + j (row-major window order).
    Padding is -inf, so a window never picks it as long as it holds one real value (the layer
    requires padding <= kernel // 2, as PyTorch does).

    Ties: the comparison is strict (``>``), so the FIRST maximum in window order (row by row, left to
    right) wins and alone receives the gradient. NaN never wins a comparison; NaN inputs are
    refused by the layers.
    """
    xp = _namespace(x)
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x.shape
    OH, OW = window_count(H, KH, sh, ph), window_count(W, KW, sw, pw)
    xpad = _pad(x, ph, pw, -float("inf"))
    y = _full(x, (N, C, OH, OW), -float("inf"))
    argmax = _full(x, (N, C, OH, OW), 0, dtype=xp.int32)
    for i in range(KH):
        for j in range(KW):
            rows, cols = window_slices(i, j, (sh, sw), (OH, OW))
            v = xpad[:, :, rows, cols]  # (N, C, OH, OW): entry (i, j) of every window
            better = v > y  # strict: on a tie the earlier entry stays the winner
            y = xp.where(better, v, y)
            argmax[better] = i * KW + j
    return y, argmax


def maxpool_backward(dy, argmax, x_shape, KH, KW, stride, padding):
    """Route each dy entry to its window's winner: dx[winner of window (oh, ow)] += dy[oh, ow].

    With overlapping windows (stride < kernel) one pixel can win several windows and collects the sum.
    Loop over window offsets k = i*KW + j: the dy entries whose winner sits at offset k form one strided
    slice of dx, exactly as in col2im.
    """
    xp = _namespace(dy)
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x_shape
    OH, OW = dy.shape[2], dy.shape[3]
    zeros = _full(dy, tuple(dy.shape), 0)
    dxpad = _full(dy, (N, C, H + 2 * ph, W + 2 * pw), 0)
    for i in range(KH):
        for j in range(KW):
            rows, cols = window_slices(i, j, (sh, sw), (OH, OW))
            dxpad[:, :, rows, cols] += xp.where(argmax == i * KW + j, dy, zeros)  # (N, C, OH, OW)
    return _crop(dxpad, ph, pw, H, W)

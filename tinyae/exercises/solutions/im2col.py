"""Stage 4 · im2col: im2col and col2im, and why col2im is the adjoint

Task: write `im2col` and `col2im`. im2col copies every KH x KW window of a zero-padded NCHW batch
into a column, so that a convolution becomes ONE matrix product; col2im adds each entry of such a
matrix back onto the pixel it came from.

    x (N, C, H, W),  stride (sh, sw),  padding (ph, pw),  OH = (H + 2 ph - KH) // sh + 1 (likewise OW)
    col[(c*KH + i)*KW + j, (n*OH + oh)*OW + ow] = xpad[n, c, oh*sh + i, ow*sw + j]      col (C*KH*KW, N*OH*OW)

Loop over the KH*KW window OFFSETS (i, j), not over output pixels: entry (i, j) of every window is one
strided slice of xpad, xpad[:, :, i : i + sh*(OH-1) + 1 : sh, j : j + sw*(OW-1) + 1 : sw], (N, C, OH, OW).

col2im(col, x_shape, ...) is the adjoint: for every x and every col of the right shapes

    sum(im2col(x) * col) == sum(x * col2im(col))

Windows overlap when the stride is smaller than the kernel, so col2im ADDS (+=); what lands on the
padding is not part of x and is cut off. The check compares both with tinyae's kernels on shapes you
have not seen (channels, stride, padding, non-square kernels) and tests the identity above.

Derivation: docs/layers/conv.md (im2col, and "col2im is the adjoint of im2col").
Check: `tinyae exercise check im2col`.
"""

import numpy as np


def pair(v):
    """An int or a pair -> a pair (along H, along W)."""
    return (v, v) if isinstance(v, int) else tuple(v)


def output_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def im2col(x, KH, KW, stride=1, padding=0):
    """x (N, C, H, W) -> col (C*KH*KW, N*OH*OW)."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = x.shape
    OH, OW = output_size(H, KH, sh, ph), output_size(W, KW, sw, pw)
    # BEGIN YOUR CODE: pad, fill a (C, KH, KW, N, OH, OW) array offset by offset, reshape
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # zeros around
    col = np.empty((C, KH, KW, N, OH, OW), dtype=x.dtype)
    for i in range(KH):
        for j in range(KW):
            window = xpad[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw]  # (N, C, OH, OW)
            col[:, i, j] = window.transpose(1, 0, 2, 3)  # (C, N, OH, OW)
    return col.reshape(C * KH * KW, N * OH * OW)
    # END YOUR CODE


def col2im(col, x_shape, KH, KW, stride=1, padding=0):
    """col (C*KH*KW, N*OH*OW) -> dx (N, C, H, W): every entry added back where im2col took it from."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = x_shape
    OH, OW = output_size(H, KH, sh, ph), output_size(W, KW, sw, pw)
    # BEGIN YOUR CODE: the same loop, adding into a padded zero array; cut the padding off
    col6 = col.reshape(C, KH, KW, N, OH, OW)
    dxpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=col.dtype)
    for i in range(KH):
        for j in range(KW):
            dxpad[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw] += col6[:, i, j].transpose(1, 0, 2, 3)
    return dxpad[:, :, ph:ph + H, pw:pw + W]
    # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("im2col", im2col, col2im)
    raise SystemExit(0 if result.passed else 1)

"""The faster paths taken for speed (docs/performance.md) compute what the plain formulas compute.

- Conv2D, stride 1 and out_channels <= in_channels: the "flipped route" (y as a transposed convolution
  with the flipped kernel, dx and dW from im2col(dy)) instead of im2col(x) and col2im;
- Upsample2D nearest: the offset loop of strided copies / additions instead of a broadcast reshape / a sum
  over two inner axes.
"""

import numpy as np
import pytest

from tinyae import kernels
from tinyae.gradcheck import check_layer
from tinyae.layers import Conv2D, Upsample2D

F64 = np.float64


def _im2col_route(layer, x, dy):
    """y, dW, db, dx by the textbook route: im2col(x), one product, and col2im for dx."""
    N, F = x.shape[0], layer.out_channels
    KH, KW = layer.kernel_size
    col = kernels.im2col(x, KH, KW, layer.stride, layer.padding)
    y_mat = layer.W.value.reshape(F, -1) @ col + layer.b.value[:, None]
    y = y_mat.reshape(F, N, *dy.shape[2:]).transpose(1, 0, 2, 3)
    dy_mat = dy.transpose(1, 0, 2, 3).reshape(F, -1)
    dW = (dy_mat @ col.T).reshape(layer.W.shape)
    dcol = layer.W.value.reshape(F, -1).T @ dy_mat
    dx = kernels.col2im(dcol, x.shape, KH, KW, layer.stride, layer.padding)
    return y, dW, dy_mat.sum(axis=1), dx


CASES = [  # (C_in, C_out, kernel, padding, x shape (N, H, W))
    (3, 1, 3, 1, (2, 6, 5)),
    (4, 2, (3, 2), 0, (1, 5, 6)),
    (3, 3, 3, 2, (2, 4, 4)),
    (2, 1, (2, 3), (1, 2), (3, 5, 4)),
]


@pytest.mark.parametrize(("c_in", "c_out", "kernel", "padding", "xs"), CASES)
def test_conv_flipped_route_passes_the_gradient_check(c_in, c_out, kernel, padding, xs):
    layer = Conv2D(c_in, c_out, kernel, padding=padding, dtype=F64, seed=1)
    x = np.random.default_rng(0).normal(size=(xs[0], c_in, xs[1], xs[2]))
    assert layer._flipped_route(x.shape)  # the path under test is the one taken
    report = check_layer(layer, x)
    assert report.passed, report


@pytest.mark.parametrize(("c_in", "c_out", "kernel", "padding", "xs"), CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_flipped_route_equals_the_im2col_route(c_in, c_out, kernel, padding, xs, dtype):
    layer = Conv2D(c_in, c_out, kernel, padding=padding, dtype=dtype, seed=1)
    layer.b.value[...] = np.arange(c_out) / 3  # a non-zero bias
    rng = np.random.default_rng(0)
    x = rng.normal(size=(xs[0], c_in, xs[1], xs[2])).astype(dtype)
    y = layer.forward(x)
    dy = rng.normal(size=y.shape).astype(dtype)
    dx = layer.backward(dy)
    for a in (y, dx, layer.W.grad, layer.b.grad):
        assert a.dtype == dtype and a.flags.c_contiguous
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    ours = (y, layer.W.grad, layer.b.grad, dx)
    for got, want, name in zip(ours, _im2col_route(layer, x, dy), ("y", "dW", "db", "dx")):
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max(), err_msg=name)


def test_conv_keeps_the_im2col_route_where_the_flipped_one_would_not_pay():
    assert not Conv2D(2, 4, 3, padding=1)._flipped_route((1, 2, 5, 5))  # more out than in channels
    assert not Conv2D(4, 2, 3, stride=2, padding=1)._flipped_route((1, 4, 5, 5))  # stride 2
    assert not Conv2D(4, 2, 3, padding=3)._flipped_route((1, 4, 5, 5))  # padding beyond KH - 1


@pytest.mark.parametrize("scale", [2, (3, 2)])
def test_upsample_nearest_offset_loop_equals_the_block_formulas(scale):
    layer = Upsample2D(scale)
    sh, sw = layer.scale
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 5))
    y = layer.forward(x)
    np.testing.assert_array_equal(y, np.broadcast_to(x[:, :, :, None, :, None], (2, 3, 4, sh, 5, sw))
                                  .reshape(2, 3, 4 * sh, 5 * sw))
    dy = rng.normal(size=y.shape)
    np.testing.assert_allclose(layer.backward(dy), dy.reshape(2, 3, 4, sh, 5, sw).sum(axis=(3, 5)), rtol=1e-14)

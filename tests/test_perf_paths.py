"""The faster paths taken for speed (docs/performance.md) compute what the plain formulas compute.

- Conv2D, stride 1 and out_channels <= in_channels: dx as a convolution of dy with the flipped kernel
  instead of col2im(W_mat.T @ dy_mat);
- Upsample2D nearest: the offset loop of strided copies / additions instead of a broadcast reshape / a sum
  over two inner axes.
"""

import numpy as np
import pytest

from tinyae import kernels
from tinyae.gradcheck import check_layer
from tinyae.layers import Conv2D, Upsample2D

F64 = np.float64


def _col2im_dx(layer, x, dy):
    """dx by the textbook route: dcol = W_mat.T @ dy_mat, then col2im."""
    F = layer.out_channels
    dy_mat = dy.transpose(1, 0, 2, 3).reshape(F, -1)
    dcol = layer.W.value.reshape(F, -1).T @ dy_mat
    return kernels.col2im(dcol, x.shape, *layer.kernel_size, layer.stride, layer.padding)


CASES = [  # (C_in, C_out, kernel, padding, x shape (N, H, W))
    (3, 1, 3, 1, (2, 6, 5)),
    (4, 2, (3, 2), 0, (1, 5, 6)),
    (3, 3, 3, 2, (2, 4, 4)),
    (2, 1, (2, 3), (1, 2), (3, 5, 4)),
]


@pytest.mark.parametrize(("c_in", "c_out", "kernel", "padding", "xs"), CASES)
def test_conv_dx_by_the_flipped_kernel_passes_the_gradient_check(c_in, c_out, kernel, padding, xs):
    layer = Conv2D(c_in, c_out, kernel, padding=padding, dtype=F64, seed=1)
    x = np.random.default_rng(0).normal(size=(xs[0], c_in, xs[1], xs[2]))
    assert layer._dx_as_convolution(x.shape)  # the path under test is the one taken
    report = check_layer(layer, x)
    assert report.passed, report


@pytest.mark.parametrize(("c_in", "c_out", "kernel", "padding", "xs"), CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_dx_by_the_flipped_kernel_equals_col2im(c_in, c_out, kernel, padding, xs, dtype):
    layer = Conv2D(c_in, c_out, kernel, padding=padding, dtype=dtype, seed=1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(xs[0], c_in, xs[1], xs[2])).astype(dtype)
    y = layer.forward(x)
    dy = rng.normal(size=y.shape).astype(dtype)
    dx = layer.backward(dy)
    assert dx.dtype == dtype and dx.shape == x.shape and dx.flags.c_contiguous
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(dx, _col2im_dx(layer, x, dy), rtol=rtol, atol=rtol * np.abs(dx).max())


def test_conv_keeps_col2im_where_the_flipped_kernel_would_not_pay():
    assert not Conv2D(2, 4, 3, padding=1)._dx_as_convolution((1, 2, 5, 5))  # more out than in channels
    assert not Conv2D(4, 2, 3, stride=2, padding=1)._dx_as_convolution((1, 4, 5, 5))  # stride 2
    assert not Conv2D(4, 2, 3, padding=3)._dx_as_convolution((1, 4, 5, 5))  # padding beyond KH - 1


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

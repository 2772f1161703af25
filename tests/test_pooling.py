"""MaxPool2D, AvgPool2D and Upsample2D: values against loops, gradients by finite differences, the
tie rule, the block-sum backward of nearest upsampling, PyTorch's bilinear geometry, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from tinyae.gradcheck import check_layer
from tinyae.layers import AvgPool2D, MaxPool2D, Upsample2D


def distinct(rng, shape):
    """Tie-free input: a permutation of 0, 1, 2, ... in steps of 1e-2 (far more than the checker's 2h = 2e-4)."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 1e-2 - 0.5


def pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def loop_pool(x, kernel, stride, padding, reduce):
    (KH, KW), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    N, C, H, W = x.shape
    OH, OW = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    y = np.empty((N, C, OH, OW))
    for n, c, oh, ow in np.ndindex(N, C, OH, OW):
        h0, w0 = oh * sh - ph, ow * sw - pw
        window = x[n, c, max(h0, 0):h0 + KH, max(w0, 0):w0 + KW]
        y[n, c, oh, ow] = reduce(window)
    return y


# N, C, H, W, kernel, stride, padding: overlapping (stride < kernel) and strided windows, padding 0/1,
# non-square inputs and kernels, batch 1 and 2, channels 1 and 3
MAXPOOL_CASES = [
    (1, 1, 4, 4, 2, None, 0),
    (2, 3, 5, 4, 2, None, 0),
    (2, 1, 6, 5, 3, 1, 0),
    (1, 3, 5, 6, (3, 2), (1, 2), 1),
    (2, 3, 7, 5, 3, 2, 1),
    (1, 1, 5, 7, (2, 3), (2, 1), (1, 0)),
    (2, 2, 4, 6, (2, 4), 1, (0, 2)),
]
AVGPOOL_CASES = [
    (1, 1, 4, 4, 2, None),
    (2, 3, 5, 4, 2, None),
    (2, 1, 6, 5, 3, 1),
    (1, 3, 5, 6, (3, 2), (1, 2)),
    (2, 3, 7, 5, 3, 2),
]


def case_id(c):
    return "-".join(str(v) for v in c).replace(" ", "")


@pytest.mark.parametrize("case", MAXPOOL_CASES, ids=[case_id(c) for c in MAXPOOL_CASES])
def test_maxpool_forward_and_gradients(case):
    N, C, H, W, kernel, stride, padding = case
    layer = MaxPool2D(kernel, stride, padding)
    x = distinct(np.random.default_rng(0), (N, C, H, W))
    y = layer.forward(x)
    assert y.shape == layer.output_shape(x.shape)
    np.testing.assert_array_equal(y, loop_pool(x, kernel, stride if stride is not None else kernel, padding, np.max))
    report = check_layer(layer, x, seed=1)
    assert report.passed, report


def test_maxpool_with_ties_gives_the_whole_gradient_to_the_first_maximum():
    """Documented behaviour WITH ties (where max is not differentiable): the first maximum in window order
    (row by row, left to right) wins and receives all of dy; the tied others get 0."""
    layer = MaxPool2D(2)
    x = np.array([[[[3.0, 3.0, 1.0, 2.0],
                    [3.0, 3.0, 2.0, 2.0]]]])
    y = layer.forward(x)
    np.testing.assert_array_equal(y, [[[[3.0, 2.0]]]])
    dx = layer.backward(np.array([[[[10.0, 20.0]]]]))
    np.testing.assert_array_equal(dx, [[[[10.0, 0.0, 0.0, 20.0],
                                          [0.0, 0.0, 0.0, 0.0]]]])
    # Overlapping windows (stride 1) over a constant row: every window's winner is its own left entry.
    layer = MaxPool2D((1, 2), stride=1)
    layer.forward(np.ones((1, 1, 1, 4)))
    np.testing.assert_array_equal(layer.backward(np.array([[[[1.0, 2.0, 4.0]]]])), [[[[1.0, 2.0, 4.0, 0.0]]]])


@pytest.mark.parametrize("case", AVGPOOL_CASES, ids=[case_id(c) for c in AVGPOOL_CASES])
def test_avgpool_forward_and_gradients(case):
    N, C, H, W, kernel, stride = case
    layer = AvgPool2D(kernel, stride)
    x = np.random.default_rng(2).normal(size=(N, C, H, W))
    y = layer.forward(x)
    assert y.shape == layer.output_shape(x.shape)
    np.testing.assert_allclose(y, loop_pool(x, kernel, stride if stride is not None else kernel, 0, np.mean),
                               rtol=1e-13, atol=1e-15)
    report = check_layer(layer, x, seed=3)
    assert report.passed, report


def test_pooling_keeps_float32():
    x = np.random.default_rng(4).normal(size=(2, 3, 6, 6)).astype(np.float32)
    for layer in (MaxPool2D(2), AvgPool2D(3, 1), Upsample2D(2), Upsample2D(2, "bilinear")):
        y = layer.forward(x)
        assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32, layer


# --------------------------------------------------------------------------------------------------
# Upsample2D
# --------------------------------------------------------------------------------------------------


def test_nearest_upsampling_copies_each_pixel_into_a_block():
    x = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    y = Upsample2D((2, 3)).forward(x)
    np.testing.assert_array_equal(y[0, 0], [[1, 1, 1, 2, 2, 2], [1, 1, 1, 2, 2, 2],
                                            [3, 3, 3, 4, 4, 4], [3, 3, 3, 4, 4, 4]])


def test_nearest_upsampling_backward_is_the_block_sum():
    """Each input pixel feeds a whole block, so its gradient is the SUM of dy over that block."""
    rng = np.random.default_rng(5)
    layer = Upsample2D(2)
    x = rng.normal(size=(2, 3, 3, 4))
    layer.forward(x)
    dy = rng.normal(size=(2, 3, 6, 8))
    dx = layer.backward(dy)
    expected = np.zeros_like(x)
    for n, c, h, w in np.ndindex(*x.shape):
        expected[n, c, h, w] = dy[n, c, 2 * h:2 * h + 2, 2 * w:2 * w + 2].sum()
    np.testing.assert_allclose(dx, expected, rtol=1e-14)
    np.testing.assert_array_equal(layer.backward(np.ones_like(dy)), np.full(x.shape, 4.0))  # not 1 (one element)


def test_bilinear_matches_pytorch_align_corners_false():
    """torch.nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False) on [[1, 2], [3, 4]]
    (the example of PyTorch's documentation)."""
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=np.float32)
    expected = [[1.00, 1.25, 1.75, 2.00],
                [1.50, 1.75, 2.25, 2.50],
                [2.50, 2.75, 3.25, 3.50],
                [3.00, 3.25, 3.75, 4.00]]
    np.testing.assert_allclose(Upsample2D(2, "bilinear").forward(x)[0, 0], expected, rtol=0, atol=1e-7)
    # along one axis, scale 3: samples at (o + 0.5)/3 - 0.5 = -1/3 (clamped to 0), 0, 1/3, 2/3, 1, 4/3 (edge)
    row = Upsample2D((1, 3), "bilinear").forward(np.array([[[[0.0, 3.0]]]]))[0, 0, 0]
    np.testing.assert_allclose(row, [0.0, 0.0, 1.0, 2.0, 3.0, 3.0], atol=1e-14)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("N, C, H, W, scale", [(1, 1, 3, 3, 2), (2, 3, 2, 4, (2, 3)), (2, 1, 4, 3, (3, 1))])
def test_upsample_gradients_and_adjointness(mode, N, C, H, W, scale):
    rng = np.random.default_rng(6)
    layer = Upsample2D(scale, mode)
    x = rng.normal(size=(N, C, H, W))
    report = check_layer(layer, x, seed=7)
    assert report.passed, report
    y = rng.normal(size=layer.output_shape(x.shape))
    lhs = np.sum(layer.forward(x) * y)
    rhs = np.sum(x * layer.backward(y))
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))


def test_bilinear_keeps_constants_and_averages():
    x = np.full((1, 2, 3, 5), 7.5)
    np.testing.assert_allclose(Upsample2D(2, "bilinear").forward(x), np.full((1, 2, 6, 10), 7.5), rtol=1e-15)


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------


def test_bad_input_names_the_layer_and_the_shapes():
    with pytest.raises(ValueError, match=r"MaxPool2D\(kernel=3\)\.forward: expected a 4-D array, got shape \(2, 5\)"):
        MaxPool2D(3).forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"MaxPool2D\(kernel=3\)\.forward: the kernel width 3 is larger than the "
                                         r"padded input width 2 .*input shape \(1, 1, 5, 2\)"):
        MaxPool2D(3).forward(np.zeros((1, 1, 5, 2)))
    with pytest.raises(ValueError, match=r"AvgPool2D\(kernel=4, stride=2\)\.forward: the kernel height 4 is larger"):
        AvgPool2D(4, 2).forward(np.zeros((1, 1, 3, 8)))
    with pytest.raises(ValueError, match=r"Upsample2D\(scale=2, mode='nearest'\)\.forward: expected a 4-D array"):
        Upsample2D().forward(np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="MaxPool2D: padding .* must be at most half the kernel"):
        MaxPool2D(2, padding=2)
    with pytest.raises(ValueError, match="Upsample2D: mode must be one of"):
        Upsample2D(2, mode="bicubic")
    with pytest.raises(ValueError, match="Upsample2D: scale must be >= 1"):
        Upsample2D(0)
    layer = MaxPool2D(2)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.zeros((1, 1, 2, 2)))
    layer.forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"dy has shape \(1, 1, 2, 3\), expected the output shape \(1, 1, 2, 2\)"):
        layer.backward(np.zeros((1, 1, 2, 3)))


def test_repr_and_config():
    assert repr(MaxPool2D(2)) == "MaxPool2D(kernel=2)"
    assert repr(MaxPool2D((3, 2), 1, (1, 0))) == "MaxPool2D(kernel=3x2, stride=1, padding=1x0)"
    assert MaxPool2D(3, 2, 1).config() == {"kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1]}
    assert AvgPool2D(2).config() == {"kernel_size": [2, 2], "stride": [2, 2]}
    assert Upsample2D((2, 3), "bilinear").config() == {"scale": [2, 3], "mode": "bilinear"}
    assert list(MaxPool2D(2).params()) == [] and list(Upsample2D().params()) == []

"""Conv2D and ConvTranspose2D: against direct loops, by finite differences, adjoint to each other, and
refusing bad input with messages that name the layer and the shapes."""

from __future__ import annotations

import numpy as np
import pytest

from tinyae import kernels
from tinyae.gradcheck import check_layer
from tinyae.layers import Conv2D, ConvTranspose2D

F64 = np.float64


def pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def loop_conv(x, W, b, stride, padding):
    """Ground truth: every output pixel as an explicit sum over its window (zero padding)."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = (H + 2 * ph - KH) // sh + 1, (Wd + 2 * pw - KW) // sw + 1
    y = np.zeros((N, F, OH, OW))
    for n, f, oh, ow in np.ndindex(N, F, OH, OW):
        total = 0.0 if b is None else b[f]
        for c, i, j in np.ndindex(C, KH, KW):
            h, w = oh * sh + i - ph, ow * sw + j - pw
            if 0 <= h < H and 0 <= w < Wd:
                total += W[f, c, i, j] * x[n, c, h, w]
        y[n, f, oh, ow] = total
    return y


def loop_conv_transpose(x, W, b, stride, padding, output_padding):
    """Ground truth: every input pixel scatters its kernel-weighted copy onto the (cropped) output."""
    (sh, sw), (ph, pw), (oph, opw) = pair(stride), pair(padding), pair(output_padding)
    N, C_in, H, Wd = x.shape
    _, C_out, KH, KW = W.shape
    OH, OW = (H - 1) * sh - 2 * ph + KH + oph, (Wd - 1) * sw - 2 * pw + KW + opw
    y = np.zeros((N, C_out, OH, OW))
    for n, ci, h, w in np.ndindex(N, C_in, H, Wd):
        for co, i, j in np.ndindex(C_out, KH, KW):
            oh, ow = h * sh + i - ph, w * sw + j - pw
            if 0 <= oh < OH and 0 <= ow < OW:
                y[n, co, oh, ow] += x[n, ci, h, w] * W[ci, co, i, j]
    if b is not None:
        y += b[None, :, None, None]
    return y


# N, C_in, C_out, H, W, kernel, stride, padding, bias: stride 1 and 2 (and mixed), padding 0/1/2,
# non-square inputs and kernels, batch 1 and 2, channels 1 and 3.
CONV_CASES = [
    (1, 1, 2, 5, 5, 3, 1, 0, True),
    (2, 3, 2, 5, 6, 3, 1, 1, True),
    (2, 1, 3, 6, 5, (3, 2), 2, 0, True),
    (1, 3, 1, 7, 5, (2, 3), 2, 1, False),
    (2, 3, 2, 4, 6, 3, (2, 1), 2, True),
    (1, 1, 1, 6, 7, (1, 4), (1, 2), (0, 2), True),
    (2, 3, 3, 5, 4, 2, 2, (2, 1), True),
]
# N, C_in, C_out, H, W, kernel, stride, padding, output_padding, bias
CONVT_CASES = [
    (1, 1, 2, 3, 3, 3, 1, 0, 0, True),
    (2, 3, 2, 3, 4, 3, 2, 1, 1, True),
    (2, 1, 3, 4, 3, (3, 2), 2, 0, (1, 0), True),
    (1, 3, 1, 3, 2, (2, 3), 2, 2, 0, False),
    (2, 3, 1, 2, 3, 2, 2, 0, 0, True),
    (1, 1, 3, 4, 4, (4, 1), (1, 2), (2, 0), (0, 1), True),
]


def conv_id(c):
    return f"N{c[0]}-C{c[1]}to{c[2]}-{c[3]}x{c[4]}-k{c[5]}-s{c[6]}-p{c[7]}".replace(" ", "")


@pytest.mark.parametrize("case", CONV_CASES, ids=[conv_id(c) for c in CONV_CASES])
def test_conv2d_forward_equals_a_direct_loop_convolution(case):
    N, C_in, C_out, H, W, kernel, stride, padding, bias = case
    rng = np.random.default_rng(0)
    layer = Conv2D(C_in, C_out, kernel, stride, padding, bias=bias, seed=1, dtype=F64)
    if bias:
        layer.b.value[...] = rng.normal(size=C_out)
    x = rng.normal(size=(N, C_in, H, W))
    y = layer.forward(x)
    expected = loop_conv(x, layer.W.value, layer.b.value if bias else None, stride, padding)
    assert y.shape == expected.shape == layer.output_shape(x.shape)
    assert y.flags.c_contiguous
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES, ids=[conv_id(c) for c in CONV_CASES])
def test_conv2d_gradients(case):
    N, C_in, C_out, H, W, kernel, stride, padding, bias = case
    rng = np.random.default_rng(2)
    layer = Conv2D(C_in, C_out, kernel, stride, padding, bias=bias, seed=3, dtype=F64)
    if bias:
        layer.b.value[...] = rng.normal(size=C_out)
    report = check_layer(layer, rng.normal(size=(N, C_in, H, W)), seed=4)
    assert report.passed, report
    assert [t.name for t in report.tensors] == ["input x", "W"] + (["b"] if bias else [])


@pytest.mark.parametrize("case", CONVT_CASES, ids=[conv_id(c) for c in CONVT_CASES])
def test_conv_transpose_forward_equals_a_direct_scatter_loop(case):
    N, C_in, C_out, H, W, kernel, stride, padding, output_padding, bias = case
    rng = np.random.default_rng(5)
    layer = ConvTranspose2D(C_in, C_out, kernel, stride, padding, output_padding, bias=bias, seed=6, dtype=F64)
    if bias:
        layer.b.value[...] = rng.normal(size=C_out)
    x = rng.normal(size=(N, C_in, H, W))
    y = layer.forward(x)
    expected = loop_conv_transpose(x, layer.W.value, layer.b.value if bias else None, stride, padding, output_padding)
    assert y.shape == expected.shape == layer.output_shape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONVT_CASES, ids=[conv_id(c) for c in CONVT_CASES])
def test_conv_transpose_gradients(case):
    N, C_in, C_out, H, W, kernel, stride, padding, output_padding, bias = case
    rng = np.random.default_rng(7)
    layer = ConvTranspose2D(C_in, C_out, kernel, stride, padding, output_padding, bias=bias, seed=8, dtype=F64)
    if bias:
        layer.b.value[...] = rng.normal(size=C_out)
    report = check_layer(layer, rng.normal(size=(N, C_in, H, W)), seed=9)
    assert report.passed, report


@pytest.mark.parametrize("N, a, b, H, W, kernel, stride, padding", [
    (2, 3, 2, 7, 6, 3, 1, 1),
    (1, 1, 3, 7, 8, (3, 2), 2, 0),
    (2, 3, 3, 9, 5, (2, 4), (3, 2), (1, 2)),
])
def test_conv_transpose_is_the_adjoint_of_conv(N, a, b, H, W, kernel, stride, padding):
    """<Conv2D(x), y> == <x, ConvTranspose2D(y)> with the same weights (no bias: both maps linear)."""
    rng = np.random.default_rng(10)
    conv = Conv2D(a, b, kernel, stride, padding, bias=False, seed=11, dtype=F64)
    (KH, KW), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    output_padding = ((H + 2 * ph - KH) % sh, (W + 2 * pw - KW) % sw)  # so convT lands on x's size
    convT = ConvTranspose2D(b, a, kernel, stride, padding, output_padding, bias=False, dtype=F64)
    convT.W = conv.W  # the very same Param: W (b, a, KH, KW)
    x = rng.normal(size=(N, a, H, W))
    y = rng.normal(size=conv.output_shape(x.shape))
    assert convT.output_shape(y.shape) == x.shape
    lhs = np.sum(conv.forward(x) * y)
    rhs = np.sum(x * convT.forward(y))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs)), (lhs, rhs)
    # and ConvTranspose2D's forward is literally Conv2D's input gradient
    conv.forward(x)
    np.testing.assert_allclose(conv.backward(y), convT.forward(y), rtol=1e-13, atol=1e-13)


def test_float32_stays_float32_and_reference_kernels_give_the_same_bits(monkeypatch):
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, 3, 8, 7)).astype(np.float32)
    dy_shape = (2, 4, 4, 4)
    dy = rng.normal(size=dy_shape).astype(np.float32)
    results = {}
    for impl in ("numba", "reference"):
        monkeypatch.setenv(kernels.ENV_VAR, impl)
        layer = Conv2D(3, 4, 3, stride=2, padding=1, seed=13)
        y = layer.forward(x)
        dx = layer.backward(dy)
        assert y.dtype == dx.dtype == layer.W.grad.dtype == np.float32
        results[impl] = (y, dx, layer.W.grad.copy())
    for a, b in zip(results["numba"], results["reference"]):
        np.testing.assert_array_equal(a, b)


def test_conv_transpose_doubles_the_size_with_output_padding():
    layer = ConvTranspose2D(4, 2, 3, stride=2, padding=1, output_padding=1)
    assert layer.output_shape((5, 4, 7, 7)) == (5, 2, 14, 14)
    assert layer.forward(np.ones((5, 4, 7, 7), dtype=np.float32)).shape == (5, 2, 14, 14)
    assert ConvTranspose2D(8, 1, 2, stride=2).output_shape((3, 8, 7, 7)) == (3, 1, 14, 14)


def test_params_init_and_config():
    conv = Conv2D(16, 32, 3, padding=1, seed=0)
    assert [p.name for p in conv.params()] == ["W", "b"]
    assert conv.W.shape == (32, 16, 3, 3) and conv.b.shape == (32,) and conv.W.value.dtype == np.float32
    assert not np.any(conv.b.value)
    assert abs(conv.W.value.std() / np.sqrt(2 / (16 * 9)) - 1) < 0.05  # He: Normal(0, sqrt(2 / fan_in))
    xavier = Conv2D(16, 32, 3, init="xavier", seed=0)
    limit = np.sqrt(6 / (16 * 9 + 32 * 9))
    assert np.abs(xavier.W.value).max() <= limit and np.abs(xavier.W.value).max() > 0.95 * limit
    np.testing.assert_array_equal(Conv2D(16, 32, 3, seed=5).W.value, Conv2D(16, 32, 3, seed=5).W.value)
    assert Conv2D(3, 4, (3, 2), stride=(2, 1), padding=1, bias=False).config() == {
        "in_channels": 3, "out_channels": 4, "kernel_size": [3, 2], "stride": [2, 1], "padding": [1, 1],
        "bias": False, "init": "he"}
    assert [p.name for p in Conv2D(3, 4, 3, bias=False).params()] == ["W"]
    convT = ConvTranspose2D(8, 4, 2, stride=2, seed=0)
    assert convT.W.shape == (8, 4, 2, 2)  # (C_in, C_out, KH, KW), PyTorch's layout
    assert convT.config()["output_padding"] == [0, 0]
    assert repr(convT) == "ConvTranspose2D(8 -> 4, kernel=2, stride=2)"
    assert repr(Conv2D(1, 16, (3, 2), padding=1)) == "Conv2D(1 -> 16, kernel=3x2, padding=1)"


def test_astype_casts_params_and_drops_the_cache():
    layer = Conv2D(2, 3, 3)
    layer.forward(np.zeros((1, 2, 4, 4), dtype=np.float32))
    layer.astype(np.float64)
    assert layer.W.value.dtype == layer.b.grad.dtype == np.float64
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.zeros((1, 3, 2, 2)))


def test_bad_input_names_the_layer_and_the_shapes():
    conv = Conv2D(3, 2, 3)
    with pytest.raises(ValueError, match=r"Conv2D\(3 -> 2, kernel=3\)\.forward: expected shape \(N, 3, \*, \*\), "
                                         r"got \(2, 1, 5, 5\)"):
        conv.forward(np.zeros((2, 1, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"Conv2D\(3 -> 2, kernel=3\)\.forward: expected a 4-D array, got shape "
                                         r"\(2, 3, 5\)"):
        conv.forward(np.zeros((2, 3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"Conv2D\(3 -> 2, kernel=3\)\.forward: the kernel height 3 is larger than "
                                         r"the padded input height 2 .*input shape \(1, 3, 2, 9\)"):
        conv.forward(np.zeros((1, 3, 2, 9), dtype=np.float32))
    with pytest.raises(TypeError, match="does not match the parameters' dtype float32"):
        conv.forward(np.zeros((1, 3, 5, 5)))
    conv.forward(np.zeros((1, 3, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"dy has shape \(1, 2, 3, 4\), expected the output shape \(1, 2, 3, 3\)"):
        conv.backward(np.zeros((1, 2, 3, 4), dtype=np.float32))
    convT = ConvTranspose2D(2, 1, 3, padding=3)
    with pytest.raises(ValueError, match=r"ConvTranspose2D\(2 -> 1, kernel=3, padding=3\)\.forward: input height 1 "
                                         r"gives an output height of -3 .*input shape \(4, 2, 1, 1\)"):
        convT.forward(np.zeros((4, 2, 1, 1), dtype=np.float32))
    with pytest.raises(ValueError, match=r"ConvTranspose2D\(2 -> 1, kernel=3, padding=3\)\.forward: expected shape "
                                         r"\(N, 2, \*, \*\), got \(4, 3, 5, 5\)"):
        convT.forward(np.zeros((4, 3, 5, 5), dtype=np.float32))


@pytest.mark.parametrize("make, message", [
    (lambda: Conv2D(0, 2, 3), "Conv2D: in_channels must be a positive int, got 0"),
    (lambda: Conv2D(1, 2, 0), "Conv2D: kernel_size must be >= 1, got 0"),
    (lambda: Conv2D(1, 2, 3, stride=(1, 0)), r"Conv2D: stride must be >= 1, got \(1, 0\)"),
    (lambda: Conv2D(1, 2, 3, padding=-1), "Conv2D: padding must be >= 0, got -1"),
    (lambda: Conv2D(1, 2, 3, init="magic"), "Conv2D: init must be one of"),
    (lambda: Conv2D(1, 2, 3, dtype=np.int32), "Conv2D: dtype must be float32 or float64"),
    (lambda: ConvTranspose2D(1, 2, 3, stride=2, output_padding=2), "output_padding .* must be smaller than"),
])
def test_bad_arguments_are_refused(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()

"""The kernels: the reference against per-pixel loops, every twin against the reference, the dispatch,
and the output-size arithmetic (tinyae/kernels/)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyae import kernels
from tinyae.kernels import reference, shapes

# (N, C, H, W), (KH, KW), stride, padding: square and rectangular, overlapping and strided windows
CONFIGS = [
    ((2, 3, 7, 6), (3, 3), (1, 1), (0, 0)),
    ((2, 3, 7, 6), (3, 2), (2, 1), (1, 2)),
    ((1, 1, 5, 5), (5, 5), (2, 2), (2, 2)),
    ((3, 2, 9, 8), (2, 3), (3, 2), (0, 1)),
    ((2, 2, 8, 8), (2, 2), (2, 2), (0, 0)),
    ((1, 2, 4, 7), (1, 4), (1, 3), (0, 2)),
]
IDS = [f"x{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}".replace(" ", "") for c in CONFIGS]
# max-pool configurations (padding at most half the kernel), overlapping windows included
POOL_CONFIGS = [c for c in CONFIGS if c[3][0] <= c[1][0] // 2 and c[3][1] <= c[1][1] // 2] + [
    ((2, 3, 7, 6), (3, 3), (1, 1), (1, 1)),
    ((2, 2, 6, 7), (3, 2), (2, 1), (1, 0)),
    ((2, 3, 7, 9), (2, 2), (2, 2), (0, 0)),  # the 2x2 kernels of numba_cpu: odd sizes leave a row/column out
    ((2, 2, 6, 5), (2, 2), (1, 1), (0, 0)),  # 2x2 forward with overlap (its backward: the general kernel)
    ((1, 2, 8, 7), (2, 2), (3, 2), (0, 0)),
]


def out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def loop_im2col(x, KH, KW, stride, padding):
    """Ground truth for the col layout, one entry at a time."""
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x.shape
    OH, OW = out_size(H, KH, sh, ph), out_size(W, KW, sw, pw)
    col = np.zeros((C * KH * KW, N * OH * OW), dtype=x.dtype)
    for c in range(C):
        for i in range(KH):
            for j in range(KW):
                for n in range(N):
                    for oh in range(OH):
                        for ow in range(OW):
                            h, w = oh * sh + i - ph, ow * sw + j - pw
                            if 0 <= h < H and 0 <= w < W:
                                col[(c * KH + i) * KW + j, (n * OH + oh) * OW + ow] = x[n, c, h, w]
    return col


def loop_maxpool(x, KH, KW, stride, padding):
    """Ground truth max-pool: the first maximum in row-major window order wins."""
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x.shape
    OH, OW = out_size(H, KH, sh, ph), out_size(W, KW, sw, pw)
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    arg = np.empty((N, C, OH, OW), dtype=np.int32)
    for n, c, oh, ow in np.ndindex(N, C, OH, OW):
        best, k_best = -np.inf, 0
        for i in range(KH):
            for j in range(KW):
                h, w = oh * sh + i - ph, ow * sw + j - pw
                if 0 <= h < H and 0 <= w < W and x[n, c, h, w] > best:
                    best, k_best = x[n, c, h, w], i * KW + j
        y[n, c, oh, ow], arg[n, c, oh, ow] = best, k_best
    return y, arg


def distinct(rng, shape, dtype=np.float64):
    """Values without ties: a random permutation of 0, 1, 2, ... scaled to steps of 1e-2."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 1e-2 - 0.3).astype(dtype)


# --------------------------------------------------------------------------------------------------
# The reference against loops
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, kernel, stride, padding", CONFIGS, ids=IDS)
def test_reference_im2col_matches_the_entry_by_entry_definition(shape, kernel, stride, padding):
    x = np.random.default_rng(0).normal(size=shape)
    expected = loop_im2col(x, *kernel, stride, padding)
    np.testing.assert_array_equal(reference.im2col(x, *kernel, stride, padding), expected)


@pytest.mark.parametrize("shape, kernel, stride, padding", CONFIGS, ids=IDS)
def test_col2im_is_the_adjoint_of_im2col(shape, kernel, stride, padding):
    """sum(im2col(x) * c) == sum(x * col2im(c)) for every x and c: col2im is im2col's transpose."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape)
    c = rng.normal(size=reference.im2col(x, *kernel, stride, padding).shape)
    for impl in ("reference", "numba"):
        lhs = np.sum(kernels.im2col(x, *kernel, stride, padding, impl=impl) * c)
        rhs = np.sum(x * kernels.col2im(c, shape, *kernel, stride, padding, impl=impl))
        assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs)), (impl, lhs, rhs)


def test_col2im_adds_overlapping_windows():
    """3x3 windows with stride 1 over a 4x4 input: the centre pixels are in 4 windows, the corners in 1."""
    x_shape = (1, 1, 4, 4)
    ones = np.ones((9, 4))
    expected = np.array([[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]], dtype=float)
    for impl in ("reference", "numba"):
        np.testing.assert_array_equal(kernels.col2im(ones, x_shape, 3, 3, impl=impl)[0, 0], expected)


@pytest.mark.parametrize("shape, kernel, stride, padding", POOL_CONFIGS)
def test_reference_maxpool_matches_a_loop(shape, kernel, stride, padding):
    x = distinct(np.random.default_rng(2), shape)
    y, arg = reference.maxpool_forward(x, *kernel, stride, padding)
    y_loop, arg_loop = loop_maxpool(x, *kernel, stride, padding)
    np.testing.assert_array_equal(y, y_loop)
    np.testing.assert_array_equal(arg, arg_loop)
    assert arg.dtype == np.int32


def test_maxpool_ties_first_maximum_in_window_order_wins():
    """A window of equal values: offset 0 (top-left) wins; the gradient goes to it alone."""
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, :, 2:] = [[1.0, 5.0], [5.0, 5.0]]  # the right window holds 5 three times
    for impl in ("reference", "numba"):
        y, arg = kernels.maxpool_forward(x, 2, 2, impl=impl)
        np.testing.assert_array_equal(y[0, 0], [[0.0, 5.0]])
        np.testing.assert_array_equal(arg[0, 0], [[0, 1]])  # left: first zero; right: (0, 1) is the first 5
        dx = kernels.maxpool_backward(np.array([[[[2.0, 3.0]]]]), arg, x.shape, 2, 2, impl=impl)
        np.testing.assert_array_equal(dx[0, 0], [[2.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]])


def test_maxpool_backward_sums_over_overlapping_windows_a_pixel_wins():
    """A 3x3 input whose centre is the maximum: all four 2x2 windows (stride 1) pick it."""
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    x[0, 0, 1, 1] = 100.0
    dy = np.array([1.0, 2.0, 4.0, 8.0]).reshape(1, 1, 2, 2)
    for impl in ("reference", "numba"):
        y, arg = kernels.maxpool_forward(x, 2, 2, stride=1, impl=impl)
        assert np.all(y == 100.0)
        dx = kernels.maxpool_backward(dy, arg, x.shape, 2, 2, stride=1, impl=impl)
        expected = np.zeros((3, 3))
        expected[1, 1] = 15.0
        np.testing.assert_array_equal(dx[0, 0], expected)


# --------------------------------------------------------------------------------------------------
# Every twin equals the reference (bit for bit: the same operations in the same order)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kernel, stride, padding", CONFIGS, ids=IDS)
def test_numba_im2col_col2im_equal_the_reference_bit_for_bit(shape, kernel, stride, padding, dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape).astype(dtype)
    col = kernels.im2col(x, *kernel, stride, padding, impl="numba")
    np.testing.assert_array_equal(col, reference.im2col(x, *kernel, stride, padding))
    assert col.dtype == dtype and col.flags.c_contiguous
    c = rng.normal(size=col.shape).astype(dtype)
    dx = kernels.col2im(c, shape, *kernel, stride, padding, impl="numba")
    np.testing.assert_array_equal(dx, reference.col2im(c, shape, *kernel, stride, padding))
    assert dx.dtype == dtype and dx.flags.c_contiguous


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("shape, kernel, stride, padding", POOL_CONFIGS)
def test_numba_maxpool_equals_the_reference_bit_for_bit(shape, kernel, stride, padding, ties, dtype):
    rng = np.random.default_rng(4)
    x = distinct(rng, shape, dtype)
    if ties:
        x = np.round(x * 20).astype(dtype)  # many equal values per window
    y, arg = kernels.maxpool_forward(x, *kernel, stride, padding, impl="numba")
    y_ref, arg_ref = reference.maxpool_forward(x, *kernel, stride, padding)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    assert y.dtype == dtype and arg.dtype == np.int32
    dy = rng.normal(size=y.shape).astype(dtype)
    dx = kernels.maxpool_backward(dy, arg, shape, *kernel, stride, padding, impl="numba")
    np.testing.assert_array_equal(dx, reference.maxpool_backward(dy, arg_ref, shape, *kernel, stride, padding))


def test_reference_kernels_run_under_array_api_strict_on_another_device():
    """Only array-API operations: the reference runs where any implicit conversion to NumPy raises."""
    xp = pytest.importorskip("array_api_strict")
    device = xp.Device("device1")
    rng = np.random.default_rng(5)
    x_np = distinct(rng, (2, 3, 7, 6)).astype(np.float32)
    x = xp.asarray(x_np, device=device)

    def host(a):
        return np.asarray(a.to_device(xp.Device("CPU_DEVICE")))

    col = reference.im2col(x, 3, 2, (2, 1), (1, 1))
    assert col.device == device and col.dtype == xp.float32
    np.testing.assert_array_equal(host(col), reference.im2col(x_np, 3, 2, (2, 1), (1, 1)))
    dx = reference.col2im(col, x.shape, 3, 2, (2, 1), (1, 1))
    np.testing.assert_array_equal(host(dx), reference.col2im(host(col), x_np.shape, 3, 2, (2, 1), (1, 1)))
    y, arg = reference.maxpool_forward(x, 3, 3, (2, 2), (1, 1))
    y_np, arg_np = reference.maxpool_forward(x_np, 3, 3, (2, 2), (1, 1))
    np.testing.assert_array_equal(host(y), y_np)
    np.testing.assert_array_equal(host(arg), arg_np)
    dx = reference.maxpool_backward(y, arg, x.shape, 3, 3, (2, 2), (1, 1))
    np.testing.assert_array_equal(host(dx), reference.maxpool_backward(y_np, arg_np, x_np.shape, 3, 3, (2, 2), (1, 1)))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kernel, stride, padding", CONFIGS, ids=IDS)
def test_cupy_kernels_equal_the_reference(cupy, shape, kernel, stride, padding, dtype):
    """The CUDA kernels compute the same operations in the same order: equal bit for bit."""
    rng = np.random.default_rng(6)
    x = distinct(rng, shape, dtype)
    xg = cupy.asarray(x)
    col = kernels.im2col(xg, *kernel, stride, padding)
    assert kernels.select_impl(xg) == "cupy" and isinstance(col, cupy.ndarray)
    np.testing.assert_array_equal(col.get(), reference.im2col(x, *kernel, stride, padding))
    c = rng.normal(size=col.shape).astype(dtype)
    dx = kernels.col2im(cupy.asarray(c), shape, *kernel, stride, padding)
    np.testing.assert_array_equal(dx.get(), reference.col2im(c, shape, *kernel, stride, padding))
    if padding[0] <= kernel[0] // 2 and padding[1] <= kernel[1] // 2:
        for xt in (x, np.round(x * 20).astype(dtype)):  # without and with ties
            y, arg = kernels.maxpool_forward(cupy.asarray(xt), *kernel, stride, padding)
            y_ref, arg_ref = reference.maxpool_forward(xt, *kernel, stride, padding)
            np.testing.assert_array_equal(y.get(), y_ref)
            np.testing.assert_array_equal(arg.get(), arg_ref)
            dy = rng.normal(size=y.shape).astype(dtype)
            dx = kernels.maxpool_backward(cupy.asarray(dy), arg, shape, *kernel, stride, padding)
            np.testing.assert_array_equal(dx.get(), reference.maxpool_backward(dy, arg_ref, shape, *kernel, stride,
                                                                               padding))


@pytest.mark.gpu
def test_reference_kernels_run_on_cupy_arrays(cupy):
    x = distinct(np.random.default_rng(7), (2, 3, 7, 6))
    col = kernels.im2col(cupy.asarray(x), 3, 2, (2, 1), (1, 1), impl="reference")
    assert isinstance(col, cupy.ndarray)
    np.testing.assert_array_equal(col.get(), reference.im2col(x, 3, 2, (2, 1), (1, 1)))
    y, arg = kernels.maxpool_forward(cupy.asarray(x), 2, 2, impl="reference")
    np.testing.assert_array_equal(y.get(), reference.maxpool_forward(x, 2, 2, (2, 2), (0, 0))[0])


# --------------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------------


def test_the_array_picks_the_twin(monkeypatch):
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    x = np.zeros((1, 2, 4, 4), dtype=np.float32)
    assert kernels.select_impl(x) == "numba"
    assert kernels.select_impl(x.astype(np.float64)) == "numba"
    assert kernels.select_impl(x.transpose(0, 1, 3, 2)) == "reference"  # not C-contiguous
    assert kernels.select_impl(x.astype(np.float16)) == "reference"
    assert kernels.select_impl(x, impl="reference") == "reference"


def test_environment_variable_forces_the_reference(monkeypatch):
    calls = []
    original = reference.im2col

    def spy(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(reference, "im2col", spy)
    x = np.random.default_rng(8).normal(size=(1, 2, 5, 5)).astype(np.float32)
    monkeypatch.setenv(kernels.ENV_VAR, "reference")
    assert kernels.select_impl(x) == "reference"
    col = kernels.im2col(x, 3, 3)
    assert len(calls) == 1
    np.testing.assert_array_equal(col, original(x, 3, 3, (1, 1), (0, 0)))
    kernels.im2col(x, 3, 3, impl="numba")  # the argument wins over the variable
    assert len(calls) == 1
    monkeypatch.setenv(kernels.ENV_VAR, "auto")
    assert kernels.select_impl(x) == "numba"


def test_bad_kernel_choices_are_refused(monkeypatch):
    x = np.zeros((1, 1, 4, 4))
    monkeypatch.setenv(kernels.ENV_VAR, "fortran")
    with pytest.raises(ValueError, match="TINYAE_KERNELS"):
        kernels.im2col(x, 2, 2)
    monkeypatch.delenv(kernels.ENV_VAR)
    with pytest.raises(ValueError, match="impl must be one of"):
        kernels.im2col(x, 2, 2, impl="fast")
    with pytest.raises(TypeError, match="C-contiguous"):
        kernels.im2col(x.transpose(0, 1, 3, 2), 2, 2, impl="numba")
    with pytest.raises(TypeError, match="CuPy arrays"):
        kernels.im2col(x, 2, 2, impl="cupy")


def test_forced_numba_names_the_layer_that_got_a_strided_view(monkeypatch):
    from tinyae.layers import ReLU, Upsample2D

    monkeypatch.setenv(kernels.ENV_VAR, "numba")
    x = np.ones((2, 3, 4, 4), np.float32)
    with pytest.raises(TypeError, match=r"^ReLU\(\): the numba kernels .* float32 \(not C-contiguous\)"):
        ReLU().forward(x.transpose(0, 1, 3, 2))
    with pytest.raises(TypeError, match=r"^Upsample2D\(.*\): the numba kernels"):
        Upsample2D(2).forward(x[:, :, ::2])


def test_kernel_arguments_are_checked():
    x = np.zeros((2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"im2col: x must be 4-D \(N, C, H, W\), got shape \(3, 4, 5\)"):
        kernels.im2col(x[0], 2, 2)
    with pytest.raises(ValueError, match="kernel height 5 is larger than the padded input height 4"):
        kernels.im2col(x, 5, 2)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        kernels.im2col(x, 2, 2, stride=0)
    with pytest.raises(ValueError, match=r"col must have shape \(C\*KH\*KW, N\*OH\*OW\) = \(12, 24\)"):
        kernels.col2im(np.zeros((12, 25)), x.shape, 2, 2)
    with pytest.raises(ValueError, match="at most half the kernel"):
        kernels.maxpool_forward(x, 2, 2, padding=2)
    with pytest.raises(ValueError, match="pooled shape"):
        kernels.maxpool_backward(np.zeros((2, 3, 2, 3)), np.zeros((2, 3, 2, 3), np.int32), x.shape, 2, 2)


# --------------------------------------------------------------------------------------------------
# Output-size arithmetic (kernels/shapes.py)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size, kernel, stride, padding, expected", [
    (28, 3, 1, 1, 28), (28, 2, 2, 0, 14), (7, 2, 2, 0, 3), (7, 3, 2, 1, 4), (5, 5, 1, 0, 1), (1, 3, 1, 1, 1),
])
def test_conv_output_size(size, kernel, stride, padding, expected):
    assert shapes.conv_output_size(size, kernel, stride, padding) == expected


def test_conv_output_size_refuses_impossible_configurations():
    with pytest.raises(ValueError, match="Conv2D.*kernel height 5 is larger than the padded input height 4"):
        shapes.conv_output_size(2, 5, 1, 1, where="Conv2D", axis="height")
    with pytest.raises(ValueError, match=r"not a multiple of the stride 2; the last 1 entries would be ignored"):
        shapes.conv_output_size(7, 2, 2, 0, strict=True)
    assert shapes.conv_output_size(8, 2, 2, 0, strict=True) == 4
    with pytest.raises(ValueError, match="input size must be >= 1"):
        shapes.conv_output_size(0, 1)
    with pytest.raises(ValueError, match=r"MyLayer.*input shape \(2, 3, 4, 9\)"):
        shapes.conv_output_hw((2, 3, 4, 9), (5, 3), (1, 1), (0, 0), where="MyLayer")


@pytest.mark.parametrize("size, kernel, stride, padding, output_padding", [
    (4, 3, 2, 1, 1), (7, 2, 2, 0, 0), (5, 3, 1, 1, 0), (3, 4, 3, 0, 2), (6, 5, 2, 2, 1),
])
def test_transposed_size_inverts_the_conv_size(size, kernel, stride, padding, output_padding):
    out = shapes.conv_transpose_output_size(size, kernel, stride, padding, output_padding)
    assert out == (size - 1) * stride - 2 * padding + kernel + output_padding
    assert shapes.conv_output_size(out, kernel, stride, padding) == size


def test_transposed_size_refuses_impossible_configurations():
    with pytest.raises(ValueError, match="output_padding must satisfy 0 <= output_padding < stride"):
        shapes.conv_transpose_output_size(4, 3, 2, 1, 2)
    with pytest.raises(ValueError, match="gives an output width of 0"):
        shapes.conv_transpose_output_size(1, 2, 1, 1, axis="width")


def test_as_pair():
    assert shapes.as_pair(3, "kernel_size", "X") == (3, 3)
    assert shapes.as_pair((3, 2), "kernel_size", "X") == (3, 2)
    assert shapes.as_pair([0, 1], "padding", "X", minimum=0) == (0, 1)
    for bad in ((1, 2, 3), 2.0, True, "3", (1, None)):
        with pytest.raises(ValueError, match="X: kernel_size must be an int or a pair of ints"):
            shapes.as_pair(bad, "kernel_size", "X")
    with pytest.raises(ValueError, match="X: padding must be >= 0, got -1"):
        shapes.as_pair(-1, "padding", "X", minimum=0)


@pytest.mark.parametrize("stride", [2, 1])  # the 2x2 kernel of numba_cpu, and the general one
def test_numba_maxpool_backward_refuses_an_argmax_outside_the_window(stride):
    out = 2 if stride == 2 else 3
    argmax = np.zeros((1, 1, out, out), dtype=np.int32)
    argmax[0, 0, 1, 1] = 4  # a 2x2 window has offsets 0..3
    with pytest.raises(ValueError, match="argmax holds an offset outside the window"):
        kernels.maxpool_backward(np.ones((1, 1, out, out)), argmax, (1, 1, 4, 4), 2, 2, stride, impl="numba")

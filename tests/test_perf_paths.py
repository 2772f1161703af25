"""The faster paths taken for speed (docs/performance.md) compute what the plain formulas compute.

- Conv2D, stride 1 and out_channels <= in_channels: the "flipped route" twin (tinyae/kernels/conv_routes.py:
  y as a transposed convolution with the flipped kernel, dx and dW from im2col(dy)) instead of the layer's
  im2col(x) and col2im;
- Upsample2D nearest: the offset loop of strided copies / additions instead of a broadcast reshape / a sum
  over two inner axes;
- backward_params (a first layer's backward, without dx): the same parameter gradients as backward.
"""

import numpy as np
import pytest

from tinyae import kernels
from tinyae.gradcheck import check_layer
from tinyae.kernels.conv_routes import flipped_route_fits
from tinyae.layers import Conv2D, ConvTranspose2D, Dense, Dropout, GaussianNoise, ReLU, Sigmoid, TiedDense, Upsample2D
from tinyae.models import Autoencoder, Sequential

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
    assert flipped_route_fits(layer, x.shape)
    report = check_layer(layer, x)
    assert report.passed, report
    assert layer._col is None and layer._twin_flipped_x_mat is not None  # the path under test is the one taken


@pytest.mark.parametrize(("c_in", "c_out", "kernel", "padding", "xs"), CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_flipped_route_equals_the_im2col_route(c_in, c_out, kernel, padding, xs, dtype):
    layer = Conv2D(c_in, c_out, kernel, padding=padding, dtype=dtype, seed=1)
    layer.b.value[...] = np.arange(c_out) / 3  # a non-zero bias
    rng = np.random.default_rng(0)
    x = rng.normal(size=(xs[0], c_in, xs[1], xs[2])).astype(dtype)
    y = layer.forward(x)
    assert layer._col is None  # the flipped twin ran
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
    assert not flipped_route_fits(Conv2D(2, 4, 3, padding=1), (1, 2, 5, 5))  # more out than in channels
    assert not flipped_route_fits(Conv2D(4, 2, 3, stride=2, padding=1), (1, 4, 5, 5))  # stride 2
    assert not flipped_route_fits(Conv2D(4, 2, 3, padding=3), (1, 4, 5, 5))  # padding beyond KH - 1
    layer = Conv2D(2, 4, 3, padding=1)
    layer.forward(np.ones((1, 2, 5, 5), np.float32))
    assert layer._col is not None  # the layer's own im2col lines ran


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


# --------------------------------------------------------------------------------------------------
# backward_params: the parameter gradients of backward, without dx
# --------------------------------------------------------------------------------------------------


def _grads_after(layer, x, dy, method):
    """Each Param's grad after forward(x) and ``method``(dy) from zero, and what the method returned."""
    layer.zero_grad()
    layer.forward(x, training=True)
    out = getattr(layer, method)(dy)
    return [p.grad.copy() for p in layer.params()], out


def _layer_cases():
    rng = np.random.default_rng(7)
    enc = Dense(6, 4, seed=1)
    yield Dense(6, 4, seed=0), rng.random((5, 6), dtype=np.float32), (5, 4)
    yield TiedDense(enc), rng.random((5, 4), dtype=np.float32), (5, 6)
    yield Conv2D(2, 3, 3, padding=1, seed=2), rng.random((2, 2, 5, 6), dtype=np.float32), (2, 3, 5, 6)  # im2col
    yield Conv2D(3, 2, 3, padding=1, seed=3), rng.random((2, 3, 5, 6), dtype=np.float32), (2, 2, 5, 6)  # flipped
    yield Conv2D(2, 3, 3, stride=2, seed=4), rng.random((2, 2, 7, 7), dtype=np.float32), (2, 3, 3, 3)
    yield ConvTranspose2D(2, 3, 3, stride=2, seed=5), rng.random((2, 2, 3, 3), dtype=np.float32), (2, 3, 7, 7)


@pytest.mark.parametrize("case", list(_layer_cases()), ids=lambda c: repr(c[0]))
def test_backward_params_adds_exactly_the_parameter_gradients_of_backward(case):
    layer, x, dy_shape = case
    assert layer.W is next(layer.params())
    dy = np.random.default_rng(8).normal(size=dy_shape).astype(np.float32)
    full, dx = _grads_after(layer, x, dy, "backward")
    only, none = _grads_after(layer, x, dy, "backward_params")
    assert dx is not None and dx.shape == x.shape and none is None
    for a, b in zip(full, only):
        np.testing.assert_array_equal(a, b)  # bit-identical: the same operations, dx left out
        assert np.any(a != 0)


def test_backward_params_adds_into_the_grad_like_backward():
    layer = Dense(3, 2, seed=0)
    x, dy = np.ones((4, 3), dtype=np.float32), np.ones((4, 2), dtype=np.float32)
    layer.forward(x)
    layer.backward_params(dy)
    once = layer.W.grad.copy()
    layer.backward_params(dy)
    np.testing.assert_array_equal(layer.W.grad, 2 * once)  # ADDED, as the contract says


def test_backward_params_before_forward_is_refused():
    with pytest.raises(RuntimeError, match="before forward"):
        Dense(3, 2).backward_params(np.ones((4, 2), dtype=np.float32))


def test_dense_backward_params_skips_the_dx_product(monkeypatch):
    """The point of it: no dy @ W.T (the dx product), and so 1 product instead of 2."""
    layer = Dense(5, 3, seed=0)
    x = np.ones((4, 5), dtype=np.float32)
    layer.forward(x)
    shapes = []

    class Spy(np.ndarray):
        def __matmul__(self, other):
            shapes.append((self.shape, other.shape))
            return np.asarray(self) @ np.asarray(other)

    layer._x = x.view(Spy)  # x.T @ dy goes through the spy
    dy = np.ones((4, 3), dtype=np.float32).view(Spy)  # dy @ W.T would too
    with kernels.use("reference"):  # the method body (its twin writes x.T @ dy with np.matmul(out=...))
        layer.backward_params(dy)
    assert shapes == [((5, 4), (4, 3))]  # x.T @ dy only


def test_sequential_backward_params_starts_at_the_first_layer_with_params():
    """A noise layer before the first Dense gets no backward; the Params get what backward gives them."""
    rng = np.random.default_rng(0)
    x = rng.random((6, 5), dtype=np.float32)
    dy = rng.normal(size=(6, 2)).astype(np.float32)

    def stack():
        return Sequential(GaussianNoise(0.1, seed=3), Dense(5, 4, seed=1), ReLU(), Dense(4, 2, seed=2))

    ref, fast = stack(), stack()
    ref.forward(x, training=True)
    ref.backward(dy)
    fast.forward(x, training=True)
    calls = []
    fast.layers[0].backward = lambda d: calls.append(d)
    assert fast.backward_params(dy) is None
    assert calls == []
    for a, b in zip(ref.params(), fast.params()):
        np.testing.assert_array_equal(a.grad, b.grad)


def test_nested_sequential_backward_params_recurses_into_the_inner_stack():
    """The first child with Params is itself a Sequential: its own backward_params runs, down to its Dense."""
    rng = np.random.default_rng(1)
    x = rng.random((4, 5), dtype=np.float32)
    dy = rng.normal(size=(4, 3)).astype(np.float32)

    def stack():
        inner = Sequential(Dropout(0.2, seed=4), Dense(5, 4, seed=1), Sigmoid())
        return Sequential(inner, Dense(4, 3, seed=2))

    ref, fast = stack(), stack()
    ref.forward(x, training=True)
    ref.backward(dy)
    fast.forward(x, training=True)
    assert fast.backward_params(dy) is None
    for a, b in zip(ref.params(), fast.params()):
        np.testing.assert_array_equal(a.grad, b.grad)
        assert np.any(a.grad != 0)


def test_autoencoder_step_gives_the_gradients_of_the_full_backward():
    """loss_and_backward (encoder.backward_params) against the same step with the encoder's full backward."""
    rng = np.random.default_rng(1)
    x = rng.random((8, 6))

    def model():
        enc = Sequential(Dense(6, 4, seed=1, dtype=F64), ReLU(), Dense(4, 3, seed=2, dtype=F64))
        dec = Sequential(Dense(3, 6, seed=3, dtype=F64))
        return Autoencoder(enc, dec, loss="mse")

    fast, ref = model(), model()
    fast.loss_and_backward(x)
    h = ref.encoder.forward(x, training=True)
    out = ref.decoder.forward(h, training=True)
    ref.loss.forward(out, x)
    ref.encoder.backward(ref.decoder.backward(ref.loss.backward()))
    for a, b in zip(ref.params(), fast.params()):
        np.testing.assert_array_equal(a.grad, b.grad)


# -- Param.zero_grad writes zeros in place; a backward adds ------------------------------------------------


def test_zero_grad_writes_zeros_into_the_same_array_and_backward_adds():
    rng = np.random.default_rng(4)
    layer = Dense(5, 3, dtype=F64, seed=0)
    x, dy = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    grad = layer.W.grad
    grad[...] = 7.0  # stale numbers: zero_grad must clear them
    layer.zero_grad()
    assert layer.W.grad is grad and np.array_equal(grad, np.zeros((5, 3)))  # an optimizer may hold the array
    layer.forward(x)
    layer.backward(dy)
    layer.backward(dy)  # a second use adds
    np.testing.assert_allclose(layer.W.grad, 2 * (x.T @ dy), rtol=1e-14)


def test_tied_dense_after_zero_grad_sums_both_uses_like_a_fresh_model():
    rng = np.random.default_rng(5)
    enc = Dense(6, 4, seed=1, dtype=np.float64)
    model = Sequential(enc, TiedDense(enc))
    x, dy = rng.standard_normal((3, 6)), rng.standard_normal((3, 6))
    model.forward(x)
    model.backward(dy)
    first = [p.grad.copy() for p in model.params()]
    for p in model.params():
        p.grad[...] = 1e3  # garbage left from a previous step
    model.zero_grad()
    model.forward(x)
    model.backward(dy)
    for p, g in zip(model.params(), first):
        assert np.array_equal(p.grad, g), p.name

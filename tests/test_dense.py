"""Dense and TiedDense: gradients by finite differences, initialisation, tied weights, bad input."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinyae.gradcheck import check_layer
from tinyae.layers import Dense, Sigmoid, TiedDense
from tinyae.models import Sequential


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def with_random_bias(layer, seed=9):
    """Give the (zero-initialised) bias random values, so the check does not run at a special point."""
    layer.b.value[...] = rand(*layer.b.shape, seed=seed)
    return layer


# -- gradients ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_dense_gradcheck(bias):
    layer = Dense(4, 3, bias=bias, seed=1, dtype=np.float64)
    if bias:
        with_random_bias(layer)
    report = check_layer(layer, rand(5, 4))
    assert report.passed, str(report)
    assert report.max_error <= 1e-7
    assert len(report.tensors) == (3 if bias else 2)  # x, W (and b): every tensor was checked


@pytest.mark.parametrize("bias", [True, False])
def test_tied_dense_gradcheck(bias):
    enc = Dense(5, 3, seed=2, dtype=np.float64)
    dec = TiedDense(enc, bias=bias)
    if bias:
        with_random_bias(dec)
    report = check_layer(dec, rand(4, 3))
    assert report.passed, str(report)


def test_tied_stack_gradcheck():
    """Dense -> Sigmoid -> TiedDense: the shared W is checked once, against the derivative of both uses."""
    enc = with_random_bias(Dense(5, 3, seed=3, dtype=np.float64), seed=4)
    dec = with_random_bias(TiedDense(enc), seed=5)
    chain = Sequential(enc, Sigmoid(), dec)
    assert [p.name for p in chain.params()] == ["W", "b", "b"]
    report = check_layer(chain, rand(4, 5))
    assert report.passed, str(report)


def test_tied_grad_is_sum_of_both_uses():
    enc = Dense(4, 3, seed=6, dtype=np.float64)
    dec = TiedDense(enc)
    x, h, dy_enc, dy_dec = rand(5, 4, seed=1), rand(5, 3, seed=2), rand(5, 3, seed=3), rand(5, 4, seed=4)

    enc.forward(x)
    enc.backward(dy_enc)
    from_encoder = enc.W.grad.copy()
    enc.zero_grad()
    dec.forward(h)
    dec.backward(dy_dec)
    from_decoder = dec.W.grad.copy()
    enc.zero_grad()

    enc.forward(x)
    dec.forward(h)
    enc.backward(dy_enc)
    dec.backward(dy_dec)
    np.testing.assert_allclose(enc.W.grad, from_encoder + from_decoder, rtol=1e-13)
    np.testing.assert_allclose(from_encoder, x.T @ dy_enc, rtol=1e-13)
    np.testing.assert_allclose(from_decoder, dy_dec.T @ h, rtol=1e-13)  # (in, N) @ (N, out), i.e. (h.T @ dy).T


def test_tied_shares_the_param_object():
    enc = Dense(6, 2, seed=0)
    dec = TiedDense(enc)
    params = list(dec.params())
    assert params[0] is enc.W and params[1] is not enc.b
    assert dec.b.shape == (6,) and dec.b.value.dtype == np.float32
    enc.W.value[0, 0] = 42.0
    assert dec.forward(np.eye(2, dtype=np.float32))[0, 0] == 42.0  # reads the live encoder weights
    dec.astype(np.float64)
    assert enc.W.value.dtype == np.float64  # casting one side casts the shared Param
    assert dec.output_shape((7, 2)) == (7, 6)
    assert repr(dec) == "TiedDense(2 -> 6, tied)"
    assert dec.config() == {"encoder_position": None, "bias": True}


# -- forward, init, config --------------------------------------------------------------------------


def test_forward_values_and_param_order():
    layer = Dense(3, 2, seed=0, dtype=np.float64)
    with_random_bias(layer)
    x = rand(4, 3)
    np.testing.assert_allclose(layer.forward(x), x @ layer.W.value + layer.b.value, rtol=1e-14)
    assert [p.name for p in layer.params()] == ["W", "b"]
    assert layer.W.shape == (3, 2) and layer.b.shape == (2,)
    assert not Dense(3, 2).b.value.any()  # a fresh layer's bias is zero
    assert [p.name for p in Dense(3, 2, bias=False).params()] == ["W"]


def test_float32_stays_float32():
    layer = Dense(3, 2, seed=0)
    x = rand(4, 3).astype(np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.W.grad.dtype == layer.b.grad.dtype == np.float32


@pytest.mark.parametrize(
    "init,scheme", [("he", "he"), ("relu", "he"), ("leaky_relu", "he"), ("softplus", "he"), ("xavier", "xavier"),
                    ("sigmoid", "xavier"), ("tanh", "xavier"), ("identity", "xavier"), ("linear", "xavier")]
)
def test_init_scales(init, scheme):
    fan_in, fan_out = 200, 100
    w = Dense(fan_in, fan_out, init=init, seed=0, dtype=np.float64).W.value
    if scheme == "he":
        assert w.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.03)
        assert np.abs(w).max() > math.sqrt(6 / (fan_in + fan_out))  # a normal has tails beyond the uniform's limit
    else:
        limit = math.sqrt(6 / (fan_in + fan_out))
        assert np.abs(w).max() <= limit
        assert w.std() == pytest.approx(limit / math.sqrt(3), rel=0.03)  # std of Uniform(-a, a)
    assert abs(w.mean()) < 0.01


def test_init_is_seeded_and_dtype_independent():
    a = Dense(5, 4, seed=7).W.value
    b = Dense(5, 4, seed=7).W.value
    c = Dense(5, 4, seed=7, dtype=np.float64).W.value
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c.astype(np.float32))
    assert not np.array_equal(a, Dense(5, 4, seed=8).W.value)
    gen = np.random.default_rng(3)
    assert Dense(2, 2, seed=gen).W.value.shape == (2, 2)


def test_repr_config_output_shape():
    layer = Dense(784, 64, init="relu")
    assert repr(layer) == "Dense(784 -> 64)"
    assert repr(Dense(3, 2, bias=False)) == "Dense(3 -> 2, bias=False)"
    assert layer.config() == {"in_features": 784, "out_features": 64, "init": "relu", "bias": True}
    assert Dense(**layer.config()).config() == layer.config()
    assert layer.output_shape((32, 784)) == (32, 64)
    with pytest.raises(ValueError, match=r"Dense\(784 -> 64\).*\(N, 784\).*\(32, 10\)"):
        layer.output_shape((32, 10))


# -- properties over shapes -------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), fan_in=st.integers(1, 4), fan_out=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_dense_property(n, fan_in, fan_out, seed):
    layer = with_random_bias(Dense(fan_in, fan_out, seed=seed, dtype=np.float64), seed=seed + 1)
    x = rand(n, fan_in, seed=seed + 2)
    y = layer.forward(x)
    assert y.shape == (n, fan_out) == layer.output_shape(x.shape)
    np.testing.assert_allclose(y, x @ layer.W.value + layer.b.value, rtol=1e-12, atol=1e-12)
    report = check_layer(layer, x, seed=seed)
    assert report.passed, str(report)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), fan_in=st.integers(1, 4), code=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_tied_property(n, fan_in, code, seed):
    enc = Dense(fan_in, code, seed=seed, dtype=np.float64)
    # dx passes through W twice (encoder and decoder): a draw like Dense(1 -> 1) with W = -0.004 makes
    # dx ~ 2e-7, where the finite differences' own round-off (~1e-13 here) is already a relative 1e-6.
    # Such draws test the stencil's noise, not the backward pass: keep every weight clear of 0.
    assume(np.abs(enc.W.value).min() > 1e-2)
    dec = with_random_bias(TiedDense(enc), seed=seed + 1)
    report = check_layer(Sequential(enc, Sigmoid(), dec), rand(n, fan_in, seed=seed + 2), seed=seed)
    assert report.passed, str(report)


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x,error,match",
    [
        (np.zeros((2, 5)), ValueError, r"Dense\(4 -> 3\)\.forward: expected shape \(N, 4\), got \(2, 5\)"),
        (np.zeros((2, 4, 1)), ValueError, r"Dense\(4 -> 3\)\.forward: expected a 2-D array, got shape \(2, 4, 1\)"),
        (np.zeros(4), ValueError, r"Dense\(4 -> 3\)\.forward: expected a 2-D array"),
        (np.zeros((0, 4)), ValueError, r"Dense\(4 -> 3\)\.forward: got an empty batch"),
        (np.zeros((2, 4), dtype=np.int64), TypeError, r"Dense\(4 -> 3\)\.forward: expected a float32 or float64"),
        (np.zeros((2, 4), dtype=np.complex128), TypeError, r"Dense\(4 -> 3\)\.forward: .*complex128"),
        (np.zeros((2, 4), dtype=object), TypeError, r"Dense\(4 -> 3\)\.forward: .*object"),
        (np.full((2, 4), np.nan), ValueError, r"Dense\(4 -> 3\)\.forward: input contains 8 NaN/Inf"),
        (np.array([[0, 0, np.inf, 0]]), ValueError, r"Dense\(4 -> 3\)\.forward: input contains 1 NaN/Inf"),
        ([[0.0] * 4], TypeError, r"Dense\(4 -> 3\)\.forward: expected a NumPy or CuPy array, got list"),
    ],
)
def test_dense_bad_input(x, error, match):
    with pytest.raises(error, match=match):
        Dense(4, 3, dtype=np.float64).forward(x)


def test_dense_dtype_mismatch():
    with pytest.raises(TypeError, match=r"Dense\(4 -> 3\)\.forward: input dtype float64 does not match.*float32"):
        Dense(4, 3).forward(np.zeros((2, 4)))


def test_dense_bad_backward():
    layer = Dense(4, 3, dtype=np.float64)
    with pytest.raises(RuntimeError, match=r"Dense\(4 -> 3\)\.backward called before forward"):
        layer.backward(np.zeros((2, 3)))
    layer.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"Dense\(4 -> 3\)\.backward: dy has shape \(2, 4\), expected .*\(2, 3\)"):
        layer.backward(np.zeros((2, 4)))
    with pytest.raises(TypeError, match=r"Dense\(4 -> 3\)\.backward: input dtype float32"):
        layer.backward(np.zeros((2, 3), dtype=np.float32))


def test_tied_bad_input():
    dec = TiedDense(Dense(4, 3))
    with pytest.raises(ValueError, match=r"TiedDense\(3 -> 4, tied\)\.forward: expected shape \(N, 3\), got \(2, 4\)"):
        dec.forward(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(TypeError, match="TiedDense: encoder must be a Dense layer, got Sigmoid"):
        TiedDense(Sigmoid())


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"in_features": 0, "out_features": 3}, "Dense: in_features must be a positive int, got 0"),
        ({"in_features": 4, "out_features": 2.5}, "Dense: out_features must be a positive int, got 2.5"),
        ({"in_features": True, "out_features": 3}, "Dense: in_features must be a positive int, got True"),
        ({"in_features": 4, "out_features": 3, "init": "glorot"}, r"Dense: init must be one of \[.*'he'.*got 'glorot'"),
    ],
)
def test_dense_bad_constructor(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Dense(**kwargs)


def test_dense_bad_dtype():
    with pytest.raises(TypeError, match="Dense: dtype must be float32 or float64, got float16"):
        Dense(4, 3, dtype=np.float16)

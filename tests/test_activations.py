"""Activations: gradients by finite differences on 2-D and 4-D inputs, stability at |x| = 1000, bad input."""

import numpy as np
import pytest

from tinyae.gradcheck import check_layer
from tinyae.layers import (
    ACTIVATIONS,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softplus,
    Tanh,
    make_activation,
    sigmoid,
    softplus,
)

SHAPES = [(3, 4), (2, 3, 2, 2)]
ALL = [Sigmoid, Tanh, ReLU, lambda: LeakyReLU(0.1), Softplus, Identity]
IDS = ["Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus", "Identity"]


def away_from_zero(shape, seed=0):
    """Values with 0.1 <= |x| <= 3: the ReLU kink at 0 is at least 1000 finite-difference steps away."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 3.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def reference(layer, x):
    """The textbook formulas, straight from the definitions (float64, moderate x only)."""
    alpha = getattr(layer, "alpha", None)
    formulas = {
        "Sigmoid": lambda: 1 / (1 + np.exp(-x)),
        "Tanh": lambda: np.tanh(x),
        "ReLU": lambda: np.maximum(x, 0),
        "LeakyReLU": lambda: np.where(x > 0, x, alpha * x),
        "Softplus": lambda: np.log(1 + np.exp(x)),
        "Identity": lambda: x,
    }
    return formulas[type(layer).__name__]()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_gradcheck(make, shape):
    report = check_layer(make(), away_from_zero(shape))
    assert report.passed, str(report)
    assert report.max_error <= 1e-7


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_forward_matches_definition(make):
    layer = make()
    x = away_from_zero((3, 5), seed=1)
    y = layer.forward(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    np.testing.assert_allclose(y, reference(layer, x), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("make", ALL, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(make, dtype):
    layer = make()
    x = away_from_zero((2, 3)).astype(dtype)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == dtype


def test_relu_and_leaky_relu_derivatives():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    dy = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    relu, leaky = ReLU(), LeakyReLU(alpha=0.1)
    relu.forward(x)
    leaky.forward(x)
    np.testing.assert_array_equal(relu.backward(dy), [[0, 0, 0, 4, 5]])  # at 0: the left derivative
    np.testing.assert_allclose(leaky.backward(dy), [[0.1, 0.2, 0.3, 4, 5]], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_at_large_inputs(dtype):
    """No overflow warning (pytest turns RuntimeWarning into an error) and the right limits."""
    x = np.array([[-1000.0, -100.0, 0.0, 100.0, 1000.0]], dtype=dtype)
    s = sigmoid(x)
    assert s.dtype == dtype
    np.testing.assert_array_equal(s[0, [0, 2, 4]], [0.0, 0.5, 1.0])
    assert 0 <= s[0, 1] < 1e-40 and s[0, 3] == 1.0

    sp = softplus(x)
    assert sp.dtype == dtype
    np.testing.assert_allclose(sp, [[0.0, 0.0, np.log(2.0), 100.0, 1000.0]], rtol=1e-7, atol=1e-40)

    layer = Softplus()
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x))[0, [0, 2, 4]], [0.0, 0.5, 1.0])
    layer = Sigmoid()
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x))[0, [0, 4]], [0.0, 0.0])
    assert np.all(np.isfinite(Tanh().forward(x)))


def test_sigmoid_keeps_precision_in_the_left_tail():
    """For x << 0 sigmoid(x) ~ exp(x); the naive 1 - sigmoid(-x) would round to 0 long before."""
    x = np.array([-30.0, -200.0, -700.0])
    np.testing.assert_allclose(sigmoid(x), np.exp(x) / (1 + np.exp(x)), rtol=1e-14)


def test_repr_config_and_registry():
    assert repr(Sigmoid()) == "Sigmoid()"
    assert repr(LeakyReLU(0.2)) == "LeakyReLU(alpha=0.2)"
    assert LeakyReLU(0.2).config() == {"alpha": 0.2}
    assert ReLU().config() == {}
    assert isinstance(make_activation("leaky_relu", alpha=0.3), LeakyReLU)
    assert make_activation("leaky_relu", alpha=0.3).alpha == 0.3
    assert isinstance(make_activation("linear"), Identity)
    assert set(ACTIVATIONS) >= {"sigmoid", "tanh", "relu", "leaky_relu", "softplus", "identity"}
    with pytest.raises(ValueError, match="make_activation: unknown activation 'gelu'"):
        make_activation("gelu")
    assert Sigmoid().output_shape((5, 1, 28, 28)) == (5, 1, 28, 28)
    assert list(Sigmoid().params()) == []


@pytest.mark.parametrize("alpha", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_leaky_relu_bad_alpha(alpha):
    with pytest.raises(ValueError, match="LeakyReLU: alpha must be a finite number >= 0"):
        LeakyReLU(alpha)


@pytest.mark.parametrize("make", ALL, ids=IDS)
@pytest.mark.parametrize(
    "x,error,match",
    [
        (np.zeros((2, 3), dtype=np.int32), TypeError, r"\.forward: expected a float32 or float64 array, .*int32"),
        (np.zeros((2, 3), dtype=np.complex64), TypeError, r"\.forward: expected a float32 .*complex64"),
        (np.zeros((2, 3), dtype=object), TypeError, r"\.forward: expected a float32 .*object"),
        (np.array([[1.0, np.nan]]), ValueError, r"\.forward: input contains 1 NaN/Inf"),
        (np.array([[1.0, -np.inf]]), ValueError, r"\.forward: input contains 1 NaN/Inf"),
        (np.zeros((0, 3)), ValueError, r"\.forward: got an empty batch"),
    ],
)
def test_bad_input(make, x, error, match):
    layer = make()
    with pytest.raises(error, match=type(layer).__name__ + r"\(.*\)" + match):
        layer.forward(x)


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_bad_backward(make):
    layer = make()
    with pytest.raises(RuntimeError, match=type(layer).__name__ + r"\(.*\)\.backward called before forward"):
        layer.backward(np.zeros((2, 3)))
    layer.forward(away_from_zero((2, 3)))
    with pytest.raises(ValueError, match=r"\.backward: dy has shape \(3, 2\), expected the output shape \(2, 3\)"):
        layer.backward(np.zeros((3, 2)))

"""Element-wise activations: Sigmoid, ReLU, LeakyReLU, Softplus, Tanh, Identity.

Each maps an array of any shape (N, ...) to one of the same shape, y = f(x), and its backward is the
chain rule element by element, dx = dy * f'(x). Each keeps the cheapest thing f' can be written in:

    Sigmoid    y = 1 / (1 + exp(-x))              f' = y (1 - y)          keeps y
    Tanh       y = tanh(x)                        f' = 1 - y^2            keeps y
    ReLU       y = max(x, 0)                      f' = [x > 0]            keeps the mask
    LeakyReLU  y = x if x > 0 else alpha x        f' = 1 or alpha         keeps the mask
    Softplus   y = log(1 + exp(x))                f' = sigmoid(x)         keeps x
    Identity   y = x                              f' = 1                  keeps nothing

The derivative at a kink (ReLU and LeakyReLU at exactly 0) is taken as the left one (0, resp. alpha).

``sigmoid(x)`` and ``softplus(x)``, the stable plain functions these layers call, live in
``tinyae.functional`` (the losses use them too) and are re-exported here.
"""

from __future__ import annotations

import math

from tinyae import kernels
from tinyae.backend import array_module, times_mask
from tinyae.functional import sigmoid, softplus
from tinyae.layers.base import Layer

__all__ = ["ACTIVATIONS", "Activation", "Identity", "LeakyReLU", "ReLU", "Sigmoid", "Softplus", "Tanh",
           "make_activation", "sigmoid", "softplus"]


class Activation(Layer):
    """Base of the element-wise activations: any input shape, output of the same shape, no Params."""


class Sigmoid(Activation):
    """Logistic sigmoid ``y = 1 / (1 + exp(-x))``; backward ``dx = dy * y * (1 - y)`` (keeps y)."""

    _cache_names = ("_y",)

    def __init__(self):
        self._y = None

    def forward(self, x, training: bool = False):
        self.check_input(x)
        self._y = sigmoid(x)
        return self._y

    def backward(self, dy):
        y = self._cached("_y")
        self.check_grad(dy, y.shape)
        return dy * y * (1 - y)


class Tanh(Activation):
    """Hyperbolic tangent ``y = tanh(x)``; backward ``dx = dy * (1 - y^2)`` (keeps y)."""

    _cache_names = ("_y",)

    def __init__(self):
        self._y = None

    def forward(self, x, training: bool = False):
        self.check_input(x)
        self._y = array_module(x).tanh(x)
        return self._y

    def backward(self, dy):
        y = self._cached("_y")
        self.check_grad(dy, y.shape)
        return dy * (1 - y * y)


class ReLU(Activation):
    """Rectified linear unit ``y = max(x, 0)``; backward ``dx = dy * [x > 0]`` (keeps the boolean mask)."""

    _cache_names = ("_mask",)

    def __init__(self):
        self._mask = None

    @kernels.hot_spot("ReLU.forward")  # the body is the reference; a twin of it may run (tinyae/kernels)
    def forward(self, x, training: bool = False):
        self.check_input(x)
        self._mask = x > 0  # a boolean array: a quarter of float32's memory
        return array_module(x).maximum(x, 0)

    def backward(self, dy):
        mask = self._cached("_mask")
        self.check_grad(dy, mask.shape)
        return times_mask(dy, mask)  # dy * [x > 0]


class LeakyReLU(Activation):
    """Leaky ReLU ``y = x if x > 0 else alpha * x``; backward ``dx = dy`` or ``alpha * dy`` (keeps the mask).

    alpha -- slope for x <= 0 (default 0.01), a finite number >= 0.
    """

    _cache_names = ("_mask",)

    def __init__(self, alpha: float = 0.01):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha < 0:
            raise ValueError(f"LeakyReLU: alpha must be a finite number >= 0, got {alpha!r}")
        self.alpha = float(alpha)  # a Python float keeps the input's dtype
        self._mask = None

    def forward(self, x, training: bool = False):
        self.check_input(x)
        self._mask = x > 0
        return array_module(x).where(self._mask, x, self.alpha * x)

    def backward(self, dy):
        mask = self._cached("_mask")
        self.check_grad(dy, mask.shape)
        return array_module(dy).where(mask, dy, self.alpha * dy)

    def config(self) -> dict:
        return {"alpha": self.alpha}

    def __repr__(self):
        return f"LeakyReLU(alpha={self.alpha})"


class Softplus(Activation):
    """Smooth ReLU ``y = log(1 + exp(x))``, computed as ``max(x, 0) + log1p(exp(-|x|))`` (no overflow).

    Backward ``dx = dy * sigmoid(x)`` (keeps x).
    """

    _cache_names = ("_x",)

    def __init__(self):
        self._x = None

    def forward(self, x, training: bool = False):
        self.check_input(x)
        self._x = x
        return softplus(x)

    def backward(self, dy):
        x = self._cached("_x")
        self.check_grad(dy, x.shape)
        return dy * sigmoid(x)


class Identity(Activation):
    """``y = x``, ``dx = dy`` (the linear output of a decoder trained with MSE or BCEWithLogits).

    Returns its input itself, not a copy: no layer modifies an array it was given or returned.
    """

    _cache_names = ("_shape",)

    def __init__(self):
        self._shape = None

    def forward(self, x, training: bool = False):
        self.check_input(x)
        self._shape = tuple(x.shape)  # only to check dy's shape
        return x

    def backward(self, dy):
        shape = self._cached("_shape")
        self.check_grad(dy, shape)
        return dy


ACTIVATIONS = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "softplus": Softplus,
    "identity": Identity,
    "linear": Identity,
}


def make_activation(name: str, **kwargs) -> Activation:
    """Build an activation layer from its name (the names ``Dense(init=...)`` also accepts)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"make_activation: unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name](**kwargs)

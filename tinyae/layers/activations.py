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

``sigmoid(x)`` is also a plain function here, the one stable sigmoid of the package (the losses use it).
"""

from __future__ import annotations

import math

from tinyae import kernels
from tinyae.backend import array_module, times_mask
from tinyae.layers.base import Layer


def sigmoid(x):
    """Numerically stable logistic function 1 / (1 + exp(-x)), for any shape and float dtype.

    ``exp(-x)`` overflows for x < -88 in float32. Both branches below only ever take exp(-|x|),
    which lies in (0, 1]:  sigmoid(x) = 1 / (1 + e) for x >= 0, and e / (1 + e) for x < 0, e = exp(-|x|).
    """
    xp = array_module(x)
    e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows (it may underflow to 0, which is the right limit)
    r = 1 / (1 + e)  # sigmoid(|x|)
    return xp.where(x >= 0, r, e * r)  # sigmoid(-|x|) = e / (1 + e) = 1 - sigmoid(|x|), without cancellation


def softplus(x):
    """Numerically stable log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))."""
    xp = array_module(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


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

    def forward(self, x, training: bool = False):
        self.check_input(x)
        if kernels.select_impl(x, caller=self) == "numba":  # CPU: the two lines below, one pass (kernels/fused_cpu.py)
            from tinyae.kernels.fused_cpu import relu_forward

            y, self._mask = relu_forward(x)
            return y
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

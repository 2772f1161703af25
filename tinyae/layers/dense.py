"""Fully connected layers: ``Dense`` and its weight-tied mirror ``TiedDense``.

Dense, for a batch of N row vectors::

    forward    y  = x @ W + b          x (N, in), W (in, out), b (out,), y (N, out)
    backward   dW = x.T @ dy           (in, N) @ (N, out) -> (in, out)
               db = sum_n dy[n]        (out,)
               dx = dy @ W.T           (N, out) @ (out, in) -> (N, in)

TiedDense is the decoder half of a tied autoencoder: it reuses the encoder's W, transposed::

    forward    y      = x @ W.T + b    x (N, out), W (in, out), b (in,), y (N, in)
    backward   dW    += dy.T @ x       (in, N) @ (N, out) -> (in, out)   [= (x.T @ dy).T]
               db     = sum_n dy[n]    (in,)
               dx     = dy @ W         (N, in) @ (in, out) -> (N, out)

Both layers ADD into ``W.grad``, so the shared Param ends up holding the sum of its two uses, which
is exactly the derivative of the loss with respect to a weight that appears twice.

``backward_params(dy)`` (= ``backward(dy, need_dx=False)``) computes dW and db only: the backward of a
model's first layer, whose input is data, so that its dx (a whole matrix product) is never computed.

Derivation, step by step: docs/layers/dense.md.
"""

from __future__ import annotations

import math

from tinyae import backend, kernels
from tinyae.layers.base import Layer, Param, check_positive_int, host_array, init_rng

# The two initialisation schemes and the activations each one is meant to feed.
#   he     : W ~ Normal(0, sqrt(2 / fan_in))                 keeps the variance through ReLU-like units,
#            which zero about half their inputs (He et al., 2015).
#   xavier : W ~ Uniform(-a, a), a = sqrt(6 / (fan_in + fan_out))   keeps the variance forward and backward
#            through units that are roughly linear near 0: sigmoid, tanh, identity (Glorot & Bengio, 2010).
INIT_SCHEMES = {
    "he": "he",
    "relu": "he",
    "leaky_relu": "he",
    "softplus": "he",
    "xavier": "xavier",
    "sigmoid": "xavier",
    "tanh": "xavier",
    "identity": "xavier",
    "linear": "xavier",
}


def init_weights(shape, fan_in: float, fan_out: float, init: str, seed, dtype):
    """Draw weights of ``shape`` on the host with NumPy's Generator (see INIT_SCHEMES):

        he     : Normal(0, sqrt(2 / fan_in))
        xavier : Uniform(-a, a), a = sqrt(6 / (fan_in + fan_out))

    Dense draws an (in, out) matrix (fan_in = in, fan_out = out), Conv2D a filter bank (F, C, KH, KW).
    Drawn in float64 and then cast, so a float32 and a float64 layer with the same seed start from
    the same weights (up to rounding).
    """
    rng = init_rng(seed)
    if INIT_SCHEMES[init] == "he":
        values = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)
    else:
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        values = rng.uniform(-limit, limit, size=shape)
    return host_array(values, dtype)


class Dense(Layer):
    """Fully connected layer ``y = x @ W + b`` (x: (N, in) -> y: (N, out)).

    Arguments
    ---------
    in_features, out_features -- sizes of x's and y's feature axis.
    init  -- how W is drawn (b starts at zero). Either a scheme, "he" or "xavier", or the name of the
             activation that follows this layer, which picks the scheme suited to it:
               "relu", "leaky_relu", "softplus"             -> "he":     Normal(0, sqrt(2 / fan_in)).
                   A ReLU zeroes about half its inputs, halving the signal's variance; the factor 2
                   puts it back, so deep ReLU stacks neither explode nor die at the start.
               "sigmoid", "tanh", "identity"/"linear"       -> "xavier": Uniform(-a, a), a = sqrt(6 / (in + out)).
                   These are close to linear around 0; Glorot's choice keeps the variance of both the
                   activations (forward, fan_in) and the gradients (backward, fan_out) roughly constant.
             Default "xavier" (the safe choice for the sigmoid/identity outputs of a decoder).
    bias  -- add the bias b (True) or not.
    seed  -- int, None or a numpy Generator for the weights (drawn on the host, then moved with ``.to``).
    dtype -- float32 (training, default) or float64 (gradient checks).

    Params: ``W`` (in, out) then ``b`` (out,).
    """

    _cache_names = ("_x",)

    def __init__(self, in_features: int, out_features: int, *, init: str = "xavier", bias: bool = True,
                 seed=None, dtype=backend.DEFAULT_DTYPE):
        self.in_features = check_positive_int(in_features, "in_features", "Dense")
        self.out_features = check_positive_int(out_features, "out_features", "Dense")
        if init not in INIT_SCHEMES:
            raise ValueError(f"Dense: init must be one of {sorted(INIT_SCHEMES)}, got {init!r}")
        dtype = backend.check_float_dtype(dtype, "Dense")
        self.init = init
        self.use_bias = bool(bias)
        W = init_weights((self.in_features, self.out_features), self.in_features, self.out_features, init, seed, dtype)
        self.W = Param(W, "W")
        self.b = Param(host_array([0.0] * self.out_features, dtype), "b") if self.use_bias else None
        self._x = None

    def params(self):
        yield self.W
        if self.b is not None:
            yield self.b

    def forward(self, x, training: bool = False):
        self.check_input(x, ndim=2, tail=(self.in_features,))
        self._x = x  # backward needs x for dW
        y = x @ self.W.value  # (N, in) @ (in, out) -> (N, out)
        if self.b is not None:
            y += self.b.value  # (out,) broadcast over the batch; y is fresh, so in place is safe
        return y

    @kernels.hot_spot("Dense.backward")  # the body is the reference; a twin of it may run (tinyae/kernels)
    def backward(self, dy, need_dx: bool = True):
        x = self._cached("_x")
        self.check_grad(dy, (x.shape[0], self.out_features))
        xp = backend.array_module(dy)
        self.W.grad += x.T @ dy  # (in, N) @ (N, out) -> (in, out)
        if self.b is not None:
            self.b.grad += xp.sum(dy, axis=0)  # (out,)
        if need_dx:  # False for a first layer, whose input is data (backward_params)
            return dy @ self.W.value.T  # (N, out) @ (out, in) -> (N, in)
        return None

    def backward_params(self, dy):
        """dW and db, and no dx: one matrix product fewer (see Layer.backward_params)."""
        self.backward(dy, need_dx=False)

    def output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 2 or input_shape[1] != self.in_features:
            raise ValueError(f"{self!r}: expected an input shape (N, {self.in_features}), got {tuple(input_shape)}")
        return (input_shape[0], self.out_features)

    def config(self) -> dict:
        # The dtype is not part of the config: a saved model stores it with its arrays.
        return {"in_features": self.in_features, "out_features": self.out_features,
                "init": self.init, "bias": self.use_bias}

    def __repr__(self):
        extra = "" if self.use_bias else ", bias=False"
        return f"Dense({self.in_features} -> {self.out_features}{extra})"


class TiedDense(Layer):
    """Decoder layer tied to an encoder ``Dense``: ``y = x @ W.T + b`` with the encoder's own W.

    x: (N, encoder.out_features) -> y: (N, encoder.in_features). ``params()`` yields the encoder's
    ``W`` Param (the very same object, so an optimizer that deduplicates by identity updates it once
    with the sum of both gradients), then this layer's own bias ``b``.

    Arguments
    ---------
    encoder -- the Dense layer whose weights are shared.
    bias    -- add a bias b of shape (encoder.in_features,) (starts at zero).
    seed    -- accepted so every layer builder takes a seed; nothing is drawn (W is the encoder's, b is zero).

    Saving: the encoder is a layer, not a number, so ``config()`` cannot hold it. It holds ``encoder_position``,
    the position of the encoder in the model's flat list of layers. The model fills it (it knows the
    positions: the encoder is the layer ``l`` with ``l is tied.encoder``) before saving, and on loading
    rebuilds ``TiedDense(layers[encoder_position], bias=...)``. A standalone TiedDense has ``encoder_position = None``.
    """

    _cache_names = ("_x",)

    def __init__(self, encoder: Dense, *, bias: bool = True, seed=None):
        if not isinstance(encoder, Dense):
            raise TypeError(f"TiedDense: encoder must be a Dense layer, got {type(encoder).__name__}")
        self.encoder = encoder  # its W is this layer's W (the property below): shared, not copied
        self.use_bias = bool(bias)
        self.b = Param(host_array([0.0] * encoder.in_features, encoder.W.value.dtype), "b") if self.use_bias else None
        if self.b is not None:
            self.b.to(backend.device_of(encoder.W.value))
        self.encoder_position = None  # position of the encoder in the model, filled by the model (see the docstring)
        self._x = None

    @property
    def W(self) -> Param:
        """The encoder's own W Param (read-only here: one Param, so the tie cannot come undone)."""
        return self.encoder.W

    @property
    def in_features(self) -> int:
        return self.encoder.out_features

    @property
    def out_features(self) -> int:
        return self.encoder.in_features

    def params(self):
        yield self.W
        if self.b is not None:
            yield self.b

    def forward(self, x, training: bool = False):
        self.check_input(x, ndim=2, tail=(self.in_features,))
        self._x = x  # backward needs x for dW
        y = x @ self.W.value.T  # (N, out) @ (out, in) -> (N, in)
        if self.b is not None:
            y += self.b.value  # (in,) broadcast over the batch
        return y

    @kernels.hot_spot("TiedDense.backward")  # the body is the reference; a twin of it may run (tinyae/kernels)
    def backward(self, dy, need_dx: bool = True):
        x = self._cached("_x")
        self.check_grad(dy, (x.shape[0], self.out_features))
        xp = backend.array_module(dy)
        # d/dW of sum(dy * (x @ W.T)) is (x.T @ dy).T = dy.T @ x; added to what the encoder adds.
        self.W.grad += dy.T @ x  # (in, N) @ (N, out) -> (in, out)
        if self.b is not None:
            self.b.grad += xp.sum(dy, axis=0)  # (in,)
        if need_dx:  # False for a first layer (backward_params)
            return dy @ self.W.value  # (N, in) @ (in, out) -> (N, out)
        return None

    def backward_params(self, dy):
        """dW and db, and no dx (see Layer.backward_params)."""
        self.backward(dy, need_dx=False)

    def output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 2 or input_shape[1] != self.in_features:
            raise ValueError(f"{self!r}: expected an input shape (N, {self.in_features}), got {tuple(input_shape)}")
        return (input_shape[0], self.out_features)

    def config(self) -> dict:
        return {"encoder_position": self.encoder_position, "bias": self.use_bias}

    def __repr__(self):
        extra = "" if self.use_bias else ", bias=False"
        return f"TiedDense({self.in_features} -> {self.out_features}, tied{extra})"

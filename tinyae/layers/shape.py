"""Shape layers: ``Flatten`` and ``Reshape``, the glue between convolutional and dense layers.

Both only re-index the same numbers, so the backward pass is the inverse re-indexing:

    Flatten   forward  y = x as (N, prod(rest))       backward  dx = dy as x's shape
    Reshape   forward  y = x as (N, *target_shape)    backward  dx = dy as x's shape

The batch axis N is never touched: the shapes given are per sample.
"""

from __future__ import annotations

import math

from tinyae.backend import array_module
from tinyae.layers.base import Layer


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...), e.g. a conv feature map (N, C, H, W) -> (N, C*H*W)."""

    _cache_names = ("_x_shape",)

    def __init__(self):
        self._x_shape = None

    def forward(self, x, training: bool = False):
        self.check_input(x)
        if x.ndim < 2:
            raise ValueError(f"{self!r}.forward: expected an array (N, ...) with at least 2 axes, got shape {x.shape}")
        self._x_shape = tuple(x.shape)
        return array_module(x).reshape(x, (x.shape[0], -1))  # a view when x is contiguous

    def backward(self, dy):
        x_shape = self._cached("_x_shape")
        self.check_grad(dy, (x_shape[0], math.prod(x_shape[1:])))
        return array_module(dy).reshape(dy, x_shape)

    def output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        if len(shape) < 2:
            raise ValueError(f"{self!r}: expected an input shape (N, ...) with at least 2 axes, got {shape}")
        return (shape[0], math.prod(shape[1:]))


class Reshape(Layer):
    """(N, ...) -> (N, *target_shape), e.g. Reshape((8, 7, 7)) turns (N, 392) into (N, 8, 7, 7).

    target_shape -- the shape of ONE sample (ints >= 1; no -1: the shapes of a model are spelled out).
    The input's per-sample size must equal prod(target_shape).
    """

    _cache_names = ("_x_shape",)

    def __init__(self, target_shape):
        shape = tuple(target_shape) if isinstance(target_shape, (tuple, list)) else (target_shape,)
        if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape):
            raise ValueError(f"Reshape: target_shape must be a non-empty tuple of positive ints (per sample, "
                             f"without the batch axis), got {target_shape!r}")
        self.target_shape = shape
        self._x_shape = None

    def _check_size(self, shape, where):
        if len(shape) < 2 or math.prod(shape[1:]) != math.prod(self.target_shape):
            raise ValueError(f"{where}: cannot reshape an input of shape {tuple(shape)} to (N, "
                             f"{', '.join(map(str, self.target_shape))}): each sample has "
                             f"{math.prod(shape[1:]) if len(shape) > 1 else 0} values, the target needs "
                             f"{math.prod(self.target_shape)}")

    def forward(self, x, training: bool = False):
        self.check_input(x)
        self._check_size(x.shape, f"{self!r}.forward")
        self._x_shape = tuple(x.shape)
        return array_module(x).reshape(x, (x.shape[0],) + self.target_shape)

    def backward(self, dy):
        x_shape = self._cached("_x_shape")
        self.check_grad(dy, (x_shape[0],) + self.target_shape)
        return array_module(dy).reshape(dy, x_shape)

    def output_shape(self, input_shape: tuple) -> tuple:
        self._check_size(tuple(input_shape), repr(self))
        return (input_shape[0],) + self.target_shape

    def config(self) -> dict:
        return {"target_shape": list(self.target_shape)}

    def __repr__(self):
        return f"Reshape({self.target_shape})"

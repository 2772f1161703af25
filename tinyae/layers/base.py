"""The contract every layer follows: ``Param`` and ``Layer``.

A layer is a pair of functions and the parameters they share:

    y  = layer.forward(x, training=False)   # keeps on self exactly what backward needs
    dx = layer.backward(dy)                 # dy = dL/dy, returns dx = dL/dx and ADDS dL/dW into W.grad
    layer.backward_params(dy)               # the same additions into W.grad, and no dx

``backward`` never changes a parameter's value: updating is the optimizer's job, so the same
``backward`` can be checked against finite differences. Because gradients are added (``+=``), a
Param used twice (tied weights) collects the sum of both uses; call ``zero_grad()`` between steps.

``backward_params`` is for a layer whose input is data, the first layer of a model: nobody needs
dL/dx there, and for a dense or convolutional layer dx is a whole matrix product (for the dense
autoencoder 784-256-64-256-784, 15% of a training step's products). By default it is ``backward``
with dx thrown away, so every layer has it; Dense and Conv2D skip the work. A model's training step
calls it on its encoder (``Sequential.backward_params``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinyae import backend, kernels


class Param:
    """A trainable array: ``value`` and its gradient ``grad`` (same shape, dtype and device), and a ``name``.

    A backward ADDS into ``grad`` (``W.grad += x.T @ dy``), so a Param used twice (tied weights) holds
    the sum of both uses; ``zero_grad()`` sets it back to zeros before the next step.
    """

    def __init__(self, value, name: str):
        if value.dtype.kind != "f":
            raise TypeError(f"Param {name!r}: value must be a float array, got dtype {value.dtype}")
        self.value = value
        self.grad = backend.array_module(value).zeros_like(value)
        self.name = name

    @property
    def shape(self):
        return self.value.shape

    @property
    def size(self) -> int:
        return int(self.value.size)

    def zero_grad(self):
        """grad <- 0, in place.

        On the default CPU path a model's zero_grad() has a fast twin (tinyae/kernels: the zero_grad twin) that
        only marks the gradient as zero and writes the zeros when ``grad`` is next read; the Param then
        shows as a LazyZeroParam. Read ``p.grad`` afresh after zero_grad() (every tinyae reader does); an
        array taken from it before keeps its old numbers until then. The teaching switch turns it off."""
        self.grad[...] = 0

    def astype(self, dtype):
        """Cast value and grad to ``dtype`` in place (the Param object, and so any tie, stays the same)."""
        self.value = self.value.astype(dtype)
        self.grad = self.grad.astype(dtype)
        return self

    def to(self, device: str):
        """Move value and grad to ``device`` ('cpu' or 'gpu') in place."""
        self.value = backend.to_device(self.value, device)
        self.grad = backend.to_device(self.grad, device)
        return self

    def __repr__(self):
        return f"Param({self.name!r}, shape={tuple(self.shape)}, dtype={self.value.dtype})"


class Layer:
    """Base class of all layers. Subclasses implement ``forward`` and ``backward``.

    Subclasses with parameters override ``params()`` to yield them in a fixed order. Layers that hold
    sub-layers override ``children()``. A stochastic layer keeps its ``numpy.random.Generator`` in
    ``self.rng`` (gradient checking re-seeds it before every evaluation so the noise is fixed).
    """

    training = False  # set by forward(..., training=...) in stochastic layers; kept for summary/repr

    # -- the contract ---------------------------------------------------------------------------
    def forward(self, x, training: bool = False):
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, dy):
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def backward_params(self, dy):
        """Only the parameter gradients: ADDS into every ``param.grad`` exactly what ``backward`` adds,
        returns None. For a layer whose input is data, where dx = dL/dx is never used. This default
        runs ``backward`` and drops dx; layers whose dx costs real work override it to skip that work
        (tests/test_perf_paths.py checks that both give identical gradients)."""
        self.backward(dy)

    def params(self):
        """Yield this layer's Params in a fixed order (none by default)."""
        return iter(())

    def children(self):
        """Sub-layers (none by default); used to walk a model."""
        return ()

    # -- conveniences built on the contract -------------------------------------------------------
    def __call__(self, x, training: bool = False):
        return self.forward(x, training=training)

    @kernels.hot_spot("Layer.zero_grad", on=lambda layer: next((p.value for p in layer.params()), None))
    def zero_grad(self):  # the body is the reference; a twin may run (tinyae/kernels)
        for p in self.params():
            p.zero_grad()

    def num_params(self) -> int:
        return sum(p.size for p in self.params())

    def output_shape(self, input_shape: tuple) -> tuple:
        """Shape of the output for an input of ``input_shape`` (batch axis included). Default: same."""
        return tuple(input_shape)

    @property
    def dtype(self):
        """The dtype of this layer's parameters (None for a layer without any)."""
        for p in self.params():
            return p.value.dtype
        return None

    def astype(self, dtype):
        """Cast every Param to ``dtype`` (float32 to train, float64 to gradient-check); drops the cache."""
        dtype = backend.check_float_dtype(dtype, f"{type(self).__name__}.astype")
        for p in self.params():
            p.astype(dtype)
        for child in self.children():
            child.astype(dtype)
        self.clear_cache()
        return self

    def to(self, device: str):
        """Move every Param to ``device`` ('cpu' or 'gpu'); drops the cache."""
        for p in self.params():
            p.to(device)
        for child in self.children():
            child.to(device)
        self.clear_cache()
        return self

    def clear_cache(self):
        """Forget what forward kept for backward: the attributes listed in ``_cache_names``, and what a
        fast twin kept (its attributes are named ``_twin_...``; tinyae/kernels)."""
        forget_cache(self)

    def _cached(self, name: str):
        """Return what forward kept under ``name``, or explain that backward came before forward."""
        return cached(self, name)

    def check_input(self, x, ndim=None, tail=None):
        """Refuse bad input with a message naming this layer (see ``backend.check_array``)."""
        return backend.check_array(x, f"{self!r}.forward", ndim=ndim, tail=tail, dtype=self.dtype)

    def check_grad(self, dy, shape):
        """Refuse an upstream gradient whose shape is not the output's."""
        backend.check_array(dy, f"{self!r}.backward", dtype=self.dtype, finite=False)
        if tuple(dy.shape) != tuple(shape):
            raise ValueError(
                f"{self!r}.backward: dy has shape {tuple(dy.shape)}, expected the output shape {tuple(shape)}"
            )
        return dy

    def config(self) -> dict:
        """The constructor arguments that rebuild this layer (for saving). Override in subclasses."""
        return {}

    def __repr__(self):
        return f"{type(self).__name__}()"


def unique_params(params, where: str) -> list:
    """The Params of ``params`` (an iterable of Params, or a layer/model: all its Params) in order, each
    once (by identity): a tied Param is listed where it first appears, so an optimizer updates it once,
    with the sum of its uses' gradients. Anything else than a Param: a TypeError naming ``where``."""
    if hasattr(params, "params") and callable(params.params):
        params = params.params()
    unique, seen = [], set()
    for p in params:
        if not isinstance(p, Param):
            raise TypeError(f"{where}: expected Params (e.g. model.params()), got a {type(p).__name__}")
        if id(p) not in seen:
            seen.add(id(p))
            unique.append(p)
    return unique


def forget_cache(obj):
    """Set ``obj``'s ``_cache_names`` to None and drop what a fast twin kept on it (``_twin_...``)."""
    for name in getattr(obj, "_cache_names", ()):
        setattr(obj, name, None)
    for name in [n for n in vars(obj) if n.startswith("_twin_")]:
        delattr(obj, name)


def cached(obj, name: str):
    """What ``obj``'s forward kept under ``name`` (a layer's or a loss's), or a RuntimeError saying that backward
    came before forward; when a fast twin ran the forward, also how the two can differ."""
    value = getattr(obj, name, None)
    if value is None:
        hint = ("; the forward ran a fast twin, which keeps other things: run forward and backward under the "
                "same kernels setting (tinyae.kernels.use / TINYAE_KERNELS)"
                if any(n.startswith("_twin_") for n in vars(obj)) else "")
        raise RuntimeError(f"{obj!r}.backward called before forward (nothing cached in '{name}'){hint}")
    return value


def check_positive_int(value, name: str, where: str) -> int:
    """``value`` as an int >= 1 (a size: features, channels; a Python or NumPy integer, not a bool), or a
    ValueError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return int(value)


def check_number(value, name: str, where: str, low=None, high=None, *, low_open=False, high_open=False) -> float:
    """``value`` (a Python or NumPy real, not a bool) as a finite float in the interval from ``low`` to
    ``high`` (None: unbounded; an end is excluded when ``low_open`` / ``high_open``), or a ValueError
    naming ``where``, what is allowed and what came in. A Python float keeps the arrays' dtype in
    arithmetic (a NumPy float64 scalar would up-cast float32)."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        span = (f"{'(' if low_open or low is None else '['}{'-inf' if low is None else low}, "
                f"{'inf' if high is None else high}{')' if high_open or high is None else ']'}")
        raise ValueError(f"{where}: {name} must be a finite number in {span}, got {value!r}")
    return float(value)


def init_rng(seed):
    """The Generator a layer draws its initial weights from (always NumPy, on the host)."""
    return backend.make_rng(seed)


def host_array(values, dtype):
    """A float array made on the host (NumPy); layers are moved to the GPU with ``.to('gpu')``."""
    return np.asarray(values, dtype=dtype)

"""The hot loops of the convolutional layers, and which twin runs them.

Four kernels, each in three twins with the same arguments and the same results:

    im2col(x, KH, KW, stride, padding)                     x (N, C, H, W)   -> col (C*KH*KW, N*OH*OW)
    col2im(col, x_shape, KH, KW, stride, padding)          col              -> dx (x_shape), overlaps added
    maxpool_forward(x, KH, KW, stride, padding)            x                -> y (N, C, OH, OW), argmax (int32)
    maxpool_backward(dy, argmax, x_shape, KH, KW, stride, padding)         -> dx (x_shape)

stride and padding are ints or pairs (along H, along W). The col layout is documented in reference.py:
row (c*KH + i)*KW + j, column (n*OH + oh)*OW + ow, so a convolution is one product W_mat @ col.
argmax is the winner's flat offset i*KW + j inside its window (ties: the first maximum in row-major
window order wins).

Which twin (all three are tested against each other):

    reference -- reference.py, readable whole-array NumPy code; runs on any array module
    numba     -- numba_cpu.py, compiled loops; C-contiguous NumPy float32/float64 arrays only
    cupy      -- cupy_gpu.py, CUDA kernels for CuPy arrays

By default the array decides: a CuPy array -> cupy; a C-contiguous float32/float64 NumPy array ->
numba; anything else -> reference. ``impl="reference" | "numba" | "cupy"`` forces one for a call, and
the environment variable ``TINYAE_KERNELS`` (read at every call) forces one for the whole run, e.g.
``TINYAE_KERNELS=reference pytest`` to step through the teaching code. The argument wins over the
variable. The Numba and CuPy modules are imported on first use only.
"""

from __future__ import annotations

import importlib
import os

import numpy as np

from tinyae import backend
from tinyae.kernels.shapes import as_pair, conv_output_size, conv_transpose_output_size

__all__ = ["im2col", "col2im", "maxpool_forward", "maxpool_backward", "select_impl", "IMPLS", "ENV_VAR",
           "conv_output_size", "conv_transpose_output_size"]

IMPLS = ("reference", "numba", "cupy")
ENV_VAR = "TINYAE_KERNELS"
_MODULES = {"reference": "tinyae.kernels.reference", "numba": "tinyae.kernels.numba_cpu",
            "cupy": "tinyae.kernels.cupy_gpu"}


def _numba_ok(*arrays) -> bool:
    """Whether the numba twin can take these arrays: C-contiguous NumPy arrays, float32/float64 data first."""
    return (all(isinstance(a, np.ndarray) and a.flags.c_contiguous for a in arrays)
            and arrays[0].dtype in backend.FLOAT_DTYPES)


def select_impl(*arrays, impl=None, caller=None) -> str:
    """The name of the twin that runs a kernel on ``arrays`` (the first one is the data array).

    ``caller`` (a layer, or a name) is who asks: errors name it, so a user who forced a twin with
    TINYAE_KERNELS learns which layer got an array that twin cannot take.
    """
    choice = impl if impl is not None else (os.environ.get(ENV_VAR, "").strip().lower() or None)
    data = arrays[0]
    on_gpu = backend.is_cupy_array(data)
    if choice in (None, "auto"):
        if on_gpu:
            return "cupy"
        return "numba" if _numba_ok(*arrays) else "reference"
    # Only the errors below need the caller's name (a layer's repr is built here, not on every call).
    where = "tinyae.kernels" if caller is None else caller if isinstance(caller, str) else repr(caller)
    if choice not in IMPLS:
        source = "impl" if impl is not None else f"the environment variable {ENV_VAR}"
        raise ValueError(f"{where}: {source} must be one of {IMPLS} or 'auto', got {choice!r}")
    if choice == "numba" and not _numba_ok(*arrays):
        def layout(a):
            contiguous = getattr(getattr(a, "flags", None), "c_contiguous", False)
            return f"{type(a).__name__} {a.dtype}" + ("" if contiguous else " (not C-contiguous)")

        layouts = ", ".join(layout(a) for a in arrays)
        raise TypeError(f"{where}: the numba kernels take C-contiguous NumPy float32/float64 arrays, got "
                        f"{layouts} (make them np.ascontiguousarray, or let tinyae choose: impl=None, {ENV_VAR}=auto)")
    if choice == "cupy" and not on_gpu:
        raise TypeError(f"{where}: the cupy kernels take CuPy arrays, got {type(data).__name__}")
    return choice


def _twin(name: str):
    return importlib.import_module(_MODULES[name])


def _check_4d(a, name, where):
    if len(a.shape) != 4:
        raise ValueError(f"{where}: {name} must be 4-D (N, C, H, W), got shape {tuple(a.shape)}")


def _geometry(x_shape, KH, KW, stride, padding, where):
    """Normalise the window arguments and return them with the output size (OH, OW)."""
    kernel = as_pair((KH, KW), "kernel size", where)
    stride = as_pair(stride, "stride", where)
    padding = as_pair(padding, "padding", where, minimum=0)
    OH = conv_output_size(x_shape[2], kernel[0], stride[0], padding[0], where=where, axis="height")
    OW = conv_output_size(x_shape[3], kernel[1], stride[1], padding[1], where=where, axis="width")
    return kernel, stride, padding, (OH, OW)


def im2col(x, KH, KW, stride=1, padding=0, *, impl=None):
    """Unfold x (N, C, H, W) into col (C*KH*KW, N*OH*OW); see reference.im2col."""
    _check_4d(x, "x", "im2col")
    (KH, KW), stride, padding, _ = _geometry(x.shape, KH, KW, stride, padding, "im2col")
    return _twin(select_impl(x, impl=impl)).im2col(x, KH, KW, stride, padding)


def col2im(col, x_shape, KH, KW, stride=1, padding=0, *, impl=None):
    """Fold col (C*KH*KW, N*OH*OW) back onto an array of ``x_shape``, adding overlaps; see reference.col2im."""
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"col2im: x_shape must be (N, C, H, W), got {x_shape}")
    (KH, KW), stride, padding, (OH, OW) = _geometry(x_shape, KH, KW, stride, padding, "col2im")
    N, C = x_shape[0], x_shape[1]
    expected = (C * KH * KW, N * OH * OW)
    if tuple(col.shape) != expected:
        raise ValueError(f"col2im: col must have shape (C*KH*KW, N*OH*OW) = {expected} for x_shape {x_shape}, "
                         f"kernel {(KH, KW)}, stride {stride}, padding {padding}; got {tuple(col.shape)}")
    return _twin(select_impl(col, impl=impl)).col2im(col, x_shape, KH, KW, stride, padding)


def maxpool_forward(x, KH, KW, stride=None, padding=0, *, impl=None):
    """Max over KH x KW windows (stride defaults to the kernel): (y, argmax); see reference.maxpool_forward."""
    _check_4d(x, "x", "maxpool_forward")
    stride = (KH, KW) if stride is None else stride
    (KH, KW), stride, padding, _ = _geometry(x.shape, KH, KW, stride, padding, "maxpool_forward")
    if padding[0] > KH // 2 or padding[1] > KW // 2:
        raise ValueError(f"maxpool_forward: padding {padding} must be at most half the kernel {(KH, KW)}, "
                         f"or a window could hold padding only")
    return _twin(select_impl(x, impl=impl)).maxpool_forward(x, KH, KW, stride, padding)


def maxpool_backward(dy, argmax, x_shape, KH, KW, stride=None, padding=0, *, impl=None):
    """dx of shape x_shape: each dy entry added to its window's winner; see reference.maxpool_backward."""
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"maxpool_backward: x_shape must be (N, C, H, W), got {x_shape}")
    stride = (KH, KW) if stride is None else stride
    (KH, KW), stride, padding, (OH, OW) = _geometry(x_shape, KH, KW, stride, padding, "maxpool_backward")
    expected = x_shape[:2] + (OH, OW)
    if tuple(dy.shape) != expected or tuple(argmax.shape) != expected:
        raise ValueError(f"maxpool_backward: dy and argmax must have the pooled shape {expected}, "
                         f"got {tuple(dy.shape)} and {tuple(argmax.shape)}")
    return _twin(select_impl(dy, argmax, impl=impl)).maxpool_backward(dy, argmax, x_shape, KH, KW, stride, padding)

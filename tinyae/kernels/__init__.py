"""Where the fast twins are chosen: the one dispatch point of tinyae, and the teaching switch.

The code a student reads is the code that runs: every layer's ``forward``/``backward``, every loss and
every optimizer update is written as its derivation reads (docs/layers/, docs/losses.md, docs/optim.md),
and that is what runs on the reference path. Some of those lines have a FAST TWIN -- the same numbers,
computed by a compiled loop (Numba), a CUDA kernel (CuPy) or another algorithm -- and this module, and
only this module, decides which runs. Two kinds of hot spot:

1. Kernels called by name, the same call on every path (the layer's line IS the derivation's line):

    im2col(x, KH, KW, stride, padding)                     x (N, C, H, W)   -> col (C*KH*KW, N*OH*OW)
    col2im(col, x_shape, KH, KW, stride, padding)          col              -> dx (x_shape), overlaps added
    maxpool_forward(x, KH, KW, stride, padding)            x                -> y (N, C, OH, OW), argmax (int32)
    maxpool_backward(dy, argmax, x_shape, KH, KW, stride, padding)         -> dx (x_shape)

   stride and padding are ints or pairs (along H, along W). The col layout is documented in reference.py:
   row (c*KH + i)*KW + j, column (n*OH + oh)*OW + ow, so a convolution is one product W_mat @ col.
   argmax is the winner's flat offset i*KW + j inside its window (ties: the first maximum in row-major
   window order wins).

2. Methods marked ``@kernels.hot_spot("Class.method")``: the method body is the reference; a twin
   registered for that name with ``@kernels.twin("Class.method", impl, accepts=...)`` takes the same
   arguments (the layer, loss or optimizer first), leaves the object in the same state and returns the
   same result. Today: ``ReLU.forward``, ``Upsample2D.forward``/``backward`` (nearest),
   ``BCEWithLogits.forward``/``backward``, ``Adam.step`` (all Params in one loop),
   ``Layer.zero_grad`` and ``Dense``/``TiedDense.backward`` (zeros written lazily, dW written in place)
   and ``Conv2D.forward``/``backward`` (the flipped route, kernels/conv_routes.py).

Which twin runs (all are tested against the reference):

    reference -- the readable code: reference.py for the kernels, the method bodies for the hot spots
    numba     -- numba_cpu.py and fused_cpu.py: compiled loops for C-contiguous NumPy float32/float64
                 arrays; conv_routes.py: the flipped convolution route (NumPy, any C-contiguous array)
    cupy      -- cupy_gpu.py, CUDA kernels for CuPy arrays

By default the array decides: a CuPy array -> cupy; a C-contiguous float32/float64 NumPy array ->
numba; anything else -> reference. A method twin may also decline a call it does not cover (its
``accepts``), and then the method body runs.

The teaching switch forces the reference everywhere (im2col conv, textbook ReLU, upsampling, BCE, Adam):

    TINYAE_KERNELS=reference python train.py           # for a whole run (read at every call)
    with tinyae.kernels.use("reference"): ...          # for a block of code (wins over the variable)

In that mode Numba is never imported, and a debugger's "step into" goes from ``layer.forward(x)``
through ``dispatch`` below (one line) straight into the lines the docs derive. ``impl=`` on a kernel
call wins over both. "numba" and "cupy" force a twin where its arrays allow (else a clear error).
The Numba and CuPy modules are imported on first use only.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os

import numpy as np

from tinyae import backend
from tinyae.kernels.shapes import as_pair, conv_output_size, conv_transpose_output_size

__all__ = ["im2col", "col2im", "maxpool_forward", "maxpool_backward", "select_impl", "IMPLS", "ENV_VAR",
           "conv_output_size", "conv_transpose_output_size", "use", "hot_spot", "twin", "twin_for"]

IMPLS = ("reference", "numba", "cupy")
ENV_VAR = "TINYAE_KERNELS"
_KERNEL_MODULES = {"reference": "tinyae.kernels.reference", "numba": "tinyae.kernels.numba_cpu",
                   "cupy": "tinyae.kernels.cupy_gpu"}
# The modules that register method twins (``@twin``), imported the first time a hot spot meets their arrays.
_TWIN_MODULES = {"reference": (), "numba": ("tinyae.kernels.fused_cpu", "tinyae.kernels.conv_routes"),
                 "cupy": ("tinyae.kernels.conv_routes", "tinyae.kernels.cupy_gpu")}
_forced = None  # set by ``use()``: wins over the environment variable


def _numba_ok(*arrays) -> bool:
    """Whether the numba twin can take these arrays: C-contiguous NumPy arrays, float32/float64 data first."""
    return (all(isinstance(a, np.ndarray) and a.flags.c_contiguous for a in arrays)
            and arrays[0].dtype in backend.FLOAT_DTYPES)


def select_impl(*arrays, impl=None, caller=None) -> str:
    """The name of the twin that runs a kernel on ``arrays`` (the first one is the data array).

    ``caller`` (a layer, or a name) is who asks: errors name it, so a user who forced a twin with
    TINYAE_KERNELS learns which layer got an array that twin cannot take.
    """
    choice = impl if impl is not None else _switch()
    data = arrays[0]
    if (choice is None or choice == "auto") and len(arrays) == 1 and type(data) is np.ndarray:  # the usual case
        return "numba" if data.flags.c_contiguous and data.dtype in backend.FLOAT_DTYPES else "reference"
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


def _switch():
    """What the teaching switch says: ``use()``'s choice, else TINYAE_KERNELS, else None (the array decides)."""
    if _forced is not None:
        return _forced
    value = os.environ.get(ENV_VAR)  # read at every call (about 1 us): a test or a notebook may set it any time
    return (value.strip().lower() or None) if value else None


@contextlib.contextmanager
def use(impl: str):
    """Force the twin of every kernel and hot spot inside a ``with`` block: "reference" (the teaching
    switch: every derived line runs, Numba is not imported), "auto" (the array decides), "numba" or "cupy".

        with tinyae.kernels.use("reference"):
            model.loss_and_backward(x)     # step into it with a debugger: the derivation's lines
    """
    global _forced
    choice = str(impl).strip().lower()
    if choice not in IMPLS + ("auto",):
        raise ValueError(f"tinyae.kernels.use: impl must be one of {IMPLS} or 'auto', got {impl!r}")
    before, _forced = _forced, choice
    try:
        yield
    finally:
        _forced = before


def _kernel_module(impl: str):
    """The module holding the kernels of twin ``impl`` (reference.py, numba_cpu.py or cupy_gpu.py)."""
    return importlib.import_module(_KERNEL_MODULES[impl])


# --------------------------------------------------------------------------------------------------
# Method hot spots: a method body is the reference, a registered twin may run instead
# --------------------------------------------------------------------------------------------------

_TWINS = {}  # (hot spot name, impl) -> (twin function, accepts predicate)
_loaded = set()  # impls whose twin modules have been imported


def twin(name: str, impl: str, accepts=None):
    """Register the decorated function as the ``impl`` twin of hot spot ``name``.

    The twin takes exactly the method's arguments (the object first) and must leave the object in the
    state the method body would, and return the same result (tests compare them). ``accepts(*args,
    **kwargs) -> bool`` says whether it covers this call (default: always); when it does not, the
    method body runs. For the GPU, register an impl="cupy" twin in cupy_gpu.py with the same signature.
    """
    if impl not in ("numba", "cupy"):
        raise ValueError(f"tinyae.kernels.twin: impl must be 'numba' or 'cupy', got {impl!r}")

    def register(function):
        _TWINS[(name, impl)] = (function, accepts)
        return function

    return register


def twin_for(name: str, impl: str):
    """The ``impl`` twin registered for hot spot ``name`` (importing its module), or None."""
    entry = _registered(name, impl)
    return None if entry is None else entry[0]


def _registered(name: str, impl: str):
    """(twin, accepts) registered for hot spot ``name`` and ``impl`` (importing the twins' modules), or None."""
    if impl not in _loaded:
        for module in _TWIN_MODULES.get(impl, ()):
            importlib.import_module(module)
        _loaded.add(impl)
    return _TWINS.get((name, impl))


def hot_spot(name: str, on=None):
    """Mark a method whose body is the reference and which may have fast twins (see ``twin``).

    on -- which array decides the twin: None (the method's first argument), the name of an attribute
          of the object (e.g. "_z", what forward kept), or a function of the object.
    """

    def decorate(reference):
        @functools.wraps(reference)
        def dispatch(obj, *args, **kwargs):
            choice = _switch()
            if choice == "reference":  # the teaching switch: the method body, always
                return reference(obj, *args, **kwargs)
            data = args[0] if on is None else getattr(obj, on) if isinstance(on, str) else on(obj)
            impl = select_impl(data, impl=choice or "auto", caller=obj) if data is not None else "reference"
            entry = _registered(name, impl) if impl != "reference" else None
            if entry is not None and (entry[1] is None or entry[1](obj, *args, **kwargs)):
                return entry[0](obj, *args, **kwargs)  # the twin
            return reference(obj, *args, **kwargs)

        dispatch.reference = reference  # the method body itself, e.g. for tests: ReLU.forward.reference
        dispatch.hot_spot = name
        return dispatch

    return decorate


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
    return _kernel_module(select_impl(x, impl=impl)).im2col(x, KH, KW, stride, padding)


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
    return _kernel_module(select_impl(col, impl=impl)).col2im(col, x_shape, KH, KW, stride, padding)


def maxpool_forward(x, KH, KW, stride=None, padding=0, *, impl=None):
    """Max over KH x KW windows (stride defaults to the kernel): (y, argmax); see reference.maxpool_forward."""
    _check_4d(x, "x", "maxpool_forward")
    stride = (KH, KW) if stride is None else stride
    (KH, KW), stride, padding, _ = _geometry(x.shape, KH, KW, stride, padding, "maxpool_forward")
    if padding[0] > KH // 2 or padding[1] > KW // 2:
        raise ValueError(f"maxpool_forward: padding {padding} must be at most half the kernel {(KH, KW)}, "
                         f"or a window could hold padding only")
    return _kernel_module(select_impl(x, impl=impl)).maxpool_forward(x, KH, KW, stride, padding)


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
    twin_module = _kernel_module(select_impl(dy, argmax, impl=impl))
    return twin_module.maxpool_backward(dy, argmax, x_shape, KH, KW, stride, padding)

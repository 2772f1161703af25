"""The one check of user data before training or inference: ``check_samples`` (numbers, floats, a batch
of the shape the model takes, no NaN/Inf, the value range a loss needs)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinyae import backend


def check_samples(X, where: str = "data", *, tail=None, expect_range=None, dtype=None):
    """Return ``X`` as a float array fit for training, or raise an error that says what is wrong and how to fix it.

    X            -- a NumPy/CuPy float array, or a numeric array-like (list, object array of numbers),
                    which is converted with np.asarray; strings and other non-numbers are refused
    where        -- the caller's name for messages, e.g. "fit(X)"
    tail         -- required shape after the batch axis, e.g. (64,) for a dense model or (1, 28, 28) for a
                    conv model; None entries are free
    expect_range -- (low, high) the values must lie in, e.g. (0, 1) for a model trained with BCE
                    (a probability target outside [0, 1] makes the loss meaningless, so this is an error)
    dtype        -- float dtype to cast to (the model's); None keeps a float array's dtype, and array-likes
                    become float32

    Checks: numeric and float dtype (integer images: scale them, e.g. with backend.to_unit_float),
    at least 2-D with a non-empty batch, ``tail``, no NaN/Inf, ``expect_range``.
    """
    if dtype is not None:
        dtype = backend.check_float_dtype(dtype, where)
    if not (isinstance(X, np.ndarray) or backend.is_cupy_array(X)):
        X = _numeric_array(X, where, dtype or backend.DEFAULT_DTYPE)
    elif X.dtype == object:
        X = _numeric_array(X, where, dtype or backend.DEFAULT_DTYPE)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected real numbers, got an array of dtype {X.dtype}")
    if X.dtype.kind != "f":
        hint = "backend.to_unit_float(X) (uint8 0..255 -> [0, 1])" if X.dtype == np.uint8 else "X.astype(np.float32)"
        raise TypeError(f"{where}: expected a float array, got dtype {X.dtype}; convert it with {hint}")
    if dtype is not None and X.dtype != dtype:
        X = X.astype(dtype)
    if X.ndim < 2:
        raise ValueError(
            f"{where}: expected a batch of samples (N, ...) with at least 2 dimensions, got shape {tuple(X.shape)}; "
            f"a single sample x is x[None]"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{where}: got no samples (shape {tuple(X.shape)})")
    if tail is not None:
        tail = tuple(tail)
        got = tuple(X.shape[1:])
        if len(got) != len(tail) or any(t is not None and t != g for t, g in zip(tail, got)):
            want = "(N, " + ", ".join("*" if t is None else str(t) for t in tail) + ")"
            msg = f"{where}: expected data of shape {want}, got {tuple(X.shape)}"
            if None not in tail and math.prod(got) == math.prod(tail):
                fix = "to_images(X, image_shape)" if len(tail) == 3 else "flatten_images(X)"
                msg += f"; the sizes match, reshape with tinyae.data.{fix} (or load with flatten={len(tail) == 1})"
            raise ValueError(msg)
    xp = backend.array_module(X)
    finite = xp.isfinite(X)
    if not bool(finite.all()):  # once per dataset, so the device sync on a GPU does not matter
        bad_rows = xp.flatnonzero(~finite.reshape(X.shape[0], -1).all(axis=1))
        count = int((~finite).sum())
        raise ValueError(
            f"{where}: data contains {count} NaN/Inf value(s) in {len(bad_rows)} sample(s), the first at index "
            f"{int(bad_rows[0])}; remove or impute them (e.g. X[~np.isfinite(X)] = 0)"
        )
    if expect_range is not None:
        low, high = expect_range
        lo, hi = float(X.min()), float(X.max())
        if lo < low or hi > high:
            raise ValueError(
                f"{where}: values must lie in [{low}, {high}] (e.g. for a BCE loss or a sigmoid output), "
                f"but they span [{lo:.6g}, {hi:.6g}]. Rescale them, e.g. (X - X.min()) / (X.max() - X.min()) "
                f"with the training set's min and max, or train with the MSE loss"
            )
    return X


def _numeric_array(X, where, dtype):
    """np.asarray(X) as floats when every value is a number, else a TypeError naming the first non-number."""
    arr = np.asarray(X) if not isinstance(X, np.ndarray) else X
    if arr.dtype.kind in "biuf":
        return arr.astype(dtype)
    if arr.dtype.kind == "O":
        for v in arr.reshape(-1):
            if not isinstance(v, numbers.Real):
                raise TypeError(f"{where}: expected real numbers, found a {type(v).__name__} value {v!r}")
        return arr.astype(dtype)
    first = arr.reshape(-1)[0] if arr.size else None
    raise TypeError(f"{where}: expected real numbers, got values of dtype {arr.dtype} (e.g. {first!r})")

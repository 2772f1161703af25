"""Corruptions for denoising autoencoders: Gaussian noise, masking noise, salt and pepper.

Each returns a corrupted copy and leaves x untouched (the clean x is the denoising target).
The randomness is drawn on the host with NumPy's Generator and moved to x's device, so CPU and GPU
runs with one seed corrupt identically (CuPy's Generator lacks most samplers and has other streams).
"""

from __future__ import annotations

import math

import numpy as np

from tinyae import backend
from tinyae.functional import random_mask  # re-exported: tinyae.data.random_mask


def _check_corruption_input(x, where):
    """x must be a float array of NumPy, CuPy or another array-API library; returns the host dtype to draw in."""
    if not (isinstance(x, np.ndarray) or backend.is_cupy_array(x) or hasattr(x, "__array_namespace__")):
        raise TypeError(f"{where}: expected a NumPy or CuPy array, got {type(x).__name__}")
    if isinstance(x, np.ndarray) or backend.is_cupy_array(x):
        if x.dtype.kind != "f":
            raise TypeError(f"{where}: expected a float array (images in [0, 1]), got dtype {x.dtype}")
        return x.dtype
    return backend.host_dtype(x)  # another array-API library: float32/float64 only, or a TypeError


def _check_fraction(fraction, where):
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)) or not 0 <= fraction <= 1:
        raise ValueError(f"{where}: fraction must be a number in [0, 1], got {fraction!r}")
    return float(fraction)


def gaussian_noise(x, std, rng, clip=(0.0, 1.0)):
    """``x + std * eps``, eps ~ N(0, 1) entry-wise, then clipped to ``clip`` (None: no clipping).

    Clipping keeps the corrupted input in the data range (a sigmoid/BCE model sees only [0, 1]).
    rng -- a seed or a numpy Generator.  Returns a new array of x's dtype and device.
    """
    where = "tinyae.data.gaussian_noise"
    dtype = _check_corruption_input(x, where)
    if isinstance(std, bool) or not isinstance(std, (int, float, np.floating)) or not 0 <= std < math.inf:
        raise ValueError(f"{where}: std must be a finite number >= 0, got {std!r}")
    xp = backend.array_module(x)
    eps = backend.make_rng(rng).standard_normal(tuple(x.shape), dtype=dtype)  # drawn on the host
    y = x + float(std) * backend.from_host(eps, like=x)  # a Python float keeps x's dtype
    if clip is not None:
        low, high = clip
        y = xp.clip(y, float(low), float(high))  # Python floats: x's dtype is kept
    return y


def masking_noise(x, fraction, rng):
    """Set a random ``fraction`` of each sample's entries to 0 (input dropout, without rescaling).

    As in the denoising autoencoders of Vincent et al. (2008, 2010): in each sample, exactly
    ``round(fraction * D)`` of its D entries, chosen at random, are forced to 0 and the rest are kept
    as they are (no 1/(1-fraction) rescaling as inverted dropout would do: the network must learn to
    fill in the missing values, and the clean target is unchanged).
    rng -- a seed or a numpy Generator.  Returns a new array of x's dtype and device.
    """
    where = "tinyae.data.masking_noise"
    _check_corruption_input(x, where)
    fraction = _check_fraction(fraction, where)
    drop = random_mask(tuple(x.shape), fraction, backend.make_rng(rng))
    return backend.times_mask(x, backend.from_host(~drop, like=x))  # x where kept, 0 where dropped


def salt_and_pepper(x, fraction, rng, low=0.0, high=1.0):
    """Set a random ``fraction`` of each sample's entries to ``low`` or ``high``, by a fair coin each.

    Vincent et al. (2010): exactly ``round(fraction * D)`` entries per sample are chosen at random and
    set to the minimum or maximum of the data range (0 and 1 for images in [0, 1]).
    rng -- a seed or a numpy Generator.  Returns a new array of x's dtype and device.
    """
    where = "tinyae.data.salt_and_pepper"
    _check_corruption_input(x, where)
    fraction = _check_fraction(fraction, where)
    xp = backend.array_module(x)
    gen = backend.make_rng(rng)
    hit = random_mask(tuple(x.shape), fraction, gen)
    salt = gen.random(tuple(x.shape)) < 0.5  # the coin, used only where hit
    hit, salt = backend.from_host(hit, like=x), backend.from_host(salt, like=x)
    y = xp.where(hit, float(low), x)  # pepper everywhere it hits (a Python float keeps x's dtype) ...
    return xp.where(hit & salt, float(high), y)  # ... then salt where the coin says so

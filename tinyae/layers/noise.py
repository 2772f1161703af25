"""Noise layers: ``GaussianNoise`` and ``Dropout`` (masking). Active only while training.

A denoising autoencoder puts one of these first in its encoder: the encoder sees a corrupted x~,
the loss compares the reconstruction with the CLEAN x (see ``tinyae.models.Autoencoder``). In eval
mode (``training=False``, the default) both are the identity, so ``encode`` is deterministic.

The noise is drawn as the corruption functions of ``tinyae.data`` draw it (the layer and
``data.gaussian_noise`` / ``data.masking_noise`` with the same Generator give the same x~; Dropout's
mask is ``tinyae.functional.random_mask``, the one both use). What the layer adds is the backward
pass, the exact derivative of the corruption it drew:

    GaussianNoise   y  = clip(x + std * eps, lo, hi)          eps ~ N(0, 1), drawn once per forward
                    dx = dy * [lo < x + std * eps < hi]       the clip's derivative: 1 inside, 0 where it bit
    Dropout         y  = s * m * x                            m in {0, 1}: exactly round(p * D) zeros per sample
                    dx = s * m * dy                           s = D / (D - k) (rescale=True, ~ 1 / (1 - p)), else 1

Shapes: any (N, ...) in, the same shape out. Each layer keeps its ``numpy.random.Generator`` in
``self.rng``; the gradient checker re-seeds it before every forward so the noise is the same each time.
The noise is drawn on the host with NumPy's Generator and moved to x's array library and device
(``backend.from_host``), so CPU and GPU runs corrupt alike.
"""

from __future__ import annotations

import math

from tinyae import backend
from tinyae.functional import random_mask
from tinyae.layers.base import Layer


def _check_clip(clip, where):
    if clip is None:
        return None
    ok = isinstance(clip, (tuple, list)) and len(clip) == 2
    if ok:
        lo, hi = clip
        ok = all(not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) for v in clip)
        ok = ok and lo < hi
    if not ok:
        raise ValueError(f"{where}: clip must be None or a pair (low, high) of finite numbers with low < high, "
                         f"got {clip!r}")
    return (float(lo), float(hi))


class GaussianNoise(Layer):
    """Additive Gaussian noise, clipped to the data range: ``y = clip(x + std * eps, lo, hi)`` while training.

    std  -- standard deviation of the noise (a finite number >= 0), in the units of x (pixels in [0, 1]).
    clip -- (lo, hi) the corrupted input is clipped to (default (0, 1), the range of images), or None.
            Clipping keeps x~ a valid image; where it is active the output no longer depends on x,
            so the gradient there is 0.
    seed -- int, None or a numpy Generator (kept in ``self.rng``).

    Eval mode (training=False): y = x, dx = dy.
    """

    _cache_names = ("_shape", "_mask")

    def __init__(self, std: float, clip=(0.0, 1.0), seed=None):
        if isinstance(std, bool) or not isinstance(std, (int, float)) or not math.isfinite(std) or std < 0:
            raise ValueError(f"GaussianNoise: std must be a finite number >= 0, got {std!r}")
        self.std = float(std)
        self.clip = _check_clip(clip, "GaussianNoise")
        self.rng = backend.make_rng(seed)
        self._shape = None
        self._mask = None  # where the clip is inactive (None: the derivative is 1 everywhere)

    def forward(self, x, training: bool = False):
        self.check_input(x)
        self.training = bool(training)
        self._shape, self._mask = tuple(x.shape), None
        if not training:
            return x
        eps = self.rng.standard_normal(x.shape, dtype=backend.host_dtype(x))  # on the host, as data.gaussian_noise
        y = x + self.std * backend.from_host(eps, like=x)  # a Python float keeps x's dtype
        if self.clip is not None:
            lo, hi = self.clip
            y = backend.array_module(x).clip(y, lo, hi)
            # y lies strictly inside (lo, hi) exactly where x + std * eps did, i.e. where the clip let it through.
            self._mask = (y > lo) & (y < hi)
        return y

    def backward(self, dy):
        shape = self._cached("_shape")
        self.check_grad(dy, shape)
        if self._mask is None:  # eval mode, or no clip: y = x + const
            return dy
        return backend.times_mask(dy, self._mask)  # dy * mask

    def config(self) -> dict:
        return {"std": self.std, "clip": None if self.clip is None else list(self.clip)}

    def __repr__(self):
        return f"GaussianNoise(std={self.std:g}, clip={self.clip})"


class Dropout(Layer):
    """Zero a random fraction p of each sample's entries while training (input dropout / masking noise).

        y = s * m * x,   dx = s * m * dy

    m is a 0/1 mask with exactly k = round(p * D) zeros in each sample (D entries per sample), drawn
    anew at every forward by ``tinyae.functional.random_mask`` (as ``tinyae.data``'s masking noise),
    so ``Dropout(p, rescale=False)`` is exactly the masking noise of denoising autoencoders (Vincent
    et al., 2008): the network must fill in the missing values.

    p       -- fraction to drop, in [0, 1).
    rescale -- True (inverted dropout, as in a hidden layer): multiply the kept entries by
               s = D / (D - k), which is 1 / (1 - p) when p * D is whole, so E[y] = x and eval mode
               (no mask, no scale) sees activations of the same size. False: s = 1, the masking noise
               of a denoising autoencoder (the corrupted input keeps its pixel values).
    seed    -- int, None or a numpy Generator (kept in ``self.rng``).

    Eval mode (training=False): y = x, dx = dy.
    """

    _cache_names = ("_shape", "_mask")

    def __init__(self, p: float, rescale: bool = True, seed=None):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be a number in [0, 1), got {p!r}")
        self.p = float(p)
        self.rescale = bool(rescale)
        self.rng = backend.make_rng(seed)
        self._shape = None
        self._mask = None  # boolean keep-mask (None in eval mode)
        self._scale = 1.0

    def forward(self, x, training: bool = False):
        self.check_input(x, ndim=tuple(range(2, 8)))
        self.training = bool(training)
        self._shape, self._mask = tuple(x.shape), None
        if not training:
            return x
        drop = random_mask(x.shape, self.p, self.rng)  # host bool array, exactly k True per sample
        n_drop = int(drop.sum())  # N * k
        if self.rescale and n_drop == drop.size:
            raise ValueError(f"{self!r}.forward: p={self.p:g} drops all {drop.size // x.shape[0]} entries of "
                             f"each sample (round(p * D) = D); use a smaller p")
        self._scale = drop.size / (drop.size - n_drop) if self.rescale else 1.0  # D / (D - k), a Python float
        self._mask = keep = backend.from_host(~drop, like=x)
        y = backend.times_mask(x, keep)  # x * keep
        if self._scale != 1.0:
            y *= self._scale
        return y

    def backward(self, dy):
        shape = self._cached("_shape")
        self.check_grad(dy, shape)
        if self._mask is None:
            return dy
        dx = backend.times_mask(dy, self._mask)  # dy * mask
        if self._scale != 1.0:
            dx *= self._scale
        return dx

    def config(self) -> dict:
        return {"p": self.p, "rescale": self.rescale}

    def __repr__(self):
        return f"Dropout(p={self.p:g}{'' if self.rescale else ', rescale=False'})"

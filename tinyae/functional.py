"""Pure functions the layers, losses and data corruptions share: no layer, no state, no I/O.

    sigmoid(x)                     1 / (1 + exp(-x)), without overflow, any shape and float dtype
    softplus(x)                    log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), without overflow
    random_mask(shape, f, rng)     a boolean mask with exactly round(f * D) True entries per sample
    denominator(x, reduction)      what a loss's reduction divides its summed terms by
    adam_step_scalars(lr, ...)     Adam's bias corrections folded into two scalars of step t

They sit on the floor just above ``tinyae.backend`` and ``tinyae.kernels``: the activation layers,
the losses (BCEWithLogits' gradient is sigmoid(z) - t), the noise layers and ``tinyae.data``'s
corruptions import them from here, so none of those has to import another to reach them.
"""

from __future__ import annotations

import math

import numpy as np

from tinyae.backend import array_module

__all__ = ["adam_step_scalars", "denominator", "random_mask", "sigmoid", "softplus"]


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


def random_mask(shape, fraction, rng):
    """Boolean NumPy mask of ``shape`` with exactly ``round(fraction * D)`` True entries in each sample.

    A sample is one index of the first axis, D the number of entries in it (a 1-D x is one sample).
    Which entries is uniform at random: the k smallest of D uniform keys. rng is a numpy Generator.
    The one source of "which entries get corrupted" for ``tinyae.data.masking_noise``, ``salt_and_pepper``
    and the ``Dropout`` layer (tinyae.layers.noise), which keeps the mask for its backward pass.
    """
    n = shape[0] if len(shape) > 1 else 1
    d = math.prod(shape) // max(n, 1)
    k = round(fraction * d)
    mask = np.zeros((n, d), dtype=bool)
    if k > 0 and n > 0:
        keys = rng.random((n, d))
        chosen = np.argpartition(keys, k - 1, axis=1)[:, :k]  # (n, k) column indices
        np.put_along_axis(mask, chosen, True, axis=1)
    return mask.reshape(shape)


def denominator(x, reduction: str) -> int:
    """What a loss's reduction divides the summed terms by, for terms shaped like ``x``:
    "mean" -> the number of elements, "batch_mean" -> the batch size N, "sum" -> 1."""
    if reduction == "mean":
        return int(x.size)
    if reduction == "batch_mean":
        return int(x.shape[0])
    return 1


def adam_step_scalars(lr: float, beta1: float, beta2: float, eps: float, t: int) -> tuple[float, float]:
    """(lr_t, eps_hat) of Adam's step t (see ``Adam``): the bias corrections folded into two scalars."""
    sqrt_bias2 = math.sqrt(1 - beta2**t)  # sqrt(1 - b2^t)
    return lr * sqrt_bias2 / (1 - beta1**t), eps * sqrt_bias2

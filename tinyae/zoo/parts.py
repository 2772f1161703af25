"""What the zoo's builders share: the output/loss pairs, default sizes, a Dense initialised for the
activation after it, and the check of an image shape."""

from __future__ import annotations

from tinyae.layers.activations import Identity, Sigmoid, Softplus
from tinyae.layers.base import check_positive_int
from tinyae.layers.dense import Dense
from tinyae.losses import MSE, BCEWithLogits

OUTPUTS = {
    # output name: (output layer, reconstruction loss, the init of the Dense that feeds it)
    "sigmoid": (Sigmoid, "mse", "sigmoid"),
    "logits": (Identity, "bce_with_logits", "identity"),
    "softplus": (Softplus, "mse", "softplus"),
    "linear": (Identity, "mse", "identity"),
}


def default_hidden(n_in, n_hidden, where, ratio=4):
    check_positive_int(n_in, "n_in", where)
    return max(2, n_in // ratio) if n_hidden is None else check_positive_int(n_hidden, "n_hidden", where)


def output_pair(output, where, reduction="mean"):
    """(output layer class, reconstruction Loss with ``reduction``, init of the Dense that feeds the output)."""
    if output not in OUTPUTS:
        raise ValueError(f"{where}: output must be one of {sorted(OUTPUTS)}, got {output!r}")
    layer, loss, init = OUTPUTS[output]
    return layer, (MSE if loss == "mse" else BCEWithLogits)(reduction=reduction), init


def dense_for(n_in, n_out, act, rng, dtype):
    """Dense initialised for the activation that follows it (He for ReLU-like, Xavier otherwise)."""
    return Dense(n_in, n_out, init=act, seed=rng, dtype=dtype)


def check_image_shape(image_shape, where):
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
    if shape is None or len(shape) != 3 or not all(isinstance(s, int) and s >= 1 for s in shape):
        raise ValueError(f"{where}: image_shape must be (C, H, W), e.g. (1, 28, 28), got {image_shape!r}")
    c, h, w = shape
    if h % 4 or w % 4:
        raise ValueError(f"{where}: the two 2x2 poolings need H and W divisible by 4, got {h}x{w} "
                         f"(pad the images, e.g. 30x30 -> 32x32)")
    return shape

"""The reference networks of the bench, built in tinyae, and their synthetic data."""

from __future__ import annotations

import numpy as np

from tinyae.layers import Conv2D, Dense, MaxPool2D, ReLU, Upsample2D
from tinyae.losses import BCEWithLogits
from tinyae.models import VAE, Autoencoder, Sequential

NETWORKS = {
    "dense": "dense AE 784-256-64-256-784, ReLU, BCE with logits",
    "conv": "conv AE 1x28x28: Conv16-Pool-Conv8-Pool-Conv8-Up-Conv16-Up-Conv1, ReLU, BCE with logits",
    "vae": "VAE 784-256-(16+16)-256-784, ReLU, BCE with logits + Gaussian KL",
}
IMAGE_SHAPE = {"dense": (784,), "conv": (1, 28, 28), "vae": (784,)}
LATENT = 16


def build_model(net: str, seed: int = 0):
    """The reference network ``net`` as a tinyae model (float32, on the CPU)."""
    s = iter(range(seed * 100, seed * 100 + 100))  # one weight seed per layer
    if net == "dense":
        encoder = Sequential(Dense(784, 256, init="relu", seed=next(s)), ReLU(),
                             Dense(256, 64, init="relu", seed=next(s)), ReLU())
        decoder = Sequential(Dense(64, 256, init="relu", seed=next(s)), ReLU(), Dense(256, 784, seed=next(s)))
        return Autoencoder(encoder, decoder, loss=BCEWithLogits())
    if net == "vae":
        encoder = Sequential(Dense(784, 256, init="relu", seed=next(s)), ReLU(), Dense(256, 2 * LATENT, seed=next(s)))
        decoder = Sequential(Dense(LATENT, 256, init="relu", seed=next(s)), ReLU(), Dense(256, 784, seed=next(s)))
        return VAE(encoder, decoder, latent_dim=LATENT, recon="bce_with_logits", seed=next(s))
    if net == "conv":
        def conv(c_in, c_out, init="relu"):
            return Conv2D(c_in, c_out, 3, padding=1, init=init, seed=next(s))

        encoder = Sequential(conv(1, 16), ReLU(), MaxPool2D(2), conv(16, 8), ReLU(), MaxPool2D(2))
        decoder = Sequential(conv(8, 8), ReLU(), Upsample2D(2, mode="nearest"), conv(8, 16), ReLU(),
                             Upsample2D(2, mode="nearest"), conv(16, 1, init="xavier"))
        return Autoencoder(encoder, decoder, loss=BCEWithLogits(), input_shape=IMAGE_SHAPE["conv"])
    raise ValueError(f"build_model: unknown network {net!r}")


def synthetic_data(net: str, n: int, seed: int = 0):
    """n random float32 'images' in [0, 1) of the network's input shape (NumPy, on the host)."""
    return np.random.default_rng(seed).random((n, *IMAGE_SHAPE[net]), dtype=np.float32)

"""Layers: each a forward, a hand-written backward and its Params (see base.py for the contract)."""

from tinyae.layers.activations import (
    ACTIVATIONS,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softplus,
    Tanh,
    make_activation,
    sigmoid,
    softplus,
)
from tinyae.layers.base import Layer, Param
from tinyae.layers.dense import Dense, TiedDense

__all__ = [
    "ACTIVATIONS",
    "Dense",
    "Identity",
    "Layer",
    "LeakyReLU",
    "Param",
    "ReLU",
    "Sigmoid",
    "Softplus",
    "Tanh",
    "TiedDense",
    "make_activation",
    "sigmoid",
    "softplus",
]

# The convolutional path (conv.py, pooling.py, shape.py).
from tinyae.layers.conv import Conv2D, ConvTranspose2D  # noqa: E402
from tinyae.layers.pooling import AvgPool2D, MaxPool2D, Upsample2D  # noqa: E402
from tinyae.layers.shape import Flatten, Reshape  # noqa: E402

__all__ += ["AvgPool2D", "Conv2D", "ConvTranspose2D", "Flatten", "MaxPool2D", "Reshape", "Upsample2D"]

# Noise layers for denoising autoencoders (noise.py): active only while training.
from tinyae.layers.noise import Dropout, GaussianNoise  # noqa: E402

__all__ += ["Dropout", "GaussianNoise"]

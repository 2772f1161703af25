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

"""The zoo: one-line builders for the classic autoencoders, each showing one idea.

    model = zoo.shallow_ae(784)                          # 784-196-784, sigmoid
    model = zoo.build("sparse-kl", ds.image_shape)       # by name (what the CLI uses)
    history = tinyae.train.fit(model, ds.X_train, epochs=20)

Every builder returns an ``Autoencoder`` (or a ``VAE``) whose defaults train on both the 8x8 digits
(64 features) and MNIST (784): sizes that are not given scale with the input (a hidden layer of n_in // 4
is 784 -> 196 for MNIST and 64 -> 16 for digits). Each takes ``seed`` (the weights) and ``dtype``
(float32 to train, float64 for gradient checks).

The output of a dense decoder and its loss go together (the ``output`` argument):

    "sigmoid"   Sigmoid output, MSE loss              the classic textbook pairing
    "logits"    linear output, BCE on the logits      the stable cross-entropy for data in [0, 1];
                                                      ``reconstruct`` applies the sigmoid
    "softplus"  Softplus output, MSE loss             for non-negative data (Glorot et al., 2011)
    "linear"    linear output, MSE loss               for real-valued data (e.g. ReLU codes in pretraining)

``MODELS`` lists the names ``build`` knows, each with a one-line description; ``builder(name)`` is the
function that builds it (its signature lists the arguments ``build`` passes on); ``IMAGE_MODELS`` are the
ones whose input is an image (C, H, W) rather than a row.

Where each job lives: ``dense`` (the dense builders), ``conv`` (the convolutional ones), ``pretraining``
(greedy layer-wise pretraining), ``parts`` (what the builders share); the registry is here.
"""

from __future__ import annotations

import math

from tinyae.zoo.conv import conv_ae, conv_sparse_ae, conv_vae
from tinyae.zoo.dense import (
    dbn_ae,
    denoising_ae,
    hashing_ae,
    shallow_ae,
    sparse_kl_ae,
    sparse_l1_ae,
    stacked_ae,
    tied_ae,
    vae,
)
from tinyae.zoo.parts import OUTPUTS
from tinyae.zoo.pretraining import greedy_pretrain

__all__ = [
    "BUILDERS",
    "IMAGE_MODELS",
    "MODELS",
    "OUTPUTS",
    "build",
    "builder",
    "conv_ae",
    "conv_sparse_ae",
    "conv_vae",
    "dbn_ae",
    "denoising_ae",
    "greedy_pretrain",
    "hashing_ae",
    "shallow_ae",
    "sparse_kl_ae",
    "sparse_l1_ae",
    "stacked_ae",
    "tied_ae",
    "vae",
]

MODELS = {
    "ae": "shallow autoencoder, one sigmoid hidden layer (784-196-784): the undercomplete bottleneck",
    "stacked": "deep symmetric autoencoder (784-512-256-64 mirrored), optional greedy layer-wise pretraining",
    "sparse-l1": "overcomplete ReLU code with an L1 penalty on the activations, softplus output: most codes are 0",
    "sparse-kl": "sigmoid code whose mean activation is held near rho by a KL penalty (the classic sparse AE)",
    "denoising": "reconstructs the clean input from a corrupted one (masking or Gaussian noise, training only)",
    "conv": "convolutional pyramid: Conv-ReLU-MaxPool x2 down, Upsample-Conv x2 up (weights shared over space)",
    "vae": "variational autoencoder: a Gaussian code, sampled by reparameterisation, KL to N(0, I)",
    "conv-vae": "variational autoencoder with the convolutional encoder and decoder",
    "tied": "decoder weights are the encoder's transposed (W and W.T): half the parameters",
    "hashing": "semantic hashing: deep AE whose sigmoid code is pushed to 0/1 by noise (binary codes for search)",
    "dbn": "deep belief autoencoder (784-1000-500-250-30, sigmoid), here from random weights; "
           "RBM-pretrain it with tinyae.rbm.pretrain",
    "conv-sparse": "convolutional pyramid with an L1 penalty on its code map: most code entries are exactly 0",
}

BUILDERS = {
    "ae": shallow_ae,
    "stacked": stacked_ae,
    "sparse-l1": sparse_l1_ae,
    "sparse-kl": sparse_kl_ae,
    "denoising": denoising_ae,
    "conv": conv_ae,
    "vae": vae,
    "conv-vae": conv_vae,
    "tied": tied_ae,
    "hashing": hashing_ae,
    "dbn": dbn_ae,
    "conv-sparse": conv_sparse_ae,
}
IMAGE_MODELS = ("conv", "conv-vae", "conv-sparse")  # their builders take image_shape (C, H, W), the others n_in


def _model_key(name, where) -> str:
    key = name.lower().replace("_", "-") if isinstance(name, str) else name
    if key not in MODELS:
        raise ValueError(f"{where}: unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return key


def builder(name: str):
    """The function that builds the zoo model ``name`` (e.g. ``builder("sparse-kl") is sparse_kl_ae``): read
    its signature for the arguments ``build`` passes on. A ValueError names the models for an unknown name."""
    return BUILDERS[_model_key(name, "zoo.builder")]


def build(name: str, input_shape, **kw):
    """Build the zoo model ``name`` (see ``MODELS``) for samples of ``input_shape``; ``kw`` go to its builder.

    input_shape -- one sample's shape: (C, H, W) (e.g. ``Dataset.image_shape``), (D,) or an int D.
                   Dense models take n_in = C*H*W (feed them rows, ``load(..., flatten=True)``); conv models
                   need (C, H, W) (feed them images, ``load(..., flatten=False)``).
    """
    key = _model_key(name, "zoo.build")
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(int(s) for s in input_shape)
    if key in IMAGE_MODELS:
        if len(shape) != 3:
            raise ValueError(f"zoo.build({name!r}): a conv model needs the image shape (C, H, W), e.g. (1, 28, 28), "
                             f"got {shape}; use Dataset.image_shape")
        return BUILDERS[key](shape, **kw)
    return BUILDERS[key](math.prod(shape), **kw)


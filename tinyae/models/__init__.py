"""Models built from layers: ``Sequential`` (a stack of layers, itself a layer), ``Autoencoder`` (an
encoder, a decoder, a reconstruction loss and penalties on the code) and ``VAE``.

A stack y = f_K(... f_2(f_1(x))) is differentiated by the chain rule in reverse order:

    forward:   h_0 = x,  h_k = f_k(h_{k-1}),  y = h_K
    backward:  dh_K = dy,  dh_{k-1} = f_k.backward(dh_k),  dx = dh_0

Each ``f_k.backward`` also adds its own parameter gradients into ``param.grad``.

``Autoencoder`` and ``VAE`` own their loss: ``loss_and_backward(x)`` runs the whole training step
(docs/architecture.md follows it file by file; the derivation of each is in its class docstring).
``config()`` describes a model as JSON and ``from_config`` rebuilds it (``tinyae.io`` stores the arrays next to it).


The package, one job per module:

    sequential.py   Sequential and the helpers that walk a tree of layers (walk, noise_sources,
                    leaf_layers, each_param_once)
    autoencoder.py  Autoencoder: encoder, decoder, loss, code penalties, weight decay
    vae.py          VAE: the Gaussian code and the reparameterisation trick
    spec.py         a layer as a JSON spec and back (layer_spec, layer_from_spec)
    config.py       from_config: a model rebuilt from its config()
"""

from tinyae.models.autoencoder import Autoencoder
from tinyae.models.config import from_config
from tinyae.models.sequential import Sequential, each_param_once, leaf_layers, noise_sources, walk
from tinyae.models.spec import layer_classes, layer_from_spec, layer_spec
from tinyae.models.vae import VAE

__all__ = ["Sequential", "Autoencoder", "VAE", "leaf_layers", "each_param_once", "walk", "noise_sources", "layer_spec",
           "layer_classes", "layer_from_spec", "from_config"]

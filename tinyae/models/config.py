"""A model from its JSON config (``Autoencoder.config()`` / ``VAE.config()``); ``tinyae.io`` stores the arrays
next to it."""

from __future__ import annotations

from tinyae import backend
from tinyae.models.autoencoder import Autoencoder
from tinyae.models.spec import _loss_from_spec, layer_classes, layer_from_spec
from tinyae.models.vae import VAE


def from_config(config: dict, dtype=backend.DEFAULT_DTYPE):
    """Rebuild an ``Autoencoder`` or ``VAE`` from its ``config()`` (fresh weights: load the arrays after).

    The Params of the rebuilt model have the same ``named_params()`` labels, shapes and order as the
    original's, so the saved arrays can be copied in by label.
    """
    if not isinstance(config, dict) or config.get("class") not in ("Autoencoder", "VAE"):
        got = config.get("class") if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"from_config: expected the config of an Autoencoder or a VAE, got {got!r}")
    classes = layer_classes()
    flat = []
    encoder = layer_from_spec(config["encoder"], flat, classes)
    decoder = layer_from_spec(config["decoder"], flat, classes)
    input_shape = config.get("input_shape")
    if config["class"] == "VAE":
        model = VAE(encoder, decoder, config["latent_dim"], recon=config["recon"], beta=config["beta"],
                    input_shape=input_shape)
    else:
        model = Autoencoder(encoder, decoder, loss=_loss_from_spec(config["loss"]),
                            penalties=[_loss_from_spec(s) for s in config.get("penalties", [])],
                            weight_decay=config.get("weight_decay"), input_shape=input_shape)
    return model.astype(dtype)


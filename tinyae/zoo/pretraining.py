"""Greedy layer-wise pretraining of a stacked autoencoder (Bengio et al., 2007)."""

from __future__ import annotations

from tinyae.layers.dense import Dense
from tinyae.models import Autoencoder, Sequential
from tinyae.optim import Adam
from tinyae.train import encode, fit


def greedy_pretrain(model: Autoencoder, X, epochs: int = 5, *, batch_size: int = 128, lr: float = 1e-3, seed=0,
                    verbose: int = 0) -> list:
    """Greedy layer-wise pretraining of a stacked autoencoder (Bengio et al., 2007), in place.

    Level k is the shallow autoencoder made of the k-th encoder Dense (with its activation) and its mirror
    in the decoder (with the activation that follows it there). It is trained on the codes of level k-1
    (level 0 on X) with ``tinyae.train.fit``; the shallow models are built from the stack's OWN layer
    objects, so training them writes straight into the stack: nothing needs copying. Level 0 uses the
    model's loss; deeper levels reconstruct real-valued codes and use MSE. Afterwards, fine-tune the
    whole stack with ``fit(model, X, ...)``.

    model  -- an Autoencoder whose encoder and decoder are Sequentials of (Dense, activation) pairs,
              mirrored (as ``stacked_ae`` builds them)
    X      -- training data (N, n_in)
    Returns the list of per-level ``History`` objects.
    """
    enc, dec = model.encoder, model.decoder
    pairs_enc, pairs_dec = _dense_pairs(enc, "encoder"), _dense_pairs(dec, "decoder")
    if len(pairs_enc) != len(pairs_dec) or any(
            e[0].in_features != d[0].out_features or e[0].out_features != d[0].in_features
            for e, d in zip(pairs_enc, reversed(pairs_dec))):
        raise ValueError("greedy_pretrain: the decoder must mirror the encoder layer by layer "
                         "(build the model with zoo.stacked_ae)")
    histories, codes = [], X
    depth = len(pairs_enc)
    for k in range(depth):
        (dense_e, act_e), (dense_d, act_d) = pairs_enc[k], pairs_dec[depth - 1 - k]
        loss = model.loss if k == 0 else "mse"
        level = Autoencoder(Sequential(dense_e, act_e), Sequential(dense_d, act_d), loss=loss,
                            input_shape=(dense_e.in_features,))
        opt = Adam(level.params(), lr=lr)
        histories.append(fit(level, codes, epochs=epochs, batch_size=batch_size, optimizer=opt, seed=seed,
                             verbose=verbose))
        codes = encode(level, codes)  # the input of the next level
    return histories


def _dense_pairs(seq, what):
    layers = list(seq.layers) if isinstance(seq, Sequential) else []
    if not layers or len(layers) % 2 or not all(isinstance(layer, Dense) for layer in layers[::2]):
        raise ValueError(f"greedy_pretrain: the {what} must be a Sequential of (Dense, activation) pairs "
                         f"(as zoo.stacked_ae builds it), got {seq!r}")
    return list(zip(layers[::2], layers[1::2]))

"""End to end: a small convolutional autoencoder trains on the embedded 8x8 digits.

Conv-ReLU-MaxPool x2 (1x8x8 -> 8x2x2), then Upsample-Conv x2 back to 1x8x8 with a sigmoid output,
MSE, Adam: the reconstruction loss on the training images must fall by at least half in a few epochs.
"""

from __future__ import annotations

import numpy as np

from tinyae import data
from tinyae.layers import Conv2D, MaxPool2D, ReLU, Sigmoid, Upsample2D
from tinyae.losses import MSE
from tinyae.models import Sequential
from tinyae.optim import Adam


def conv_autoencoder(mode="nearest"):
    return Sequential(
        Conv2D(1, 8, 3, padding=1, seed=0), ReLU(), MaxPool2D(2),  # (N, 8, 4, 4)
        Conv2D(8, 8, 3, padding=1, seed=1), ReLU(), MaxPool2D(2),  # (N, 8, 2, 2): the code
        Upsample2D(2, mode), Conv2D(8, 8, 3, padding=1, seed=2), ReLU(),  # (N, 8, 4, 4)
        Upsample2D(2, mode), Conv2D(8, 1, 3, padding=1, init="sigmoid", seed=3), Sigmoid(),
    )


def test_small_conv_autoencoder_halves_its_reconstruction_loss_on_digits():
    X = data.load("digits", flatten=False, limit=640).X_train  # (640, 1, 8, 8) float32 in [0, 1]
    assert X.shape == (640, 1, 8, 8) and X.dtype == np.float32
    model = conv_autoencoder()
    assert model.output_shape(X.shape) == X.shape
    loss = MSE()
    opt = Adam(model.params(), lr=1e-2)
    rng = np.random.default_rng(0)

    def reconstruction_loss():
        return float(loss.forward(model.forward(X), X))

    start = reconstruction_loss()
    for _epoch in range(3):
        order = rng.permutation(len(X))
        for s in range(0, len(X), 32):
            xb = X[order[s:s + 32]]
            opt.zero_grad()
            loss.forward(model.forward(xb, training=True), xb)
            model.backward(loss.backward())
            opt.step()
    end = reconstruction_loss()
    assert np.isfinite(end) and end <= 0.5 * start, (start, end)
    assert all(p.value.dtype == np.float32 for p in model.params())

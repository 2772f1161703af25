"""Stage 4 · upsample: nearest-neighbour Upsample2D backward, a block SUM

Task: write `Upsample2D.backward`. The forward is given: every pixel becomes an sh x sw block of copies.

    x (N, C, H, W) -> y (N, C, H*sh, W*sw)
    forward    y[n, c, h, w]  = x[n, c, h // sh, w // sw]
    backward   dx[n, c, h, w] = sum of dy over the block dy[n, c, h*sh:(h+1)*sh, w*sw:(w+1)*sw]

Each input pixel feeds sh*sw outputs, so its gradient is the SUM over its block: not one entry of
it, and not the mean (both are bugs met in from-scratch code). `dy[:, :, i::sh, j::sw]` is entry (i, j)
of every block. The check uses non-square scales and several channels.

Derivation: docs/layers/pooling.md (Upsample2D, nearest). Check: `tinyae exercise check upsample`.
"""

import numpy as np

from tinyae.layers.base import Layer


class Upsample2D(Layer):
    """Nearest-neighbour upsampling by an integer factor (or a pair of them)."""

    def __init__(self, scale=2):
        self.scale = (scale, scale) if isinstance(scale, int) else tuple(scale)
        self.x_shape = None

    def forward(self, x, training=False):
        sh, sw = self.scale
        self.x_shape = x.shape
        return np.repeat(np.repeat(x, sh, axis=2), sw, axis=3)  # (N, C, H*sh, W*sw)

    def backward(self, dy):
        sh, sw = self.scale
        # BEGIN YOUR CODE: return dx (x_shape): the sum of dy over each sh x sw block
        dx = np.zeros(self.x_shape, dtype=dy.dtype)
        for i in range(sh):
            for j in range(sw):
                dx += dy[:, :, i::sh, j::sw]  # entry (i, j) of every block
        return dx
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("upsample", Upsample2D)
    raise SystemExit(0 if result.passed else 1)

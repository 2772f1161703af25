"""Stage 4 · maxpool: MaxPool2D backward, the gradient goes to the winner

Task: write `MaxPool2D.backward`. The forward is given: for every KH x KW window it keeps the
winner's offset inside the window, argmax = i*KW + j (the first maximum wins a tie).

    x (N, C, H, W) -> y (N, C, OH, OW),  OH = (H - KH) // sh + 1 (likewise OW), no padding
    forward    y[n, c, oh, ow] = max of the window at (oh*sh, ow*sw)
    backward   dx = 0;  dx[n, c, oh*sh + i, ow*sw + j] += dy[n, c, oh, ow]  where (i, j) is that window's winner

Only the winner moved y, so only the winner gets the gradient. When windows overlap (stride smaller
than the kernel) one pixel can win several windows and receives the SUM. Loop over the offsets
(i, j), as the forward does: each step is one strided slice of dx.

Derivation: docs/layers/pooling.md (MaxPool2D). Check: `tinyae exercise check maxpool`.
"""

import numpy as np

from tinyae.layers.base import Layer


class MaxPool2D(Layer):
    """Max over each window; stride defaults to the kernel (no overlap)."""

    def __init__(self, kernel_size, stride=None):
        self.kernel_size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        stride = self.kernel_size if stride is None else stride
        self.stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
        self.argmax = self.x_shape = None

    def forward(self, x, training=False):
        (KH, KW), (sh, sw) = self.kernel_size, self.stride
        N, C, H, W = x.shape
        OH, OW = (H - KH) // sh + 1, (W - KW) // sw + 1
        y = np.full((N, C, OH, OW), -np.inf, dtype=x.dtype)
        argmax = np.zeros((N, C, OH, OW), dtype=np.int64)
        for i in range(KH):
            for j in range(KW):
                entry = x[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw]  # (N, C, OH, OW)
                better = entry > y  # strictly: the first maximum keeps a tie
                y = np.where(better, entry, y)
                argmax = np.where(better, i * KW + j, argmax)
        self.argmax, self.x_shape = argmax, x.shape
        return y

    def backward(self, dy):
        (KH, KW), (sh, sw) = self.kernel_size, self.stride
        OH, OW = dy.shape[2:]
        # BEGIN YOUR CODE: dx (x_shape), each window's dy added onto its winner
        dx = np.zeros(self.x_shape, dtype=dy.dtype)
        for i in range(KH):
            for j in range(KW):
                won = self.argmax == i * KW + j  # (N, C, OH, OW): windows whose winner sits at offset (i, j)
                dx[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw] += dy * won
        return dx
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("maxpool", MaxPool2D)
    raise SystemExit(0 if result.passed else 1)

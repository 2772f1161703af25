"""Stage 4 · conv2d: Conv2D forward and backward by im2col

Task: write `Conv2D.forward` and `Conv2D.backward`, with tinyae's `im2col` / `col2im` (stage 4's first
exercise; the layout is the same).

    x (N, C, H, W), W (F, C, KH, KW), b (F,), y (N, F, OH, OW), OH = (H + 2 ph - KH) // sh + 1

    forward    col    = im2col(x)                 (C*KH*KW, N*OH*OW)
               y_mat  = W_mat @ col + b[:, None]  (F, C*KH*KW) @ (C*KH*KW, N*OH*OW) -> (F, N*OH*OW)
               y      = y_mat as (F, N, OH, OW), batch axis first -> (N, F, OH, OW)
    backward   dy_mat = dy as (F, N*OH*OW)        (the batch axis second, then flattened)
               dW_mat = dy_mat @ col.T            (F, C*KH*KW), reshaped like W
               db     = sum of dy over n, oh, ow  (F,)
               dcol   = W_mat.T @ dy_mat          (C*KH*KW, N*OH*OW)
               dx     = col2im(dcol)              (N, C, H, W)

W_mat is W reshaped (F, C*KH*KW). The check uses strides, padding, several channels and a batch of one.

Derivation: docs/layers/conv.md (Conv2D). Check: `tinyae exercise check conv2d`.
"""

import numpy as np

from tinyae.kernels import col2im, im2col  # im2col(x, KH, KW, stride, padding), col2im(col, x_shape, KH, KW, ...)
from tinyae.layers.base import Layer, Param


class Conv2D(Layer):
    """2-D convolution (cross-correlation), x (N, C, H, W) -> y (N, F, OH, OW)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, seed=0, dtype=np.float64):
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.kernel_size = k
        self.stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
        self.padding = (padding, padding) if isinstance(padding, int) else tuple(padding)
        rng = np.random.default_rng(seed)
        fan_in = in_channels * k[0] * k[1]
        self.W = Param(rng.normal(0, np.sqrt(2 / fan_in), (out_channels, in_channels, *k)).astype(dtype), "W")
        self.b = Param(np.zeros(out_channels, dtype=dtype), "b")
        self.col = self.x_shape = None

    def params(self):
        yield self.W
        yield self.b

    def forward(self, x, training=False):
        KH, KW = self.kernel_size
        N, F = x.shape[0], self.W.shape[0]
        # BEGIN YOUR CODE: col, y_mat, then y (N, F, OH, OW); keep col and x.shape for backward
        col = im2col(x, KH, KW, self.stride, self.padding)  # (C*KH*KW, N*OH*OW)
        y_mat = self.W.value.reshape(F, -1) @ col + self.b.value[:, None]  # (F, N*OH*OW)
        self.col, self.x_shape = col, x.shape
        OH = (x.shape[2] + 2 * self.padding[0] - KH) // self.stride[0] + 1
        OW = (x.shape[3] + 2 * self.padding[1] - KW) // self.stride[1] + 1
        return y_mat.reshape(F, N, OH, OW).transpose(1, 0, 2, 3)  # (N, F, OH, OW)
        # END YOUR CODE

    def backward(self, dy):
        KH, KW = self.kernel_size
        F = self.W.shape[0]
        # BEGIN YOUR CODE: add dW and db into the grads, return dx
        dy_mat = dy.transpose(1, 0, 2, 3).reshape(F, -1)  # (F, N*OH*OW)
        self.W.grad += (dy_mat @ self.col.T).reshape(self.W.shape)  # (F, C*KH*KW) -> (F, C, KH, KW)
        self.b.grad += dy_mat.sum(axis=1)  # (F,)
        dcol = self.W.value.reshape(F, -1).T @ dy_mat  # (C*KH*KW, N*OH*OW)
        return col2im(dcol, self.x_shape, KH, KW, self.stride, self.padding)  # (N, C, H, W)
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("conv2d", Conv2D)
    raise SystemExit(0 if result.passed else 1)

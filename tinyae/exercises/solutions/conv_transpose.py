"""Stage 4 · conv_transpose: ConvTranspose2D, the adjoint of Conv2D

Task: write `ConvTranspose2D.forward` and `ConvTranspose2D.backward`. A transposed convolution is a
convolution's input gradient used as a forward pass: it grows H to (H - 1)*sh - 2*ph + KH.

    x (N, C_in, H, W), W (C_in, C_out, KH, KW), b (C_out,), y (N, C_out, OH, OW)
    x_mat = x as (C_in, N*H*W)                      (channels first, then flattened)
    W_mat = W as (C_in, C_out*KH*KW)

    forward    col    = W_mat.T @ x_mat             (C_out*KH*KW, N*H*W): one window per input pixel
               y      = col2im(col, (N, C_out, OH, OW)) + b
    backward   dcol   = im2col(dy)                  (C_out*KH*KW, N*H*W): dy's windows
               dW_mat = x_mat @ dcol.T              (C_in, C_out*KH*KW), reshaped like W
               db     = sum of dy over n, oh, ow
               dx_mat = W_mat @ dcol                (C_in, N*H*W), back to (N, C_in, H, W)

With no bias, for the Conv2D(C_out -> C_in) with the same W, stride and padding and any x, y:
<Conv2D(x), y> = <x, ConvTranspose2D(y)>. The check tests that identity with tinyae's Conv2D.

Derivation: docs/layers/conv.md (ConvTranspose2D). Check: `tinyae exercise check conv_transpose`.
"""

import numpy as np

from tinyae.kernels import col2im, im2col
from tinyae.layers.base import Layer, Param


class ConvTranspose2D(Layer):
    """Transposed convolution, x (N, C_in, H, W) -> y (N, C_out, (H-1)*sh - 2*ph + KH, ...)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, seed=0, dtype=np.float64):
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.kernel_size = k
        self.stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
        self.padding = (padding, padding) if isinstance(padding, int) else tuple(padding)
        rng = np.random.default_rng(seed)
        fan_in = in_channels * k[0] * k[1] / (self.stride[0] * self.stride[1])
        self.W = Param(rng.normal(0, np.sqrt(2 / fan_in), (in_channels, out_channels, *k)).astype(dtype), "W")
        self.b = Param(np.zeros(out_channels, dtype=dtype), "b")
        self.x_mat = self.x_shape = None

    def params(self):
        yield self.W
        yield self.b

    def output_hw(self, H, W):
        (KH, KW), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (H - 1) * sh - 2 * ph + KH, (W - 1) * sw - 2 * pw + KW

    def forward(self, x, training=False):
        KH, KW = self.kernel_size
        N, C_in, H, W = x.shape
        C_out = self.W.shape[1]
        OH, OW = self.output_hw(H, W)
        # BEGIN YOUR CODE: x_mat (keep it and x.shape), col, y = col2im(col) + b
        x_mat = x.transpose(1, 0, 2, 3).reshape(C_in, -1)  # (C_in, N*H*W)
        col = self.W.value.reshape(C_in, -1).T @ x_mat  # (C_out*KH*KW, N*H*W)
        y = col2im(col, (N, C_out, OH, OW), KH, KW, self.stride, self.padding)
        self.x_mat, self.x_shape = x_mat, x.shape
        return y + self.b.value[:, None, None]
        # END YOUR CODE

    def backward(self, dy):
        KH, KW = self.kernel_size
        N, C_in, H, W = self.x_shape
        # BEGIN YOUR CODE: add dW and db into the grads, return dx (N, C_in, H, W)
        dcol = im2col(dy, KH, KW, self.stride, self.padding)  # (C_out*KH*KW, N*H*W)
        self.W.grad += (self.x_mat @ dcol.T).reshape(self.W.shape)  # (C_in, C_out*KH*KW)
        self.b.grad += dy.sum(axis=(0, 2, 3))
        dx_mat = self.W.value.reshape(C_in, -1) @ dcol  # (C_in, N*H*W)
        return dx_mat.reshape(C_in, N, H, W).transpose(1, 0, 2, 3)
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("conv_transpose", ConvTranspose2D)
    raise SystemExit(0 if result.passed else 1)

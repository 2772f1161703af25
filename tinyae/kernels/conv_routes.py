"""The flipped route: a second algorithm for ``Conv2D`` with stride 1 and no more output than input channels.

``Conv2D.forward``/``backward`` (tinyae/layers/conv.py) are the im2col route that docs/layers/conv.md
derives; this module registers their twins (``@kernels.twin``), which compute the same numbers by a
route that moves less memory when F <= C. Derivation: docs/layers/conv.md, "The flipped route".

With stride 1, input pixel x[n, c, h, w] meets W[f, c, i, j] in output pixel (h + ph - i, w + pw - j).
Write Wflip[c, f, i, j] = W[f, c, KH-1-i, KW-1-j] (the kernel turned by 180 degrees, in and out
channels swapped) and p' = (KH-1-ph, KW-1-pw). Then, index by index:

  y  = Conv2D(x; W, padding p)  is  ConvTranspose2D(x; Wflip, padding p'):  col = Wflip_mat.T @ x_mat,
       y = col2im(col)  -- the output pixel GATHERS the KH*KW entries of col that belong to it;
  dx = Conv2D(dy; Wflip, padding p'):  dcol = im2col(dy), dx_mat = Wflip_mat @ dcol;
  dW = the same dcol against x:  dWflip_mat = x_mat @ dcol.T, turned back into W's layout.

Every col here has F*KH*KW rows where im2col(x) has C*KH*KW. When F <= C that is less memory to write
and read back: for the 16 -> 1 output layer of the conv autoencoder, 16x less, and its forward went
from 22.6 to 3.5 ms per batch of 128 images of 28x28 (docs/performance.md, 6.). Same sums in another
order: equal to rounding (tests/test_perf_paths.py checks gradients and equality with the im2col route).

Which route a backward takes is decided by its forward: the flipped forward keeps x as x_mat (what dW
needs) in ``layer._twin_flipped_x_mat`` and no col; the backward twin runs exactly when the layer's last
forward did (``_took_the_flipped_route``). Written with whole-array operations of the layer's array module,
so it is registered for NumPy (impl "numba", the CPU fast path) and CuPy alike.
"""

from __future__ import annotations

from tinyae import backend, kernels
from tinyae.kernels.shapes import conv_output_hw


def flipped_route_fits(layer, x_shape) -> bool:
    """Whether the flipped route computes ``layer`` (a Conv2D) on inputs of ``x_shape`` AND pays:
    stride 1, F <= C, and padding at most KH - 1, KW - 1 (or p' would be negative)."""
    KH, KW = layer.kernel_size
    ph, pw = layer.padding
    return (layer.stride == (1, 1) and layer.out_channels <= x_shape[1]
            and ph <= KH - 1 and pw <= KW - 1)


def _W_flip(layer):
    """Wflip_mat (C, F*KH*KW): W (F, C, KH, KW) turned by 180 degrees, in/out channels swapped."""
    C, F = layer.in_channels, layer.out_channels
    KH, KW = layer.kernel_size
    xp = backend.array_module(layer.W.value)
    return xp.reshape(xp.permute_dims(layer.W.value[:, :, ::-1, ::-1], (1, 0, 2, 3)), (C, F * KH * KW))


def _forward_fits(layer, x, training=False) -> bool:
    return len(x.shape) == 4 and flipped_route_fits(layer, x.shape)


def _took_the_flipped_route(layer, dy=None, need_dx=True) -> bool:
    """Whether the layer's last forward was the flipped one (it kept x_mat and no col)."""
    return layer._col is None and layer._x_shape is not None and getattr(layer, "_twin_flipped_x_mat", None) is not None


def conv2d_forward(layer, x, training=False):
    """Twin of ``Conv2D.forward`` (the flipped route): y = col2im(Wflip_mat.T @ x_mat) + b, (N, F, OH, OW)."""
    layer.check_input(x, ndim=4, tail=(layer.in_channels, None, None))
    conv_output_hw(x.shape, layer.kernel_size, layer.stride, layer.padding, where=f"{layer!r}.forward")  # fits?
    xp = backend.array_module(x)
    N, C, H, W = x.shape
    F = layer.out_channels
    KH, KW = layer.kernel_size
    ph, pw = layer.padding
    x_mat = xp.reshape(backend.ascontiguousarray(xp.permute_dims(x, (1, 0, 2, 3))), (C, N * H * W))  # (C, N*H*W)
    col = _W_flip(layer).T @ x_mat  # (F*KH*KW, C) @ (C, N*H*W) -> (F*KH*KW, N*H*W)
    OH, OW = H + 2 * ph - KH + 1, W + 2 * pw - KW + 1
    y = kernels.col2im(col, (N, F, OH, OW), KH, KW, 1, (KH - 1 - ph, KW - 1 - pw))  # (N, F, OH, OW)
    if layer.b is not None:
        y += layer.b.value[None, :, None, None]  # y is fresh
    layer._col, layer._x_shape, layer._twin_flipped_x_mat = None, tuple(x.shape), x_mat  # dW needs x, as x_mat
    return y


def conv2d_backward(layer, dy, need_dx=True):
    """Twin of ``Conv2D.backward`` after a flipped forward: dcol = im2col(dy; p'), dW from x_mat @ dcol.T,
    dx = Wflip_mat @ dcol."""
    xp = backend.array_module(dy)
    N, C, H, W = layer._x_shape
    F = layer.out_channels
    KH, KW = layer.kernel_size
    ph, pw = layer.padding
    layer.check_grad(dy, layer.output_shape(layer._x_shape))
    dcol = kernels.im2col(backend.ascontiguousarray(dy), KH, KW, 1, (KH - 1 - ph, KW - 1 - pw))  # (F*KH*KW, N*H*W)
    dW_flip = layer._twin_flipped_x_mat @ dcol.T  # (C, N*H*W) @ (N*H*W, F*KH*KW) -> (C, F*KH*KW)
    dW_flip = xp.reshape(dW_flip, (C, F, KH, KW))[:, :, ::-1, ::-1]  # turned back by 180 degrees
    layer.W.grad += xp.permute_dims(dW_flip, (1, 0, 2, 3))  # (C, F, KH, KW) -> (F, C, KH, KW)
    if layer.b is not None:
        layer.b.grad += xp.sum(dy, axis=(0, 2, 3))  # (F,)
    if not need_dx:
        return None
    dx_mat = _W_flip(layer) @ dcol  # (C, F*KH*KW) @ (F*KH*KW, N*H*W) -> (C, N*H*W)
    return backend.ascontiguousarray(xp.permute_dims(xp.reshape(dx_mat, (C, N, H, W)), (1, 0, 2, 3)))  # (N,C,H,W)


for _impl in ("numba", "cupy"):  # NumPy on the CPU, CuPy on the GPU: the same whole-array lines
    kernels.twin("Conv2D.forward", _impl, accepts=_forward_fits)(conv2d_forward)
    kernels.twin("Conv2D.backward", _impl, accepts=_took_the_flipped_route)(conv2d_backward)

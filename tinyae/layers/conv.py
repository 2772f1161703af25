"""Convolution layers: ``Conv2D`` (im2col + one matrix product) and its adjoint ``ConvTranspose2D``.

Both work on NCHW batches. With a KH x KW kernel, stride (sh, sw) and zero padding (ph, pw), a
convolution's output pixel (n, f, oh, ow) is a dot product of the filter W[f] with one window of x:

    y[n, f, oh, ow] = b[f] + sum_{c,i,j} W[f, c, i, j] * xpad[n, c, oh*sh + i, ow*sw + j]

im2col (tinyae.kernels) copies every window into a column of col (C*KH*KW, N*OH*OW); the rows are
ordered (c, i, j) like W flattened to W_mat (F, C*KH*KW). The whole batch is then ONE product:

    forward    col   = im2col(x)                      (C*KH*KW, N*OH*OW)
               y_mat = W_mat @ col + b                (F, C*KH*KW) @ (C*KH*KW, N*OH*OW) -> (F, N*OH*OW)
               y     = y_mat as (N, F, OH, OW)
    backward   dy_mat = dy as (F, N*OH*OW)
               dW_mat = dy_mat @ col.T                (F, N*OH*OW) @ (N*OH*OW, C*KH*KW) -> (F, C*KH*KW)
               db     = sum of dy over n, oh, ow      (F,)
               dcol   = W_mat.T @ dy_mat              (C*KH*KW, F) @ (F, N*OH*OW) -> (C*KH*KW, N*OH*OW)
               dx     = col2im(dcol)                  (N, C, H, W): each window entry added back where it came from

``backward_params(dy)`` stops after db: a model's first layer, whose input is data, needs neither dcol
nor the col2im (see Layer.backward_params).

These lines are the reference. With stride 1 and no more output than input channels, a twin of
``forward``/``backward`` computes the same numbers by another route that moves less memory (a
convolution is a transposed convolution with the kernel turned by 180 degrees): tinyae/kernels/conv_routes.py,
derived in docs/layers/conv.md; ``with tinyae.kernels.use("reference")`` keeps the lines here.

The transposed convolution is this picture read backwards: its forward IS the convolution's input
gradient (col = W_mat.T @ x_mat, then col2im), and its backward uses im2col. It maps an input of
size H to (H - 1)*sh - 2*ph + KH + output_padding, undoing the size change of a Conv2D with the same
kernel, stride and padding. ``<Conv2D(x), y> == <x, ConvTranspose2D(y)>`` for shared weights (tested).
Derivations: docs/layers/conv.md.
"""

from __future__ import annotations

from tinyae import backend, kernels
from tinyae.kernels.shapes import as_pair, conv_output_hw, conv_transpose_output_hw, pair_text
from tinyae.layers.base import Layer, Param, check_positive_int, host_array
from tinyae.layers.dense import INIT_SCHEMES, init_weights


class _ConvBase(Layer):
    """What Conv2D and ConvTranspose2D share: arguments, Params, repr, config."""

    def _init_params(self, w_shape, fan_in, fan_out, bias, init, seed, dtype):
        where = type(self).__name__
        if init not in INIT_SCHEMES:
            raise ValueError(f"{where}: init must be one of {sorted(INIT_SCHEMES)}, got {init!r}")
        dtype = backend.check_float_dtype(dtype, where)
        self.init = init
        self.use_bias = bool(bias)
        self.W = Param(init_weights(w_shape, fan_in, fan_out, init, seed, dtype), "W")
        self.b = Param(host_array([0.0] * self.out_channels, dtype), "b") if self.use_bias else None
        self.clear_cache()

    def params(self):
        yield self.W
        if self.b is not None:
            yield self.b

    def _geometry_repr(self):
        text = f"{self.in_channels} -> {self.out_channels}, kernel={pair_text(self.kernel_size)}"
        if self.stride != (1, 1):
            text += f", stride={pair_text(self.stride)}"
        if self.padding != (0, 0):
            text += f", padding={pair_text(self.padding)}"
        return text

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding),
                "bias": self.use_bias, "init": self.init}


class Conv2D(_ConvBase):
    """2-D convolution (cross-correlation, as in every deep-learning library) via im2col + one matmul.

    x (N, C_in, H, W) -> y (N, C_out, OH, OW), OH = floor((H + 2*ph - KH) / sh) + 1 (likewise OW).

    Arguments
    ---------
    in_channels, out_channels -- C_in and C_out.
    kernel_size, stride, padding -- ints or pairs (along H, along W); padding is zeros on each side.
    bias  -- add a per-channel bias b (starts at zero).
    init  -- "he" (default, for a ReLU that follows) or "xavier", or an activation name, as for Dense.
             fan_in = C_in*KH*KW (the length of each dot product), fan_out = C_out*KH*KW.
    seed, dtype -- as for Dense.

    Params: ``W`` (C_out, C_in, KH, KW), then ``b`` (C_out,). See the module docstring for the formulas.
    """

    _cache_names = ("_col", "_x_shape")  # col is what dW needs; col2im needs the shape

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, *, bias: bool = True,
                 init: str = "he", seed=None, dtype=backend.DEFAULT_DTYPE):
        self.in_channels = check_positive_int(in_channels, "in_channels", "Conv2D")
        self.out_channels = check_positive_int(out_channels, "out_channels", "Conv2D")
        self.kernel_size = as_pair(kernel_size, "kernel_size", "Conv2D")
        self.stride = as_pair(stride, "stride", "Conv2D")
        self.padding = as_pair(padding, "padding", "Conv2D", minimum=0)
        KH, KW = self.kernel_size
        self._init_params((self.out_channels, self.in_channels, KH, KW), fan_in=self.in_channels * KH * KW,
                          fan_out=self.out_channels * KH * KW, bias=bias, init=init, seed=seed, dtype=dtype)

    @kernels.hot_spot("Conv2D.forward")  # the body is the reference; another route may run (tinyae/kernels)
    def forward(self, x, training: bool = False):
        self.check_input(x, ndim=4, tail=(self.in_channels, None, None))
        N = x.shape[0]
        KH, KW = self.kernel_size
        OH, OW = conv_output_hw(x.shape, self.kernel_size, self.stride, self.padding, where=f"{self!r}.forward")
        F = self.out_channels
        xp = backend.array_module(x)
        col = kernels.im2col(x, KH, KW, self.stride, self.padding)  # (C*KH*KW, N*OH*OW)
        y_mat = xp.reshape(self.W.value, (F, -1)) @ col  # (F, C*KH*KW) @ (C*KH*KW, N*OH*OW) -> (F, N*OH*OW)
        if self.b is not None:
            y_mat += self.b.value[:, None]  # (F, 1) broadcast over all output pixels; y_mat is fresh
        self._col, self._x_shape = col, tuple(x.shape)
        # (F, N*OH*OW) -> (F, N, OH, OW) -> (N, F, OH, OW), copied so the next layer gets a contiguous array
        return backend.ascontiguousarray(xp.permute_dims(xp.reshape(y_mat, (F, N, OH, OW)), (1, 0, 2, 3)))

    @kernels.hot_spot("Conv2D.backward")  # the backward of the route its forward took (tinyae/kernels)
    def backward(self, dy, need_dx: bool = True):
        x_shape = self._cached("_x_shape")
        N, F = x_shape[0], self.out_channels
        OH, OW = conv_output_hw(x_shape, self.kernel_size, self.stride, self.padding, where=repr(self))
        self.check_grad(dy, (N, F, OH, OW))
        col = self._cached("_col")
        xp = backend.array_module(dy)
        dy_mat = xp.reshape(xp.permute_dims(dy, (1, 0, 2, 3)), (F, N * OH * OW))  # (N, F, OH, OW) -> (F, N*OH*OW)
        self.W.grad += xp.reshape(dy_mat @ col.T, self.W.shape)  # (F, N*OH*OW) @ (N*OH*OW, C*KH*KW) -> (F, C*KH*KW)
        if self.b is not None:
            self.b.grad += xp.sum(dy_mat, axis=1)  # (F,)
        if not need_dx:  # a first layer, whose input is data: no dcol product, no col2im (backward_params)
            return None
        dcol = xp.reshape(self.W.value, (F, -1)).T @ dy_mat  # (C*KH*KW, F) @ (F, N*OH*OW) -> (C*KH*KW, N*OH*OW)
        KH, KW = self.kernel_size
        return kernels.col2im(dcol, x_shape, KH, KW, self.stride, self.padding)  # (N, C, H, W)

    def backward_params(self, dy):
        """dW and db, and no dx (see Layer.backward_params)."""
        self.backward(dy, need_dx=False)

    def output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ValueError(f"{self!r}: expected an input shape (N, {self.in_channels}, H, W), got {shape}")
        OH, OW = conv_output_hw(shape, self.kernel_size, self.stride, self.padding, where=repr(self))
        return (shape[0], self.out_channels, OH, OW)

    def __repr__(self):
        extra = "" if self.use_bias else ", bias=False"
        return f"Conv2D({self._geometry_repr()}{extra})"


class ConvTranspose2D(_ConvBase):
    """Transposed 2-D convolution: the adjoint of Conv2D, used to grow feature maps in a decoder.

    x (N, C_in, H, W) -> y (N, C_out, OH, OW), OH = (H - 1)*sh - 2*ph + KH + output_padding (likewise OW).

    Its forward is Conv2D's input gradient, its backward uses Conv2D's im2col::

        forward    x_mat  = x as (C_in, N*H*W)
                   col    = W_mat.T @ x_mat            (C_out*KH*KW, C_in) @ (C_in, N*H*W) -> (C_out*KH*KW, N*H*W)
                   y      = col2im(col) + b            (N, C_out, OH, OW)
        backward   dcol   = im2col(dy)                 (C_out*KH*KW, N*H*W)  -- dy's windows, one per input pixel
                   dW_mat = x_mat @ dcol.T             (C_in, N*H*W) @ (N*H*W, C_out*KH*KW) -> (C_in, C_out*KH*KW)
                   db     = sum of dy over n, oh, ow   (C_out,)
                   dx_mat = W_mat @ dcol               (C_in, C_out*KH*KW) @ (C_out*KH*KW, N*H*W) -> (C_in, N*H*W)

    W has shape (C_in, C_out, KH, KW) -- the shape of the Conv2D(C_out -> C_in) it is the adjoint of,
    and PyTorch's layout for ConvTranspose2d -- so W_mat = W as (C_in, C_out*KH*KW).

    Arguments as for Conv2D, plus output_padding (int or pair, 0 <= output_padding < stride): a Conv2D
    with stride s sends s different input sizes to the same output size; output_padding picks the
    larger ones (e.g. stride 2, kernel 3, padding 1, output_padding 1 doubles H exactly).
    init: fan_in = C_in*KH*KW / (sh*sw), the average number of terms summed into one output pixel.

    Checkerboard artefacts: when the kernel is not a multiple of the stride, output pixels receive
    unequal numbers of terms, which shows as a checkerboard; Upsample2D + Conv2D avoids it.
    """

    _cache_names = ("_x_as_matrix", "_x_shape")  # x as (C_in, N*H*W), x_mat, is what dW needs

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0, *,
                 bias: bool = True, init: str = "he", seed=None, dtype=backend.DEFAULT_DTYPE):
        where = "ConvTranspose2D"
        self.in_channels = check_positive_int(in_channels, "in_channels", where)
        self.out_channels = check_positive_int(out_channels, "out_channels", where)
        self.kernel_size = as_pair(kernel_size, "kernel_size", where)
        self.stride = as_pair(stride, "stride", where)
        self.padding = as_pair(padding, "padding", where, minimum=0)
        self.output_padding = as_pair(output_padding, "output_padding", where, minimum=0)
        if self.output_padding[0] >= self.stride[0] or self.output_padding[1] >= self.stride[1]:
            raise ValueError(f"{where}: output_padding {self.output_padding} must be smaller than the stride "
                             f"{self.stride} along each axis")
        KH, KW = self.kernel_size
        sh, sw = self.stride
        self._init_params((self.in_channels, self.out_channels, KH, KW),
                          fan_in=max(1.0, self.in_channels * KH * KW / (sh * sw)),
                          fan_out=self.out_channels * KH * KW, bias=bias, init=init, seed=seed, dtype=dtype)

    def _out_hw(self, x_shape, where):
        return conv_transpose_output_hw(x_shape, self.kernel_size, self.stride, self.padding, self.output_padding,
                                        where=where)

    def forward(self, x, training: bool = False):
        self.check_input(x, ndim=4, tail=(self.in_channels, None, None))
        N, C_in, H, W = x.shape
        OH, OW = self._out_hw(x.shape, f"{self!r}.forward")
        C_out = self.out_channels
        KH, KW = self.kernel_size
        xp = backend.array_module(x)
        x_mat = xp.reshape(xp.permute_dims(x, (1, 0, 2, 3)), (C_in, N * H * W))  # (N, C_in, H, W) -> (C_in, N*H*W)
        col = xp.reshape(self.W.value, (C_in, -1)).T @ x_mat  # (C_out*KH*KW, C_in) @ (C_in, N*H*W)
        y = kernels.col2im(col, (N, C_out, OH, OW), KH, KW, self.stride, self.padding)  # (N, C_out, OH, OW)
        if self.b is not None:
            y += self.b.value[:, None, None]  # (C_out, 1, 1) broadcast; y is fresh
        self._x_as_matrix, self._x_shape = x_mat, tuple(x.shape)
        return y

    def backward(self, dy):
        x_mat = self._cached("_x_as_matrix")
        N, C_in, H, W = self._x_shape
        OH, OW = self._out_hw(self._x_shape, repr(self))
        self.check_grad(dy, (N, self.out_channels, OH, OW))
        KH, KW = self.kernel_size
        xp = backend.array_module(dy)
        dcol = kernels.im2col(dy, KH, KW, self.stride, self.padding)  # (C_out*KH*KW, N*H*W)
        self.W.grad += xp.reshape(x_mat @ dcol.T, self.W.shape)  # (C_in, N*H*W) @ (N*H*W, C_out*KH*KW)
        if self.b is not None:
            self.b.grad += xp.sum(dy, axis=(0, 2, 3))  # (C_out,)
        dx_mat = xp.reshape(self.W.value, (C_in, -1)) @ dcol  # (C_in, C_out*KH*KW) @ (C_out*KH*KW, N*H*W)
        dx = xp.permute_dims(xp.reshape(dx_mat, (C_in, N, H, W)), (1, 0, 2, 3))  # (C_in, N, H, W) -> (N, C_in, H, W)
        return backend.ascontiguousarray(dx)  # copied so the previous layer gets a contiguous array

    def output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ValueError(f"{self!r}: expected an input shape (N, {self.in_channels}, H, W), got {shape}")
        return (shape[0], self.out_channels) + self._out_hw(shape, repr(self))

    def config(self) -> dict:
        return {**super().config(), "output_padding": list(self.output_padding)}

    def __repr__(self):
        text = self._geometry_repr()
        if self.output_padding != (0, 0):
            text += f", output_padding={pair_text(self.output_padding)}"
        return f"ConvTranspose2D({text}{'' if self.use_bias else ', bias=False'})"

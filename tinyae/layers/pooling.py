"""Pooling and upsampling: ``MaxPool2D``, ``AvgPool2D`` (shrink) and ``Upsample2D`` (grow), NCHW.

A KH x KW window moves with stride (sh, sw) over each channel; OH = floor((H + 2*ph - KH) / sh) + 1.
None of these layers has Params; each backward is the exact adjoint of its forward's linear map
(for max-pool: of the linear map that picks the winners the forward found).

    MaxPool2D   y[n,c,oh,ow] = max of the window           dx[winner] += dy[n,c,oh,ow]
    AvgPool2D   y[n,c,oh,ow] = mean of the window          dx[each window pixel] += dy[n,c,oh,ow] / (KH*KW)
    Upsample2D  nearest:  y[n,c,h,w] = x[n,c,h // sh, w // sw]     dx = BLOCK SUM of dy over each sh x sw block
                bilinear: y = A_H @ x @ A_W.T (per channel)         dx = A_H.T @ dy @ A_W

When windows overlap (stride < kernel) a pixel belongs to several windows and its gradient is the
sum over them; the kernels' offset loop handles that (tinyae.kernels).
"""

from __future__ import annotations

from tinyae import backend, kernels
from tinyae.kernels.shapes import as_pair, conv_output_hw, pair_text, window_slices
from tinyae.layers.base import Layer


class _Pool2D(Layer):
    """What MaxPool2D and AvgPool2D share: window arguments, shape checks, repr and config."""

    def __init__(self, kernel_size, stride, padding):
        where = type(self).__name__
        self.kernel_size = as_pair(kernel_size, "kernel_size", where)
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride", where)
        self.padding = as_pair(padding, "padding", where, minimum=0)
        KH, KW = self.kernel_size
        if self.padding[0] > KH // 2 or self.padding[1] > KW // 2:
            raise ValueError(f"{where}: padding {self.padding} must be at most half the kernel {self.kernel_size}, "
                             f"or a window could cover padding only")
        self.clear_cache()

    def _out_hw(self, x_shape, where):
        return conv_output_hw(x_shape, self.kernel_size, self.stride, self.padding, where=where)

    def output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(f"{self!r}: expected an input shape (N, C, H, W), got {shape}")
        return shape[:2] + self._out_hw(shape, repr(self))

    def config(self) -> dict:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding)}

    def __repr__(self):
        text = f"kernel={pair_text(self.kernel_size)}"
        if self.stride != self.kernel_size:
            text += f", stride={pair_text(self.stride)}"
        if self.padding != (0, 0):
            text += f", padding={pair_text(self.padding)}"
        return f"{type(self).__name__}({text})"


class MaxPool2D(_Pool2D):
    """Max over each KH x KW window: x (N, C, H, W) -> y (N, C, OH, OW).

    forward   y[n, c, oh, ow] = max over the window of (n, c, oh, ow); the winner's position is kept
    backward  dx = 0, then dx[winner of window (oh, ow)] += dy[n, c, oh, ow] for every window

    stride defaults to the kernel (non-overlapping windows); a smaller stride gives overlapping windows,
    where one pixel can win several windows and then receives the SUM of their gradients. padding
    (at most half the kernel) is -inf, so it never wins.

    Ties: when a window holds its maximum more than once, the FIRST one in window order (row by row,
    left to right) wins and alone receives the gradient -- one valid subgradient. (PyTorch's CPU
    kernel makes the same choice.) The max is not differentiable there, so finite differences disagree;
    gradient checks use inputs without ties.
    """

    _cache_names = ("_argmax", "_x_shape")

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(kernel_size, stride, padding)

    def forward(self, x, training: bool = False):
        self.check_input(x, ndim=4)
        self._out_hw(x.shape, f"{self!r}.forward")  # a clear error if no window fits
        KH, KW = self.kernel_size
        y, argmax = kernels.maxpool_forward(x, KH, KW, self.stride, self.padding)  # (N, C, OH, OW) each
        self._argmax, self._x_shape = argmax, tuple(x.shape)  # argmax: the winner's offset i*KW + j
        return y

    def backward(self, dy):
        argmax = self._cached("_argmax")
        self.check_grad(dy, tuple(argmax.shape))
        KH, KW = self.kernel_size
        return kernels.maxpool_backward(dy, argmax, self._x_shape, KH, KW, self.stride, self.padding)  # (N, C, H, W)


class AvgPool2D(_Pool2D):
    """Mean over each KH x KW window: x (N, C, H, W) -> y (N, C, OH, OW). No padding.

    forward   y[n, c, oh, ow] = (1 / (KH*KW)) * sum_{i,j} x[n, c, oh*sh + i, ow*sw + j]
    backward  dx[n, c, oh*sh + i, ow*sw + j] += dy[n, c, oh, ow] / (KH*KW)   for every window and (i, j)

    Both are a loop over the KH*KW window offsets, each step one strided slice of the whole batch
    (the kernel-offset loop of tinyae.kernels, small enough to live here).
    """

    _cache_names = ("_x_shape",)

    def __init__(self, kernel_size, stride=None):
        super().__init__(kernel_size, stride, 0)

    def forward(self, x, training: bool = False):
        self.check_input(x, ndim=4)
        N, C = x.shape[:2]
        OH, OW = self._out_hw(x.shape, f"{self!r}.forward")
        KH, KW = self.kernel_size
        y = backend.zeros((N, C, OH, OW), like=x)
        for i in range(KH):
            for j in range(KW):
                rows, cols = window_slices(i, j, self.stride, (OH, OW))
                y += x[:, :, rows, cols]  # (N, C, OH, OW): entry (i, j) of every window
        y /= KH * KW  # a Python int keeps y's dtype
        self._x_shape = tuple(x.shape)
        return y

    def backward(self, dy):
        x_shape = self._cached("_x_shape")
        OH, OW = self._out_hw(x_shape, repr(self))
        self.check_grad(dy, x_shape[:2] + (OH, OW))
        KH, KW = self.kernel_size
        share = dy / (KH * KW)  # each window pixel's share of dy (a new array: dy is left untouched)
        dx = backend.zeros(x_shape, like=dy)
        for i in range(KH):
            for j in range(KW):
                rows, cols = window_slices(i, j, self.stride, (OH, OW))
                dx[:, :, rows, cols] += share  # overlapping windows add up
        return dx

    def config(self) -> dict:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride)}


class Upsample2D(Layer):
    """Grow each feature map by an integer factor: x (N, C, H, W) -> y (N, C, H*sh, W*sw).

    mode="nearest": every pixel becomes an sh x sw block of copies,
        forward   y[n, c, h, w] = x[n, c, h // sh, w // sw]
        backward  dx[n, c, h, w] = sum of dy over the block y[n, c, h*sh:(h+1)*sh, w*sw:(w+1)*sw]
    Each x pixel feeds sh*sw outputs, so its gradient is the SUM over its block (not one element of
    it, and not the mean -- both are bugs met in from-scratch code).

    mode="bilinear": linear interpolation along H, then along W, with PyTorch's
    ``align_corners=False`` geometry: output pixel o of an axis of n_in pixels samples the input at
        s = (o + 0.5) / scale - 0.5, clamped below at 0,
    i.e. pixel CENTRES are aligned (the sampling grid is shifted by half a pixel, not stretched
    corner to corner), and interpolates x[floor(s)] and x[min(floor(s) + 1, n_in - 1)] with weights
    1 - (s - floor(s)) and s - floor(s). Along one axis this is a fixed (n_out, n_in) matrix A whose
    rows sum to 1, so
        forward   y  = A_H @ x @ A_W.T        per (n, c) plane
        backward  dx = A_H.T @ dy @ A_W       the exact adjoint (transpose) of the forward's linear map
    The matrices are dense (n_out x n_in); for the small feature maps of an autoencoder that is a
    cheap price for code whose backward is visibly the transpose of its forward.

    scale -- int or pair (along H, along W), >= 1.
    """

    _cache_names = ("_x_shape",)
    MODES = ("nearest", "bilinear")

    def __init__(self, scale=2, mode: str = "nearest"):
        self.scale = as_pair(scale, "scale", "Upsample2D")
        if mode not in self.MODES:
            raise ValueError(f"Upsample2D: mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self._matrices = {}  # (n_in, scale, dtype, module, device) -> interpolation matrix, built once per size
        self._x_shape = None

    def clear_cache(self):
        super().clear_cache()
        self._matrices = {}

    def _interp_matrix(self, n_in, scale, like):
        """A (n_in*scale, n_in) matrix of bilinear weights along one axis (see the class docstring),
        of ``like``'s dtype, module and device."""
        xp = backend.array_module(like)
        key = (n_in, scale, str(like.dtype), xp.__name__, str(like.device))
        if key not in self._matrices:
            n_out = n_in * scale
            s = (backend.arange(n_out, like) + 0.5) / scale - 0.5  # where output pixel o samples the input
            s = xp.maximum(s, 0)  # the first half-pixel copies the border
            i0 = xp.floor(s)  # left neighbour, a whole number <= n_in - 1 always: s < n_in - 1/2
            w1 = s - i0  # weight of the right neighbour (same dtype as s)
            w0 = 1 - w1
            i1 = xp.minimum(i0 + 1, n_in - 1)  # right neighbour; the last half-pixel copies the border
            cols = backend.arange(n_in, like)[None, :]  # (1, n_in), whole numbers compared exactly with i0, i1
            A = xp.where(cols == i0[:, None], w0[:, None], 0) + xp.where(cols == i1[:, None], w1[:, None], 0)
            self._matrices[key] = A  # (n_out, n_in): w0 in column i0, w1 in column i1 (1 where they coincide)
        return self._matrices[key]

    @kernels.hot_spot("Upsample2D.forward")  # the body is the reference; a twin of it may run (tinyae/kernels)
    def forward(self, x, training: bool = False):
        self.check_input(x, ndim=4)
        xp = backend.array_module(x)
        N, C, H, W = x.shape
        sh, sw = self.scale
        self._x_shape = tuple(x.shape)
        if self.mode == "nearest":
            # The offset loop: block entry (i, j) of every block is the strided slice y[:, :, i::sh, j::sw],
            # so sh*sw whole-array copies fill y (2x faster than reshaping a broadcast view).
            y = backend.empty((N, C, H * sh, W * sw), like=x)
            for i in range(sh):
                for j in range(sw):
                    y[:, :, i::sh, j::sw] = x
            return y
        A_H, A_W = self._interp_matrix(H, sh, x), self._interp_matrix(W, sw, x)
        t = xp.reshape(x, (N * C * H, W)) @ A_W.T  # (N*C*H, W) @ (W, W*sw) -> (N*C*H, W*sw): along W
        y = A_H @ xp.reshape(t, (N * C, H, W * sw))  # (H*sh, H) @ (N*C, H, W*sw) -> (N*C, H*sh, W*sw): along H
        return xp.reshape(y, (N, C, H * sh, W * sw))

    @kernels.hot_spot("Upsample2D.backward")  # the body is the reference; a twin of it may run (tinyae/kernels)
    def backward(self, dy):
        N, C, H, W = self._cached("_x_shape")
        sh, sw = self.scale
        self.check_grad(dy, (N, C, H * sh, W * sw))
        if self.mode == "nearest":
            # Block sums, by the same offset loop: sh*sw strided additions (NumPy's sum over the two inner
            # axes of dy.reshape(N, C, H, sh, W, sw) gives the same sums but was 7x slower on 28x28 maps).
            dx = backend.copy(dy[:, :, 0::sh, 0::sw])  # (N, C, H, W): entry (0, 0) of every block
            for i in range(sh):
                for j in range(sw):
                    if i or j:
                        dx += dy[:, :, i::sh, j::sw]
            return dx
        xp = backend.array_module(dy)
        A_H, A_W = self._interp_matrix(H, sh, dy), self._interp_matrix(W, sw, dy)
        u = A_H.T @ xp.reshape(dy, (N * C, H * sh, W * sw))  # (H, H*sh) @ (N*C, H*sh, W*sw) -> (N*C, H, W*sw)
        dx = xp.reshape(u, (N * C * H, W * sw)) @ A_W  # (N*C*H, W*sw) @ (W*sw, W) -> (N*C*H, W)
        return xp.reshape(dx, (N, C, H, W))

    def output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(f"{self!r}: expected an input shape (N, C, H, W), got {shape}")
        return (shape[0], shape[1], shape[2] * self.scale[0], shape[3] * self.scale[1])

    def config(self) -> dict:
        return {"scale": list(self.scale), "mode": self.mode}

    def __repr__(self):
        return f"Upsample2D(scale={pair_text(self.scale)}, mode={self.mode!r})"

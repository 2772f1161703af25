"""The matrix products of a training step: counted (FLOPs) and replayed alone with plain NumPy (CuPy).

The replay is the "products alone" of the report: what this machine's matmul reaches on exactly the
work of an epoch, at the same shapes and layouts, with nothing else around it.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from tinyae.kernels.conv_routes import flipped_route_fits
from tinyae.layers import Conv2D, ConvTranspose2D, Dense, TiedDense
from tinyae.models import VAE, leaf_layers


def matmul_products(model, batch: int) -> list:
    """The matrix products of one training step of ``model`` at batch size ``batch``.

    Each product is (a_shape, b_shape, ta, tb): C-contiguous operands of those shapes, multiplied as
    (a.T if ta else a) @ (b.T if tb else b) -- the same layouts the layers use, so a replay reproduces
    what BLAS sees. FLOPs of a product (M, K) @ (K, N): 2*M*K*N.
    """
    products = []
    shape = (batch, *model.input_shape)
    parts = [leaf_layers(model.encoder), leaf_layers(model.decoder)]
    first = True  # the first layer with Params computes no dx (its input is data: Layer.backward_params)
    for k, layers in enumerate(parts):
        if k == 1 and isinstance(model, VAE):
            shape = (batch, model.latent_dim)  # the decoder gets z, not [mu, logvar]
        for layer in layers:
            out = layer.output_shape(shape)
            count = len(products)
            if isinstance(layer, (Dense, TiedDense)):
                n, i, o = batch, layer.in_features, layer.out_features
                w = (i, o) if isinstance(layer, Dense) else (o, i)
                tied = isinstance(layer, TiedDense)
                products += [((n, i), w, False, tied),          # y = x @ W          (N, in) @ (in, out)
                             ((n, i), (n, o), True, False),     # dW = x.T @ dy      (in, N) @ (N, out)
                             ((n, o), w, False, not tied)]      # dx = dy @ W.T      (N, out) @ (out, in)
            elif isinstance(layer, Conv2D) and flipped_route_fits(layer, shape):  # stride 1, F <= C (conv_routes.py)
                F, C = layer.out_channels, layer.in_channels
                KH, KW = layer.kernel_size
                fk, q = F * KH * KW, shape[0] * shape[2] * shape[3]
                products += [((C, fk), (C, q), True, False),    # col = Wflip.T @ x_mat  (FK, C) @ (C, N*H*W)
                             ((C, q), (fk, q), False, True),    # dWflip = x_mat @ dcol.T (C, NHW) @ (NHW, FK)
                             ((C, fk), (fk, q), False, False)]  # dx = Wflip @ dcol     (C, FK) @ (FK, N*H*W)
            elif isinstance(layer, Conv2D):
                F, C = layer.out_channels, layer.in_channels
                KH, KW = layer.kernel_size
                ck, p = C * KH * KW, out[0] * out[2] * out[3]
                products += [((F, ck), (ck, p), False, False),  # y = W @ col         (F, CK) @ (CK, N*OH*OW)
                             ((F, p), (ck, p), False, True),    # dW = dy @ col.T    (F, P) @ (P, CK)
                             ((F, ck), (F, p), True, False)]    # dcol = W.T @ dy    (CK, F) @ (F, P)
            elif isinstance(layer, ConvTranspose2D):
                C_in, C_out = layer.in_channels, layer.out_channels
                KH, KW = layer.kernel_size
                ck, p = C_out * KH * KW, shape[0] * shape[2] * shape[3]
                products += [((C_in, ck), (C_in, p), True, False),   # col = W.T @ x
                             ((C_in, p), (ck, p), False, True),      # dW = x @ dcol.T
                             ((C_in, ck), (ck, p), False, False)]    # dx = W @ dcol
            if first and len(products) > count:
                products.pop()  # the first layer's dx (dcol) product: backward_params skips it
                first = False
            shape = out
    return products


def product_flops(products) -> int:
    total = 0
    for a, b, ta, tb in products:
        m, k = (a[1], a[0]) if ta else a
        n = b[0] if tb else b[1]
        total += 2 * m * k * n
    return total


def batch_sizes(n: int, batch: int) -> list:
    return [min(batch, n - s) for s in range(0, n, batch)]


def epoch_flops(model, n: int, batch: int) -> int:
    return sum(product_flops(matmul_products(model, b)) for b in batch_sizes(n, batch))


def replay_products(model, n: int, batch: int, xp, sync, repeats: int = 5) -> float:
    """Seconds for one epoch's matrix products alone (same shapes and layouts), median of ``repeats``."""
    rng = np.random.default_rng(0)
    operands = {}
    for b in set(batch_sizes(n, batch)):
        ops = []
        for a_shape, b_shape, ta, tb in matmul_products(model, b):
            a = xp.asarray(rng.random(a_shape, dtype=np.float32))
            c = xp.asarray(rng.random(b_shape, dtype=np.float32))
            ops.append((a.T if ta else a, c.T if tb else c))
        operands[b] = ops
    epoch = [operands[b] for b in batch_sizes(n, batch)]

    def one_epoch():
        for ops in epoch:
            for a, c in ops:
                if a.shape[1] == 1:  # an outer product: broadcast, as Conv2D does (BLAS is slow at K = 1)
                    a * c
                else:
                    a @ c
        sync()

    one_epoch()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        one_epoch()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)

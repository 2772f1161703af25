"""CuPy twins of the reference kernels (reference.py): the GPU fast path.

Same functions, arguments, col layout (C*KH*KW, N*OH*OW) and results as the reference. Each kernel
is a ``cupy.ElementwiseKernel`` with ONE thread per output element, which reads what it needs:

- im2col: the thread of col entry (r, q) copies one input pixel (or writes 0 for padding).
- col2im as a GATHER: the thread of input pixel (n, c, h, w) visits the KH*KW window offsets (i, j),
  finds the output pixel whose window puts (i, j) on it (oh = (h + ph - i) / sh when that divides),
  and sums those col entries. Nobody else writes that pixel, so no atomics are needed and the result
  is deterministic; offsets are visited in the reference's order, so the sums are bit-identical.
  (A scatter with atomicAdd / ``cupyx.scatter_add`` would be simpler but nondeterministic.)
- max-pool forward: the thread of output (n, c, oh, ow) scans its window with a strict ``>``.
- max-pool backward, again a gather: the thread of input pixel (n, c, h, w) sums dy over the windows
  whose stored argmax points at it, in window-offset order.

Two fused twins of the training step's elementwise work, with the signatures of kernels/fused_cpu.py's:

- Adam's update: ONE kernel launch per Param computes the lines of ``tinyae.optim.Adam._update`` (the
  moments, the decoupled decay, the step) for every weight; the reference spends about ten launches per
  Param, and on a GPU each launch costs about 10 us whatever its size (measured on an H200: at batch 128
  the dense AE's step takes as long as at batch 8).
- binary cross-entropy on logits: one launch writes e = exp(-|z|) and the per-element losses (then one
  sum), one launch makes the gradient from e.

CuPy is imported lazily (the first call builds the kernels), so a CPU-only run never imports it.
Indices are computed in 64-bit (``long long``): col easily exceeds 2**31 entries for big batches.
"""

from __future__ import annotations

import sys

import numpy as np

from tinyae import backend, kernels
from tinyae.functional import adam_step_scalars
from tinyae.kernels import method_twins
from tinyae.kernels.shapes import window_count

_kernels = None


def _build():
    """Compile the four kernels once (CuPy caches the binaries on disk as well)."""
    global _kernels
    if _kernels is not None:
        return _kernels
    import cupy

    geometry = "int32 N, int32 C, int32 H, int32 W, int32 KH, int32 KW, int32 SH, int32 SW, int32 PH, int32 PW, " \
               "int32 OH, int32 OW"
    im2col = cupy.ElementwiseKernel(
        "raw T x, " + geometry,
        "T col",
        """
        // i is this thread's flat index into col (C*KH*KW, N*OH*OW): row r = (c*KH + ki)*KW + kj,
        // column q = (n*OH + oh)*OW + ow
        const long long P = (long long)OH * OW;
        const long long q = i % ((long long)N * P);
        const long long r = i / ((long long)N * P);
        const int ow = q % OW, oh = (q / OW) % OH, n = q / P;
        const int kj = r % KW, ki = (r / KW) % KH, c = r / ((long long)KW * KH);
        const int h = oh * SH + ki - PH, w = ow * SW + kj - PW;
        col = (h >= 0 && h < H && w >= 0 && w < W) ? x[(((long long)n * C + c) * H + h) * W + w] : (T)0;
        """,
        "tinyae_im2col",
    )
    col2im = cupy.ElementwiseKernel(
        "raw T col, " + geometry,
        "T dx",
        """
        // i is this thread's flat index into dx (N, C, H, W)
        const int w = i % W, h = (i / W) % H, c = (i / ((long long)W * H)) % C, n = i / ((long long)W * H * C);
        const long long P = (long long)OH * OW, NP = (long long)N * P;
        T acc = 0;
        for (int ki = 0; ki < KH; ki++) {
            const int th = h + PH - ki;               // = oh * SH when window row oh covers h with entry ki
            if (th < 0 || th % SH != 0 || th / SH >= OH) continue;
            const int oh = th / SH;
            for (int kj = 0; kj < KW; kj++) {
                const int tw = w + PW - kj;
                if (tw < 0 || tw % SW != 0 || tw / SW >= OW) continue;
                const int ow = tw / SW;
                const long long r = ((long long)c * KH + ki) * KW + kj;
                acc += col[r * NP + n * P + (long long)oh * OW + ow];
            }
        }
        dx = acc;
        """,
        "tinyae_col2im",
    )
    maxpool_forward = cupy.ElementwiseKernel(
        "raw T x, " + geometry,
        "T y, int32 argmax",
        """
        // i is this thread's flat index into y (N, C, OH, OW)
        const int ow = i % OW, oh = (i / OW) % OH;
        const long long plane = i / ((long long)OW * OH);   // = n*C + c
        T best = (T)__longlong_as_double(0xfff0000000000000ULL);  // -inf: padding never wins
        int k_best = 0;
        for (int ki = 0; ki < KH; ki++) {
            const int h = oh * SH + ki - PH;
            for (int kj = 0; kj < KW; kj++) {
                const int w = ow * SW + kj - PW;
                if (h >= 0 && h < H && w >= 0 && w < W) {
                    const T v = x[(plane * H + h) * W + w];
                    if (v > best) { best = v; k_best = ki * KW + kj; }  // strict: first maximum wins a tie
                }
            }
        }
        y = best;
        argmax = k_best;
        """,
        "tinyae_maxpool_forward",
    )
    maxpool_backward = cupy.ElementwiseKernel(
        "raw T dy, raw int32 argmax, " + geometry,
        "T dx",
        """
        // i is this thread's flat index into dx (N, C, H, W)
        const int w = i % W, h = (i / W) % H;
        const long long plane = i / ((long long)W * H);
        T acc = 0;
        for (int ki = 0; ki < KH; ki++) {
            const int th = h + PH - ki;
            if (th < 0 || th % SH != 0 || th / SH >= OH) continue;
            const int oh = th / SH;
            for (int kj = 0; kj < KW; kj++) {
                const int tw = w + PW - kj;
                if (tw < 0 || tw % SW != 0 || tw / SW >= OW) continue;
                const long long o = (plane * OH + th / SH) * OW + tw / SW;
                if (argmax[o] == ki * KW + kj) acc += dy[o];   // this pixel won window (oh, ow)
            }
        }
        dx = acc;
        """,
        "tinyae_maxpool_backward",
    )
    _kernels = {"im2col": im2col, "col2im": col2im, "maxpool_forward": maxpool_forward,
                "maxpool_backward": maxpool_backward}
    return _kernels


_fused = None


def _build_fused():
    """Compile the Adam and BCE-with-logits kernels once."""
    global _fused
    if _fused is not None:
        return _fused
    import cupy

    adam = cupy.ElementwiseKernel(
        "T g, T b1, T c1, T b2, T c2, T eps_hat, T step_size, T decay",
        "T w, T m, T v",
        """
        // the lines of Adam._update, for one weight (c1 = 1 - b1, c2 = 1 - b2)
        const T mi = m * b1 + c1 * g;              // m <- b1 m + (1 - b1) g
        const T vi = v * b2 + c2 * (g * g);        // v <- b2 v + (1 - b2) g^2
        m = mi;
        v = vi;
        const T wi = w * decay;                    // decoupled weight decay (decay = 1 - lr*wd, or 1)
        w = wi - (mi / (sqrt(vi) + eps_hat)) * step_size;   // w <- w - lr_t m / (sqrt(v) + eps_hat)
        """,
        "tinyae_adam_update",
    )
    bce_forward = cupy.ElementwiseKernel(
        "T z, T t",
        "T e, T terms",
        """
        e = exp(-fabs(z));                                   // in (0, 1]: never overflows
        terms = fmax(z, (T)0) - z * t + log1p(e);            // max(z, 0) - z t + log(1 + exp(-|z|))
        """,
        "tinyae_bce_logits_forward",
    )
    bce_backward = cupy.ElementwiseKernel(
        "T z, T t, T e, T denom",
        "T dz",
        """
        const T r = (T)1 / ((T)1 + e);                       // sigmoid(|z|)
        const T s = z >= (T)0 ? r : e * r;                   // sigmoid(z)
        dz = (s - t) / denom;
        """,
        "tinyae_bce_logits_backward",
    )
    _fused = {"adam": adam, "bce_forward": bce_forward, "bce_backward": bce_backward}
    return _fused


def adam_update(ws, gs, ms, vs, *, lr, beta1, beta2, eps, t, weight_decay=0.0):
    """Twin of kernels/fused_cpu.adam_update on CuPy arrays: one launch per Param, in place."""
    kernel = _build_fused()["adam"]
    step_size, eps_hat = adam_step_scalars(lr, beta1, beta2, eps, t)  # the scalars of Adam._update
    for w, g, m, v in zip(ws, gs, ms, vs):
        f = np.dtype(w.dtype).type  # the scalars in the arrays' dtype, as NumPy treats Python floats
        decay = f(1 - lr * weight_decay) if weight_decay else f(1)
        kernel(g, f(beta1), f(1 - beta1), f(beta2), f(1 - beta2), f(eps_hat), f(step_size), decay, w, m, v)


def bce_with_logits_forward(z, t):
    """Twin of kernels/fused_cpu.bce_with_logits_forward: (sum of the per-element losses, e = exp(-|z|))."""
    import cupy

    e, terms = _build_fused()["bce_forward"](cupy.ascontiguousarray(z), cupy.ascontiguousarray(t))
    return terms.sum(), e


def bce_with_logits_backward(z, t, e, denom):
    """Twin of kernels/fused_cpu.bce_with_logits_backward: dL/dz = (sigmoid(z) - t) / denom."""
    return _build_fused()["bce_backward"](z, t, e, np.dtype(z.dtype).type(denom))


def _geometry(x_shape, KH, KW, stride, padding):
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x_shape
    OH, OW = window_count(H, KH, sh, ph), window_count(W, KW, sw, pw)
    return (N, C, H, W, KH, KW, sh, sw, ph, pw, OH, OW)


def im2col(x, KH, KW, stride, padding):
    """Twin of reference.im2col on the GPU: x (N, C, H, W) -> col (C*KH*KW, N*OH*OW)."""
    import cupy

    g = _geometry(x.shape, KH, KW, stride, padding)
    N, C, OH, OW = g[0], g[1], g[10], g[11]
    col = cupy.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    _build()["im2col"](cupy.ascontiguousarray(x), *g, col)
    return col


def col2im(col, x_shape, KH, KW, stride, padding):
    """Twin of reference.col2im on the GPU (a deterministic gather): col -> dx of shape x_shape."""
    import cupy

    dx = cupy.empty(tuple(x_shape), dtype=col.dtype)
    _build()["col2im"](cupy.ascontiguousarray(col), *_geometry(x_shape, KH, KW, stride, padding), dx)
    return dx


def maxpool_forward(x, KH, KW, stride, padding):
    """Twin of reference.maxpool_forward on the GPU: (y, argmax int32)."""
    import cupy

    g = _geometry(x.shape, KH, KW, stride, padding)
    shape = (g[0], g[1], g[10], g[11])
    y = cupy.empty(shape, dtype=x.dtype)
    argmax = cupy.empty(shape, dtype=cupy.int32)
    _build()["maxpool_forward"](cupy.ascontiguousarray(x), *g, y, argmax)
    return y, argmax


def maxpool_backward(dy, argmax, x_shape, KH, KW, stride, padding):
    """Twin of reference.maxpool_backward on the GPU (a deterministic gather): dx of shape x_shape."""
    import cupy

    dx = cupy.empty(tuple(x_shape), dtype=dy.dtype)
    g = _geometry(x_shape, KH, KW, stride, padding)
    _build()["maxpool_backward"](cupy.ascontiguousarray(dy), cupy.ascontiguousarray(argmax), *g, dx)
    return dx


# --------------------------------------------------------------------------------------------------
# The method twins on the GPU (see tinyae/kernels/__init__.py: hot_spot / twin)
# --------------------------------------------------------------------------------------------------


def _cupy_arrays_fit(arrays) -> bool:
    return all(backend.is_cupy_array(a) for a in arrays)


adam_step, _adam_accepts = method_twins.adam_step(sys.modules[__name__], _cupy_arrays_fit)
kernels.twin("Adam.step", "cupy", accepts=_adam_accepts)(adam_step)
bce_forward_twin, bce_backward_twin = method_twins.bce_with_logits(sys.modules[__name__])
kernels.twin("BCEWithLogits.forward", "cupy",
             accepts=lambda loss, pred, target: backend.is_cupy_array(target))(bce_forward_twin)
kernels.twin("BCEWithLogits.backward", "cupy")(bce_backward_twin)

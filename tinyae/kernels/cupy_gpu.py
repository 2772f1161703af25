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

CuPy is imported lazily (the first call builds the kernels), so a CPU-only run never imports it.
Indices are computed in 64-bit (``long long``): col easily exceeds 2**31 entries for big batches.
"""

from __future__ import annotations

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


def _out_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def _geometry(x_shape, KH, KW, stride, padding):
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x_shape
    OH, OW = _out_size(H, KH, sh, ph), _out_size(W, KW, sw, pw)
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

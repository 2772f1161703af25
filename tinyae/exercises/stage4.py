"""Stage 4 checks: im2col / col2im, Conv2D, MaxPool2D and Upsample2D backward, ConvTranspose2D."""

from __future__ import annotations

import numpy as np

from tinyae import kernels, layers
from tinyae.exercises.checking import compare, fail
from tinyae.exercises.common import F64, LayerCheck, distinct
from tinyae.layers import Conv2D

# (x shape, KH, KW, stride, padding): channels, a batch of one, strides, padding, non-square kernels
GEOMETRIES = [((2, 3, 5, 6), 3, 3, 1, 1), ((1, 1, 7, 5), 2, 3, 2, 0), ((2, 2, 6, 7), 3, 3, (2, 1), (1, 2)),
              ((1, 2, 4, 4), 1, 1, 1, 0)]


def _geometry(g):
    shape, KH, KW, s, p = g
    return f"x {shape}, kernel {KH}x{KW}, stride {s}, padding {p}"


def parts_im2col(im2col, col2im, rng):
    def ref_im2col(x, KH, KW, s, p):
        return kernels.im2col(x, KH, KW, s, p, impl="reference")

    def forward():
        for g in GEOMETRIES:
            shape, KH, KW, s, p = g
            x = rng.normal(size=shape)
            mine = x.copy()
            compare("col", im2col(mine, KH, KW, s, p), ref_im2col(x, KH, KW, s, p), context=f"for {_geometry(g)}")
            if not np.array_equal(mine, x):
                fail("im2col changed its input x in place")
        return f"im2col matches tinyae's for {len(GEOMETRIES)} geometries (channels, strides, padding, batch of one)"

    def backward():
        for g in GEOMETRIES:
            shape, KH, KW, s, p = g
            col = rng.normal(size=ref_im2col(np.zeros(shape), KH, KW, s, p).shape)
            want = kernels.col2im(col, shape, KH, KW, s, p, impl="reference")
            compare("col2im(col)", col2im(col.copy(), shape, KH, KW, s, p), want, context=f"for {_geometry(g)}")
        return "col2im matches tinyae's for the same geometries (overlapping windows added up, padding cut off)"

    def adjoint():
        for g in GEOMETRIES:
            shape, KH, KW, s, p = g
            x = rng.normal(size=shape)
            cols = np.asarray(im2col(x.copy(), KH, KW, s, p), dtype=F64)
            c = rng.normal(size=cols.shape)
            left, right = float(np.sum(cols * c)), float(np.sum(x * np.asarray(col2im(c, shape, KH, KW, s, p))))
            if not np.isclose(left, right, rtol=1e-10, atol=1e-10):
                fail(f"sum(im2col(x) * c) = {left:.10g} but sum(x * col2im(c)) = {right:.10g} for {_geometry(g)}: "
                     f"col2im must put every entry back exactly where im2col took it from")
        return "sum(im2col(x) * c) == sum(x * col2im(c)) for random x and c"

    return [("im2col", forward), ("col2im", backward), ("adjoint", adjoint)]


def _conv_builders(Student, Ref, rng):
    """build(case) and reference(case) for a case (C_in, C_out, kernel, stride, padding) of a conv exercise."""

    def build(case):
        C_in, C_out, k, s, p = case
        return Student(C_in, C_out, k, s, p, seed=int(rng.integers(2**31)), dtype=F64)

    def reference(case):
        C_in, C_out, k, s, p = case
        return Ref(C_in, C_out, k, stride=s, padding=p, dtype=F64)

    return build, reference


def parts_conv2d(Conv2D, rng):
    Ref = layers.Conv2D

    build, reference = _conv_builders(Conv2D, Ref, rng)
    cases = [((3, 2, 3, 2, 1), rng.normal(size=(2, 3, 7, 6))), ((1, 1, (2, 3), 1, 0), rng.normal(size=(1, 1, 5, 6))),
             ((2, 4, 3, 1, 2), rng.normal(size=(1, 2, 4, 5)))]
    grad_case = ((2, 3, 3, 2, 1), rng.normal(size=(2, 2, 5, 5)))
    return LayerCheck(build, reference, cases, grad_case, "tinyae's Conv2D (stride, padding, channels)", rng).parts()


def parts_maxpool(MaxPool2D, rng):
    Ref = layers.MaxPool2D

    cases = [((2, None), distinct(rng, (2, 3, 6, 6))), ((3, 1), distinct(rng, (1, 2, 5, 7))),
             (((2, 3), (1, 2)), distinct(rng, (2, 1, 5, 7)))]
    grad_case = ((3, 2), distinct(rng, (1, 2, 7, 7)))
    return LayerCheck(lambda case: MaxPool2D(*case), lambda case: Ref(*case), cases, grad_case,
                      "tinyae's MaxPool2D (overlapping windows included)", rng).parts()


def parts_upsample(Upsample2D, rng):
    Ref = layers.Upsample2D

    cases = [(2, rng.normal(size=(2, 3, 3, 4))), ((2, 3), rng.normal(size=(1, 2, 3, 2))),
             (3, rng.normal(size=(1, 1, 2, 2)))]
    grad_case = ((2, 3), rng.normal(size=(2, 2, 3, 3)))
    return LayerCheck(lambda case: Upsample2D(case), lambda case: Ref(case, "nearest"), cases, grad_case,
                      "tinyae's Upsample2D (nearest)", rng).parts()


def parts_conv_transpose(ConvTranspose2D, rng):
    Ref = layers.ConvTranspose2D

    build, reference = _conv_builders(ConvTranspose2D, Ref, rng)
    cases = [((3, 2, 3, 2, 1), rng.normal(size=(2, 3, 4, 5))), ((1, 1, (2, 3), 1, 0), rng.normal(size=(1, 1, 3, 4))),
             ((2, 3, 4, 2, 1), rng.normal(size=(1, 2, 3, 3)))]
    grad_case = ((2, 2, 3, 2, 1), rng.normal(size=(2, 2, 3, 3)))
    parts = LayerCheck(build, reference, cases, grad_case, "tinyae's ConvTranspose2D", rng).parts()

    def adjoint():
        for case, y in cases:
            C_in, C_out, k, s, p = case
            mine = build(case)
            conv = Conv2D(C_out, C_in, k, stride=s, padding=p, bias=False, dtype=F64)  # W (C_in, C_out, KH, KW)
            params = list(mine.params())
            if not params or np.shape(params[0].value) != conv.W.shape:
                fail(f"params() should yield W of shape {conv.W.shape} first")
            conv.W.value[...] = params[0].value
            for q in params[1:]:
                q.value[...] = 0  # no bias: the identity is about the linear map
            out = np.asarray(mine.forward(y.copy()), dtype=F64)  # (N, C_out, OH, OW)
            x = rng.normal(size=out.shape)
            left, right = float(np.sum(conv.forward(x) * y)), float(np.sum(x * out))
            if not np.isclose(left, right, rtol=1e-10, atol=1e-10):
                fail(f"<Conv2D(x), y> = {left:.10g} but <x, ConvTranspose2D(y)> = {right:.10g} "
                     f"(kernel {k}, stride {s}, padding {p}): the forward is not Conv2D's adjoint")
        return "<Conv2D(x), y> == <x, ConvTranspose2D(y)> with tinyae's Conv2D sharing W"

    return parts + [("adjoint", adjoint)]

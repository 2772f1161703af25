"""Stage 1 checks: the dense layer and the activations (see common.LayerCheck for the four parts)."""

from __future__ import annotations

import numpy as np

import tinyae.layers as layers
from tinyae.exercises.checking import as_array, compare, fail
from tinyae.exercises.common import F64, LayerCheck, away_from_zero
from tinyae.layers import Dense as Ref


def parts_dense(Dense, rng):
    def build(case):
        return Dense(case[0], case[1], seed=int(rng.integers(2**31)), dtype=F64)

    def reference(case):
        return Ref(case[0], case[1], dtype=F64)

    sizes = [(7, 3), (5, 9), (1, 1)]  # odd sizes, a 1 -> 1 layer
    batches = [5, 1, 3]  # a batch of one among them
    cases = [(s, rng.normal(size=(n, s[0]))) for s, n in zip(sizes, batches)]
    grad_case = ((4, 3), rng.normal(size=(5, 4)))
    return LayerCheck(build, reference, cases, grad_case, "tinyae's Dense", rng).parts()


def _activation(Student, ref_name, rng, x_of=None):
    Ref = getattr(layers, ref_name)
    values = x_of or (lambda shape: rng.normal(scale=3.0, size=shape))  # the saturated ends included
    shapes = [(4, 7), (1, 5), (2, 3, 4, 5)]  # a batch of one, an image-shaped input
    cases = [(None, values(s)) for s in shapes]
    # finite differences where the derivative is not tiny (a relative error of a tiny number is noise)
    grad_case = (None, x_of((3, 5)) if x_of else rng.normal(size=(3, 5)))
    return LayerCheck(lambda case: Student(), lambda case: Ref(), cases, grad_case, f"tinyae's {ref_name}",
                      rng).parts()


def parts_sigmoid(Sigmoid, rng):
    parts = _activation(Sigmoid, "Sigmoid", rng)
    return parts + [("stability", lambda: _extremes(Sigmoid, [0.0, 1.0]))]


def parts_relu(ReLU, rng):
    return _activation(ReLU, "ReLU", rng, x_of=lambda shape: away_from_zero(rng, shape))


def parts_softplus(Softplus, rng):
    parts = _activation(Softplus, "Softplus", rng)
    return parts + [("stability", lambda: _extremes(Softplus, [0.0, 800.0]))]


def parts_tanh(Tanh, rng):
    return _activation(Tanh, "Tanh", rng)


def _extremes(Student, expected):
    x = np.array([[-800.0, 800.0]])
    layer = Student()
    y = layer.forward(x.copy())
    compare("y", y, np.array([expected]), context="for x = [-800, 800]")
    dx = layer.backward(np.ones_like(x))

    if not np.all(np.isfinite(as_array(dx, "dx"))):

        fail("dx is not finite for x = [-800, 800]")
    return "no overflow for x = -800 and 800"

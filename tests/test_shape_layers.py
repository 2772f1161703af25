"""Flatten and Reshape: pure re-indexing, so backward is the inverse re-indexing."""

from __future__ import annotations

import numpy as np
import pytest

from tinyae.gradcheck import check_layer
from tinyae.layers import Flatten, Reshape


@pytest.mark.parametrize("shape", [(1, 3, 2, 2), (2, 1, 3, 4), (3, 5), (2, 2, 3)])
def test_flatten(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    layer = Flatten()
    y = layer.forward(x)
    assert y.shape == layer.output_shape(shape) == (shape[0], int(np.prod(shape[1:])))
    np.testing.assert_array_equal(y[1 % shape[0]], x[1 % shape[0]].ravel())  # sample by sample, C order
    dy = rng.normal(size=y.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy.reshape(shape))
    report = check_layer(layer, x, seed=1)
    assert report.passed, report


@pytest.mark.parametrize("in_shape, target", [((2, 12), (3, 2, 2)), ((1, 2, 6), (12,)), ((3, 8, 1, 1), (2, 4))])
def test_reshape(in_shape, target):
    rng = np.random.default_rng(2)
    x = rng.normal(size=in_shape)
    layer = Reshape(target)
    y = layer.forward(x)
    assert y.shape == layer.output_shape(in_shape) == (in_shape[0], *target)
    np.testing.assert_array_equal(y.reshape(in_shape), x)
    report = check_layer(layer, x, seed=3)
    assert report.passed, report


def test_flatten_then_reshape_round_trips_a_feature_map():
    x = np.random.default_rng(4).normal(size=(2, 8, 7, 7)).astype(np.float32)
    flat = Flatten().forward(x)
    assert flat.shape == (2, 392) and flat.dtype == np.float32
    np.testing.assert_array_equal(Reshape((8, 7, 7)).forward(flat), x)


def test_bad_input_and_arguments():
    with pytest.raises(ValueError, match=r"Reshape\(\(3, 5\)\)\.forward: cannot reshape an input of shape \(2, 12\) "
                                         r"to \(N, 3, 5\): each sample has 12 values, the target needs 15"):
        Reshape((3, 5)).forward(np.zeros((2, 12)))
    with pytest.raises(ValueError, match=r"Flatten\(\)\.forward: expected an array \(N, \.\.\.\) with at least 2 axes, "
                                         r"got shape \(4,\)"):
        Flatten().forward(np.zeros(4))
    for bad in ((), (3, -1), (2.0, 3), (0,)):
        with pytest.raises(ValueError, match="Reshape: target_shape must be a non-empty tuple of positive ints"):
            Reshape(bad)
    assert Reshape(6).target_shape == (6,)
    assert Reshape([2, 3]).config() == {"target_shape": [2, 3]}
    layer = Flatten()
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.zeros((2, 4)))
    layer.forward(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"dy has shape \(2, 5\), expected the output shape \(2, 4\)"):
        layer.backward(np.zeros((2, 5)))

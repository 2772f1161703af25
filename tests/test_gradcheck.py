"""The checker itself: it passes a correct student layer and FAILS each classic planted bug, clearly.

The layers here are written in the test on purpose (a "student's own layer"): the checker must work
on anything that follows the contract, not only on tinyae's layers.
"""

import numpy as np
import pytest

from tinyae.gradcheck import (
    GradcheckError,
    check_layer,
    check_loss,
    check_model,
    differences,
    numerical_gradient,
    rel_error,
)
from tinyae.layers.base import Layer, Param


class StudentDense(Layer):
    """y = x @ W + b, the way a student writes it: x (N, D), W (D, M), b (M,)."""

    def __init__(self, d_in, d_out, seed=0):
        rng = np.random.default_rng(seed)
        self.W = Param(rng.normal(size=(d_in, d_out)), "W")
        self.b = Param(rng.normal(size=(d_out,)), "b")

    def params(self):
        return iter((self.W, self.b))

    def forward(self, x, training=False):
        self.x = x
        return x @ self.W.value + self.b.value

    def backward(self, dy):
        self.W.grad += self.x.T @ dy
        self.b.grad += dy.sum(axis=0)
        return dy @ self.W.value.T


class TransposedWeightGrad(StudentDense):
    def backward(self, dy):
        self.W.grad += (self.x.T @ dy).T  # the planted bug: square W hides the wrong orientation from shapes
        self.b.grad += dy.sum(axis=0)
        return dy @ self.W.value.T


class MissingBiasGrad(StudentDense):
    def backward(self, dy):
        self.W.grad += self.x.T @ dy  # the planted bug: b.grad is never touched
        return dy @ self.W.value.T


class OverwritesGrad(StudentDense):
    def backward(self, dy):
        self.W.grad = self.x.T @ dy  # the planted bug: '=' instead of '+=' (tied weights would lose a use)
        self.b.grad += dy.sum(axis=0)
        return dy @ self.W.value.T


class StepsInsideBackward(StudentDense):
    def backward(self, dy):
        dx = super().backward(dy)
        self.W.value -= 0.1 * self.W.grad  # the planted bug: an optimizer step inside backward
        return dx


class MutatesUpstream(StudentDense):
    def backward(self, dy):
        dx = super().backward(dy)
        dy *= 0.5  # the planted bug: scribbles on the caller's array
        return dx


class Center(Layer):
    """y = x - mean_j x_j per row; dx = dy - mean_j dy_j (the mean's gradient broadcasts back)."""

    def forward(self, x, training=False):
        return x - x.mean(axis=1, keepdims=True)

    def backward(self, dy):
        return dy - dy.mean(axis=1, keepdims=True)


class CenterSumBug(Center):
    def backward(self, dy):
        return dy - dy.sum(axis=1, keepdims=True)  # the planted bug: sum where the mean broadcasts


class StudentMSE:
    """L = mean over all N*D entries of (p - t)^2, dL/dp = 2 (p - t) / (N*D)."""

    def forward(self, p, t):
        self.diff = p - t
        return np.mean(self.diff**2)

    def backward(self):
        return 2 * self.diff / self.diff.size


class ForgotBatchMSE(StudentMSE):
    def backward(self):
        return 2 * self.diff / self.diff.shape[1]  # the planted bug: forgot the 1/N of the batch mean


@pytest.fixture
def x():
    return np.random.default_rng(1).normal(size=(3, 4))


def test_correct_layer_passes_with_a_readable_table(x):
    report = check_layer(StudentDense(4, 4), x)
    assert report.passed, report
    assert report.max_error <= 1e-7
    text = str(report)
    for name in ("input x", "W", "b", "PASSED", "zero upstream gradient"):
        assert name in text
    assert [t.name for t in report.tensors] == ["input x", "W", "b"]
    assert all(t.checked == t.shape[0] * (t.shape[1] if len(t.shape) > 1 else 1) for t in report.tensors)


@pytest.mark.parametrize(
    ("layer", "culprit"),
    [
        (TransposedWeightGrad(4, 4), "W"),
        (MissingBiasGrad(4, 4), "b"),
        (OverwritesGrad(4, 4), "accumulate"),
        (StepsInsideBackward(4, 4), "parameter values unchanged"),
        (MutatesUpstream(4, 4), "dy unchanged"),
    ],
)
def test_planted_layer_bugs_fail_and_name_the_culprit(layer, culprit, x):
    report = check_layer(layer, x)
    assert not report.passed
    assert "FAILED" in str(report)
    assert any(culprit in line for line in report.failures()), report
    with pytest.raises(GradcheckError, match="FAILED"):
        report.raise_if_failed()


def test_sum_instead_of_broadcast_fails_on_the_input(x):
    assert check_layer(Center(), x).passed
    report = check_layer(CenterSumBug(), x)
    assert not report.passed
    assert report.failures()[0].startswith("input x")


def test_forgotten_batch_division_fails_in_the_loss(x):
    t = np.random.default_rng(2).normal(size=x.shape)
    assert check_loss(StudentMSE(), x, t).passed
    report = check_loss(ForgotBatchMSE(), x, t)
    assert not report.passed
    # dL/dp is too large by exactly the batch size N = 3: relative error (3a - a)/(3a + a) = 0.5
    assert report.tensors[0].max_error == pytest.approx(0.5)


def test_model_check_finds_a_bug_deep_in_a_stack(x):
    from tinyae.models import Sequential

    good = Sequential(StudentDense(4, 5, seed=3), Center(), StudentDense(5, 4, seed=4))
    assert check_model(good, StudentMSE(), x).passed
    bad = Sequential(StudentDense(4, 5, seed=3), CenterSumBug(), StudentDense(5, 4, seed=4))
    report = check_model(bad, StudentMSE(), x)
    assert not report.passed
    failed = [t.name for t in report.tensors if not t.passed]
    assert "0.StudentDense.W" in failed  # the bug corrupts everything upstream of it...
    assert "2.StudentDense.W" not in failed  # ...and nothing downstream


def test_random_upstream_gradient_is_used_not_ones(x):
    """With dy = ones, a symmetric weight hides the transposed-gradient bug; the default dy does not."""
    layer = TransposedWeightGrad(4, 4)
    layer.W.value = layer.W.value + layer.W.value.T  # symmetric W
    ones = np.ones((3, 4))
    layer.x = x
    assert not check_layer(layer, x).passed
    # and the checker's dy is not all ones:
    assert check_layer(StudentDense(4, 4), x, dy=ones).passed


def test_numerical_gradient_of_known_functions():
    x = np.array([0.3, -1.2, 2.0])
    g = numerical_gradient(lambda: np.sum(np.sin(x) * x), x)
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-10)
    g2 = numerical_gradient(lambda: np.sum(x**3), x, order=2)
    np.testing.assert_allclose(g2, 3 * x**2, rtol=1e-7)
    np.testing.assert_array_equal(x, [0.3, -1.2, 2.0])  # restored after perturbing


def test_numerical_gradient_refuses_float32():
    x = np.ones(3, dtype=np.float32)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: x.sum(), x)


def test_check_layer_refuses_float32_with_advice():
    layer = StudentDense(2, 2)
    with pytest.raises(TypeError, match="astype"):
        check_layer(layer, np.ones((1, 2), dtype=np.float32))


def test_rel_error_definition():
    err = rel_error(np.array([1.0, 0.0, -2.0]), np.array([1.1, 0.0, -2.0]))
    np.testing.assert_allclose(err, [0.1 / 2.1, 0.0, 0.0])


def test_rel_error_measures_an_entry_below_the_stencils_resolution_against_that_resolution():
    # issue 15 item 20: a dx entry of -6.12e-6 whose finite difference is off by its own round-off (1.4e-12)
    a, n = np.array([-6.11985e-06, 0.5]), np.array([-6.11985e-06 + 1.43e-12, 0.5 + 1e-9])
    assert rel_error(a, n)[0] > 1e-7  # the plain relative error calls it wrong
    err = rel_error(a, n, roundoff=np.array([3.3e-12, 3.3e-12]), tol=1e-7)
    assert err[0] <= 1e-7  # within the round-off: agreement
    assert err[1] == rel_error(a, n)[1]  # an entry above the resolution is measured exactly as before
    assert rel_error([2e-9], [1e-9], roundoff=3.3e-12)[0] > 100 * 1e-7  # a factor 2 the stencil can see fails


def test_the_round_off_estimate_bounds_the_stencils_actual_error():
    x = np.random.default_rng(3).uniform(0.5, 2.0, size=40)

    def f():  # a large constant makes every evaluation round at the 1e-13 level
        return np.array([1e3 + np.sum(np.sin(x) * x)])

    for order in (2, 4):
        values, roundoff = differences(f, x, [(i,) for i in range(x.size)], order=order, roundoff=True)
        error = np.abs(values[:, 0] - (np.cos(x) * x + np.sin(x)))
        assert np.all(error <= roundoff[:, 0]), order  # the estimate is an upper bound here ...
        assert np.max(error) >= roundoff[0, 0] / 100, order  # ... and not a wildly loose one


class DoubleDW(StudentDense):
    def backward(self, dy):
        self.W.grad += 2 * self.x.T @ dy  # the planted bug
        self.b.grad += dy.sum(axis=0)
        return dy @ self.W.value.T


def test_a_bug_in_tiny_gradient_entries_still_fails():
    """The floor hides nothing the stencil can see: dW ~ 1e-5 (below the floor r / tol ~ 1e-4 here) is a
    million times its round-off."""
    x = 1e-5 * np.random.default_rng(0).normal(size=(3, 4))
    assert check_layer(StudentDense(4, 4), x).passed
    report = check_layer(DoubleDW(4, 4), x)
    assert not report.tensor("W").passed and report.tensor("W").max_error > 1e-3, str(report)
    assert [d.code for d in report.tensor("W").diagnoses] == ["ratio"], str(report)


def test_subset_checks_only_that_many_entries(x):
    report = check_layer(StudentDense(4, 4), x, max_checks=5)
    assert report.passed, report
    assert all(t.checked <= 5 for t in report.tensors)


class NoisyScale(Layer):
    """y = x * (1 + noise) in training; the noise comes from self.rng, so re-seeding fixes it."""

    def __init__(self):
        self.rng = np.random.default_rng(123)

    def forward(self, x, training=False):
        self.m = 1 + self.rng.normal(size=x.shape) if training else np.ones_like(x)
        return x * self.m

    def backward(self, dy):
        return dy * self.m


def test_stochastic_layer_is_checked_deterministically(x):
    report = check_layer(NoisyScale(), x, training=True)
    assert report.passed, report

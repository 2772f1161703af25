"""Losses and penalties: values against hand-computed formulas, gradients by finite differences, bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyae.gradcheck import check_loss
from tinyae.layers import Dense
from tinyae.layers.base import Param
from tinyae.losses import (
    BCE,
    MSE,
    REDUCTIONS,
    BCEWithLogits,
    GaussianKL,
    KLSparsity,
    L1Activity,
    L2WeightDecay,
    Loss,
)


def rng(seed=0):
    return np.random.default_rng(seed)


def probs(*shape, seed=0):
    return rng(seed).uniform(0.05, 0.95, size=shape)


def away_from_zero(*shape, seed=0):
    r = rng(seed)
    return r.uniform(0.1, 2.0, size=shape) * r.choice([-1.0, 1.0], size=shape)


def divisor(shape, reduction):
    return {"mean": math.prod(shape), "batch_mean": shape[0], "sum": 1}[reduction]


# -- values against the formulas --------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_value(reduction):
    p, t = rng(1).normal(size=(3, 4)), rng(2).normal(size=(3, 4))
    expected = ((p - t) ** 2).sum() / divisor(p.shape, reduction)
    assert float(MSE(reduction).forward(p, t)) == pytest.approx(expected, rel=1e-14)


def test_mse_by_hand():
    loss = MSE()
    value = loss.forward(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 0.0], [0.0, 4.0]]))
    assert float(value) == (0 + 4 + 9 + 0) / 4
    np.testing.assert_array_equal(loss.backward(), [[0, 1.0], [1.5, 0]])  # 2 (p - t) / 4


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_values(reduction):
    p, t = probs(3, 4, seed=1), rng(2).uniform(size=(3, 4))
    expected = -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum() / divisor(p.shape, reduction)
    assert float(BCE(reduction).forward(p, t)) == pytest.approx(expected, rel=1e-13)
    z = np.log(p / (1 - p))  # the logits of p: both losses must agree
    assert float(BCEWithLogits(reduction).forward(z, t)) == pytest.approx(expected, rel=1e-12)


def test_bce_clips_and_takes_the_formula_at_the_clipped_point():
    loss = BCE(eps=1e-3)
    p, t = np.array([[0.0, 1.0, 0.5]]), np.array([[1.0, 0.0, 1.0]])
    value = float(loss.forward(p, t))
    assert value == pytest.approx(-(2 * math.log(1e-3) + math.log(0.5)) / 3, rel=1e-12)
    pc = np.array([[1e-3, 1 - 1e-3, 0.5]])
    np.testing.assert_allclose(loss.backward(), (pc - t) / (pc * (1 - pc)) / 3, rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_value(reduction):
    h = away_from_zero(3, 4)
    loss = L1Activity(0.3, reduction)
    assert float(loss.forward(h)) == pytest.approx(0.3 * np.abs(h).sum() / divisor(h.shape, reduction), rel=1e-14)
    np.testing.assert_allclose(loss.backward(), 0.3 * np.sign(h) / divisor(h.shape, reduction), rtol=1e-15)
    assert L1Activity(1.0).reduction == "batch_mean"


def test_l2_weight_decay_value_and_backward_adds():
    a, b = Param(np.array([[1.0, -2.0]]), "W"), Param(np.array([3.0]), "W")
    loss = L2WeightDecay([a, b, a], lam=0.1)  # a twice (a tied weight) counts once
    assert [p for p in loss.params()] == [a, b]
    assert float(loss.forward()) == pytest.approx(0.5 * 0.1 * (1 + 4 + 9), rel=1e-15)
    a.grad[...] = 1.0
    assert loss.backward() is None
    np.testing.assert_allclose(a.grad, [[1.1, 0.8]], rtol=1e-15)  # added to what was there
    np.testing.assert_allclose(b.grad, [0.3], rtol=1e-15)
    layer = Dense(3, 2, dtype=np.float64)
    assert list(L2WeightDecay(layer, 1e-3).params()) == list(layer.params())


def test_kl_sparsity_by_hand():
    h = np.array([[0.1, 0.5], [0.3, 0.7]])  # batch means rho_hat = (0.2, 0.6)
    rho, beta = 0.05, 3.0

    def kl(r):
        return rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r))

    loss = KLSparsity(rho=rho, beta=beta)
    assert float(loss.forward(h)) == pytest.approx(beta * (kl(0.2) + kl(0.6)), rel=1e-14)
    per_unit = [beta * (-rho / r + (1 - rho) / (1 - r)) / 2 for r in (0.2, 0.6)]
    np.testing.assert_allclose(loss.backward(), [per_unit, per_unit], rtol=1e-14)


def test_kl_sparsity_uses_the_batch_mean():
    """Two batches with the same per-unit mean but different samples give the same loss (and gradient)."""
    a = np.array([[0.1, 0.2, 0.3], [0.3, 0.4, 0.5]])
    b = np.array([[0.2, 0.1, 0.45], [0.2, 0.5, 0.35]])
    np.testing.assert_allclose(a.mean(axis=0), b.mean(axis=0), rtol=1e-15)
    la, lb = KLSparsity(), KLSparsity()
    assert float(la.forward(a)) == pytest.approx(float(lb.forward(b)), rel=1e-14)
    np.testing.assert_allclose(la.backward(), lb.backward(), rtol=1e-14)
    # ... while a per-sample penalty (the mean of per-sample KLs) would tell them apart:
    rho = 0.05
    per_sample = [(rho * np.log(rho / x) + (1 - rho) * np.log((1 - rho) / (1 - x))).sum(axis=1).mean() for x in (a, b)]
    assert abs(per_sample[0] - per_sample[1]) > 1e-3


def test_kl_sparsity_zero_at_target_and_4d_codes():
    assert float(KLSparsity(rho=0.3).forward(np.full((4, 5), 0.3))) == pytest.approx(0.0, abs=1e-15)
    h = probs(3, 2, 2, 2)
    loss = KLSparsity()
    loss.forward(h)
    assert loss.backward().shape == h.shape  # units = every axis after the batch


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_kl_closed_form(reduction):
    mu = np.array([[0.5, -1.0], [2.0, 0.0]])
    logvar = np.array([[0.0, math.log(2.0)], [-1.0, 0.3]])
    var = np.exp(logvar)
    # KL(N(mu, var) || N(0, 1)) per dimension = 0.5 * (var + mu^2 - 1 - log var)
    per_dim = 0.5 * (var + mu**2 - 1 - logvar)
    d = divisor(mu.shape, reduction)
    loss = GaussianKL(reduction)
    assert float(loss.forward(mu, logvar)) == pytest.approx(per_dim.sum() / d, rel=1e-14)
    dmu, dlogvar = loss.backward()
    np.testing.assert_allclose(dmu, mu / d, rtol=1e-15)
    np.testing.assert_allclose(dlogvar, 0.5 * (var - 1) / d, rtol=1e-14)
    assert float(loss.forward(np.array([[0.5]]), np.array([[0.0]]))) == pytest.approx(0.125, rel=1e-15)


def test_gaussian_kl_zero_at_the_prior():
    loss = GaussianKL()
    assert float(loss.forward(np.zeros((3, 4)), np.zeros((3, 4)))) == 0.0
    dmu, dlogvar = loss.backward()
    assert not dmu.any() and not dlogvar.any()
    assert loss.reduction == "batch_mean"


# -- gradients by finite differences ----------------------------------------------------------------


def gradcheck_cases():
    p, t = probs(3, 4, seed=1), rng(2).uniform(size=(3, 4))
    cases = []
    for reduction in REDUCTIONS:
        cases += [
            (MSE(reduction), (rng(3).normal(size=(3, 4)), rng(4).normal(size=(3, 4)))),
            (BCE(reduction), (p, t)),
            (BCEWithLogits(reduction), (rng(5).normal(scale=3, size=(3, 4)), t)),
            (L1Activity(0.7, reduction), (away_from_zero(3, 4),)),
            (GaussianKL(reduction), (rng(6).normal(size=(3, 2)), rng(7).normal(size=(3, 2)))),
        ]
    cases += [
        (KLSparsity(rho=0.1, beta=2.0), (probs(4, 3, seed=8),)),
        (KLSparsity(), (probs(2, 2, 3, 3, seed=9),)),
        (MSE(), (rng(3).normal(size=(2, 1, 3, 3)), rng(4).normal(size=(2, 1, 3, 3)))),
        (BCEWithLogits(), (rng(5).normal(size=(2, 1, 2, 2)), rng(6).uniform(size=(2, 1, 2, 2)))),
    ]
    return cases


@pytest.mark.parametrize("loss,inputs", gradcheck_cases(), ids=lambda v: repr(v) if isinstance(v, Loss) else "")
def test_gradcheck(loss, inputs):
    report = check_loss(loss, *inputs)
    assert report.passed, str(report)
    assert report.max_error <= 1e-7
    assert len(report.tensors) == (2 if isinstance(loss, GaussianKL) else 1)


def test_gradcheck_l2_weight_decay():
    layer = Dense(3, 2, seed=0, dtype=np.float64)
    layer.b.value[...] = [0.5, -1.5]
    report = check_loss(L2WeightDecay(layer, lam=0.3))
    assert report.passed, str(report)
    assert [t.name for t in report.tensors] == ["W", "b"]


# -- properties over shapes -------------------------------------------------------------------------

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@settings(max_examples=25, deadline=None)
@given(shape=shapes, reduction=st.sampled_from(REDUCTIONS), seed=st.integers(0, 2**16))
def test_reconstruction_losses_property(shape, reduction, seed):
    p, t = rng(seed).uniform(0.05, 0.95, size=shape), rng(seed + 1).uniform(size=shape)
    z = rng(seed + 2).normal(scale=2, size=shape)
    # BCEWithLogits' gradient is (sigmoid(z) - t) / D: a t within 0.02 of sigmoid(z) is moved half a unit
    # away, since a gradient that cancels to ~1e-6 is below what float64 differences resolve to 1e-7
    # (their rounding noise is ~1e-16 * L / h ~ 1e-12; found by hypothesis at seed 53, shape (3, 4, 4)).
    s = 1 / (1 + np.exp(-z))
    t_logits = np.where(np.abs(t - s) < 0.02, (t + 0.5) % 1.0, t)
    d = divisor(shape, reduction)
    for loss, inputs, expected in [
        (MSE(reduction), (z, t), ((z - t) ** 2).sum() / d),
        (BCE(reduction), (p, t), -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum() / d),
        (BCEWithLogits(reduction), (z, t_logits), (np.log(1 + np.exp(z)) - z * t_logits).sum() / d),
    ]:
        value = loss.forward(*inputs)
        assert value.shape == () and value.dtype == np.float64
        assert float(value) == pytest.approx(expected, rel=1e-12)
        report = check_loss(loss, *inputs, seed=seed)
        assert report.passed, str(report)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), units=st.integers(1, 4), reduction=st.sampled_from(REDUCTIONS), seed=st.integers(0, 2**16))
def test_code_penalties_property(n, units, reduction, seed):
    h = rng(seed).uniform(0.05, 0.95, size=(n, units))
    mu, logvar = rng(seed + 1).normal(size=(n, units)), rng(seed + 2).normal(size=(n, units))
    for loss, inputs in [
        (KLSparsity(rho=0.2), (h,)),
        (L1Activity(0.5, reduction), (h * rng(seed).choice([-1.0, 1.0], size=h.shape),)),
        (GaussianKL(reduction), (mu, logvar)),
    ]:
        assert loss.forward(*inputs).shape == ()
        report = check_loss(loss, *inputs, seed=seed)
        assert report.passed, str(report)


# -- dtypes and stability ---------------------------------------------------------------------------


def test_float32_in_float32_out():
    x, t = probs(3, 4).astype(np.float32), rng(1).uniform(size=(3, 4)).astype(np.float32)
    for loss, inputs in [
        (MSE(), (x, t)), (BCE(), (x, t)), (BCEWithLogits(), (x, t)), (KLSparsity(), (x,)),
        (L1Activity(0.1), (x,)), (GaussianKL(), (x, t)),
    ]:
        value = loss.forward(*inputs)
        assert isinstance(value, np.ndarray) and value.shape == () and value.dtype == np.float32, loss
        grads = loss.backward()
        for g in grads if isinstance(grads, tuple) else (grads,):
            assert g.dtype == np.float32 and g.shape == x.shape, loss
    w = Param(np.ones((2, 2), dtype=np.float32), "W")
    decay = L2WeightDecay([w], 0.01)
    assert decay.forward().dtype == np.float32
    decay.backward()
    assert w.grad.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_stable_at_large_logits(dtype):
    z = np.array([[-1000.0, -1000.0, 1000.0, 1000.0, 0.0]], dtype=dtype)
    t = np.array([[0.0, 1.0, 0.0, 1.0, 1.0]], dtype=dtype)
    loss = BCEWithLogits("sum")
    value = loss.forward(z, t)
    assert value.dtype == dtype
    assert float(value) == pytest.approx(1000 + 1000 + math.log(2), rel=1e-6)  # wrong-side logits cost |z|
    np.testing.assert_array_equal(loss.backward(), np.array([[0, -1, 1, 0, -0.5]], dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_saturated_probabilities_stay_finite(dtype):
    p = np.array([[0.0, 1.0, 1.0]], dtype=dtype)
    t = np.array([[0.0, 1.0, 0.0]], dtype=dtype)
    loss = BCE()
    assert np.isfinite(float(loss.forward(p, t)))
    assert np.all(np.isfinite(loss.backward()))


# -- bad input ------------------------------------------------------------------------------------

PAIRS = [MSE, BCE, BCEWithLogits, GaussianKL]
PAIR_IDS = ["MSE", "BCE", "BCEWithLogits", "GaussianKL"]


@pytest.mark.parametrize("make", PAIRS, ids=PAIR_IDS)
def test_mismatched_shapes_are_refused(make):
    loss = make()
    a, b = np.full((4, 3), 0.5), np.full((4, 1), 0.5)
    with pytest.raises(ValueError, match=rf"{make.__name__}\(.*\)\.forward: \w+ has shape \(4, 3\) but \w+ has shape "
                                         r"\(4, 1\); they must match exactly \(no broadcasting\)"):
        loss.forward(a, b)


@pytest.mark.parametrize("make", PAIRS, ids=PAIR_IDS)
def test_mismatched_dtypes_are_refused(make):
    a = np.full((2, 3), 0.5)
    with pytest.raises(TypeError, match=rf"{make.__name__}\(.*\)\.forward: \w+ is float64 but \w+ is float32"):
        make().forward(a, a.astype(np.float32))


BAD = [
    (np.zeros((2, 3), dtype=np.int64), TypeError, r"expected a float32 or float64 array, got dtype int64"),
    (np.zeros((2, 3), dtype=np.complex128), TypeError, r"expected a float32 or float64 array, got dtype complex128"),
    (np.zeros((2, 3), dtype=object), TypeError, r"expected a float32 or float64 array, got dtype object"),
    (np.array([[0.5, np.nan]]), ValueError, r"input contains 1 NaN/Inf"),
    (np.array([[0.5, np.inf]]), ValueError, r"input contains 1 NaN/Inf"),
    (np.zeros((0, 3)), ValueError, r"got an empty batch"),
    (np.zeros((3, 0)), ValueError, r"got an empty array \(shape \(3, 0\)\)"),
    ([[0.5, 0.5]], TypeError, r"expected a NumPy or CuPy array, got list"),
]


@pytest.mark.parametrize("bad,error,match", BAD)
@pytest.mark.parametrize("make", PAIRS, ids=PAIR_IDS)
def test_bad_arrays_are_refused(make, bad, error, match):
    loss = make()
    good = np.full(np.shape(bad) if np.size(bad) else (2, 3), 0.5)
    with pytest.raises(error, match=rf"{make.__name__}\(.*\)\.forward: \w+: {match}"):
        loss.forward(bad, good)
    with pytest.raises(error, match=rf"{make.__name__}\(.*\)\.forward: \w+: {match}"):
        loss.forward(good, bad)


@pytest.mark.parametrize("bad,error,match", BAD)
@pytest.mark.parametrize("make", [KLSparsity, lambda: L1Activity(0.1)], ids=["KLSparsity", "L1Activity"])
def test_bad_codes_are_refused(make, bad, error, match):
    loss = make()
    with pytest.raises(error, match=rf"{type(loss).__name__}\(.*\)\.forward: h: {match}"):
        loss.forward(bad)


@pytest.mark.parametrize("make", [BCE, BCEWithLogits], ids=["BCE", "BCEWithLogits"])
def test_bce_targets_must_be_in_unit_interval(make):
    with pytest.raises(ValueError, match=rf"{make.__name__}\(.*\)\.forward: target must lie in \[0, 1\], got values "
                                         r"in \[-0\.5, 1\]"):
        make().forward(np.full((1, 2), 0.5), np.array([[-0.5, 1.0]]))


def test_bce_refuses_logits():
    with pytest.raises(ValueError, match=r"BCE\(.*\)\.forward: pred \(probabilities\) must lie in \[0, 1\].*"
                                         r"for logits use BCEWithLogits"):
        BCE().forward(np.array([[2.0, -1.0]]), np.array([[1.0, 0.0]]))


def test_kl_sparsity_refuses_relu_codes():
    with pytest.raises(ValueError, match=r"KLSparsity\(.*\)\.forward: h has values in \[0, 3\], but KL sparsity is "
                                         r"for sigmoid codes.*use L1Activity"):
        KLSparsity().forward(np.array([[0.0, 3.0], [1.0, 0.5]]))
    with pytest.raises(ValueError, match=r"KLSparsity\(.*\)\.forward: h has values in \[-0\.5, 0\.5\]"):
        KLSparsity().forward(np.array([[-0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"KLSparsity\(.*\)\.forward: some unit's batch mean activation is exactly "
                                         r"0 or 1"):
        KLSparsity().forward(np.array([[1.0, 0.5], [1.0, 0.2]]))  # unit 0 saturated on the whole batch


@pytest.mark.parametrize("make", [MSE, BCE, BCEWithLogits, KLSparsity, lambda: L1Activity(0.1), GaussianKL])
def test_backward_before_forward(make):
    loss = make()
    with pytest.raises(RuntimeError, match=rf"{type(loss).__name__}\(.*\)\.backward called before forward"):
        loss.backward()


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: MSE("average"), r"MSE: reduction must be one of \('mean', 'batch_mean', 'sum'\), got 'average'"),
        (lambda: BCE(eps=0.0), r"BCE: eps must be a finite number in \(0, 0\.5\), got 0\.0"),
        (lambda: BCE(eps=0.5), r"BCE: eps must be a finite number in \(0, 0\.5\)"),
        (lambda: KLSparsity(rho=1.0), r"KLSparsity: rho must be a finite number in \(0, 1\), got 1\.0"),
        (lambda: KLSparsity(beta=-1), r"KLSparsity: beta must be a finite number in \[0, inf\)"),
        (lambda: KLSparsity(rho=float("nan")), r"KLSparsity: rho must be a finite number"),
        (lambda: L1Activity(-0.1), r"L1Activity: lam must be a finite number in \[0, inf\)"),
        (lambda: L1Activity("0.1"), r"L1Activity: lam must be a finite number"),
        (lambda: L2WeightDecay([], 0.1), r"L2WeightDecay: no Params given"),
        (lambda: GaussianKL("none"), r"GaussianKL: reduction must be one of"),
    ],
)
def test_bad_constructor_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_l2_weight_decay_refuses_non_params():
    with pytest.raises(TypeError, match=r"L2WeightDecay: expected Params \(e\.g\. model\.params\(\)\), got a ndarray"):
        L2WeightDecay([np.zeros(3)], 0.1)


def test_names_configs_reprs():
    assert MSE().name == "mse" and BCEWithLogits().name == "bce_with_logits" and GaussianKL().name == "gaussian_kl"
    assert repr(MSE()) == "MSE(reduction='mean')"
    assert repr(KLSparsity()) == "KLSparsity(rho=0.05, beta=3.0)"
    assert BCE(reduction="sum", eps=1e-6).config() == {"reduction": "sum", "eps": 1e-6}
    assert L1Activity(0.5).config() == {"lam": 0.5, "reduction": "batch_mean"}
    for loss in [MSE("sum"), BCE(eps=1e-5), BCEWithLogits(), KLSparsity(0.1, 2.0), L1Activity(0.2), GaussianKL()]:
        assert type(loss)(**loss.config()).config() == loss.config()
    assert repr(L2WeightDecay([Param(np.zeros(2), "W")], 0.1)) == "L2WeightDecay(lam=0.1, 1 Params)"

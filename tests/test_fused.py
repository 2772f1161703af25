"""The fused Numba loops (tinyae/kernels/fused_cpu.py) against their references: the method bodies in
optim.py, losses.py and layers/ (the hot spots they are twins of, see tinyae/kernels/__init__.py)."""

import numpy as np
import pytest

from tinyae import kernels
from tinyae.kernels import fused_cpu
from tinyae.layers import Param
from tinyae.losses import BCEWithLogits
from tinyae.optim import Adam

SHAPES = [(7,), (13, 5), (3, 2, 4, 5)]  # 1-D bias, 2-D weight, 4-D conv filter


def _adam_run(shape, dtype, weight_decay, impl, monkeypatch, steps=4):
    """Params after ``steps`` Adam steps with the kernels forced to ``impl`` ('reference' or 'numba')."""
    monkeypatch.setenv(kernels.ENV_VAR, impl)
    rng = np.random.default_rng(0)
    p = Param(rng.normal(size=shape).astype(dtype), "W")
    opt = Adam([p], lr=3e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    for _ in range(steps):
        p.grad[...] = rng.normal(size=shape)
        opt.step()
    return p.value, opt.state[0]["m"], opt.state[0]["v"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_fused_adam_is_bit_identical_to_the_numpy_update(shape, dtype, weight_decay, monkeypatch):
    ref = _adam_run(shape, dtype, weight_decay, "reference", monkeypatch)
    fused = _adam_run(shape, dtype, weight_decay, "numba", monkeypatch)
    for name, a, b in zip(("w", "m", "v"), ref, fused):
        assert b.dtype == dtype, name
        np.testing.assert_array_equal(a, b, err_msg=f"Adam {name} differs ({dtype.__name__}, {shape})")


def test_adam_uses_the_fused_loop_on_contiguous_numpy_arrays(monkeypatch):
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    calls = []
    original = fused_cpu.adam_update
    monkeypatch.setattr(fused_cpu, "adam_update", lambda *a, **k: (calls.append(1), original(*a, **k)))
    p = Param(np.ones((3, 4), dtype=np.float32), "W")
    p.grad[...] = 1
    Adam([p]).step()
    assert calls == [1]
    assert np.all(p.value < 1)  # the update was applied in place


def _adam_many(impl, monkeypatch, dtypes, steps=3):
    """Params of many shapes (more than one kernel pack) after ``steps`` Adam steps under ``impl``."""
    monkeypatch.setenv(kernels.ENV_VAR, impl)
    rng = np.random.default_rng(1)
    shapes = [(5, 3), (3,), (2, 2, 3, 3), (7,), (1,), (4, 4), (4,), (6, 2), (2,), (3, 5), (5,)]
    params = [Param(rng.normal(size=s).astype(dtypes[k % len(dtypes)]), f"p{k}") for k, s in enumerate(shapes)]
    opt = Adam(params, lr=1e-2, weight_decay=0.05)
    for _ in range(steps):
        opt.zero_grad()
        for p in params:
            p.grad[...] = rng.normal(size=p.shape)
        opt.step()
    return [p.value.copy() for p in params]


def _spy_on_adam_update(monkeypatch):
    calls = []
    original = fused_cpu.adam_update
    def spy(ws, *args, **kwargs):
        calls.append(ws[0].dtype)
        return original(ws, *args, **kwargs)

    monkeypatch.setattr(fused_cpu, "adam_update", spy)
    return calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_fused_call_for_many_params_is_bit_identical_to_the_update_of_each(dtype, monkeypatch):
    reference = _adam_many("reference", monkeypatch, [dtype])
    assert len(reference) > fused_cpu._PACK  # two packs, the second padded
    calls = _spy_on_adam_update(monkeypatch)
    fused = _adam_many("numba", monkeypatch, [dtype])
    assert calls == [dtype] * 3  # one call per step, for all eleven Params
    for ref, got in zip(reference, fused):
        assert got.dtype == dtype
        np.testing.assert_array_equal(ref, got)


def test_params_of_two_dtypes_take_one_fused_call_each(monkeypatch):
    reference = _adam_many("reference", monkeypatch, [np.float32, np.float64])
    calls = _spy_on_adam_update(monkeypatch)
    mixed = _adam_many("auto", monkeypatch, [np.float32, np.float64])
    assert calls == [np.float32, np.float64] * 3  # a pack holds one dtype: a call per dtype and step
    for got, ref in zip(mixed, reference):
        np.testing.assert_array_equal(got, ref)


def test_a_subclass_that_changes_the_update_is_not_bypassed_by_the_fused_loop(monkeypatch):
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)

    class ClippedAdam(Adam):  # what a student might write: clip the gradient, then the usual update
        def _update(self, i, p):
            np.clip(p.grad, -0.01, 0.01, out=p.grad)
            super()._update(i, p)

    calls = _spy_on_adam_update(monkeypatch)
    p = Param(np.zeros(4, dtype=np.float32), "w")
    p.grad[...] = [5.0, -5.0, 0.001, 0.0]
    ClippedAdam([p], lr=0.1).step()
    assert calls == [] and np.all(p.grad == np.float32([0.01, -0.01, 0.001, 0.0]))


def test_read_only_arrays_take_the_numpy_lines(monkeypatch):
    """Numba types a read-only array differently, so a pack could not hold it: the step goes Param by Param."""
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    calls = _spy_on_adam_update(monkeypatch)
    a, b = Param(np.ones(3, np.float32), "a"), Param(np.ones(3, np.float32), "b")
    frozen = np.full(3, 0.5, np.float32)
    frozen.flags.writeable = False
    a.grad[...] = 0.5
    b.grad = frozen
    Adam([a, b]).step()
    assert calls == [] and np.array_equal(a.value, b.value) and np.all(a.value < 1)


def _bce_pair(dtype, shape=(16, 50), scale=4.0, seed=0):
    rng = np.random.default_rng(seed)
    z = (scale * rng.normal(size=shape)).astype(dtype)
    t = rng.uniform(size=shape).astype(dtype)
    return z, t


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "batch_mean", "sum"])
def test_fused_bce_with_logits_equals_the_numpy_formula(dtype, reduction, monkeypatch):
    z, t = _bce_pair(dtype)
    results = {}
    for impl in ("reference", "numba"):
        monkeypatch.setenv(kernels.ENV_VAR, impl)
        loss = BCEWithLogits(reduction=reduction)
        value = loss.forward(z, t)
        results[impl] = (value, loss.backward(), getattr(loss, "_twin_exp_neg_abs", None) is not None)  # twin keeps e
    (v_ref, g_ref, fused_ref), (v_nb, g_nb, fused_nb) = results["reference"], results["numba"]
    assert (fused_ref, fused_nb) == (False, True)  # each path really ran
    assert v_nb.dtype == g_nb.dtype == dtype and v_nb.shape == ()
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(float(v_nb), float(v_ref), rtol=rtol)
    # dL/dz = (sigmoid(z) - t) / D with sigmoid(z) and t in [0, 1]: the twins' exp may differ in the last
    # bit, an error of one ulp of 1 in s, which the cancellation s - t keeps as an ABSOLUTE error of ~eps / D
    # (relative to a tiny s - t it can be large). So: equal to a few ulps of 1 / D.
    denom = {"mean": z.size, "batch_mean": z.shape[0], "sum": 1}[reduction]
    np.testing.assert_allclose(g_nb, g_ref, rtol=0, atol=4 * np.finfo(dtype).eps / denom)


def test_fused_bce_keeps_tiny_losses_that_log_of_one_plus_e_would_round_to_zero():
    # A confident, correct logit: the loss is log1p(exp(-30)) ~ 9.4e-14, far below float32's 1 + eps.
    for z in (30.0, -30.0):
        t = 1.0 if z > 0 else 0.0
        total, _ = fused_cpu.bce_with_logits_forward(np.array([z], np.float32), np.array([t], np.float32))
        np.testing.assert_allclose(total, np.log1p(np.exp(-30.0)), rtol=1e-6)


def test_goldberg_log1p_is_accurate_to_a_few_ulps(dtype=np.float64):
    # float64 (gradient checks) takes e from NumPy's exp and log1p(e) by Goldberg's trick.
    # Per element: with t = [z >= 0], max(z, 0) - z t = 0, so each term is log1p(exp(-|z|)) alone.
    rng = np.random.default_rng(3)
    z = np.concatenate([rng.normal(scale=8, size=2000), np.logspace(-7, 1.9, 300)]).astype(dtype)
    t = (z >= 0).astype(dtype)
    e = np.exp(-np.abs(z))  # the kernel's e, in the dtype
    exact = np.log1p(e.astype(np.float64))
    got = np.array([fused_cpu.bce_with_logits_forward(z[i:i + 1], t[i:i + 1])[0] for i in range(z.size)])
    ulps = np.max(np.abs(got - exact) / exact) / np.finfo(dtype).eps
    assert ulps <= 4, f"log1p by Goldberg's trick is off by {ulps:.1f} ulps"


def _ulps_from_exact(got, exact):
    """|got - exact| in units of the float32 spacing at exact (subnormal results included)."""
    spacing = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / spacing


def test_float32_exp_and_log1p_are_within_1_and_4_ulps_of_the_exact_values():
    """The float32 loop's own exp(-|z|) and log1p(e), against float64 (near exact) on [-120, 120]:
    the whole range, the reduction's edges (k = 0, 1, ..., 150), subnormal results and the cap at 104."""
    edges = np.log(2) * np.arange(151)  # where round(a / ln2) steps
    special = [0.0, -0.0, 1e-30, 1e-7, 87.3, 88.7, 103.2, 103.9, 104.0, 104.5, 150.0, 1e4]
    z = np.concatenate([np.linspace(-120, 120, 400_001), edges, -edges, edges + 0.3466, edges - 0.3466,
                        special]).astype(np.float32)
    t = (z >= 0).astype(np.float32)  # then each loss term is log1p(exp(-|z|)) alone
    e, terms = np.empty_like(z), np.empty_like(z)
    fused_cpu._bce_logits_forward_kernel_f32(z, t, e, terms)
    exact_e = np.exp(-np.abs(z.astype(np.float64)))
    assert np.max(_ulps_from_exact(e, exact_e)) <= 1.0
    assert np.all(e[np.abs(z) >= 104] == 0) and np.all(e[z == 0] == 1)
    assert np.max(_ulps_from_exact(terms, np.log1p(exact_e))) <= 4.0


def test_float32_exp_neg_of_inf_and_nan():
    """exp(-inf) = 0 and NaN gives NaN (layers refuse NaN/Inf inputs; the kernel must not hide one either)."""
    assert fused_cpu.exp_neg_f32(np.float32(np.inf)) == 0
    assert np.isnan(fused_cpu.exp_neg_f32(np.float32(np.nan)))
    z = np.array([np.nan, np.inf, -np.inf, 0.5], np.float32)
    t = np.array([0.5, 1.0, 0.0, 0.5], np.float32)
    e, terms = np.empty_like(z), np.empty_like(z)
    fused_cpu._bce_logits_forward_kernel_f32(z, t, e, terms)
    assert np.isnan(e[0]) and np.isnan(terms[0])  # NaN in, NaN out
    assert e[1] == e[2] == 0  # exp(-|inf|)
    with np.errstate(invalid="ignore"):  # inf - inf in the reference formula, as in the kernel
        reference = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    np.testing.assert_array_equal(terms, reference)  # NaN where the reference has NaN, equal elsewhere


def test_float32_loss_stays_in_float32_and_matches_the_float64_kernel():
    z, t = _bce_pair(np.float32, shape=(64, 100), scale=6.0)
    total32, e32 = fused_cpu.bce_with_logits_forward(z, t)
    total64, e64 = fused_cpu.bce_with_logits_forward(z.astype(np.float64), t.astype(np.float64))
    assert total32.dtype == e32.dtype == np.float32
    np.testing.assert_allclose(float(total32), float(total64), rtol=1e-6)
    np.testing.assert_allclose(e32, e64, rtol=2 * np.finfo(np.float32).eps, atol=0)


def test_fused_loops_keep_float32():
    z, t = _bce_pair(np.float32)
    total, e = fused_cpu.bce_with_logits_forward(z, t)
    dz = fused_cpu.bce_with_logits_backward(z, t, e, z.size)
    assert e.dtype == dz.dtype == np.float32 and e.shape == dz.shape == z.shape


def test_non_contiguous_arrays_take_the_numpy_path(monkeypatch):
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    z, t = _bce_pair(np.float64, shape=(20, 30))
    z, t = z[:, ::2], t[:, ::2]  # strided views: the Numba loops take contiguous arrays only
    loss = BCEWithLogits()
    loss.forward(z, t)
    assert getattr(loss, "_twin_exp_neg_abs", None) is None  # the twin did not run
    np.testing.assert_allclose(loss.backward(), (1 / (1 + np.exp(-z)) - t) / z.size, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 4, 5)])
def test_fused_relu_forward_equals_the_numpy_lines(dtype, shape, monkeypatch):
    from tinyae.layers import ReLU

    rng = np.random.default_rng(5)
    x = rng.normal(size=shape).astype(dtype)
    x.flat[:3] = (0.0, -0.0, 1e-30)  # the kink and its neighbours
    y, mask = fused_cpu.relu_forward(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_array_equal(mask, x > 0)
    assert y.dtype == dtype and mask.dtype == np.bool_ and y.shape == mask.shape == shape
    for impl in ("reference", "numba"):  # the layer takes each path, with the same results
        monkeypatch.setenv(kernels.ENV_VAR, impl)
        layer = ReLU()
        np.testing.assert_array_equal(layer.forward(x), y)
        np.testing.assert_array_equal(layer._mask, mask)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [2, (3, 2), (1, 3)])
def test_fused_nearest_upsampling_equals_the_offset_loop_bit_for_bit(dtype, scale, monkeypatch):
    from tinyae.layers import Upsample2D

    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 3, 4, 5)).astype(dtype)
    results = {}
    for impl in ("reference", "numba"):
        monkeypatch.setenv(kernels.ENV_VAR, impl)
        layer = Upsample2D(scale)
        y = layer.forward(x)
        dy = np.random.default_rng(7).normal(size=y.shape).astype(dtype)
        results[impl] = (y, layer.backward(dy))
    for a, b in zip(results["reference"], results["numba"]):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)

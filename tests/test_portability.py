"""One training step of small models runs under array-api-strict on a second device, as it must on CuPy.

array-api-strict (DESIGN.md, "Backend facts worth knowing") stands in for a GPU without one: its arrays
on ``Device("device1")`` refuse every implicit conversion to NumPy (as CuPy's do), it has only the
functions and methods of the array API standard (no ``x.sum()``, ``x.astype``, ``np.`` calls), and
arrays of two devices never mix. A step that runs there and equals the NumPy step is strong evidence
the same lines run on CuPy: both take the readable reference lines, not the Numba fast paths.

Each test builds a model twice from one seed, moves one copy's Params to device1, runs
zero_grad / loss_and_backward / Adam.step on both (twice, so Adam's second step with its state is
covered), and compares the loss terms, every gradient, every Param and every Adam buffer, and checks
that every array of the strict step is float32 (no silent float64).
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyae import backend, losses, zoo
from tinyae.layers import Dense, ReLU, Sigmoid
from tinyae.layers.activations import Identity
from tinyae.layers.conv import Conv2D
from tinyae.models import Autoencoder
from tinyae.optim import Adam

xp = pytest.importorskip("array_api_strict")
DEVICE = xp.Device("device1")
RTOL, ATOL = 1e-5, 1e-6  # float32 rounding: the two steps differ only in fused vs reference CPU loops


def host(a):
    """A strict array back to NumPy, explicitly (the only way off device1)."""
    return np.asarray(a.to_device(xp.Device("CPU_DEVICE")))


def to_strict(model):
    """Move every Param of ``model`` (value and grad) to array-api-strict's device1; drops the caches."""
    for p in model.params():
        p.value = backend.to_namespace(p.value, xp, DEVICE)
        p.grad = backend.to_namespace(p.grad, xp, DEVICE)
    model.clear_cache()
    return model


def step(model, opt, x, **kw):
    model.zero_grad()
    loss = model.loss_and_backward(x, training=True, **kw)
    opt.step()
    return loss


def assert_float32_on_device(a, what):
    assert a.dtype == xp.float32, f"{what}: {a.dtype}"
    assert a.device == DEVICE, f"{what}: on {a.device}"


def compare(build, x_np, steps=2, adam=None, **kw):
    """Run ``steps`` Adam steps on a NumPy and a strict copy of ``build()``; compare everything."""
    adam = adam or {}
    ref, dev = build(), to_strict(build())
    opt_ref, opt_dev = Adam(ref, lr=1e-2, **adam), Adam(dev, lr=1e-2, **adam)
    x_dev = backend.to_namespace(x_np, xp, DEVICE)
    kw_dev = {k: backend.to_namespace(v, xp, DEVICE) for k, v in kw.items()}
    for _ in range(steps):
        loss_ref = step(ref, opt_ref, x_np, **kw)
        loss_dev = step(dev, opt_dev, x_dev, **kw_dev)
        assert set(dev.terms) == set(ref.terms)
        for key, value in dev.terms.items():
            assert_float32_on_device(value, f"terms[{key!r}]")
            np.testing.assert_allclose(host(value), np.asarray(ref.terms[key]), rtol=RTOL, err_msg=key)
        np.testing.assert_allclose(host(loss_dev), np.asarray(loss_ref), rtol=RTOL)
        for (label, p_dev), p_ref in zip(dev.named_params(), ref.params()):
            for what in ("value", "grad"):
                a = getattr(p_dev, what)
                assert_float32_on_device(a, f"{label}.{what}")
                np.testing.assert_allclose(host(a), getattr(p_ref, what), rtol=RTOL, atol=ATOL,
                                           err_msg=f"{label}.{what}")
        for i, (bufs_dev, bufs_ref) in enumerate(zip(opt_dev.state, opt_ref.state)):
            assert set(bufs_dev) == {"m", "v"}
            for name, buf in bufs_dev.items():
                assert_float32_on_device(buf, f"Adam {name}.{i}")
                atol = ATOL if name == "m" else ATOL * ATOL  # m is linear in the gradients, v quadratic
                np.testing.assert_allclose(host(buf), bufs_ref[name], rtol=RTOL, atol=atol, err_msg=f"{name}.{i}")
    out = dev.forward(x_dev, training=False)  # inference too, in eval mode
    assert_float32_on_device(out, "forward")
    np.testing.assert_allclose(host(out), ref.forward(x_np, training=False), rtol=RTOL, atol=ATOL)
    return ref, dev


def images(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=shape).astype(np.float32)


def test_namespace_of_a_strict_array_and_mixing_is_refused():
    a = backend.to_namespace(np.ones((2, 3), np.float32), xp, DEVICE)
    assert backend.array_module(a) is xp
    assert backend.array_module(a, None, 2.0) is xp
    assert backend.array_module(np.ones(2)) is np
    with pytest.raises(TypeError, match="different devices or array libraries"):
        backend.array_module(a, np.ones(2))


def dense_ae(loss="mse", penalties=(), weight_decay=None, out="sigmoid"):
    """A builder of Dense-act-Dense-act autoencoders; ``penalties`` are Loss classes and kwargs (fresh per model)."""
    def build():
        rng = np.random.default_rng(3)
        enc = [Dense(12, 5, init="relu", seed=rng), ReLU() if not penalties else Sigmoid()]
        dec = [Dense(5, 12, init="sigmoid", seed=rng), Sigmoid() if out == "sigmoid" else Identity()]
        return Autoencoder(enc, dec, loss=loss, penalties=[cls(**kw) for cls, kw in penalties],
                           weight_decay=weight_decay)
    return build


def test_dense_ae_mse_adam_step_runs_under_array_api_strict():
    compare(dense_ae(), images((6, 12)))


def test_dense_ae_bce_logits_kl_sparsity_weight_decay_step_runs_under_array_api_strict():
    build = dense_ae(loss="bce_logits", penalties=[(losses.KLSparsity, {"rho": 0.2, "beta": 0.5})],
                     weight_decay=1e-3, out="identity")
    ref, _ = compare(build, images((6, 12), seed=1), adam={"weight_decay": 1e-2})
    assert set(ref.terms) == {"reconstruction", "kl_sparsity", "weight_decay", "loss"}


@pytest.mark.parametrize("recon", ["bce_logits", "mse"])
def test_vae_step_with_explicit_eps_runs_under_array_api_strict(recon):
    x = images((5, 12), seed=2)
    eps = np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32)
    compare(lambda: zoo.vae(12, hidden=(6,), latent_dim=3, recon=recon, seed=5), x, eps=eps)


def test_conv_ae_step_runs_under_array_api_strict():
    """Conv2D (both routes), MaxPool2D, nearest Upsample2D, BCEWithLogits: the reference kernels on device1."""
    _, dev = compare(lambda: zoo.conv_ae((1, 8, 8), channels=(2, 3), seed=6), images((3, 1, 8, 8), seed=3))
    convs = [layer for layer in dev.layers() if isinstance(layer, Conv2D)]
    assert [c._x_mat is not None for c in convs] == [False, False, True, True]  # im2col route, then flipped

"""One training step of small models runs under array-api-strict on a second device, as it must on CuPy.

array-api-strict (DESIGN.md, "Backend facts worth knowing") stands in for a GPU without one: its arrays
on ``Device("device1")`` refuse every implicit conversion to NumPy (as CuPy's do), it has only the
functions and methods of the array API standard (no ``x.sum()``, ``x.astype``, ``np.`` calls), and
arrays of two devices never mix. A step that runs there and equals the NumPy step is strong evidence
the same lines run on CuPy: both take the readable reference lines, not the Numba fast paths.

Each model test builds a model twice from one seed, moves one copy's Params to device1, runs
zero_grad / loss_and_backward / optimizer.step on both (twice, so the second step with the optimizer's
state is covered), and compares the loss terms, every gradient, every Param and every optimizer buffer,
and checks that every array of the strict step is float32 (no silent float64) and on device1.

Then every public layer class (in each configuration the gradient-check suite uses), every loss and
penalty, and SGD with and without momentum, one by one: forward and backward on NumPy and on device1,
outputs, input gradients and Param gradients equal, all float32 and on device1.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinyae.layers
from tinyae import backend, data, kernels, losses, zoo
from tinyae.gradcheck.cases import away_from_zero, distinct_values
from tinyae.layers import (
    AvgPool2D,
    ConvTranspose2D,
    Dense,
    Dropout,
    Flatten,
    GaussianNoise,
    Identity,
    Layer,
    LeakyReLU,
    MaxPool2D,
    Param,
    ReLU,
    Reshape,
    Sigmoid,
    Softplus,
    Tanh,
    TiedDense,
    Upsample2D,
)
from tinyae.layers.conv import Conv2D
from tinyae.models import Autoencoder, Sequential
from tinyae.optim import SGD, Adam

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


def compare(build, x_np, steps=2, adam=None, optimizer=None, **kw):
    """Run ``steps`` optimizer steps (Adam unless ``optimizer(model)`` makes another) on a NumPy and a
    strict copy of ``build()``; compare everything."""
    adam = adam or {}
    optimizer = optimizer or (lambda model: Adam(model, lr=1e-2, **adam))
    ref, dev = build(), to_strict(build())
    opt_ref, opt_dev = optimizer(ref), optimizer(dev)
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
            assert set(bufs_dev) == set(bufs_ref) <= set(opt_dev._buffers)
            for name, buf in bufs_dev.items():
                assert_float32_on_device(buf, f"{type(opt_dev).__name__} {name}.{i}")
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
    build = dense_ae(loss="bce_with_logits", penalties=[(losses.KLSparsity, {"rho": 0.2, "beta": 0.5})],
                     weight_decay=1e-3, out="identity")
    ref, _ = compare(build, images((6, 12), seed=1), adam={"weight_decay": 1e-2})
    assert set(ref.terms) == {"reconstruction", "kl_sparsity", "weight_decay", "loss"}


@pytest.mark.parametrize("recon", ["bce_with_logits", "mse"])
def test_vae_step_with_explicit_eps_runs_under_array_api_strict(recon):
    x = images((5, 12), seed=2)
    eps = np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32)
    compare(lambda: zoo.vae(12, hidden=(6,), latent_dim=3, recon=recon, seed=5), x, eps=eps)


def test_conv_ae_step_runs_under_array_api_strict():
    """Conv2D, MaxPool2D, nearest Upsample2D, BCEWithLogits: the reference lines and kernels on device1,
    against the same reference lines on NumPy (the twins' own tests compare them with the reference)."""
    with kernels.use("reference"):
        _, dev = compare(lambda: zoo.conv_ae((1, 8, 8), channels=(2, 3), seed=6), images((3, 1, 8, 8), seed=3))
    convs = [layer for layer in dev.flat_layers() if isinstance(layer, Conv2D)]
    assert all(c._col is not None for c in convs)  # every Conv2D took the im2col route it derives


def test_vae_step_with_its_own_noise_runs_under_array_api_strict():
    """eps drawn by the VAE itself (same seed on both sides): on the host, then moved to device1."""
    compare(lambda: zoo.vae(12, hidden=(6,), latent_dim=3, seed=5), images((5, 12), seed=6))


@pytest.mark.parametrize("noise", ["masking", "gaussian"])
def test_denoising_ae_step_runs_under_array_api_strict(noise):
    """A noise layer first in the encoder: the same corruption on both sides, the clean x as the target."""
    compare(lambda: zoo.denoising_ae(12, 5, noise=noise, level=0.3, seed=7), images((6, 12), seed=7))


def test_tied_and_sparse_l1_ae_steps_run_under_array_api_strict():
    compare(lambda: zoo.tied_ae(12, 5, seed=8), images((6, 12), seed=8))
    compare(lambda: zoo.sparse_l1_ae(12, 8, lam=0.05, seed=9), images((6, 12), seed=9))


def test_conv_transpose_ae_and_conv_vae_steps_run_under_array_api_strict():
    with kernels.use("reference"):  # the im2col route on both sides (the flipped one is a NumPy/CuPy twin)
        compare(lambda: zoo.conv_ae((1, 8, 8), channels=(2, 3), upsample="transpose", seed=6),
                images((3, 1, 8, 8), seed=4))
        compare(lambda: zoo.conv_vae((1, 8, 8), latent_dim=2, channels=(2, 3), seed=6), images((3, 1, 8, 8), seed=5))


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_dense_ae_sgd_step_runs_under_array_api_strict(momentum):
    """SGD (plain, and with its velocity buffer) on a dense AE: three steps, Params and velocities equal."""
    made = []

    def sgd(model):
        made.append(SGD(model, lr=0.1, momentum=momentum))
        return made[-1]

    compare(dense_ae(), images((6, 12), seed=4), steps=3, optimizer=sgd)
    assert all(set(bufs) == ({"velocity"} if momentum else set()) for bufs in made[1].state)


# ------------------------------------------------------------------------------------------------------
# Every layer, one by one: forward (training mode, so the noise layers act) and backward
# ------------------------------------------------------------------------------------------------------

def tied_pair():
    enc = Dense(5, 3, seed=0)
    return Sequential(enc, Sigmoid(), TiedDense(enc))


F32 = np.float32
RNG = np.random.default_rng(0)
VEC = RNG.normal(size=(3, 5)).astype(F32)
IMG = RNG.normal(size=(2, 2, 5, 4)).astype(F32)
PIXELS = images((3, 2, 4, 4), seed=5)  # in [0.05, 0.95]: GaussianNoise(0.3)'s clip bites on some, not all

# (name, builder, input): the configurations of the gradient-check suite (tinyae/gradcheck/cases.py), in float32.
LAYER_CASES = [
    ("Dense", lambda: Dense(5, 4, seed=0), VEC),
    ("Dense (no bias)", lambda: Dense(5, 4, bias=False, seed=0), VEC),
    ("TiedDense (Dense -> Sigmoid -> TiedDense)", tied_pair, VEC),
    ("TiedDense (no bias)", lambda: TiedDense(Dense(4, 5, seed=1), bias=False), VEC),
    ("Sigmoid", Sigmoid, 3 * VEC),
    ("Tanh", Tanh, VEC),
    ("ReLU", ReLU, away_from_zero(RNG, (3, 5)).astype(F32)),
    ("LeakyReLU", lambda: LeakyReLU(0.1), away_from_zero(RNG, (3, 5)).astype(F32)),
    ("Softplus", Softplus, 3 * VEC),
    ("Identity", Identity, VEC),
    ("Conv2D 3x2, stride 2, padding 1", lambda: Conv2D(2, 3, (3, 2), stride=2, padding=1, seed=0), IMG),
    ("Conv2D 3x3, padding 1 (flipped route)", lambda: Conv2D(2, 1, 3, padding=1, seed=0), IMG),
    ("ConvTranspose2D 3x3, stride 2, padding 1",
     lambda: ConvTranspose2D(2, 3, 3, stride=2, padding=1, seed=0), IMG),
    ("ConvTranspose2D 2x2, stride 2, no bias", lambda: ConvTranspose2D(2, 3, 2, stride=2, bias=False, seed=0), IMG),
    ("MaxPool2D 2x2 (overlapping, stride 1)", lambda: MaxPool2D(2, stride=1),
     distinct_values(RNG, (2, 2, 5, 4)).astype(F32)),
    ("MaxPool2D 2x2", lambda: MaxPool2D(2), distinct_values(RNG, (2, 2, 4, 4)).astype(F32)),
    ("AvgPool2D 2x2", lambda: AvgPool2D(2), IMG[:, :, :4, :4]),
    ("AvgPool2D 2x2 (overlapping, stride 1)", lambda: AvgPool2D(2, stride=1), IMG),
    ("Upsample2D nearest x2", lambda: Upsample2D(2, mode="nearest"), IMG),
    ("Upsample2D bilinear x2", lambda: Upsample2D(2, mode="bilinear"), IMG),
    ("Upsample2D bilinear 3x2", lambda: Upsample2D((3, 2), mode="bilinear"), IMG),
    ("Flatten", Flatten, IMG),
    ("Reshape", lambda: Reshape((2, 10, 2)), IMG),
    ("GaussianNoise (training)", lambda: GaussianNoise(0.3, seed=0), PIXELS),
    ("GaussianNoise (training, no clip)", lambda: GaussianNoise(0.3, clip=None, seed=0), VEC),
    ("Dropout (training)", lambda: Dropout(0.3, seed=0), VEC),
    ("Dropout (training, no rescale)", lambda: Dropout(0.5, rescale=False, seed=0), PIXELS),
]


def leaf_classes(layer):
    yield type(layer)
    for child in layer.children():
        yield from leaf_classes(child)


def test_every_public_layer_class_has_a_portability_case():
    public = {obj for name in tinyae.layers.__all__ if isinstance(obj := getattr(tinyae.layers, name), type)
              and issubclass(obj, Layer) and obj is not Layer}
    covered = {cls for _, build, _ in LAYER_CASES for cls in leaf_classes(build())}
    missing = sorted(cls.__name__ for cls in public - covered)
    assert not missing, f"layers without a case in LAYER_CASES: {missing}"


def assert_same(dev, ref, what):
    assert_float32_on_device(dev, what)
    np.testing.assert_allclose(host(dev), ref, rtol=RTOL, atol=ATOL, err_msg=what)


@pytest.mark.parametrize(("name", "build", "x"), LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_forward_backward_runs_under_array_api_strict(name, build, x):
    ref, dev = build(), to_strict(build())  # the same seed: the same weights, the same noise
    x_dev = backend.to_namespace(x, xp, DEVICE)
    y_ref = ref.forward(x, training=True)
    y_dev = dev.forward(x_dev, training=True)
    assert_same(y_dev, y_ref, "y")
    dy = np.random.default_rng(1).normal(size=y_ref.shape).astype(F32)
    dx_ref = ref.backward(dy)
    dx_dev = dev.backward(backend.to_namespace(dy, xp, DEVICE))
    assert dx_ref.dtype == F32
    assert_same(dx_dev, dx_ref, "dx")
    for p_dev, p_ref in zip(dev.params(), ref.params(), strict=True):
        assert_same(p_dev.grad, p_ref.grad, f"{p_dev.name}.grad")
        assert_same(p_dev.value, p_ref.value, f"{p_dev.name}.value")
    if isinstance(ref, (GaussianNoise, Dropout)):  # the noise acted, and in eval mode the layer is the identity
        assert not np.array_equal(y_ref, x)
        assert dev.forward(x_dev, training=False) is x_dev


# ------------------------------------------------------------------------------------------------------
# Every loss and penalty: forward value and backward
# ------------------------------------------------------------------------------------------------------

LRNG = np.random.default_rng(2)
PRED = LRNG.normal(size=(4, 6)).astype(F32)
TARGET = LRNG.uniform(0.0, 1.0, size=(4, 6)).astype(F32)
PROBS = LRNG.uniform(0.05, 0.95, size=(4, 6)).astype(F32)
CODE = LRNG.uniform(0.05, 0.95, size=(5, 4)).astype(F32)

# (name, loss builder, inputs): every loss class of tinyae.losses; L2WeightDecay gets its Params from the test.
LOSS_CASES = [
    ("MSE (mean)", losses.MSE, (PRED, TARGET)),
    ("MSE (batch_mean)", lambda: losses.MSE(reduction="batch_mean"), (PRED, TARGET)),
    ("BCE on probabilities", losses.BCE, (PROBS, TARGET)),
    ("BCE on probabilities (sum, clipped)", lambda: losses.BCE(reduction="sum", eps=0.1), (PROBS, TARGET)),
    ("BCEWithLogits", losses.BCEWithLogits, (3 * PRED, TARGET)),
    ("BCEWithLogits (sum)", lambda: losses.BCEWithLogits(reduction="sum"), (PRED, TARGET)),
    ("KLSparsity", lambda: losses.KLSparsity(rho=0.1, beta=3.0), (CODE,)),
    ("L1Activity", lambda: losses.L1Activity(1e-2), (away_from_zero(LRNG, (5, 4)).astype(F32),)),
    ("L1Activity (mean)", lambda: losses.L1Activity(0.5, reduction="mean"), (PRED,)),
    ("GaussianKL", losses.GaussianKL, (PRED[:, :3], PRED[:, 3:])),
    ("GaussianKL (mean)", lambda: losses.GaussianKL(reduction="mean"), (PRED[:, :3], 0.5 * PRED[:, 3:])),
    ("L2WeightDecay", None, ()),
]


def test_every_loss_class_has_a_portability_case():
    public = {obj for obj in vars(losses).values() if isinstance(obj, type) and issubclass(obj, losses.Loss)
              and obj is not losses.Loss}
    covered = {type(build()) for _, build, _ in LOSS_CASES if build is not None} | {losses.L2WeightDecay}
    assert public - covered == set()


def decayed_params(to_device):
    rng = np.random.default_rng(3)
    params = [Param(rng.normal(size=(3, 2)).astype(F32), "W1"), Param(rng.normal(size=(4,)).astype(F32), "W2")]
    for p in params:
        p.grad[...] = 0.5  # backward ADDS into what is there
        if to_device:
            p.value, p.grad = backend.to_namespace(p.value, xp, DEVICE), backend.to_namespace(p.grad, xp, DEVICE)
    return params


@pytest.mark.parametrize(("name", "build", "inputs"), LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_forward_backward_runs_under_array_api_strict(name, build, inputs):
    if build is None:  # L2WeightDecay: its Params live on the device, backward adds into their grads
        p_ref, p_dev = decayed_params(False), decayed_params(True)
        ref, dev = losses.L2WeightDecay(p_ref, 1e-2), losses.L2WeightDecay(p_dev, 1e-2)
    else:
        ref, dev = build(), build()
    inputs_dev = [backend.to_namespace(a, xp, DEVICE) for a in inputs]
    value_ref, value_dev = ref.forward(*inputs), dev.forward(*inputs_dev)
    assert value_dev.shape == ()
    assert_same(value_dev, value_ref, "loss")
    grads_ref, grads_dev = ref.backward(), dev.backward()
    if build is None:
        assert grads_ref is None and grads_dev is None
        for a, b in zip(p_dev, p_ref, strict=True):
            assert_same(a.grad, b.grad, f"{a.name}.grad")
        return
    if not isinstance(grads_ref, tuple):
        grads_ref, grads_dev = (grads_ref,), (grads_dev,)
    assert len(grads_dev) == len(grads_ref) == len([a for a in inputs if a is not TARGET])
    for i, (g_dev, g_ref) in enumerate(zip(grads_dev, grads_ref, strict=True)):
        assert g_ref.dtype == F32
        assert_same(g_dev, g_ref, f"gradient {i}")


@pytest.mark.parametrize("corrupt", [
    lambda x: data.gaussian_noise(x, 0.3, 5),
    lambda x: data.gaussian_noise(x, 0.3, 5, clip=None),
    lambda x: data.masking_noise(x, 0.25, 5),
    lambda x: data.salt_and_pepper(x, 0.25, 5),
], ids=["gaussian", "gaussian-unclipped", "masking", "salt-and-pepper"])
def test_data_corruptions_run_under_array_api_strict(corrupt):
    """tinyae.data's corruptions draw on the host and move the draw to x's device: the same noise on both."""
    x_np = np.random.default_rng(0).uniform(0.05, 0.95, size=(4, 10)).astype(np.float32)
    y_np = corrupt(x_np)
    y = corrupt(backend.to_namespace(x_np, xp, DEVICE))
    assert_float32_on_device(y, "corrupted x")
    np.testing.assert_array_equal(host(y), y_np)
    assert np.any(y_np != x_np)  # the corruption did something

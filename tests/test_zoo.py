"""The zoo: every variant's whole-model gradient check, denoising semantics, and training on real digits."""

import inspect
import json
import time

import numpy as np
import pytest

from tinyae import data, zoo
from tinyae.gradcheck.cases import check_tiny_model, model_cases, tiny_models
from tinyae.layers.noise import Dropout, GaussianNoise
from tinyae.models import Autoencoder, from_config
from tinyae.optim import Adam
from tinyae.train import encode, fit, predict

F64 = dict(dtype=np.float64)

TINY = tiny_models()


@pytest.mark.parametrize("name", list(TINY))
def test_whole_model_gradcheck(name):
    report = check_tiny_model(name)
    assert report.passed, report
    assert len(report.tensors) == len(list(TINY[name]().params()))  # every Param, biases included


def test_gradcheck_model_cases_select_variants_and_refuse_unknown_names():
    assert [c.name for c in model_cases(names=["vae"])] == ["model vae", "model vae-mse-beta"]
    with pytest.raises(ValueError, match="unknown model 'nope'; choose from ae, "):
        model_cases(names=["vae", "nope"])


# -- denoising: corrupt the input, never the target; no corruption in eval ----------------------------


@pytest.mark.parametrize("noise,level,corrupt", [
    ("masking", 0.5, lambda x, rng: data.masking_noise(x, 0.5, rng)),
    ("gaussian", 0.3, lambda x, rng: data.gaussian_noise(x, 0.3, rng)),
])
def test_denoising_corrupts_only_the_input(noise, level, corrupt):
    model = zoo.denoising_ae(6, 4, noise=noise, level=level, **F64)
    x = np.random.default_rng(0).uniform(0.05, 0.95, size=(5, 6))
    model.encoder[0].rng = np.random.default_rng(3)
    model.loss_and_backward(x)
    rec = float(model.terms["reconstruction"])

    x_noisy = corrupt(x, np.random.default_rng(3))  # the same draw the layer made
    assert not np.allclose(x_noisy, x)
    h = x_noisy
    for layer in model.encoder.layers[1:]:  # the encoder after its noise layer
        h = layer.forward(h)
    out = model.decoder.forward(h)
    assert rec == pytest.approx(float(model.loss.forward(out, x)), rel=1e-12)  # target: the CLEAN x
    against_noisy = float(model.loss.forward(out, x_noisy))
    assert abs(rec - against_noisy) > 1e-6 * rec  # far beyond rounding: it is a different number


@pytest.mark.parametrize("noise", ["masking", "gaussian"])
def test_denoising_has_no_corruption_in_eval(noise):
    model = zoo.denoising_ae(6, 4, noise=noise, **F64)
    x = np.random.default_rng(0).uniform(0.05, 0.95, size=(5, 6))
    clean_code = model.encoder.layers[2].forward(model.encoder.layers[1].forward(x))
    np.testing.assert_array_equal(model.encode(x), clean_code)
    np.testing.assert_array_equal(model.encode(x), model.encode(x))
    a, b = float(model.evaluate_loss(x)), float(model.evaluate_loss(x))
    assert a == b


# -- build, MODELS, shapes for digits and MNIST ---------------------------------------------------------


def test_models_lists_every_buildable_name():
    assert list(zoo.MODELS) == ["ae", "stacked", "sparse-l1", "sparse-kl", "denoising", "conv", "vae", "conv-vae",
                                "tied", "hashing", "dbn", "conv-sparse"]
    assert all(isinstance(text, str) and text for text in zoo.MODELS.values())


def test_builder_is_the_function_build_calls_and_image_models_are_the_ones_taking_images():
    assert list(zoo.BUILDERS) == list(zoo.MODELS)
    assert zoo.builder("sparse_KL") is zoo.sparse_kl_ae and zoo.builder("conv-vae") is zoo.conv_vae
    with pytest.raises(ValueError, match="unknown model 'nope'; choose one of: ae, stacked"):
        zoo.builder("nope")
    for name in zoo.MODELS:  # the first argument of the builder says which input it takes
        first = next(iter(inspect.signature(zoo.builder(name)).parameters))
        assert (first == "image_shape") == (name in zoo.IMAGE_MODELS), name
        by_name = zoo.build(name, (1, 8, 8), seed=0)
        direct = zoo.builder(name)((1, 8, 8) if name in zoo.IMAGE_MODELS else 64, seed=0)
        assert by_name.config() == direct.config(), name


@pytest.mark.parametrize("name", list(zoo.MODELS))
@pytest.mark.parametrize("image_shape", [(1, 8, 8), (1, 28, 28)])
def test_build_works_for_digits_and_mnist_shapes(name, image_shape):
    model = zoo.build(name, image_shape)
    conv = name.startswith("conv")
    shape = image_shape if conv else (int(np.prod(image_shape)),)
    assert model.input_shape == shape
    x = np.random.default_rng(0).uniform(0, 1, size=(2, *shape)).astype(np.float32)
    out = model.reconstruct(x)
    assert out.shape == x.shape and out.dtype == np.float32
    assert float(model.loss_and_backward(x)) > 0
    json.dumps(model.config())  # the config is JSON


def test_build_defaults_follow_the_classic_sizes():
    assert repr(zoo.build("ae", (1, 28, 28)).encoder[0]) == "Dense(784 -> 196)"
    assert repr(zoo.build("ae", 64).encoder[0]) == "Dense(64 -> 16)"
    stacked = zoo.build("stacked", 784)
    assert [layer.out_features for layer in stacked.encoder.layers[::2]] == [512, 256, 64]
    assert [layer.out_features for layer in stacked.decoder.layers[::2]] == [256, 512, 784]
    assert zoo.build("conv", (1, 28, 28)).encoder.output_shape((1, 1, 28, 28)) == (1, 8, 7, 7)


@pytest.mark.parametrize("call,match", [
    (lambda: zoo.build("nope", 64), "unknown model 'nope'"),
    (lambda: zoo.build("conv", (64,)), r"image shape \(C, H, W\)"),
    (lambda: zoo.conv_ae((1, 10, 10)), "divisible by 4"),
    (lambda: zoo.conv_ae((1, 8, 8), upsample="bilinear-ish"), "upsample must be"),
    (lambda: zoo.denoising_ae(64, noise="salt"), "noise must be"),
    (lambda: zoo.shallow_ae(64, output="tanh"), "output must be"),
    (lambda: zoo.stacked_ae(64, sizes=()), "at least one"),
    (lambda: zoo.shallow_ae(0), "n_in must be a positive int"),
])
def test_build_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_conv_model_given_flat_rows_says_how_to_reshape():
    model = zoo.build("conv", (1, 8, 8))
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 1, 8, 8\).*to_images\(X, \(1, 8, 8\)\)"):
        model.loss_and_backward(np.zeros((4, 64), dtype=np.float32))
    with pytest.raises(ValueError, match="to_images"):  # fit checks the whole data set first, with the same advice
        fit(model, np.zeros((4, 64), dtype=np.float32), epochs=1, verbose=0)


@pytest.mark.parametrize("name", list(zoo.MODELS))
def test_config_round_trip_of_every_zoo_model(name):
    model = zoo.build(name, (1, 8, 8), seed=3)
    clone = from_config(json.loads(json.dumps(model.config())))
    source = dict(model.named_params())
    assert list(dict(clone.named_params())) == list(source)
    for label, p in clone.named_params():
        p.value[...] = source[label].value
    shape = model.input_shape
    x = np.random.default_rng(0).uniform(0, 1, size=(3, *shape)).astype(np.float32)
    np.testing.assert_array_equal(clone.reconstruct(x), model.reconstruct(x))


# -- training on the 8x8 digits ----------------------------------------------------------------------
#
# Baseline: predicting the mean training image for every validation image (MSE ~0.074 on digits).
# Each model must get its validation reconstruction MSE below a stated fraction of it, in a few epochs.


@pytest.fixture(scope="module")
def digits():
    ds = data.load("digits")
    baseline = float(((ds.X_val - ds.X_train.mean(axis=0)) ** 2).mean())
    return ds, baseline


def images(X):
    return data.to_images(X, (1, 8, 8))


def train_and_score(model, ds, epochs, lr, batch_size=64, conv=False):
    X, V = (images(ds.X_train), images(ds.X_val)) if conv else (ds.X_train, ds.X_val)
    start = time.perf_counter()
    history = fit(model, X, epochs=epochs, batch_size=batch_size, optimizer=Adam(model.params(), lr=lr),
                  validation_data=V, verbose=0)
    seconds = time.perf_counter() - start  # reported by the scripts that tabulate these runs, not asserted
    mse = float(((predict(model, V) - V) ** 2).mean())
    return mse, history, seconds


# name: (builder, epochs, learning rate, batch size, the fraction of the baseline MSE to beat)
TRAINING = {
    "ae": (lambda: zoo.build("ae", 64), 10, 1e-2, 64, 0.6),
    "stacked": (lambda: zoo.stacked_ae(64, sizes=(128, 64, 32)), 10, 3e-3, 64, 0.35),
    "sparse-l1": (lambda: zoo.build("sparse-l1", 64), 10, 3e-3, 64, 0.5),
    "sparse-kl": (lambda: zoo.build("sparse-kl", 64, n_hidden=64), 30, 1e-2, 64, 0.35),
    "denoising": (lambda: zoo.build("denoising", 64), 10, 1e-2, 64, 0.5),
    "tied": (lambda: zoo.build("tied", 64), 10, 1e-2, 64, 0.5),
    "vae": (lambda: zoo.build("vae", 64), 10, 1e-2, 64, 0.8),
    "conv": (lambda: zoo.build("conv", (1, 8, 8)), 5, 1e-2, 64, 0.6),
    "conv-vae": (lambda: zoo.build("conv-vae", (1, 8, 8), channels=(8, 16), latent_dim=4), 5, 5e-3, 32, 0.9),
}


@pytest.mark.parametrize("name", list(TRAINING))
def test_every_zoo_model_trains_on_digits_and_beats_the_mean_image(name, digits):
    ds, baseline = digits
    make, epochs, lr, batch_size, fraction = TRAINING[name]
    model = make()
    mse, history, seconds = train_and_score(model, ds, epochs, lr, batch_size, conv=name.startswith("conv"))
    assert history.loss[-1] < history.loss[0]
    assert mse < fraction * baseline, f"{name}: MSE {mse:.4f} vs mean-image baseline {baseline:.4f}"


def test_sparse_kl_mean_activation_is_near_rho(digits):
    ds, _ = digits
    model = zoo.build("sparse-kl", 64, n_hidden=64, rho=0.1)
    train_and_score(model, ds, 30, 1e-2)
    codes = encode(model, ds.X_val)
    assert abs(float(codes.mean()) - 0.1) < 0.05
    per_unit = codes.mean(axis=0)  # each unit, not just the average, is held near rho
    assert np.median(np.abs(per_unit - 0.1)) < 0.05


def zero_fractions(codes):
    """(fraction of all codes that are exactly 0, the same among the units that are ever active)."""
    live = codes[:, codes.max(axis=0) > 0]
    return float((codes == 0).mean()), float((live == 0).mean())


def test_sparse_l1_relu_codes_are_mostly_zero(digits):
    ds, _ = digits
    model = zoo.build("sparse-l1", 64)
    plain = zoo.sparse_l1_ae(64, lam=0.0)  # the same model without the penalty, for contrast
    train_and_score(model, ds, 10, 3e-3)
    train_and_score(plain, ds, 10, 3e-3)
    zero, zero_live = zero_fractions(encode(model, ds.X_val))
    _, zero_live_plain = zero_fractions(encode(plain, ds.X_val))
    assert zero > 0.5, f"only {zero:.0%} of the codes are zero"
    # Dead units (never active) are zero without any penalty; the L1 term makes the LIVE units sparse.
    assert zero_live > 0.5 and zero_live > zero_live_plain + 0.2


def test_denoising_model_removes_noise(digits):
    ds, _ = digits
    model = zoo.build("denoising", 64)
    train_and_score(model, ds, 10, 1e-2)
    noisy = data.masking_noise(ds.X_val, 0.25, 0)
    # the reconstruction of a masked image is much closer to the clean image than the masked image is
    assert float(((predict(model, noisy) - ds.X_val) ** 2).mean()) < 0.6 * float(((noisy - ds.X_val) ** 2).mean())


def test_vae_samples_are_images(digits):
    ds, _ = digits
    model = zoo.build("vae", 64)
    train_and_score(model, ds, 5, 1e-2)
    samples = model.sample(16, seed=0)
    assert samples.shape == (16, 64) and samples.min() >= 0 and samples.max() <= 1
    conv = zoo.build("conv-vae", (1, 8, 8))
    assert conv.sample(3, seed=0).shape == (3, 1, 8, 8)


def test_greedy_pretraining_writes_into_the_stack_and_helps(digits):
    ds, baseline = digits
    model = zoo.stacked_ae(64, sizes=(64, 32, 16), activation="sigmoid", output="sigmoid")
    before = [p.value.copy() for p in model.params()]
    untrained = float(((predict(model, ds.X_val) - ds.X_val) ** 2).mean())
    histories = zoo.greedy_pretrain(model, ds.X_train, epochs=5, lr=1e-2)
    assert len(histories) == 3 and all(h.loss[-1] < h.loss[0] for h in histories)
    assert all(not np.array_equal(p.value, b) for p, b in zip(model.params(), before))  # every layer was trained
    pretrained = float(((predict(model, ds.X_val) - ds.X_val) ** 2).mean())
    assert pretrained < untrained and pretrained < baseline  # the stacked layers already reconstruct
    mse, _, _ = train_and_score(model, ds, 5, 3e-3)  # fine-tuning the whole stack
    assert mse < pretrained


def test_greedy_pretrain_refuses_a_non_stack():
    with pytest.raises(ValueError, match="Dense, activation"):
        zoo.greedy_pretrain(Autoencoder([Dropout(0.1)], [GaussianNoise(0.1)]), np.zeros((2, 3)))


# -- the same step on the GPU (skipped without CuPy and a device) ------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["denoising", "sparse-kl", "vae", "conv", "conv-vae"])
def test_a_training_step_on_the_gpu_matches_the_cpu(name, cupy):
    """Weights and noise (masks, eps) are drawn on the host, so both devices compute the same step."""
    cpu = zoo.build(name, (1, 8, 8), seed=0, dtype=np.float64)
    gpu = zoo.build(name, (1, 8, 8), seed=0, dtype=np.float64).to("gpu")
    x = np.random.default_rng(0).uniform(0.05, 0.95, size=(4, *cpu.input_shape))
    loss_cpu = float(cpu.loss_and_backward(x))
    loss_gpu = float(gpu.loss_and_backward(cupy.asarray(x)))
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-10)
    for (label, p), q in zip(cpu.named_params(), gpu.params()):
        np.testing.assert_allclose(cupy.asnumpy(q.grad), p.grad, rtol=1e-8, atol=1e-12, err_msg=label)
    assert cupy.asnumpy(gpu.reconstruct(cupy.asarray(x))).shape == x.shape

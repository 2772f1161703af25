"""Autoencoder and VAE: the data flow of one step, terms, modes, VAE semantics, config round trip, bad input."""

import json

import numpy as np
import pytest

from tinyae.gradcheck import check_model
from tinyae.layers import Dense, Identity, Sigmoid, TiedDense
from tinyae.layers.activations import sigmoid
from tinyae.layers.base import Layer
from tinyae.layers.noise import Dropout, GaussianNoise
from tinyae.losses import MSE, BCEWithLogits, GaussianKL, KLSparsity, L1Activity, L2WeightDecay
from tinyae.models import VAE, Autoencoder, Sequential, from_config


def rows(n, d, seed=0, low=0.05, high=0.95):
    return np.random.default_rng(seed).uniform(low, high, size=(n, d))


def small_ae(dtype=np.float64, **kw):
    enc = Sequential(Dense(6, 4, seed=1, dtype=dtype), Sigmoid())
    dec = Sequential(Dense(4, 6, seed=2, dtype=dtype))
    return Autoencoder(enc, dec, **kw)


def small_vae(latent=2, dtype=np.float64, **kw):
    enc = Sequential(Dense(6, 5, seed=1, dtype=dtype), Sigmoid(), Dense(5, 2 * latent, seed=3, dtype=dtype))
    dec = Sequential(Dense(latent, 5, seed=2, dtype=dtype), Sigmoid(), Dense(5, 6, seed=4, dtype=dtype))
    return VAE(enc, dec, latent, seed=5, **kw)


def with_random_biases(model, seed=9):
    rng = np.random.default_rng(seed)
    for p in model.params():
        if p.name == "b":
            p.value[...] = rng.normal(scale=0.5, size=p.shape)
    return model


# -- the data flow of one step -----------------------------------------------------------------------


def test_whole_autoencoder_gradcheck_with_penalties_and_weight_decay():
    model = with_random_biases(small_ae(loss="bce_with_logits", penalties=[KLSparsity(0.1, 3.0), L1Activity(0.01)],
                                        weight_decay=1e-2))
    report = check_model(model, None, rows(5, 6), tol=1e-7)
    assert report.passed, report
    assert [t.name for t in report.tensors] == ["encoder.0.Dense.W", "encoder.0.Dense.b", "decoder.0.Dense.W",
                                                "decoder.0.Dense.b"]


def test_terms_are_0d_arrays_that_add_up_in_order():
    model = small_ae(penalties=[KLSparsity(0.1, 3.0), L1Activity(0.01), L1Activity(0.02)], weight_decay=1e-3)
    total = model.loss_and_backward(rows(4, 6))
    assert list(model.terms) == ["reconstruction", "kl_sparsity", "l1_activity", "l1_activity_2", "weight_decay",
                                 "loss"]
    for value in model.terms.values():
        assert isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype == np.float64
    assert total is model.terms["loss"]
    parts = sum(float(v) for k, v in model.terms.items() if k != "loss")
    assert float(total) == pytest.approx(parts, rel=1e-12)


def test_step_equals_the_hand_composed_data_flow():
    """loss_and_backward = decoder/encoder backward with dh = decoder's dh + the penalty's dh, plus lam * W."""
    x = rows(4, 6)
    model = small_ae(penalties=[L1Activity(0.05)], weight_decay=0.1)
    model.zero_grad()
    model.loss_and_backward(x)
    got = [p.grad.copy() for p in model.params()]

    model.zero_grad()
    enc, dec = model.encoder, model.decoder
    h = enc.forward(x, training=True)
    mse, l1 = MSE(), L1Activity(0.05)
    mse.forward(dec.forward(h, training=True), x)
    l1.forward(h)
    enc.backward(dec.backward(mse.backward()) + l1.backward())
    L2WeightDecay([enc[0].W, dec[0].W], 0.1).backward()
    for g, p in zip(got, model.params()):
        np.testing.assert_allclose(g, p.grad, rtol=1e-12, atol=0)


def test_gradients_add_up_and_values_stay():
    model = small_ae()
    x = rows(3, 6)
    before = [p.value.copy() for p in model.params()]
    model.zero_grad()
    model.loss_and_backward(x)
    once = [p.grad.copy() for p in model.params()]
    model.loss_and_backward(x)
    for g, p, v in zip(once, model.params(), before):
        np.testing.assert_allclose(p.grad, 2 * g, rtol=1e-12)
        np.testing.assert_array_equal(p.value, v)


def test_target_defaults_to_x_and_can_be_given():
    x, t = rows(3, 6, seed=1), rows(3, 6, seed=2)
    model = small_ae()
    out = model.forward(x)
    assert float(model.loss_and_backward(x)) == pytest.approx(float(MSE().forward(out, x)))
    assert float(model.loss_and_backward(x, t)) == pytest.approx(float(MSE().forward(out, t)))


def test_evaluate_loss_is_the_eval_mode_loss_without_gradients():
    model = small_ae(penalties=[KLSparsity(0.2, 1.0)], weight_decay=1e-3)
    x = rows(4, 6)
    model.zero_grad()
    value = model.evaluate_loss(x)
    assert all(not p.grad.any() for p in model.params())
    assert float(value) == pytest.approx(float(model.loss_and_backward(x, training=False)), rel=1e-12)
    assert list(model.terms) == ["reconstruction", "kl_sparsity", "weight_decay", "loss"]


def test_tied_weights_are_one_param_with_both_gradients():
    enc_dense = Dense(6, 3, seed=0, dtype=np.float64)
    model = Autoencoder([enc_dense, Sigmoid()], [TiedDense(enc_dense), Sigmoid()])
    labels = [label for label, _ in model.named_params()]
    assert labels == ["encoder.0.Dense.W", "encoder.0.Dense.b", "decoder.0.TiedDense.b"]
    assert check_model(model, None, rows(4, 6), tol=1e-7).passed


def test_reconstruct_decode_encode():
    model = with_random_biases(small_ae(loss=BCEWithLogits()))
    x = rows(3, 6)
    np.testing.assert_allclose(model.reconstruct(x), sigmoid(model.forward(x)))
    np.testing.assert_allclose(model.decode(model.encode(x)), model.reconstruct(x))
    mse_model = small_ae()  # an MSE model's reconstruction is the decoder output itself
    np.testing.assert_array_equal(mse_model.reconstruct(x), mse_model.forward(x))


def test_train_and_eval_modes_switch_the_noise():
    enc = Sequential(Dropout(0.5, rescale=False, seed=0), Dense(6, 4, seed=1, dtype=np.float64), Sigmoid())
    model = Autoencoder(enc, [Dense(4, 6, seed=2, dtype=np.float64)])
    x = rows(2, 6)
    clean = model.forward(x)
    assert not np.array_equal(model.train().forward(x), clean)
    np.testing.assert_array_equal(model.eval().forward(x), clean)
    np.testing.assert_array_equal(model.train().encode(x), model.eval().encode(x))  # encode is always eval


def test_astype_casts_everything_and_keeps_ties():
    enc_dense = Dense(6, 3, seed=0)
    model = Autoencoder([enc_dense, Sigmoid()], [TiedDense(enc_dense)], weight_decay=0.1)
    model.astype(np.float64)
    assert all(p.value.dtype == np.float64 for p in model.params())
    assert model.decoder[0].W is enc_dense.W
    model.loss_and_backward(rows(2, 6))
    assert model.terms["loss"].dtype == np.float64


def test_summary_lists_layers_shapes_and_loss():
    model = small_ae(penalties=[KLSparsity()])
    text = model.summary()
    assert "Dense(6 -> 4)" in text and "(N, 4)" in text and "KLSparsity" in text
    assert f"total parameters: {model.num_params():,}" in text
    vtext = small_vae().summary()
    assert "z = mu + exp(logvar / 2) * eps" in vtext and "(N, 2)" in vtext


# -- config: rebuild and copy the arrays by label -----------------------------------------------------


def copy_weights(src, dst):
    dst_params = dict(dst.named_params())
    assert list(dst_params) == [label for label, _ in src.named_params()]
    for label, p in src.named_params():
        dst_params[label].value[...] = p.value


@pytest.mark.parametrize("make", [
    lambda: small_ae(loss="bce_with_logits", penalties=[KLSparsity(0.1, 2.0)], weight_decay=1e-3),
    lambda: small_vae(beta=0.5, recon="mse"),
    lambda: Autoencoder([GaussianNoise(0.1), (d := Dense(6, 3, seed=0)), Sigmoid()], [TiedDense(d), Identity()]),
])
def test_config_is_json_and_rebuilds_the_model(make):
    model = make().astype(np.float64)
    config = json.loads(json.dumps(model.config()))
    clone = from_config(config, dtype=np.float64)
    assert type(clone) is type(model)
    copy_weights(model, clone)
    x = rows(3, 6)
    np.testing.assert_array_equal(clone.reconstruct(x), model.reconstruct(x))
    assert float(clone.evaluate_loss(x)) == float(model.evaluate_loss(x))
    assert clone.config() == config


def test_rebuilt_tied_model_shares_its_weight():
    d = Dense(6, 3, seed=0)
    model = Autoencoder([d, Sigmoid()], [TiedDense(d)])
    config = model.config()
    assert config["decoder"]["layers"][0]["config"]["encoder_position"] == 0
    clone = from_config(config)
    assert clone.decoder[0].W is clone.encoder[0].W


def test_from_config_refuses_unknown_things():
    with pytest.raises(ValueError, match="Autoencoder or a VAE"):
        from_config({"class": "Nope"})
    config = small_ae().config()
    config["encoder"]["layers"][0]["class"] = "Evil"
    with pytest.raises(ValueError, match="unknown layer 'Evil'"):
        from_config(config)
    config["encoder"]["layers"][0]["class"] = "Activation"  # an abstract base, no forward of its own
    with pytest.raises(ValueError, match="unknown layer 'Activation'"):
        from_config(config)


def test_rng_states_round_trip_reproduces_the_noise():
    model = Autoencoder([Dropout(0.5, seed=1), Dense(6, 4, dtype=np.float64)], [Dense(4, 6, dtype=np.float64)])
    states = json.loads(json.dumps(model.rng_states()))
    x = rows(2, 6)
    first = model.forward(x, training=True)
    model.set_rng_states(states)
    np.testing.assert_array_equal(model.forward(x, training=True), first)


# -- VAE ------------------------------------------------------------------------------------------


def test_vae_gradcheck_with_explicit_eps():
    model = with_random_biases(small_vae(latent=3))
    eps = np.random.default_rng(1).normal(size=(5, 3))
    report = check_model(model, None, rows(5, 6), eps=eps, tol=1e-7)
    assert report.passed, report


@pytest.mark.parametrize("recon,beta", [("mse", 0.3), ("bce_with_logits", 4.0)])
def test_vae_gradcheck_recon_and_beta(recon, beta):
    model = with_random_biases(small_vae(recon=recon, beta=beta))
    eps = np.random.default_rng(2).normal(size=(4, 2))
    assert check_model(model, None, rows(4, 6), eps=eps, tol=1e-7).passed


class Spy(Layer):
    """Identity that records what it was given (the VAE's z when placed first in the decoder)."""

    def forward(self, x, training=False):
        self.seen = x.copy()
        return x

    def backward(self, dy):
        return dy


def fixed_code_vae(mu, logvar, n_in=3):
    """A VAE whose encoder outputs the same (mu, logvar) for every input: W = 0, b = [mu, logvar]."""
    latent = len(mu)
    enc = Dense(n_in, 2 * latent, dtype=np.float64)
    enc.W.value[...] = 0
    enc.b.value[...] = np.concatenate([mu, logvar])
    spy = Spy()
    model = VAE([enc], [spy, Dense(latent, n_in, seed=0, dtype=np.float64)], latent, recon="mse", seed=0)
    return model, spy


def test_vae_sampler_has_mean_mu_and_variance_exp_logvar():
    """Finite differences cannot see sigma = exp(logvar) used in place of exp(logvar / 2); statistics can."""
    mu, logvar = np.array([0.5, -1.0, 2.0]), np.array([1.0, -1.0, 0.0])
    model, spy = fixed_code_vae(mu, logvar)
    n = 40000
    model.loss_and_backward(np.zeros((n, 3)))
    z = spy.seen
    se_mean = np.sqrt(np.exp(logvar) / n)
    assert np.all(np.abs(z.mean(axis=0) - mu) < 4 * se_mean)
    # the sample variance's relative standard error is sqrt(2 / n) ~ 0.7%; 4% is > 5 of them, and the
    # std-as-variance bug would be off by a factor exp(logvar): e (+172%), 1/e (-63%)
    np.testing.assert_allclose(z.var(axis=0), np.exp(logvar), rtol=0.04)
    z_train = (model.forward(np.zeros((n, 3)), training=True), spy.seen)[1]  # forward samples the same way
    np.testing.assert_allclose(z_train.var(axis=0), np.exp(logvar), rtol=0.04)
    model.forward(np.zeros((2, 3)), training=False)
    np.testing.assert_array_equal(spy.seen, np.tile(mu, (2, 1)))  # eval: z = mu


def test_vae_kl_term_equals_a_monte_carlo_estimate():
    """KL(q || p) = E_q[log q(z) - log p(z)], estimated from the sampler's own z, agrees with the closed form."""
    mu, logvar = np.array([0.5, -1.0, 2.0]), np.array([1.0, -1.0, 0.0])
    model, spy = fixed_code_vae(mu, logvar)
    n = 100000
    model.loss_and_backward(np.zeros((n, 3)))
    z, var = spy.seen, np.exp(logvar)
    log_q = -0.5 * (np.log(2 * np.pi) + logvar + (z - mu) ** 2 / var)
    log_p = -0.5 * (np.log(2 * np.pi) + z ** 2)
    per_sample = (log_q - log_p).sum(axis=1)
    estimate, stderr = per_sample.mean(), per_sample.std() / np.sqrt(n)
    closed = float(model.terms["kl"])
    assert closed == pytest.approx(-0.5 * np.sum(1 + logvar - mu ** 2 - var))
    assert abs(estimate - closed) < 4 * stderr  # stderr ~ 0.01 here (closed form 3.27 nats)


def test_vae_terms_and_eps_from_rng():
    model = small_vae(beta=2.0)
    x = rows(4, 6)
    total = model.loss_and_backward(x)
    assert list(model.terms) == ["reconstruction", "kl", "loss"]
    assert float(total) == pytest.approx(float(model.terms["reconstruction"]) + 2.0 * float(model.terms["kl"]))
    other = float(model.loss_and_backward(x))  # fresh eps from self.rng
    assert other != float(total)


def test_vae_evaluate_loss_is_deterministic_and_leaves_the_training_rng_alone():
    model = small_vae()
    x = rows(4, 6)
    state = model.rng.bit_generator.state
    a, b = float(model.evaluate_loss(x)), float(model.evaluate_loss(x))
    assert a == b
    assert model.rng.bit_generator.state == state
    eps = np.random.default_rng(0).standard_normal((4, 2))
    assert a == float(model.evaluate_loss(x, eps=eps))


def test_vae_encode_decode_reconstruct_sample():
    model = with_random_biases(small_vae(latent=2))
    x = rows(3, 6)
    mu, logvar = model.encode_stats(x)
    assert mu.shape == logvar.shape == (3, 2)
    np.testing.assert_array_equal(model.encode(x), mu)
    np.testing.assert_array_equal(model.reconstruct(x), model.decode(mu))  # uses mu: deterministic
    np.testing.assert_array_equal(model.reconstruct(x), model.reconstruct(x))
    samples = model.sample(7, seed=3)
    assert samples.shape == (7, 6) and samples.min() >= 0 and samples.max() <= 1  # bce_with_logits: sigmoid
    np.testing.assert_array_equal(model.sample(7, seed=3), samples)
    assert not np.array_equal(model.sample(7, seed=4), samples)
    grid = np.stack(np.meshgrid(np.linspace(-2, 2, 3), np.linspace(-2, 2, 3)), axis=-1).reshape(-1, 2)
    assert model.decode(grid).shape == (9, 6)


def test_vae_float32_stays_float32():
    model = small_vae(dtype=np.float32)
    x = rows(4, 6).astype(np.float32)
    model.loss_and_backward(x)
    assert all(v.dtype == np.float32 for v in model.terms.values())
    assert all(p.grad.dtype == np.float32 for p in model.params())
    assert model.sample(2).dtype == np.float32


# -- bad input -------------------------------------------------------------------------------------


def test_input_of_the_wrong_shape_says_what_is_expected():
    model = small_ae()
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 6\), got \(2, 5\)"):
        model.loss_and_backward(rows(2, 5))
    images = rows(2, 6).reshape(2, 1, 2, 3)
    with pytest.raises(ValueError, match="flatten_images"):
        model.encode(images)


def test_image_model_given_rows_says_how_to_reshape():
    from tinyae.layers.conv import Conv2D
    from tinyae.layers.shape import Flatten

    model = Autoencoder([Conv2D(1, 2, 3, padding=1, dtype=np.float64), Flatten()], [Dense(2 * 16, 16)],
                        input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match=r"\(N, 1, 4, 4\), got \(3, 16\).*to_images\(X, \(1, 4, 4\)\)"):
        model.reconstruct(rows(3, 16))


def test_bce_model_refuses_data_outside_0_1_with_its_range():
    model = small_ae(loss="bce_with_logits")
    x = rows(3, 6, low=-0.5, high=2.0)
    with pytest.raises(ValueError, match=r"\[0, 1\].*-0\.\d+.*1\.\d+"):
        model.loss_and_backward(x)
    vae = small_vae()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vae.loss_and_backward(x)


def test_vae_widths_are_checked():
    with pytest.raises(ValueError, match=r"2 \* latent_dim = 6.*Dense\(\.\.\., 6\)"):
        VAE([Dense(6, 4)], [Dense(3, 6)], latent_dim=3)
    with pytest.raises(ValueError, match=r"latent_dim = 2.*Dense\(2, \.\.\.\)"):
        VAE([Dense(6, 4)], [Dense(3, 6)], latent_dim=2)
    model = small_vae()
    model.latent_dim = 3  # an encoder that does not end in Dense is only caught at run time
    with pytest.raises(ValueError, match=r"encoder output has shape \(2, 4\), expected \(N, 6\)"):
        model.evaluate_loss(rows(2, 6))
    with pytest.raises(ValueError, match="eps has shape"):
        small_vae().loss_and_backward(rows(2, 6), eps=np.zeros((2, 3)))


@pytest.mark.parametrize("kw,match", [
    (dict(penalties=[GaussianKL()]), "use tinyae.models.VAE"),
    (dict(penalties=[L2WeightDecay([Dense(2, 2).W], 0.1)]), "weight_decay=lam"),
    (dict(loss="hinge"), "loss must be"),
])
def test_bad_model_arguments(kw, match):
    with pytest.raises((TypeError, ValueError), match=match):
        small_ae(**kw)


def test_vae_backward_is_refused_with_a_pointer():
    with pytest.raises(NotImplementedError, match="loss_and_backward"):
        small_vae().backward(np.zeros((1, 6)))


def test_one_name_for_the_logits_loss_and_the_old_spelling_still_reads():
    """"bce_with_logits" (the loss's own name) everywhere; "bce_logits", the earlier spelling found in old
    checkpoints and scripts, is read as it, and the config written is the new name."""
    from tinyae import zoo
    from tinyae.models import VAE, Autoencoder, from_config

    vae = zoo.vae(6, hidden=(5,), latent_dim=2, recon="bce_logits")
    assert vae.recon == "bce_with_logits" and vae.config()["recon"] == "bce_with_logits"
    old = dict(vae.config(), recon="bce_logits")  # as an earlier tinyae wrote it
    assert from_config(old).recon == "bce_with_logits"
    ae = Autoencoder([Dense(4, 2)], [Dense(2, 4)], loss="bce_logits")
    assert type(ae.loss).__name__ == "BCEWithLogits"
    with pytest.raises(ValueError, match=r"^VAE: recon must be one of 'bce_with_logits', 'mse', got 'bce'$"):
        VAE([Dense(4, 4)], [Dense(2, 4)], latent_dim=2, recon="bce")
    expected = r"^Autoencoder: loss must be one of 'mse', 'bce', 'bce_with_logits' \(or a Loss object\), got 'l2'$"
    with pytest.raises(ValueError, match=expected):
        Autoencoder([Dense(4, 2)], [Dense(2, 4)], loss="l2")


def test_a_checkpoint_config_with_the_old_tied_to_key_still_loads():
    """TiedDense's config names its encoder's position "encoder_position"; configs written before (the key
    "tied_to") are read the same way."""
    from tinyae import zoo
    from tinyae.models import from_config

    model = zoo.build("tied", (6,), n_hidden=3)
    config = json.loads(json.dumps(model.config()))
    spec = config["decoder"]["layers"][0]["config"]
    spec["tied_to"] = spec.pop("encoder_position")
    rebuilt = from_config(config)
    assert rebuilt.decoder.layers[0].encoder is rebuilt.encoder.layers[0]
    assert rebuilt.config() == model.config()

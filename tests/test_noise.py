"""Noise layers: exact gradients of the noise they drew, identity in eval mode, the noise's statistics."""

import numpy as np
import pytest

from tinyae import data
from tinyae.gradcheck import check_layer
from tinyae.layers.noise import Dropout, GaussianNoise

SEED = 0  # check_layer re-seeds every .rng with its seed (default 0) before each forward


def noise_of_seed(shape, seed=SEED, dtype=np.float64):
    """The eps a GaussianNoise layer draws right after its rng is re-seeded with ``seed``."""
    return np.random.default_rng(seed).standard_normal(shape, dtype=dtype)


def inputs_away_from_the_clip(shape, std, margin=0.02):
    """x in [0, 1] such that x + std * eps (eps as drawn under SEED) is never within ``margin`` of 0 or 1,
    while plenty of entries land outside [0, 1] (so both sides of the clip are exercised)."""
    x = np.random.default_rng(1).uniform(0, 1, size=shape)
    pre = x + std * noise_of_seed(shape)
    for edge in (0.0, 1.0):
        near = np.abs(pre - edge) < margin
        x[near] = np.clip(x[near] + np.where(pre[near] < edge, -2, 2) * margin, 0, 1)
        pre = x + std * noise_of_seed(shape)
    return x, pre


# -- GaussianNoise ----------------------------------------------------------------------------------


def test_gaussian_noise_gradcheck_in_training_mode_with_the_clip_active():
    x, pre = inputs_away_from_the_clip((6, 10), std=0.5)
    assert np.min(np.abs(pre)) > 1e-3 and np.min(np.abs(pre - 1)) > 1e-3  # no kink near the check's steps
    assert (pre < 0).sum() >= 5 and (pre > 1).sum() >= 5  # the clip's zero gradient is exercised
    report = check_layer(GaussianNoise(0.5), x, training=True)
    assert report.passed, report


def test_gaussian_noise_gradient_is_zero_exactly_where_the_clip_bites():
    x, pre = inputs_away_from_the_clip((4, 8), std=0.5)
    layer = GaussianNoise(0.5, seed=SEED)
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, np.clip(pre, 0, 1), rtol=0, atol=1e-15)
    dy = np.random.default_rng(2).normal(size=x.shape)
    dx = layer.backward(dy)
    inside = (pre > 0) & (pre < 1)
    np.testing.assert_array_equal(dx, np.where(inside, dy, 0.0))


def test_gaussian_noise_without_clip_gradcheck_and_statistics():
    x = np.random.default_rng(3).normal(size=(5, 7))
    assert check_layer(GaussianNoise(2.0, clip=None), x, training=True).passed
    big = np.full((400, 250), 0.5)
    y = GaussianNoise(0.3, clip=None, seed=4).forward(big, training=True)
    noise = (y - big).ravel()  # 100000 draws of N(0, 0.3^2)
    assert abs(noise.mean()) < 4 * 0.3 / np.sqrt(noise.size)  # within 4 standard errors of 0
    assert abs(noise.std() / 0.3 - 1) < 0.01  # the std is within 1% (its standard error is ~0.2%)


def test_gaussian_noise_clipped_output_stays_in_range():
    x = np.random.default_rng(5).uniform(0, 1, size=(200, 64)).astype(np.float32)
    y = GaussianNoise(0.5, seed=6).forward(x, training=True)
    assert y.dtype == np.float32
    assert y.min() == 0.0 and y.max() == 1.0  # the noise is big enough to hit both ends, never beyond
    assert np.mean((y == 0) | (y == 1)) > 0.1


def test_gaussian_noise_is_the_same_draw_as_data_gaussian_noise():
    x = np.random.default_rng(7).uniform(0, 1, size=(3, 9))
    layer = GaussianNoise(0.2, seed=11)
    np.testing.assert_array_equal(layer.forward(x, training=True), data.gaussian_noise(x, 0.2, 11))


def test_gaussian_noise_draws_fresh_noise_each_forward():
    x = np.full((2, 5), 0.5)
    layer = GaussianNoise(0.1, seed=8)
    assert not np.array_equal(layer.forward(x, training=True), layer.forward(x, training=True))


# -- Dropout / masking ------------------------------------------------------------------------------


@pytest.mark.parametrize("rescale", [True, False])
def test_dropout_gradcheck_in_training_mode(rescale):
    x = np.random.default_rng(9).normal(size=(4, 10))
    report = check_layer(Dropout(0.3, rescale=rescale), x, training=True)
    assert report.passed, report


def test_dropout_drops_exactly_round_p_d_per_sample_and_rescales_the_rest():
    x = np.random.default_rng(10).uniform(0.1, 1, size=(50, 20)).astype(np.float32)  # no zeros in x
    layer = Dropout(0.25, seed=12)
    y = layer.forward(x, training=True)
    assert y.dtype == np.float32
    assert ((y == 0).sum(axis=1) == 5).all()  # round(0.25 * 20) = 5 in every sample
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.75, rtol=1e-6)
    dy = np.ones_like(x)
    dx = layer.backward(dy)
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, kept / np.float32(0.75), rtol=1e-6)


def test_dropout_rescaling_keeps_the_mean():
    x = np.random.default_rng(13).uniform(0, 1, size=(1, 30))
    layer = Dropout(0.4, seed=14)
    mean = np.mean([layer.forward(x, training=True) for _ in range(4000)], axis=0)
    # one draw is x / 0.6 (prob 0.6) or 0: std x * sqrt(1/0.6 - 1) ~ 0.82 x; the mean of 4000 has std ~ 0.013 x
    np.testing.assert_allclose(mean, x, atol=0.05)  # ~4 standard errors at x = 1


def test_masking_is_dropout_without_rescaling_and_equals_data_masking_noise():
    x = np.random.default_rng(15).uniform(0.1, 1, size=(6, 16))
    y = Dropout(0.5, rescale=False, seed=16).forward(x, training=True)
    np.testing.assert_array_equal(y, data.masking_noise(x, 0.5, 16))
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept])  # pixel values are not changed


def test_dropout_of_images_counts_per_sample():
    x = np.ones((3, 1, 4, 4))
    y = Dropout(0.5, seed=0).forward(x, training=True)
    assert ((y == 0).reshape(3, -1).sum(axis=1) == 8).all()


# -- eval mode, config, bad input --------------------------------------------------------------------


@pytest.mark.parametrize("layer", [GaussianNoise(0.5), Dropout(0.5), Dropout(0.5, rescale=False)])
def test_identity_in_eval_mode(layer):
    x = np.random.default_rng(17).uniform(0, 1, size=(3, 8))
    y = layer.forward(x)  # training=False by default
    assert y is x
    dy = np.random.default_rng(18).normal(size=x.shape)
    assert layer.backward(dy) is dy
    assert check_layer(layer, x, training=False).passed


def test_config_and_repr():
    assert GaussianNoise(0.2).config() == {"std": 0.2, "clip": [0.0, 1.0]}
    assert GaussianNoise(0.2, clip=None).config() == {"std": 0.2, "clip": None}
    assert Dropout(0.25, rescale=False).config() == {"p": 0.25, "rescale": False}
    assert GaussianNoise(**GaussianNoise(0.2).config()).clip == (0.0, 1.0)
    assert "rescale=False" in repr(Dropout(0.25, rescale=False))


@pytest.mark.parametrize("make", [
    lambda: GaussianNoise(-0.1),
    lambda: GaussianNoise(float("nan")),
    lambda: GaussianNoise(0.1, clip=(1.0, 0.0)),
    lambda: GaussianNoise(0.1, clip=(0.0,)),
    lambda: Dropout(1.0),
    lambda: Dropout(-0.1),
    lambda: Dropout(True),
])
def test_bad_arguments(make):
    with pytest.raises(ValueError, match="GaussianNoise|Dropout"):
        make()


def test_dropout_that_would_drop_everything_is_refused():
    with pytest.raises(ValueError, match="drops all 2 entries"):
        Dropout(0.9).forward(np.ones((3, 2)), training=True)  # round(0.9 * 2) = 2


def test_backward_before_forward_and_bad_dy():
    with pytest.raises(RuntimeError, match="before forward"):
        Dropout(0.5).backward(np.ones((2, 3)))
    layer = GaussianNoise(0.1)
    layer.forward(np.zeros((2, 3)), training=True)
    with pytest.raises(ValueError, match="dy has shape"):
        layer.backward(np.ones((3, 2)))

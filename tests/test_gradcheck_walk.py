"""One walk over a model's parts and one list of its noise sources, shared by the models and the checker."""

import numpy as np

from tinyae import zoo
from tinyae.gradcheck.compare import reseed
from tinyae.layers import Dense, Dropout, GaussianNoise, ReLU
from tinyae.models import Sequential, noise_sources, walk


def test_walk_reaches_nested_parts_and_noise_sources_lists_the_generators():
    noise, drop = GaussianNoise(0.1, seed=1), Dropout(0.5, seed=2)
    inner = Sequential(Dense(3, 3), drop)
    model = Sequential(noise, inner, ReLU())
    assert [type(p).__name__ for p in walk(model)] == ["Sequential", "GaussianNoise", "Sequential", "Dense",
                                                       "Dropout", "ReLU"]
    assert noise_sources(model) == [noise, drop]  # the nested Dropout too


def test_reseed_and_rng_states_see_the_same_parts_of_a_vae():
    vae = zoo.vae(6, hidden=[4], latent_dim=2, dtype=np.float64)
    parts = noise_sources(vae)
    assert vae in parts  # the VAE's own sampler
    assert len(vae.rng_states()) == len(parts)
    for part in parts:
        part.rng.normal(size=5)  # move every generator on
    reseed(vae, 7)
    fresh = np.random.default_rng(7).bit_generator.state
    assert vae.rng_states() == [fresh] * len(parts)

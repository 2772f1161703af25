"""The sparse convolutional autoencoder of the zoo (``zoo.conv_sparse_ae``, "conv-sparse")."""

import numpy as np
import pytest

from tinyae import zoo
from tinyae.gradcheck import check_model
from tinyae.gradcheck.cases import kink_free_input, randomise_biases
from tinyae.losses import L1Activity
from tinyae.train import encode, fit


def test_conv_sparse_gradcheck_end_to_end():
    """Every Param's gradient of BCE + lam * mean|h| against finite differences (float64, away from kinks)."""
    model = randomise_biases(zoo.conv_sparse_ae((1, 4, 4), channels=(2, 3), lam=0.3, dtype=np.float64))
    x = kink_free_input(model, None, False)
    report = check_model(model, None, x, max_checks=25, tol=1e-6)
    assert report.passed, str(report)


def test_the_penalty_is_lam_times_the_mean_absolute_code():
    model = zoo.build("conv-sparse", (1, 8, 8), lam=0.25, dtype=np.float64)
    assert isinstance(model.penalties[0], L1Activity) and model.penalties[0].reduction == "mean"
    x = np.random.default_rng(0).uniform(0, 1, size=(5, 1, 8, 8))
    model.loss_and_backward(x)
    h = encode(model, x)
    assert h.shape == (5, 8, 2, 2) and h.min() >= 0  # ReLU then max-pool: a non-negative code map
    np.testing.assert_allclose(float(model.terms["l1_activity"]), 0.25 * np.abs(h).mean(), rtol=1e-12)


def test_the_penalty_makes_more_code_entries_exactly_zero():
    """Same data, weights and steps: the L1 model ends with more exact zeros in its code than lam = 0."""
    from tinyae.data import load

    ds = load("digits", flatten=False, limit=300, seed=0)
    X = ds.X_train
    zeros = {}
    for lam in (0.0, 0.3):
        model = zoo.conv_sparse_ae(ds.image_shape, lam=lam, seed=0)
        fit(model, X, epochs=3, batch_size=32, verbose=0)
        zeros[lam] = float((encode(model, X) == 0).mean())
    assert zeros[0.3] > zeros[0.0] + 0.1, zeros


def test_bad_arguments_get_one_line_errors():
    with pytest.raises(ValueError, match=r"^L1Activity: lam must be a finite number in \[0, inf\), got -1"):
        zoo.conv_sparse_ae((1, 8, 8), lam=-1)
    with pytest.raises(ValueError, match="conv_sparse_ae: the two 2x2 poolings need H and W divisible by 4"):
        zoo.conv_sparse_ae((1, 10, 10))

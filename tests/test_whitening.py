"""PCA and ZCA whitening (tinyae.whitening): the defining properties, against an independent reference."""

import numpy as np
import pytest

from tinyae.whitening import Whitening, natural_patches, sample_images_grey


def correlated(n=500, d=6, seed=0):
    """Full-rank data with very unequal variances and strong correlations (a random mixing of scaled noise)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) * np.logspace(0, -2, d)[None, :]
    return rng.normal(size=(n, d)) @ A.T + rng.normal(size=d)


def cov(Z):
    Zc = Z - Z.mean(axis=0)
    return Zc.T @ Zc / len(Z)


@pytest.mark.parametrize("method", ["pca", "zca"])
def test_whitened_covariance_is_the_identity(method):
    X = correlated()
    Z = Whitening(method, eps=0).fit_transform(X)
    np.testing.assert_allclose(cov(Z), np.eye(X.shape[1]), atol=1e-10)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-10)


def test_pca_whitening_is_the_principal_axes_scaled():
    """Independent reference: scikit-learn's PCA(whiten=True). It divides by the 1/(N-1) variances, so its
    outputs are ours times sqrt((N-1)/N)."""
    from sklearn.decomposition import PCA

    X = correlated()
    Z = Whitening("pca", eps=0).fit_transform(X)
    ref = PCA(whiten=True).fit_transform(X) * np.sqrt(len(X) / (len(X) - 1))
    signs = np.sign((Z * ref).sum(axis=0))  # each axis is defined up to its sign
    np.testing.assert_allclose(Z * signs, ref, atol=1e-8)


def test_zca_matrix_is_symmetric_and_the_inverse_square_root_of_the_covariance():
    X = correlated()
    w = Whitening("zca", eps=0).fit(X)
    W = w.whitening_
    np.testing.assert_array_equal(W, W.T)
    np.testing.assert_allclose(W @ cov(X) @ W, np.eye(X.shape[1]), atol=1e-9)  # W = C^(-1/2)
    np.testing.assert_allclose(w.dewhitening_ @ w.dewhitening_, cov(X), rtol=1e-9, atol=1e-12)  # W^-1 = C^(1/2)


def test_zca_is_the_whitening_closest_to_the_input():
    """Of all whitening matrices R W_zca (R orthogonal), ZCA's changes the centred data least."""
    X = correlated()
    Xc = X - X.mean(axis=0)
    z_zca = Whitening("zca", eps=0).fit_transform(X)
    z_pca = Whitening("pca", eps=0).fit_transform(X)
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.normal(size=(X.shape[1],) * 2))
    dist = {k: np.sum((Z - Xc) ** 2) for k, Z in (("zca", z_zca), ("pca", z_pca), ("rotated", z_zca @ Q.T))}
    assert dist["zca"] < dist["pca"] and dist["zca"] < dist["rotated"]


@pytest.mark.parametrize("method", ["pca", "zca"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_inverse_transform_undoes_transform(method, eps):
    X = correlated()
    w = Whitening(method, eps=eps).fit(X)
    np.testing.assert_allclose(w.inverse_transform(w.transform(X)), X, atol=1e-10)


def test_eps_shrinks_the_small_variance_directions():
    """With eps, direction j has variance lam_j / (lam_j + eps) < 1, closest to 1 for the largest lam_j."""
    X = correlated()
    w = Whitening("pca", eps=0.01).fit(X)
    var = np.diag(cov(w.transform(X)))
    lam = w.eigenvalues_
    np.testing.assert_allclose(var, lam / (lam + 0.01), rtol=1e-9)
    assert np.all(np.diff(var) <= 1e-12)


def test_rank_deficient_data_needs_eps():
    X = correlated(d=5)
    X = np.hstack([X, X[:, :1] + X[:, 1:2]])  # a 6th feature that is the sum of two others
    with pytest.raises(ValueError, match="singular.*1 of 6.*eps > 0"):
        Whitening("zca", eps=0).fit(X)
    w = Whitening("zca", eps=1e-3).fit(X)
    np.testing.assert_allclose(w.inverse_transform(w.transform(X)), X, atol=1e-8)


def test_float32_in_float32_out():
    X = correlated().astype(np.float32)
    w = Whitening("zca", eps=1e-3).fit(X)
    assert w.transform(X).dtype == np.float32
    assert w.inverse_transform(w.transform(X)).dtype == np.float32


@pytest.mark.parametrize("make, match", [
    (lambda: Whitening("pcaa").fit(correlated()), r"^Whitening: method must be one of \('pca', 'zca'\), got 'pcaa'$"),
    (lambda: Whitening(eps=-1).fit(correlated()), r"eps must be a finite number >= 0, got -1"),
    (lambda: Whitening(eps=float("nan")).fit(correlated()), r"eps must be a finite number >= 0, got nan"),
    (lambda: Whitening().fit(np.ones(5)), r"expected a 2-D array .* got shape \(5,\)"),
    (lambda: Whitening().fit(np.ones((1, 3))), r"at least 2 samples .* got 1"),
    (lambda: Whitening(eps=1).fit(np.zeros((5, 0))), r"at least 1 feature, got shape \(5, 0\)"),
    (lambda: natural_patches(3, images=[]), r"^natural_patches: images must hold at least one grey image"),
    (lambda: natural_patches(3, seed="a"), r"^natural_patches: seed must be an int >= 0, None or a numpy Generator"),
    (lambda: Whitening(eps=1).fit(np.array([[0.0, np.nan], [1, 2]])), r"1 NaN or Inf"),
    (lambda: Whitening(eps=1).fit(correlated()).transform(np.ones((2, 5))), r"fitted on 6 features, got 5"),
    (lambda: Whitening(eps=1).fit(correlated()).inverse_transform(np.ones((2, 7))), r"fitted on 6 features, got 7"),
    (lambda: natural_patches(0), r"n must be a positive int, got 0"),
    (lambda: natural_patches(3, images=[np.ones((4, 4))]), r"at least 8x8, got shape \(4, 4\)"),
])
def test_bad_input_gets_a_one_line_error(make, match):
    with pytest.raises(ValueError, match=match) as info:
        make()
    assert "\n" not in str(info.value)


def test_errors_before_fit_and_for_non_numbers():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="call fit"):
        Whitening().transform(np.ones((2, 2)))
    with pytest.raises(TypeError, match="expected numbers"):
        Whitening().fit(np.array([["a", "b"], ["c", "d"]]))


def test_natural_patches_are_windows_of_the_given_images():
    rng = np.random.default_rng(0)
    images = [rng.uniform(size=(20, 30)), rng.uniform(size=(12, 9))]
    P = natural_patches(200, size=8, seed=3, images=images)
    np.testing.assert_array_equal(P, natural_patches(200, size=8, seed=3, images=images))  # seeded
    windows = np.vstack([np.lib.stride_tricks.sliding_window_view(im, (8, 8)).reshape(-1, 64) for im in images])
    assert all(np.any(np.all(windows == p, axis=1)) for p in P)
    assert len({p.tobytes() for p in P}) > 60  # drawn from many places (the 2nd image has only 10 windows)
    from_second = [np.any(np.all(np.lib.stride_tricks.sliding_window_view(images[1], (8, 8)).reshape(-1, 64) == p,
                                 axis=1)) for p in P]
    assert 0.3 < np.mean(from_second) < 0.7  # each image equally likely


def test_natural_patches_come_from_the_bundled_photographs():
    images = sample_images_grey()
    assert len(images) == 2 and all(im.shape == (427, 640) for im in images)
    P = natural_patches(3000, size=8, seed=0)
    assert P.shape == (3000, 64) and P.min() >= 0 and P.max() <= 1
    # natural images: neighbouring pixels are strongly correlated, which is what whitening removes
    assert np.corrcoef(P.T)[0, 1] > 0.7
    Z = Whitening("zca", eps=0).fit_transform(P)
    assert abs(np.corrcoef(Z.T)[0, 1]) < 0.05


def test_whitening_is_a_scikit_learn_transformer():
    """get_params / set_params / clone work, and it is a step of a Pipeline (y is ignored)."""
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    w = Whitening("pca", eps=0.5)
    assert w.get_params() == {"method": "pca", "eps": 0.5}
    c = clone(w).set_params(eps=0.25)
    assert c.get_params() == {"method": "pca", "eps": 0.25} and w.eps == 0.5
    with pytest.raises(NotFittedError, match=r"transform: call fit\(X\) first"):
        c.transform(correlated())
    X = correlated()
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    pipe = make_pipeline(Whitening("zca", eps=1e-3), LogisticRegression()).fit(X, y)
    np.testing.assert_allclose(pipe[0].transform(X), Whitening("zca", eps=1e-3).fit(X).transform(X))
    assert pipe.score(X, y) > 0.9  # a linear boundary on x0 stays linear after an invertible linear map

"""PCA and ZCA whitening as a fitted transform, and natural-image patches to whiten.

    w = Whitening("zca", eps=0.1).fit(X)      # X: (N, D) rows, e.g. 8x8 patches flattened to D = 64
    Z = w.transform(X)                        # decorrelated, unit variance (exactly so with eps = 0)
    X_back = w.inverse_transform(Z)           # X again (up to rounding)
    P = natural_patches(10000, size=8)        # (10000, 64) grey patches in [0, 1] from two bundled photos

The derivation (covariance, eigendecomposition, why ZCA's matrix is symmetric and stays closest to the
input, what eps does) is in docs/whitening.md. With the centred data Xc = X - mu (N, D), the covariance
C = Xc.T Xc / N = U diag(lam) U.T, and S = diag(1 / sqrt(lam + eps)):

    PCA whitening   z = S U.T (x - mu)          W_pca = S U.T             rotate to the principal axes, rescale
    ZCA whitening   z = U S U.T (x - mu)        W_zca = U S U.T           ... and rotate back (W symmetric)
    inverse         x = W^-1 z + mu             W^-1 = U S^-1 (PCA), U S^-1 U.T (ZCA)

Rows are samples, so the code applies W from the right: Z = Xc @ W.T. The fit runs in float64 whatever
the input's dtype; transform returns the input's float dtype (float64 for integer input).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError

METHODS = ("pca", "zca")


def _as_rows(X, where: str, n_features=None) -> np.ndarray:
    """``X`` as a finite 2-D float array (N, D), or a one-line ValueError/TypeError saying what is wrong."""
    if not hasattr(X, "shape") or not hasattr(X, "dtype"):
        X = np.asarray(X)
    if not isinstance(X, np.ndarray):
        raise TypeError(f"{where}: expected a NumPy array (N, D), got {type(X).__name__}; "
                        f"bring GPU arrays to the host first (tinyae.backend.to_numpy)")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected numbers, got an array of dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{where}: expected a 2-D array (N samples, D features), got shape {X.shape}; "
                         f"flatten images first, e.g. X.reshape(len(X), -1)")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{where}: fitted on {n_features} features, got {X.shape[1]} (shape {X.shape})")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise ValueError(f"{where}: X has {int((~np.isfinite(X)).sum())} NaN or Inf entries")
    return X


def _out_dtype(X):
    return X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)


class Whitening(TransformerMixin, BaseEstimator):
    """PCA or ZCA whitening fitted to data: ``fit`` / ``transform`` / ``inverse_transform``.

    A scikit-learn transformer (``get_params``, ``clone``, a step of a ``Pipeline``): the constructor
    stores its arguments as given, ``fit`` checks them (one-line errors) before any work.

    method -- "zca" (default): z = U S U.T (x - mu), the whitened data closest to the input (still looks
              like an image); "pca": z = S U.T (x - mu), coordinates along the principal axes, largest
              variance first.
    eps    -- added to every eigenvalue before the inverse square root, S = diag(1 / sqrt(lam + eps)):
              it stops the tiny-variance directions (noise) from being blown up, and makes the transform
              defined on rank-deficient data. eps = 0 whitens exactly (cov(Z) = I) and needs every
              eigenvalue clearly above 0. eps is in the units of the data's variance: direction j keeps
              the variance lam_j / (lam_j + eps), about 1 where lam_j >> eps, about lam_j / eps where
              lam_j << eps. A fraction of the mean eigenvalue (trace(C) / D) is a scale-free choice.

    Fitted attributes: ``mean_`` (D,), ``eigenvalues_`` (D,) largest first, ``components_`` U (D, D)
    (column j is the j-th principal axis), ``whitening_`` W (D, D), ``dewhitening_`` W^-1 (D, D).
    """

    def __init__(self, method: str = "zca", eps: float = 0.0):
        self.method = method
        self.eps = eps

    def __repr__(self, N_CHAR_MAX=700):
        return f"Whitening(method={self.method!r}, eps={self.eps!r})"

    def _check_params(self):
        if self.method not in METHODS:
            raise ValueError(f"Whitening: method must be one of {METHODS}, got {self.method!r}")
        eps = self.eps
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)) \
                or not np.isfinite(eps) or eps < 0:
            raise ValueError(f"Whitening: eps must be a finite number >= 0, got {eps!r}")
        return float(eps)

    def fit(self, X, y=None) -> Whitening:
        """Estimate mu and the covariance of the rows of X (N, D), and build W and W^-1 (see the module doc).

        y is ignored (it is there for scikit-learn's Pipeline)."""
        eps = self._check_params()
        X = _as_rows(X, f"{self!r}.fit")
        n, d = X.shape
        if n < 2:
            raise ValueError(f"{self!r}.fit: need at least 2 samples to estimate a covariance, got {n}")
        if d < 1:
            raise ValueError(f"{self!r}.fit: need at least 1 feature, got shape {X.shape}")
        X = X.astype(np.float64)
        mu = X.mean(axis=0)  # (D,)
        Xc = X - mu  # (N, D)
        C = Xc.T @ Xc / n  # (D, D), the covariance (1/N: the maximum-likelihood estimate)
        C = (C + C.T) / 2  # exactly symmetric, whatever the rounding of the matmul
        lam, U = np.linalg.eigh(C)  # ascending eigenvalues, orthonormal eigenvectors in the columns of U
        lam, U = lam[::-1], U[:, ::-1]  # largest first, as PCA lists them
        lam = np.maximum(lam, 0.0)  # a PSD matrix's eigenvalues are >= 0; rounding can make the smallest -1e-17
        floor = lam[0] * d * np.finfo(np.float64).eps  # what is indistinguishable from 0 at this scale
        if eps == 0 and lam[-1] <= floor:
            k = int((lam <= floor).sum())
            raise ValueError(f"{self!r}.fit: the covariance is singular ({k} of {d} eigenvalues are 0: constant "
                             f"or linearly dependent features, or N <= D), so eps=0 cannot whiten it; use eps > 0")
        s = 1.0 / np.sqrt(lam + eps)  # (D,), the diagonal of S
        W = s[:, None] * U.T  # (D, D) = S U.T: row j is the j-th axis scaled by 1/sqrt(lam_j + eps)
        W_inv = U * (1.0 / s)[None, :]  # (D, D) = U S^-1
        if self.method == "zca":
            W = U @ W  # (D, D) = U S U.T
            W_inv = W_inv @ U.T  # (D, D) = U S^-1 U.T
            W, W_inv = (W + W.T) / 2, (W_inv + W_inv.T) / 2  # symmetric by construction; remove rounding
        self.mean_, self.eigenvalues_, self.components_ = mu, lam, U
        self.whitening_, self.dewhitening_ = W, W_inv
        return self

    def _fitted(self, where: str) -> int:
        if not hasattr(self, "whitening_"):
            raise NotFittedError(f"{self!r}.{where}: call fit(X) first")
        return len(self.mean_)

    def transform(self, X) -> np.ndarray:
        """Z = (X - mu) @ W.T: each row x becomes z = W (x - mu). (N, D) -> (N, D)."""
        d = self._fitted("transform")
        X = _as_rows(X, f"{self!r}.transform", n_features=d)
        Z = (X.astype(np.float64) - self.mean_) @ self.whitening_.T  # (N, D) @ (D, D) -> (N, D)
        return Z.astype(_out_dtype(X), copy=False)

    def inverse_transform(self, Z) -> np.ndarray:
        """X = Z @ W^-1.T + mu: each row z becomes x = W^-1 z + mu. (N, D) -> (N, D)."""
        d = self._fitted("inverse_transform")
        Z = _as_rows(Z, f"{self!r}.inverse_transform", n_features=d)
        X = Z.astype(np.float64) @ self.dewhitening_.T + self.mean_  # (N, D) @ (D, D) -> (N, D)
        return X.astype(_out_dtype(Z), copy=False)

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).transform(X)


# --------------------------------------------------------------------------------------------------
# Natural-image patches
# --------------------------------------------------------------------------------------------------

SAMPLE_IMAGES = ("china.jpg", "flower.jpg")  # scikit-learn's two bundled photographs (427 x 640, RGB)


def sample_images_grey() -> list:
    """scikit-learn's bundled photographs as grey images (H, W) in [0, 1] (luma: 0.299 R + 0.587 G + 0.114 B).

    They ship inside scikit-learn (no download); reading the JPEGs needs Pillow, which matplotlib installs.
    """
    from sklearn.datasets import load_sample_images

    try:
        bunch = load_sample_images()
    except ImportError as err:  # pragma: no cover - Pillow comes with matplotlib
        raise ImportError(f"natural_patches: reading scikit-learn's sample JPEGs needs Pillow ({err})") from err
    luma = np.array([0.299, 0.587, 0.114])
    return [(img.astype(np.float64) @ luma) / 255.0 for img in bunch.images]  # each (H, W)


def natural_patches(n: int, size: int = 8, *, seed=0, images=None) -> np.ndarray:
    """``n`` square grey patches (n, size*size) cut at random places from natural photographs, values in [0, 1].

    images -- grey images (H, W) to cut from; default scikit-learn's two sample photographs (a temple in
              China, a flower), drawn from equally. seed -- an int or a numpy Generator.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"natural_patches: n must be a positive int, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"natural_patches: size must be a positive int, got {size!r}")
    images = sample_images_grey() if images is None else [np.asarray(im, dtype=np.float64) for im in images]
    for k, im in enumerate(images):
        if im.ndim != 2 or im.shape[0] < size or im.shape[1] < size:
            raise ValueError(f"natural_patches: image {k} must be a 2-D grey image of at least {size}x{size}, "
                             f"got shape {im.shape}")
    if not images:
        raise ValueError("natural_patches: images must hold at least one grey image (H, W), got none")
    if not (isinstance(seed, np.random.Generator) or seed is None
            or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0)):
        raise ValueError(f"natural_patches: seed must be an int >= 0, None or a numpy Generator, got {seed!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    which = rng.integers(len(images), size=n)  # which image each patch comes from
    out = np.empty((n, size * size))
    for k, im in enumerate(images):
        idx = np.flatnonzero(which == k)
        top = rng.integers(im.shape[0] - size + 1, size=len(idx))
        left = rng.integers(im.shape[1] - size + 1, size=len(idx))
        for i, r, c in zip(idx, top, left):
            out[i] = im[r:r + size, c:c + size].ravel()
    return out

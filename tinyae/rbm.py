"""Restricted Boltzmann machines trained by contrastive divergence, and RBM pretraining of a deep autoencoder.

    rbm = RBM(64, 32, seed=0)
    history = rbm.fit(X, epochs=20, lr=0.1, k=1)              # CD-1; persistent=True for PCD
    rbm.reconstruction_error(X), rbm.free_energy(X), rbm.pseudo_log_likelihood(X_binary)

    model = zoo.dbn_ae(64)                                    # 64-128-64-32-8, sigmoid, linear code
    pretrain(model, X, epochs=30)                             # stack RBMs, unroll them into the model
    tinyae.train.fit(model, X, epochs=40)                     # fine-tune by backprop

An RBM (binary visible v, hidden h, weights W (V, H), visible bias b (V,), hidden bias c (H,)) gives

    energy        E(v, h) = -b.v - c.h - v W h                                   (Bernoulli hidden)
                  E(v, h) = -b.v - c.h - v W h + |h|^2 / 2                       (Gaussian hidden)
    p(v, h) = exp(-E(v, h)) / Z

    conditionals  p(h_j = 1 | v) = sigmoid(c_j + (v W)_j)        Bernoulli hidden
                  p(h | v) = Normal(c + v W, I)                   Gaussian hidden (a linear code)
                  p(v_i = 1 | h) = sigmoid(b_i + (W h)_i)         both

    free energy   F(v) = -log sum_h exp(-E(v, h)) = -b.v - sum_j softplus(c_j + (v W)_j)
                  (Gaussian: -b.v - |c + v W|^2 / 2 - (H / 2) log(2 pi)),  p(v) = exp(-F(v)) / Z

    gradient      d log p(v) / dW = v E[h | v]^T - E_model[v h^T]     (the same for b with v, c with h)
    CD-k          replace E_model by one sample of k Gibbs steps started at the data (PCD: at the
                  chain's last state, kept from one update to the next)

The derivation, and the tests that prove the code against exact enumeration: docs/rbm.md.

Every random draw comes from the RBM's NumPy ``Generator`` (``seed``). The RBM runs on NumPy arrays.
"""

from __future__ import annotations

import math

import numpy as np

from tinyae import backend
from tinyae.functional import sigmoid, softplus
from tinyae.layers.base import check_number, check_positive_int
from tinyae.layers.dense import Dense
from tinyae.models import Sequential

HIDDEN_UNITS = ("bernoulli", "gaussian")
MAX_EXACT_VISIBLE = 20  # exact_log_likelihood enumerates 2**V visible states


def all_binary_states(n: int) -> np.ndarray:
    """Every binary vector of length n, as the rows of a (2**n, n) float64 array (row i is i in binary)."""
    return ((np.arange(2 ** n)[:, None] >> np.arange(n - 1, -1, -1)) & 1).astype(np.float64)





def _check_rows(x, n: int, name: str, where: str):
    """x must be a 2-D array of n columns (a batch of visible or hidden vectors)."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 2 or shape[1] != n:
        got = f"shape {tuple(shape)}" if shape is not None else type(x).__name__
        raise ValueError(f"{where}: expected {name} of shape (N, {n}), got {got}")


def _check_training(lr, momentum, weight_decay, where: str):
    """The update's hyperparameters: lr > 0, momentum in [0, 1), weight_decay >= 0."""
    check_number(lr, "lr", where, 0, low_open=True)
    check_number(momentum, "momentum", where, 0, 1, high_open=True)
    check_number(weight_decay, "weight_decay", where, 0)


class RBM:
    """A restricted Boltzmann machine with binary visible units and Bernoulli or Gaussian hidden units.

    n_visible, n_hidden -- V and H
    hidden    -- "bernoulli" (binary hidden units) or "gaussian" (real hidden units with unit variance:
                 p(h | v) = Normal(c + v W, I), the linear code layer of Hinton & Salakhutdinov, 2006)
    init_std  -- W starts as Normal(0, init_std^2); the biases start at zero
    seed      -- an int or a NumPy Generator: the initial weights and every later draw (sampling, shuffling)
    dtype     -- float32 or float64 (the exact tests use float64)

    Arrays: W (V, H), b (V,) visible bias, c (H,) hidden bias. A batch of visible vectors is (N, V),
    of hidden vectors (N, H). Visible data are probabilities in [0, 1] (binary data, or intensities read
    as the probability of a pixel being on, as Hinton & Salakhutdinov did with MNIST).
    """

    def __init__(self, n_visible: int, n_hidden: int, *, hidden: str = "bernoulli", init_std: float = 0.01,
                 seed=0, dtype=backend.DEFAULT_DTYPE):
        n_visible = check_positive_int(n_visible, "n_visible", "RBM")
        n_hidden = check_positive_int(n_hidden, "n_hidden", "RBM")
        if hidden not in HIDDEN_UNITS:
            raise ValueError(f"RBM: hidden must be one of {HIDDEN_UNITS}, got {hidden!r}")
        init_std = check_number(init_std, "init_std", "RBM", 0)
        self.dtype = backend.check_float_dtype(dtype, "RBM")
        self.n_visible, self.n_hidden, self.hidden = int(n_visible), int(n_hidden), hidden
        self.rng = backend.make_rng(seed)
        self.W = self.rng.normal(0.0, init_std, size=(self.n_visible, self.n_hidden)).astype(self.dtype)
        self.b = np.zeros(self.n_visible, dtype=self.dtype)
        self.c = np.zeros(self.n_hidden, dtype=self.dtype)
        self.chains = None  # PCD: the hidden states of the persistent chains, (n_chains, H)
        self._velocity = None  # momentum: the last update of (W, b, c)

    def __repr__(self):
        return f"RBM({self.n_visible} visible -> {self.n_hidden} {self.hidden} hidden)"

    # -- the model ---------------------------------------------------------------------------------
    def energy(self, v, h):
        """E(v, h) = -b.v - c.h - v W h (+ |h|^2 / 2 for Gaussian hidden units); v (N, V), h (N, H) -> (N,)."""
        _check_rows(v, self.n_visible, "v", "RBM.energy")
        _check_rows(h, self.n_hidden, "h", "RBM.energy")
        E = -(v @ self.b) - (h @ self.c) - ((v @ self.W) * h).sum(axis=1)  # (N, V) @ (V, H) -> (N, H)
        if self.hidden == "gaussian":
            E = E + 0.5 * (h * h).sum(axis=1)
        return E

    def free_energy(self, v):
        """F(v) = -log sum_h exp(-E(v, h)), so that p(v) = exp(-F(v)) / Z; v (N, V) -> (N,).

        Bernoulli hidden: each h_j in {0, 1} sums out on its own, sum_{h_j} exp(h_j a_j) = 1 + exp(a_j):
            F(v) = -b.v - sum_j softplus(a_j),            a = c + v W   (N, H)
        Gaussian hidden: the integral over h of exp(a.h - |h|^2 / 2) is (2 pi)^(H/2) exp(|a|^2 / 2):
            F(v) = -b.v - |a|^2 / 2 - (H / 2) log(2 pi)
        """
        _check_rows(v, self.n_visible, "v", "RBM.free_energy")
        a = self.c + v @ self.W  # (N, V) @ (V, H) -> (N, H)
        if self.hidden == "bernoulli":
            return -(v @ self.b) - softplus(a).sum(axis=1)
        return -(v @ self.b) - 0.5 * (a * a).sum(axis=1) - 0.5 * self.n_hidden * math.log(2 * math.pi)

    def hidden_mean(self, v):
        """E[h | v]: sigmoid(c + v W) for Bernoulli hidden units, c + v W for Gaussian ones; (N, V) -> (N, H)."""
        _check_rows(v, self.n_visible, "v", "RBM.hidden_mean")
        a = self.c + v @ self.W  # (N, V) @ (V, H) -> (N, H)
        return sigmoid(a) if self.hidden == "bernoulli" else a

    def visible_mean(self, h):
        """p(v_i = 1 | h) = sigmoid(b_i + (W h)_i); (N, H) -> (N, V)."""
        _check_rows(h, self.n_hidden, "h", "RBM.visible_mean")
        return sigmoid(self.b + h @ self.W.T)  # (N, H) @ (H, V) -> (N, V)

    def sample_hidden(self, mean):
        """A draw of h given its conditional mean: Bernoulli(mean), or mean + Normal(0, 1) noise."""
        if self.hidden == "bernoulli":
            return (self.rng.random(mean.shape) < mean).astype(self.dtype)
        return mean + self.rng.standard_normal(mean.shape).astype(self.dtype)

    def sample_visible(self, mean):
        """A draw of binary v with p(v_i = 1) = mean_i."""
        return (self.rng.random(mean.shape) < mean).astype(self.dtype)

    def gibbs(self, h, k: int = 1, visible_probs: bool = False):
        """k steps of block Gibbs sampling from hidden states h: v ~ p(v | h), then h ~ p(h | v).

        Returns (v_k, E[h | v_k], h_k): the last visible sample, its hidden mean, the last hidden sample.
        ``visible_probs=True`` keeps v = p(v = 1 | h) instead of a 0/1 draw (Hinton's recipe for the
        reconstruction: less noise, but then the chain is no longer a sampler of p(v)).
        """
        k = check_positive_int(k, "k", "RBM.gibbs")
        for _ in range(k):
            pv = self.visible_mean(h)
            v = pv if visible_probs else self.sample_visible(pv)
            ph = self.hidden_mean(v)
            h = self.sample_hidden(ph)
        return v, ph, h

    @staticmethod
    def statistics(v, ph, weights=None):
        """The sufficient statistics of one phase: (<v h^T>, <v>, <h>), averaged over the rows.

        v (N, V), ph = E[h | v] (N, H); ``weights`` (N,) summing to 1 replace the plain mean (an exact
        expectation over enumerated states uses p(v) here). Returns arrays (V, H), (V,), (H,).
        E[v h^T | v] = v E[h | v]^T: the hidden units are summed out exactly, which is why the code uses
        the mean ph and not a sample of h (less noise, the same expectation).
        """
        if weights is None:
            weights = np.full(len(v), 1.0 / len(v), dtype=v.dtype)
        wv = v * weights[:, None]  # (N, V)
        return wv.T @ ph, wv.sum(axis=0), weights @ ph  # (V, N) @ (N, H) -> (V, H); (H,)

    def cd_gradient(self, v0, k: int = 1, persistent: bool = False, visible_probs: bool = False):
        """The CD-k (or PCD-k) estimate of d log-likelihood / d(W, b, c), averaged over the batch v0.

            positive phase  <v h^T>_data  = v0^T E[h | v0] / N            exact given the data
            negative phase  <v h^T>_model ~ v_k^T E[h | v_k] / N          v_k after k Gibbs steps
            gradient        dW = positive - negative  (db with v, dc with E[h | v])

        CD starts the chains at h_0 ~ p(h | v0); PCD (``persistent=True``) starts them where the previous
        update left them (``self.chains``; the first call starts them at h_0 ~ p(h | v0)).
        ``visible_probs=True``: the chain's v are probabilities, not draws (see ``gibbs``). The result is
        an ascent direction: W += lr * dW increases the log-likelihood (for PCD with small steps; CD-k
        follows it only approximately: it is not the gradient of any function).
        Returns (dW (V, H), db (V,), dc (H,)).
        """
        k = check_positive_int(k, "k", "RBM.cd_gradient")
        _check_rows(v0, self.n_visible, "v0", "RBM.cd_gradient")
        ph0 = self.hidden_mean(v0)
        if persistent and self.chains is not None:
            h = self.chains
        else:
            h = self.sample_hidden(ph0)
        vk, phk, hk = self.gibbs(h, k, visible_probs)
        if persistent:
            self.chains = hk
        pos, neg = self.statistics(v0, ph0), self.statistics(vk, phk)
        return tuple(p - n for p, n in zip(pos, neg))

    def update(self, v0, lr: float, k: int = 1, persistent: bool = False, momentum: float = 0.0,
               weight_decay: float = 0.0, visible_probs: bool = False):
        """One step: delta = momentum * delta_prev + lr * (CD-k gradient - weight_decay * W); W += delta."""
        _check_training(lr, momentum, weight_decay, "RBM.update")
        dW, db, dc = self.cd_gradient(v0, k, persistent, visible_probs)
        grads = (dW - weight_decay * self.W, db, dc)
        if self._velocity is None:
            self._velocity = tuple(np.zeros_like(g) for g in grads)
        self._velocity = tuple(momentum * u + lr * g for u, g in zip(self._velocity, grads))
        for p, u in zip((self.W, self.b, self.c), self._velocity):
            p += u.astype(self.dtype, copy=False)

    # -- progress measures -------------------------------------------------------------------------
    def reconstruct(self, v):
        """The mean-field reconstruction p(v | E[h | v]): up to the hidden layer and back, without sampling."""
        return self.visible_mean(self.hidden_mean(v))

    def reconstruction_error(self, v) -> float:
        """Mean squared error per pixel of ``reconstruct(v)``: cheap and telling early on, but not the
        objective (a model can reconstruct well and still give its data a low likelihood)."""
        v = self._check(v, "RBM.reconstruction_error")
        return float(((self.reconstruct(v) - v) ** 2).mean())

    def pseudo_log_likelihood(self, v, rng=None):
        """The mean log pseudo-likelihood sum_i log p(v_i | v_-i) of binary rows v (N, V).

        p(v_i | v_-i) = sigmoid(F(v with bit i flipped) - F(v)), since p(v) / (p(v) + p(v')) only needs
        the free energies. With ``rng=None`` the sum over all V bits is computed exactly (V free-energy
        passes); with a Generator, one bit i per row is drawn uniformly and V * log p(v_i | v_-i) is an
        unbiased estimate of the sum (one pass): this is what scikit-learn's ``BernoulliRBM.score_samples``
        returns per row. Needs binary data: p(v_i | v_-i) is a probability of a 0/1 value.
        """
        v = self._check(v, "RBM.pseudo_log_likelihood")
        if not np.all((v == 0) | (v == 1)):
            raise ValueError("RBM.pseudo_log_likelihood: needs binary rows (0/1 values); binarise the data first, "
                             "e.g. (X > 0.5).astype(X.dtype)")
        F = self.free_energy(v)
        rows = np.arange(len(v))
        bits = range(self.n_visible) if rng is None else [backend.make_rng(rng).integers(0, self.n_visible, len(v))]
        total = np.zeros(len(v))
        for i in bits:
            flipped = v.copy()
            flipped[rows, i] = 1 - flipped[rows, i]
            total += -softplus(-(self.free_energy(flipped) - F))  # log sigmoid(x) = -softplus(-x)
        scale = 1 if rng is None else self.n_visible
        return float(scale * total.mean())

    def exact_log_likelihood(self, v) -> float:
        """The mean log p(v) of rows v, with log Z = logsumexp(-F) over all 2**V visible states (V <= 20)."""
        v = self._check(v, "RBM.exact_log_likelihood")
        if self.n_visible > MAX_EXACT_VISIBLE:
            raise ValueError(f"RBM.exact_log_likelihood: enumerates 2**V states, so V <= {MAX_EXACT_VISIBLE}; "
                             f"this RBM has V = {self.n_visible}")
        neg_F = -self.free_energy(all_binary_states(self.n_visible).astype(self.dtype))
        top = neg_F.max()
        log_Z = float(top + np.log(np.exp(neg_F - top).sum()))
        return float((-self.free_energy(v)).mean()) - log_Z

    # -- training ----------------------------------------------------------------------------------
    def fit(self, X, epochs: int = 10, *, batch_size: int = 100, lr: float = 0.1, k: int = 1,
            persistent: bool = False, momentum: float = 0.0, weight_decay: float = 0.0,
            visible_probs: bool = False, X_val=None, shuffle: bool = True, callback=None) -> dict:
        """Train by CD-k (or PCD-k) on mini-batches; returns the history of the progress measures.

        X (N, V) in [0, 1]. Each epoch visits the rows in a new order drawn from ``self.rng`` (in order
        if ``shuffle=False``) and makes one ``update`` per batch. After each epoch the history gets the
        reconstruction error and the mean free energy of X (and of X_val if given: a growing gap
        F(val) - F(train) means overfitting), and the exact pseudo-log-likelihood when X is binary.
        ``callback(epoch, rbm)`` is called after each epoch.
        """
        X = self._check(X, "RBM.fit")
        X_val = None if X_val is None else self._check(X_val, "RBM.fit (X_val)")
        epochs = check_positive_int(epochs, "epochs", "RBM.fit")
        batch_size = check_positive_int(batch_size, "batch_size", "RBM.fit")
        k = check_positive_int(k, "k", "RBM.fit")
        _check_training(lr, momentum, weight_decay, "RBM.fit")
        binary = bool(np.all((X == 0) | (X == 1)))
        history = {"reconstruction_error": [], "free_energy": [], "free_energy_val": [], "pseudo_log_likelihood": []}
        for epoch in range(epochs):
            order = self.rng.permutation(len(X)) if shuffle else np.arange(len(X))
            for start in range(0, len(X), batch_size):
                self.update(X[order[start:start + batch_size]], lr, k, persistent, momentum, weight_decay,
                            visible_probs)
            history["reconstruction_error"].append(self.reconstruction_error(X))
            history["free_energy"].append(float(self.free_energy(X).mean()))
            if X_val is not None:
                history["free_energy_val"].append(float(self.free_energy(X_val).mean()))
            if binary:
                history["pseudo_log_likelihood"].append(self.pseudo_log_likelihood(X))
            if callback is not None:
                callback(epoch, self)
        return history

    def _check(self, v, where):
        v = backend.check_array(v, where, ndim=2, tail=(self.n_visible,), dtype=self.dtype)
        if not isinstance(v, np.ndarray):
            raise TypeError(f"{where}: the RBM runs on NumPy arrays, got {type(v).__name__}")
        lo, hi = float(v.min()), float(v.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"{where}: visible units are probabilities, so values must lie in [0, 1]; "
                             f"got values in [{lo:.4g}, {hi:.4g}]")
        return v


# ==================================================================================================
# The deep belief autoencoder: stack RBMs greedily, unroll them into an autoencoder
# ==================================================================================================


def pretrain(model, X, epochs: int = 20, *, batch_size: int = 100, lr: float = 0.1, lr_code: float = 0.001,
             k: int = 1, momentum: float = 0.5, weight_decay: float = 2e-4, visible_probs: bool = True, seed=0,
             callback=None) -> list:
    """Greedy RBM pretraining of a deep sigmoid autoencoder (Hinton & Salakhutdinov, 2006), in place.

    The encoder must be (Dense, Sigmoid) pairs with a last (Dense, Identity) or (Dense, Sigmoid) pair
    (the code), the decoder its mirror ending in a Dense whose output is logits or a Sigmoid, as
    ``zoo.dbn_ae`` builds it. Level k is an RBM whose visible units are the units below it: level 0
    is trained on X, level k on E[h | v] of level k-1 (the probabilities, not samples). The code level
    has Gaussian hidden units when the code is linear (trained with the smaller ``lr_code``, as in
    the paper: its hidden units are unbounded), Bernoulli ones when it is a sigmoid.
    ``visible_probs=True`` (the default, as in Hinton & Salakhutdinov's code) takes the chain's visible
    units as probabilities rather than 0/1 draws (see ``RBM.gibbs``). Measured on the digits (64-128-64-
    32-8, 20 epochs per level): with 0/1 draws the upper levels' hidden units came out nearly constant
    (mean per-unit variance 0.01) and the unrolled stack reconstructed no better than the mean image
    (test MSE 0.077 against 0.074); with probabilities, 0.031.

    Unrolling: the encoder's Dense k gets (W, c) of RBM k, so its output is E[h | v]; the decoder's
    mirror Dense gets (W^T, b), so its sigmoid is p(v = 1 | h). At this point the decoder is tied to
    the encoder only by its initial values: fine-tuning (``tinyae.train.fit``) then trains all of them.

    Returns the list of (RBM, history) per level.
    """
    enc, dec = _pairs(model, "encoder"), _pairs(model, "decoder")
    if len(enc) != len(dec) or any(e[0].in_features != d[0].out_features or e[0].out_features != d[0].in_features
                                   for e, d in zip(enc, reversed(dec))):
        raise ValueError("rbm.pretrain: the decoder must mirror the encoder layer by layer (build it with zoo.dbn_ae)")
    acts = [type(a).__name__ for _, a in enc]
    if any(a != "Sigmoid" for a in acts[:-1]) or acts[-1] not in ("Sigmoid", "Identity"):
        raise ValueError(f"rbm.pretrain: the encoder's activations must be Sigmoid, the code's Sigmoid or Identity "
                         f"(an RBM's hidden means); got {acts}")
    if any(type(a).__name__ != "Sigmoid" for _, a in dec[:-1]) or type(dec[-1][1]).__name__ not in ("Sigmoid",
                                                                                                      "Identity"):
        raise ValueError("rbm.pretrain: the decoder's activations must be Sigmoid (its output Sigmoid, or Identity "
                         "for logits with BCE)")
    rng = backend.make_rng(seed)
    dtype = enc[0][0].W.value.dtype
    data = backend.to_numpy(X).astype(np.float64)
    levels = []
    for i, (dense, act) in enumerate(enc):
        code = i == len(enc) - 1
        hidden = "gaussian" if code and type(act).__name__ == "Identity" else "bernoulli"
        rbm = RBM(dense.in_features, dense.out_features, hidden=hidden, seed=rng.spawn(1)[0], dtype=np.float64)
        history = rbm.fit(data, epochs, batch_size=batch_size, lr=lr_code if hidden == "gaussian" else lr, k=k,
                          momentum=momentum, weight_decay=weight_decay, visible_probs=visible_probs,
                          callback=None if callback is None else (lambda e, r, i=i: callback(i, e, r)))
        mirror = dec[len(enc) - 1 - i][0]
        for param, value in ((dense.W, rbm.W), (dense.b, rbm.c), (mirror.W, rbm.W.T), (mirror.b, rbm.b)):
            param.value[...] = backend.from_host(np.ascontiguousarray(value).astype(dtype), param.value)
        levels.append((rbm, history))
        data = rbm.hidden_mean(data)  # the next level's visible data (unused after the code level)
    return levels


def _pairs(model, what):
    seq = getattr(model, what, None)
    layers = list(seq.layers) if isinstance(seq, Sequential) else []
    if not layers or len(layers) % 2 or not all(isinstance(layer, Dense) for layer in layers[::2]):
        raise ValueError(f"rbm.pretrain: the model's {what} must be a Sequential of (Dense, activation) pairs "
                         f"(as zoo.dbn_ae builds it), got {seq!r}")
    return list(zip(layers[::2], layers[1::2]))

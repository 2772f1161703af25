"""A trained model over a whole dataset, in batches and in eval mode: ``predict``, ``encode``, ``evaluate``."""

from __future__ import annotations

import numpy as np

from tinyae import backend
from tinyae.layers.base import check_positive_int
from tinyae.train.checks import check_samples_for_model, model_device

__all__ = ["DEFAULT_EVAL_BATCH", "batches", "encode", "evaluate", "predict", "reconstruction_errors"]

DEFAULT_EVAL_BATCH = 1024



class _EvalMode:
    """Switch the model to eval mode for a block and back to the mode it had."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = bool(getattr(self.model, "training", False))
        self.model.eval()

    def __exit__(self, *exc):
        if self.was_training:
            self.model.train()


def batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


def _map_batches(fn, model, X, batch_size, where):
    """Apply ``fn`` to X in batches on the model's device; concatenate in X's array module.

    A host X is moved one batch at a time (so a large X never has to fit on the GPU at once) and the
    results come back to the host. ``fn`` may return an array or a tuple of arrays (a VAE's (mu, logvar)).
    """
    batch_size = check_positive_int(batch_size, "batch_size", where)
    X, _ = check_samples_for_model(model, X, where=where, loss_range=False)
    device = model_device(model)
    on_host = not backend.is_cupy_array(X)
    outs = []
    with _EvalMode(model):
        for a, b in batches(len(X), batch_size):
            y = fn(backend.to_device(X[a:b], device))
            if on_host:
                y = tuple(backend.to_numpy(t) for t in y) if isinstance(y, tuple) else backend.to_numpy(y)
            outs.append(y)
    xp = backend.array_module(X)
    if isinstance(outs[0], tuple):
        return tuple(xp.concatenate([o[i] for o in outs]) for i in range(len(outs[0])))
    return xp.concatenate(outs)


def predict(model, X, batch_size: int = DEFAULT_EVAL_BATCH):
    """Reconstructions ``model.reconstruct(x)`` of every sample of X, computed ``batch_size`` at a time
    in eval mode (no noise, no dropout). Same shape as X; on X's device."""
    return _map_batches(model.reconstruct, model, X, batch_size, "predict")


def reconstruction_errors(model, X, batch_size: int = DEFAULT_EVAL_BATCH) -> np.ndarray:
    """Each sample's mean squared error per pixel, mean_j (x̂_j - x_j)^2 over its features: (N,) float64
    on the host, whatever the model's dtype and device (the one measure of reconstruction that the
    demos, the tour, anomaly scores and the scikit-learn estimator compare models by)."""
    R = backend.to_numpy(predict(model, X, batch_size))
    X = backend.to_numpy(X)
    diff = R.reshape(len(R), -1).astype(np.float64) - X.reshape(len(X), -1)  # (N, D), summed in float64
    return (diff ** 2).mean(axis=1)


def encode(model, X, batch_size: int = DEFAULT_EVAL_BATCH):
    """Codes ``model.encode(x)`` of every sample of X, in batches, in eval mode."""
    return _map_batches(model.encode, model, X, batch_size, "encode")


def evaluate(model, X, target=None, batch_size: int = DEFAULT_EVAL_BATCH) -> dict:
    """Loss and each term over X (no gradients, eval mode), as {name: float} with "loss" the total.

    Computed ``batch_size`` samples at a time; each batch's value is weighted by its size, so for terms
    that are means over samples (MSE/BCE with reduction "mean" or "batch_mean", L1 activity, the VAE's
    KL) the result equals one pass over the whole of X, up to rounding. A term that is not a mean of
    per-sample values — the KL sparsity penalty, which compares the BATCH mean activation with rho — is
    a mean over batches instead, and depends (a little) on batch_size.
    """
    batch_size = check_positive_int(batch_size, "batch_size", "evaluate")
    X, target = check_samples_for_model(model, X, target, where="evaluate")
    return evaluate_checked(model, X, target, batch_size)


def evaluate_checked(model, X, target, batch_size) -> dict:
    """``evaluate`` on inputs already checked (fit checks its validation data once, not every epoch)."""
    device = model_device(model)
    record = TermRecord()
    with _EvalMode(model):
        for a, b in batches(len(X), batch_size):
            xb = backend.to_device(X[a:b], device)
            tb = None if target is None else backend.to_device(target[a:b], device)
            total = model.evaluate_loss(xb, tb)
            record.add({**(getattr(model, "terms", None) or {}), "loss": total}, b - a)
    return record.means()


class TermRecord:
    """Per-batch values of each term (0-d arrays, left on their device) and the batch sizes; ``means()``
    reads them all at once and returns the batch-size-weighted means, summed in float64 on the host."""

    def __init__(self):
        self.values, self.sizes = {}, []

    def add(self, terms: dict, size: int):
        self.sizes.append(size)
        for name, value in terms.items():
            self.values.setdefault(name, []).append(value)

    def means(self, skip=()) -> dict:
        sizes = np.asarray(self.sizes, dtype=np.float64)
        out = {}
        for name, vals in self.values.items():
            if name in skip or len(vals) != len(sizes):
                continue
            xp = backend.array_module(vals[0]) if hasattr(vals[0], "dtype") else np
            host = backend.to_numpy(xp.stack([xp.asarray(v) for v in vals])).astype(np.float64)  # one copy
            out[name] = float(host @ sizes / sizes.sum())
        return out


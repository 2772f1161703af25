"""What the demos and the tour share: train a model quietly with a progress bar, measure it, keep BLAS calm.

    from tinyae.experiment import blas_single_thread, pixel_mse, train

    with blas_single_thread():
        run = train("shallow AE", zoo.shallow_ae(64), X, epochs=50, batch_size=32, lr=1e-2)
    print(run.seconds, pixel_mse(run.model, X_test))

A library module: the demos import it, and so does the tour (``tinyae/cli/tour.py``); it imports no
application.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm  # a widget in Jupyter, text on a terminal

from tinyae import backend
from tinyae.optim import Adam
from tinyae.train import bars_visible, fit, reconstruction_errors


@contextlib.contextmanager
def blas_single_thread():
    """Run NumPy's matrix products on one thread inside the block.

    The matrices of these small models are tiny, so a second BLAS thread gains nothing, and OpenBLAS
    threads spin while they wait: next to Numba's parallel kernels, or on a busy 2-core machine, they
    fight for the cores and can make a step ten times slower. threadpoolctl (installed with
    scikit-learn) sets the limit at run time; without it the block runs unchanged.
    """
    try:
        from threadpoolctl import threadpool_limits  # optional: comes with scikit-learn
    except ImportError:  # pragma: no cover - scikit-learn brings it
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@dataclass
class Trained:
    """A model after ``train``: the model, its History, seconds spent, and its label."""

    label: str
    model: object
    history: object
    seconds: float
    numbers: dict = field(default_factory=dict)


def train(label: str, model, X, *, epochs: int, batch_size: int, lr: float, X_val=None, seed: int = 0,
          target=None, progress: bool = True, device: str = "cpu") -> Trained:
    """Train ``model`` with Adam, one progress bar over the epochs (a summary line when not on a terminal).

    With ``device="gpu"`` the model and the data move to the GPU for training and the model comes back
    to the CPU afterwards, so everything after training (figures, numbers) runs as on a CPU run.
    """
    bar = _EpochBar(label, epochs) if progress else None
    start = time.perf_counter()
    if device != "cpu":
        model.to(device)
        X, X_val, target = (None if a is None else backend.to_device(a, device) for a in (X, X_val, target))
    history = fit(model, X, epochs=epochs, batch_size=batch_size, optimizer=Adam(model.params(), lr=lr),
                  validation_data=X_val, seed=seed, verbose=0, target=target,
                  callbacks=[bar] if bar is not None else ())
    if device != "cpu":
        model.to("cpu")
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
        val = f", val loss {history.val_loss[-1]:.4g}" if history.val_loss else ""
        print(f"  {label}: {len(history)} epochs in {seconds:.1f}s, loss {history.loss[-1]:.4g}{val}", flush=True)
    return Trained(label, model, history, seconds)


class _EpochBar:
    """A fit callback: one tqdm bar per model, advanced once per epoch (shown on a terminal and in Jupyter,
    silent in pipes and logs)."""

    def __init__(self, label: str, epochs: int):
        # leave=True: a model that trains in a blink (--quick) still leaves its finished bar on the screen
        self.bar = tqdm(total=epochs, desc=f"  {label}", unit="epoch", leave=True,
                        disable=not bars_visible(sys.stderr), dynamic_ncols=True, file=sys.stderr)

    def on_epoch_end(self, epoch, logs):
        post = f"loss {logs['loss']:.4g}" + (f" val {logs['val_loss']:.4g}" if "val_loss" in logs else "")
        self.bar.set_postfix_str(post, refresh=False)
        self.bar.update(1)

    def close(self):
        self.bar.close()


def distance_to_nearest(S, X) -> float:
    """Mean over the rows of S of the squared distance per pixel to the nearest row of X.

    For generated images S and training images X: how far a sample lies from any real image. A model
    that decodes its random codes into digit-like images scores close to what real test images score.
    """
    S = np.asarray(S, dtype=np.float64).reshape(len(S), -1)
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    # |s - x|^2 = |s|^2 + |x|^2 - 2 s.x, for all pairs at once: (len(S), len(X))
    d2 = (S * S).sum(1)[:, None] + (X * X).sum(1)[None, :] - 2 * S @ X.T
    return float(np.maximum(d2.min(axis=1), 0).mean() / S.shape[1])


def pixel_mse(model, X) -> float:
    """Mean squared error per pixel of the model's reconstructions of X (comparable across models)."""
    return float(reconstruction_errors(model, X).mean())

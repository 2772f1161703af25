"""``fit``: mini-batch gradient descent on an autoencoder, one epoch after another.

The body of ``fit`` is the training step of docs/architecture.md — forward, loss, backward, update — with
what happens around it behind named helpers: the checks of its arguments (``checks``), the weights kept
for Ctrl-C and divergence (``rescue``), the progress display (``progress``), the record (``history``).
"""

from __future__ import annotations

import math
import time

import numpy as np

from tinyae import backend
from tinyae.train.checks import check_fit_arguments, model_device
from tinyae.train.history import EarlyStopping, History, call_callback
from tinyae.train.inference import DEFAULT_EVAL_BATCH, TermRecord, batches, evaluate_checked
from tinyae.train.progress import Progress
from tinyae.train.rescue import Rescue

__all__ = ["epoch_order", "fit"]


def epoch_order(n: int, seed: int, epoch_index: int) -> np.ndarray:
    """The sample order of epoch ``epoch_index`` (from 0): a permutation drawn by
    ``default_rng([seed, epoch_index])`` on the host, so any epoch's order can be recreated alone."""
    return np.random.default_rng([int(seed), int(epoch_index)]).permutation(n)


def fit(model, X, epochs: int = 10, batch_size: int = 128, optimizer=None, validation_data=None,
        shuffle: bool = True, seed: int = 0, verbose: int = 1, callbacks=(), early_stopping=None,
        target=None, initial_epoch: int = 0, history: History | None = None,
        eval_batch_size: int = DEFAULT_EVAL_BATCH) -> History:
    """Train ``model`` on X by mini-batch gradient descent; return the ``History``.

    model           -- an autoencoder (``tinyae.models.Autoencoder``, ``VAE``, a zoo model)
    X               -- training inputs (N, ...) as floats (see ``check_samples_for_model`` for what is refused)
    epochs          -- train until this many epochs are done in all (with ``initial_epoch``, as Keras)
    batch_size      -- samples per step; the last batch of an epoch may be smaller
    optimizer       -- a ``tinyae.optim`` optimizer over ``model.params()``; default ``Adam(lr=1e-3)``
    validation_data -- X_val, or a pair (X_val, target_val); evaluated at the end of every epoch
    shuffle, seed   -- epoch e's order is ``epoch_order(N, seed, e)`` (see the module docstring)
    verbose         -- 0 silent, 1 progress bar on a terminal / a line per epoch otherwise, 2 lines
    callbacks       -- objects with ``on_epoch_end(epoch, logs)`` or functions ``(epoch, logs)``;
                       returning True stops training after that epoch
    early_stopping  -- an ``EarlyStopping`` (needs validation_data)
    target          -- what to reconstruct, if not X itself (pairs with X row by row)
    initial_epoch   -- epochs already done (to resume from a checkpoint; see ``tinyae.io``)
    history         -- a History to continue (e.g. the checkpoint's); a new one by default
    eval_batch_size -- batch size of the validation pass (memory only; see ``evaluate``)

    Returns the History (also when stopped by Ctrl-C: then ``history.interrupted`` is True).
    Raises ``TrainingError`` (a FloatingPointError) when a loss or an activation becomes NaN/Inf.
    """
    plan = check_fit_arguments(model, X, target, validation_data, epochs=epochs, initial_epoch=initial_epoch,
                               batch_size=batch_size, eval_batch_size=eval_batch_size, seed=seed,
                               optimizer=optimizer, early_stopping=early_stopping, callbacks=callbacks)
    optimizer, n = plan.optimizer, len(plan.X)
    history = _start_history(history, plan, shuffle)
    progress = Progress(verbose, plan.epochs, steps=math.ceil(n / plan.batch_size))
    if early_stopping is not None:
        early_stopping.reset()
    with Rescue(model, optimizer, history, progress) as rescue:  # Ctrl-C, NaN/Inf: see tinyae/train/rescue.py
        for epoch in range(plan.initial_epoch + 1, plan.epochs + 1):  # counted from 1
            t0 = time.perf_counter()
            rescue.start_epoch(epoch)
            progress.start_epoch(epoch)
            seen, loss_sum, terms = 0, 0.0, TermRecord()
            for step, (xb, tb) in enumerate(_epoch_batches(model, plan, shuffle, epoch - 1), start=1):
                model.zero_grad()
                with rescue.step(epoch, step):  # a NaN/Inf: TrainingError, with weights known to be finite
                    loss = model.loss_and_backward(xb, tb, training=True)  # forward, loss, backward
                    lf = rescue.finite(float(loss))  # the one host sync of the step
                with rescue.uninterruptible():  # a second Ctrl-C waits until every Param is updated
                    optimizer.step()  # update
                seen, loss_sum = seen + len(xb), loss_sum + lf * len(xb)
                terms.add(getattr(model, "terms", None) or {}, len(xb))  # read once, at the end of the epoch
                progress.step(loss_sum / seen)
                rescue.stop_if_requested()
            logs = {"loss": loss_sum / n, **terms.means(skip=("loss",))}
            logs.update(_validation_logs(model, plan, rescue, epoch))
            logs["epoch_time"] = time.perf_counter() - t0
            _record(history, epoch, logs)
            progress.end_epoch(epoch, logs)
            if _should_stop(rescue, epoch, logs, early_stopping, plan.callbacks, progress):
                history.stopped_early = True
                break
    return history


def _start_history(history, plan, shuffle) -> History:
    history = History() if history is None else history
    history.interrupted = history.stopped_early = False
    history.params = {"epochs": plan.epochs, "batch_size": plan.batch_size, "seed": plan.seed,
                      "shuffle": bool(shuffle), "samples": len(plan.X), "optimizer": type(plan.optimizer).__name__,
                      **_optimizer_config(plan.optimizer)}
    return history


def _optimizer_config(optimizer) -> dict:
    config = getattr(optimizer, "config", None)
    return dict(config()) if callable(config) else {}


def _epoch_batches(model, plan, shuffle, epoch_index):
    """The (inputs, targets) batches of one epoch on the model's device, in the order ``epoch_order`` gives."""
    X, T = plan.X, plan.target
    if shuffle:
        order = epoch_order(len(X), plan.seed, epoch_index)
        if backend.is_cupy_array(X):
            order = backend.to_device(order, "gpu")
        X, T = X[order], (None if T is None else T[order])  # one gather per epoch
    device = model_device(model)
    for a, b in batches(len(X), plan.batch_size):  # views on the host, moved only to a GPU
        yield backend.to_device(X[a:b], device), (None if T is None else backend.to_device(T[a:b], device))


def _validation_logs(model, plan, rescue, epoch) -> dict:
    """{"val_loss": ..., "val_<term>": ...} at the end of an epoch ({} without validation data)."""
    if plan.X_val is None:
        return {}
    val = evaluate_checked(model, plan.X_val, plan.target_val, plan.eval_batch_size)
    rescue.check_validation(epoch, val["loss"])
    return {"val_loss": val.pop("loss"), **{f"val_{k}": v for k, v in val.items()}}


def _record(history, epoch, logs):
    """Append the epoch's logs to the History (its terms and validation terms apart from the totals)."""
    val_loss = logs.get("val_loss")
    val_terms = {k[4:]: v for k, v in logs.items() if k.startswith("val_") and k != "val_loss"}
    terms = {k: v for k, v in logs.items() if k not in ("loss", "epoch_time") and not k.startswith("val_")}
    history._append(epoch, logs["loss"], terms, val_loss, val_terms, logs["epoch_time"])


def _should_stop(rescue, epoch, logs, early_stopping: EarlyStopping | None, callbacks, progress) -> bool:
    """After an epoch: keep the best weights, then ask early stopping and the callbacks whether to stop."""
    best = rescue.keep_if_best(epoch, logs.get("val_loss"))
    stop = False
    if early_stopping is not None:
        improved, stop = early_stopping.update(epoch, logs)
        if improved and early_stopping.restore_best:
            rescue.restore_at_the_end(best)
        if stop:
            progress.message(f"early stopping: no improvement of {early_stopping.monitor} for "
                             f"{early_stopping.wait} epoch(s); best epoch {early_stopping.best_epoch}")
    for cb in callbacks:
        stop = call_callback(cb, epoch, {"epoch": epoch, **logs}) or stop
    rescue.stop_if_requested()
    return stop

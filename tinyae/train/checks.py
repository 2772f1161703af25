"""What ``fit``, ``predict``, ``encode`` and ``evaluate`` refuse before any work starts: samples the model
cannot take, and arguments of the wrong kind (each a one-line error naming what was expected)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tinyae import backend
from tinyae.data import check_samples
from tinyae.layers.base import check_positive_int
from tinyae.optim import Adam
from tinyae.train.history import EarlyStopping

BCE_LOSS_NAMES = ("bce", "bce_with_logits")  # reconstruction losses that need targets in [0, 1]


def model_dtype(model):
    for p in model.params():
        return p.value.dtype
    return None


def model_device(model) -> str:
    for p in model.params():
        return backend.device_of(p.value)
    return "cpu"


def reconstruction_loss_name(model):
    """The name of the model's reconstruction loss ("mse", "bce", ...) when the model exposes it."""
    for attr in ("loss", "reconstruction_loss", "loss_fn"):
        loss = getattr(model, attr, None)
        name = getattr(loss, "name", None)
        if isinstance(name, str):
            return name
    return None


def _input_tail(model):
    shape = getattr(model, "input_shape", None)
    return tuple(shape) if shape is not None else None


def check_samples_for_model(model, X, target=None, where="fit", loss_range=True):
    """Validate X (and target) for ``model`` with ``tinyae.data.check_samples``; return them cast to the
    model's dtype.

    Refused with a clear error: non-numeric data, NaN/Inf, a shape the model cannot take (when the model
    states its ``input_shape``), and — for a model trained with BCE or BCE-with-logits — target values
    outside [0, 1] (a cross-entropy against a "probability" of 1.3 has no meaning, and its minimum is no
    longer at pred == target; rescale the data or train with MSE). The input itself may leave [0, 1]
    when a separate target is given (e.g. noisy inputs), so only the target's range is checked.
    ``loss_range=False`` skips the range check (``predict`` and ``encode`` compute no loss).
    """
    dtype = model_dtype(model)
    tail = _input_tail(model)
    bce = loss_range and reconstruction_loss_name(model) in BCE_LOSS_NAMES
    X = check_samples(X, f"{where}(X)", tail=tail, dtype=dtype, expect_range=(0, 1) if bce and target is None else None)
    if target is not None:
        target = check_samples(target, f"{where}(target)", dtype=dtype, expect_range=(0, 1) if bce else None)
        if len(target) != len(X):
            raise ValueError(f"{where}: X has {len(X)} samples but target has {len(target)}; they must pair up")
    return X, target



def _non_negative_int(value, name, where) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{where}: {name} must be an int >= 0, got {value!r}")
    return int(value)


class FitPlan(NamedTuple):
    """``fit``'s arguments once checked: the data cast to the model's dtype, the optimizer to use."""

    X: object
    target: object
    X_val: object
    target_val: object
    epochs: int
    initial_epoch: int
    batch_size: int
    eval_batch_size: int
    seed: int
    optimizer: object
    callbacks: list


def check_fit_arguments(model, X, target, validation_data, *, epochs, initial_epoch, batch_size, eval_batch_size,
                        seed, optimizer, early_stopping, callbacks) -> FitPlan:
    """Every argument of ``fit`` checked before the first step; the default optimizer is Adam(lr=1e-3)."""
    epochs = int(epochs)
    batch_size = check_positive_int(batch_size, "batch_size", "fit")
    initial_epoch = _non_negative_int(initial_epoch, "initial_epoch", "fit")
    if epochs < initial_epoch:
        raise ValueError(f"fit: epochs ({epochs}) counts all epochs, so it must be >= initial_epoch ({initial_epoch})")
    seed = _non_negative_int(seed, "seed", "fit")
    X, target = check_samples_for_model(model, X, target, where="fit")
    X_val, target_val = _split_validation(validation_data)
    if X_val is not None:
        X_val, target_val = check_samples_for_model(model, X_val, target_val, where="fit(validation_data)")
    if early_stopping is not None:
        if not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"fit: early_stopping must be an EarlyStopping, got {type(early_stopping).__name__}")
        if X_val is None and early_stopping.monitor.startswith("val_"):
            raise ValueError("fit: early stopping on validation loss needs validation_data")
    eval_batch_size = check_positive_int(eval_batch_size, "eval_batch_size", "fit")
    if optimizer is None:
        optimizer = Adam(model.params(), lr=1e-3)
    _check_optimizer_covers(optimizer, model)
    callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
    return FitPlan(X, target, X_val, target_val, epochs, initial_epoch, batch_size, eval_batch_size, seed,
                   optimizer, callbacks)


def _split_validation(validation_data):
    if validation_data is None:
        return None, None
    if isinstance(validation_data, (tuple, list)):
        if len(validation_data) != 2:
            raise ValueError("fit: validation_data must be X_val or a pair (X_val, target_val), "
                             f"got a sequence of {len(validation_data)} items")
        return validation_data[0], validation_data[1]
    return validation_data, None


def _check_optimizer_covers(optimizer, model):
    """Refuse an optimizer that does not update exactly the model's Params (e.g. one built over another
    model: training would run, the loss would stay flat, and nothing would say why)."""
    held = getattr(optimizer, "params", None)
    if held is None:
        return  # a duck-typed optimizer: nothing to compare
    mine = {id(p) for p in model.params()}
    theirs = {id(p) for p in held}
    if mine == theirs:
        return
    common = len(mine & theirs)
    if not common:
        raise ValueError(f"fit: the optimizer updates none of the model's {len(mine)} Params (it was built over "
                         f"another model's); build it over this one: {type(optimizer).__name__}(model.params(), ...)")
    raise ValueError(f"fit: the optimizer updates {common} of the model's {len(mine)} Params"
                     + (f" and {len(theirs) - common} that are not the model's" if len(theirs) > common else "")
                     + f"; expected exactly the model's Params: {type(optimizer).__name__}(model.params(), ...) "
                       "(to train only some layers, fit a model made of those layers)")

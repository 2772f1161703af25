"""Training: ``fit`` runs mini-batch gradient descent on an autoencoder; ``predict``/``encode``/``evaluate``
run a trained one over a dataset in batches.

    history = fit(model, X_train, epochs=20, batch_size=128, validation_data=X_val,
                  early_stopping=EarlyStopping(patience=3))
    history.loss, history.val_loss, history.terms["reconstruction"]
    X_hat = predict(model, X_test)                 # reconstructions, 1024 samples at a time
    scores = evaluate(model, X_test)               # {"loss": ..., "reconstruction": ..., ...}

One training step is the data flow of DESIGN.md:

    model.zero_grad()
    L = model.loss_and_backward(x_batch, target_batch, training=True)    # forward, loss, backward
    float(L)                                                             # the ONE host sync per step
    optimizer.step()

``float(L)`` is needed anyway (for the progress bar), and it is where a blow-up is caught: a NaN or Inf
loss stops training with a ``TrainingError`` that names the epoch, the step and the term that exploded,
BEFORE the optimizer step. (On the CPU the layers themselves refuse NaN/Inf inputs, so a blow-up inside the
model arrives as their ValueError; ``fit`` turns it into the same TrainingError, as it does the KL sparsity
penalty's refusal of a code driven to exactly 0 or 1.) Which weights the model keeps then: see below.

Bad input is refused before the first step, by ``tinyae.data.check_data`` (see ``check_inputs``):
non-numeric data, NaN/Inf, a shape the model cannot take, and, for a model trained with BCE or
BCE-with-logits, targets outside [0, 1] (an error, not a warning: the loss would be meaningless).

The model is any object with ``loss_and_backward``, ``evaluate_loss``, ``terms``, ``params``,
``zero_grad``, ``train``/``eval``, ``reconstruct`` and ``encode`` (``tinyae.models.Autoencoder`` and
``VAE``); nothing here knows which autoencoder it trains.

Reproducibility and resuming. Epoch e (counted from 0) is shuffled by its own generator,
``np.random.default_rng([seed, e])``, not by one generator carried from epoch to epoch, so the order of
epoch e can be recreated without replaying epochs 0..e-1. Together with the optimizer state and the
random state of noise layers (both saved by ``tinyae.io.save``), ``fit(..., initial_epoch=k)`` on a model
loaded from a checkpoint written after epoch k continues with exactly the losses of an uninterrupted run.

Stopping early, by hand. Ctrl-C during ``fit`` (in the main thread) finishes the current step, then
stops: the returned History has ``interrupted=True`` (it lists the completed epochs) and, when validation
data was given, the model holds the weights of its best validation epoch so far. A second Ctrl-C stops at
once, in the middle of the step's forward or backward pass (which change no weight), but never cuts an
optimizer update or the restoring of the best weights in half: it waits for their end. A KeyboardInterrupt
raised by a callback is treated the same way. Either way ``fit`` returns normally, so a script can go on to
save what was learned; ``HoldCtrlC`` keeps a Ctrl-C that comes after fit has returned from stopping that
save (``tinyae train`` uses it).

When training diverges (a NaN/Inf loss, or a model that refuses its own values), ``fit`` raises a
``TrainingError`` after putting back weights KNOWN to give a finite loss, and says which: those of the best
validation epoch, else those at the start of the epoch (its step 1 gave a finite loss), else those at the
start of the previous epoch. The weights of the failing step are not kept: they are the ones that gave the
NaN (or whose update poisoned the next step).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
import time

import numpy as np

from tinyae import backend

__all__ = [
    "EarlyStopping",
    "HoldCtrlC",
    "History",
    "TrainingError",
    "encode",
    "evaluate",
    "fit",
    "predict",
]

DEFAULT_EVAL_BATCH = 1024
BCE_LOSS_NAMES = ("bce", "bce_with_logits")  # reconstruction losses that need targets in [0, 1]


class TrainingError(FloatingPointError):
    """Training produced a NaN or Inf. Attributes: ``epoch`` (from 1), ``step`` (from 1 within the epoch),
    ``term`` (the first non-finite term, or None), ``history`` (the epochs completed before)."""

    def __init__(self, message, *, epoch=None, step=None, term=None, history=None):
        super().__init__(message)
        self.epoch, self.step, self.term, self.history = epoch, step, term, history


# --------------------------------------------------------------------------------------------------
# History: what happened in each epoch
# --------------------------------------------------------------------------------------------------


class History:
    """Per-epoch record of a training run (plain Python floats, ready for JSON/CSV and plots).

    epoch       -- the epoch numbers, counted from 1 (a resumed run continues the count)
    loss        -- mean training loss of each epoch (the total, penalties included), averaged over the
                   epoch's batches weighted by batch size, with the weights as they were at each step
    val_loss    -- loss on the validation data at the end of each epoch (empty without validation)
    terms       -- {term name: [per-epoch mean]} for each term of model.terms ("reconstruction",
                   penalties, "kl", ...), the total excluded
    val_terms   -- the same on the validation data
    epoch_time  -- seconds per epoch (training + validation)
    interrupted -- True when the run was stopped by Ctrl-C (or a KeyboardInterrupt raised in a callback)
    stopped_early -- True when early stopping or a callback ended the run
    best_epoch  -- epoch with the lowest val_loss (None without validation)
    """

    def __init__(self):
        self.epoch: list[int] = []
        self.loss: list[float] = []
        self.val_loss: list[float] = []
        self.terms: dict[str, list[float]] = {}
        self.val_terms: dict[str, list[float]] = {}
        self.epoch_time: list[float] = []
        self.interrupted = False
        self.stopped_early = False
        self.params: dict = {}  # fit's settings (epochs, batch_size, seed, optimizer, ...)

    def __len__(self):
        return len(self.epoch)

    @property
    def best_epoch(self):
        if not self.val_loss:
            return None
        return self.epoch[int(np.argmin(self.val_loss))]

    def _append(self, epoch, loss, terms, val_loss, val_terms, seconds):
        self.epoch.append(int(epoch))
        self.loss.append(float(loss))
        for name, value in terms.items():
            self.terms.setdefault(name, []).append(float(value))
        if val_loss is not None:
            self.val_loss.append(float(val_loss))
            for name, value in val_terms.items():
                self.val_terms.setdefault(name, []).append(float(value))
        self.epoch_time.append(float(seconds))

    def as_dict(self) -> dict:
        """The per-epoch loss series, as Keras' ``history.history``: {"loss": [...], "<term>": [...],
        "val_loss": [...], "val_<term>": [...]} (validation entries only when there was validation).
        Plots take this (``tinyae.viz.loss_curves``); ``state()`` has the whole record."""
        out = {"loss": list(self.loss)}
        out.update({name: list(v) for name, v in self.terms.items()})
        if self.val_loss:
            out["val_loss"] = list(self.val_loss)
            out.update({f"val_{name}": list(v) for name, v in self.val_terms.items()})
        return out

    @property
    def history(self) -> dict:
        """Alias of ``as_dict()`` (the name Keras users look for)."""
        return self.as_dict()

    def columns(self) -> dict:
        """The CSV columns: epoch, the series of ``as_dict()``, epoch_time."""
        return {"epoch": list(self.epoch), **self.as_dict(), "epoch_time": list(self.epoch_time)}

    def __getitem__(self, column: str) -> list:
        cols = self.columns()
        if column not in cols:
            raise KeyError(f"History has no column {column!r}; it has {list(cols)}")
        return cols[column]

    def state(self) -> dict:
        """The whole record as JSON-ready Python values (the inverse of ``History.from_state``)."""
        return {
            "epoch": list(self.epoch),
            "loss": list(self.loss),
            "val_loss": list(self.val_loss),
            "terms": {k: list(v) for k, v in self.terms.items()},
            "val_terms": {k: list(v) for k, v in self.val_terms.items()},
            "epoch_time": list(self.epoch_time),
            "interrupted": self.interrupted,
            "stopped_early": self.stopped_early,
            "best_epoch": self.best_epoch,
            "params": dict(self.params),
        }

    @classmethod
    def from_state(cls, d: dict) -> History:
        h = cls()
        try:
            h.epoch = [int(e) for e in d["epoch"]]
            h.loss = [float(v) for v in d["loss"]]
            h.val_loss = [float(v) for v in d.get("val_loss", [])]
            h.terms = {str(k): [float(x) for x in v] for k, v in d.get("terms", {}).items()}
            h.val_terms = {str(k): [float(x) for x in v] for k, v in d.get("val_terms", {}).items()}
            h.epoch_time = [float(v) for v in d.get("epoch_time", [])]
            h.interrupted = bool(d.get("interrupted", False))
            h.stopped_early = bool(d.get("stopped_early", False))
            h.params = dict(d.get("params", {}))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
            raise ValueError(f"History.from_state: not a History record ({type(err).__name__}: {err})") from err
        if len(h.loss) != len(h.epoch) or len(h.epoch_time) != len(h.epoch):
            raise ValueError(f"History.from_state: {len(h.epoch)} epochs but {len(h.loss)} losses and "
                             f"{len(h.epoch_time)} epoch times")
        return h

    def to_json(self, path):
        """Write ``state()`` as JSON (NaN-free: a run that produced NaN stops before recording it)."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.state(), f, indent=1)
            f.write("\n")

    @classmethod
    def from_json(cls, path) -> History:
        with open(path, encoding="utf-8") as f:
            return cls.from_state(json.load(f))

    def to_csv(self, path):
        """Write ``columns()`` as CSV: a header row, then one row per epoch."""
        cols = self.columns()
        names = list(cols)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(",".join(names) + "\n")
            for i in range(len(self.epoch)):
                f.write(",".join(_csv_value(cols[n][i]) for n in names) + "\n")

    def __repr__(self):
        last = f", last loss {self.loss[-1]:.6g}" if self.loss else ""
        val = f", val_loss {self.val_loss[-1]:.6g}" if self.val_loss else ""
        flags = " interrupted" if self.interrupted else (" stopped early" if self.stopped_early else "")
        return f"History({len(self)} epochs{last}{val}{flags})"


def _csv_value(v) -> str:
    return str(v) if isinstance(v, int) else repr(float(v))


# --------------------------------------------------------------------------------------------------
# Early stopping and callbacks
# --------------------------------------------------------------------------------------------------


class EarlyStopping:
    """Stop when the validation loss has not improved for ``patience`` epochs.

    An epoch improves when ``val_loss < best - min_delta``. With ``restore_best=True`` the model ends
    with the weights of its best epoch (whether training stopped early or ran all its epochs), not
    those of the last one, which has already started to overfit.
    ``monitor`` is a column of the epoch logs: "val_loss" (default) or, e.g., "val_reconstruction".
    Its state (best value, waiting count) lives on the object and restarts with each ``fit`` call.
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0, restore_best: bool = True,
                 monitor: str = "val_loss"):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        if not isinstance(min_delta, (int, float)) or not math.isfinite(min_delta) or min_delta < 0:
            raise ValueError(f"EarlyStopping: min_delta must be a finite number >= 0, got {min_delta!r}")
        self.patience = patience
        self.min_delta = float(min_delta)
        self.restore_best = bool(restore_best)
        self.monitor = monitor
        self.reset()

    def reset(self):
        self.best = math.inf
        self.best_epoch = None
        self.wait = 0

    def update(self, epoch: int, logs: dict) -> tuple[bool, bool]:
        """Record one epoch; return (improved, stop)."""
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping: the epoch logs have no {self.monitor!r} (they have {sorted(logs)}); "
                             f"early stopping on validation loss needs validation_data")
        value = logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return True, False
        self.wait += 1
        return False, self.wait >= self.patience

    def __repr__(self):
        return (f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, "
                f"restore_best={self.restore_best}, monitor={self.monitor!r})")


def _call_callback(cb, epoch: int, logs: dict) -> bool:
    """A callback is an object with ``on_epoch_end(epoch, logs)`` or a plain function of (epoch, logs).
    It returns True to stop training (anything else continues)."""
    fn = getattr(cb, "on_epoch_end", None)
    if fn is None:
        if not callable(cb):
            raise TypeError(f"fit: a callback must be callable or have on_epoch_end(epoch, logs), got {cb!r}")
        fn = cb
    return fn(epoch, dict(logs)) is True


# --------------------------------------------------------------------------------------------------
# Weights snapshots (best epoch, last finite weights)
# --------------------------------------------------------------------------------------------------


def _snapshot(model) -> list:
    """Copies of every Param's value (on its device), in ``model.params()`` order."""
    return [p.value.copy() for p in model.params()]


def _restore(model, snapshot):
    for p, value in zip(model.params(), snapshot):
        p.value[...] = value  # in place: the Param (and any tie, and the optimizer's reference) stays


def _params_finite(model) -> bool:
    for p in model.params():
        if not bool(backend.array_module(p.value).isfinite(p.value).all()):
            return False
    return True


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------


def _model_dtype(model):
    for p in model.params():
        return p.value.dtype
    return None


def _model_device(model) -> str:
    for p in model.params():
        return backend.device_of(p.value)
    return "cpu"


def _reconstruction_loss_name(model):
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


def check_inputs(model, X, target=None, where="fit", loss_range=True):
    """Validate X (and target) for ``model`` with ``tinyae.data.check_data``; return them cast to the
    model's dtype.

    Refused with a clear error: non-numeric data, NaN/Inf, a shape the model cannot take (when the model
    states its ``input_shape``), and — for a model trained with BCE or BCE-with-logits — target values
    outside [0, 1] (a cross-entropy against a "probability" of 1.3 has no meaning, and its minimum is no
    longer at pred == target; rescale the data or train with MSE). The input itself may leave [0, 1]
    when a separate target is given (e.g. noisy inputs), so only the target's range is checked.
    ``loss_range=False`` skips the range check (``predict`` and ``encode`` compute no loss).
    """
    from tinyae.data import check_data

    dtype = _model_dtype(model)
    tail = _input_tail(model)
    bce = loss_range and _reconstruction_loss_name(model) in BCE_LOSS_NAMES
    X = check_data(X, f"{where}(X)", tail=tail, dtype=dtype, expect_range=(0, 1) if bce and target is None else None)
    if target is not None:
        target = check_data(target, f"{where}(target)", dtype=dtype, expect_range=(0, 1) if bce else None)
        if len(target) != len(X):
            raise ValueError(f"{where}: X has {len(X)} samples but target has {len(target)}; they must pair up")
    return X, target


def _split_validation(validation_data):
    if validation_data is None:
        return None, None
    if isinstance(validation_data, (tuple, list)):
        if len(validation_data) != 2:
            raise ValueError("fit: validation_data must be X_val or a pair (X_val, target_val), "
                             f"got a sequence of {len(validation_data)} items")
        return validation_data[0], validation_data[1]
    return validation_data, None


def _check_positive_int(value, name, where):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------------
# Batched inference: predict, encode, evaluate
# --------------------------------------------------------------------------------------------------


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


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


def _map_batches(fn, model, X, batch_size, where):
    """Apply ``fn`` to X in batches on the model's device; concatenate in X's array module.

    A host X is moved one batch at a time (so a large X never has to fit on the GPU at once) and the
    results come back to the host. ``fn`` may return an array or a tuple of arrays (a VAE's (mu, logvar)).
    """
    batch_size = _check_positive_int(batch_size, "batch_size", where)
    X, _ = check_inputs(model, X, where=where, loss_range=False)
    device = _model_device(model)
    on_host = not backend.is_cupy_array(X)
    outs = []
    with _EvalMode(model):
        for a, b in _batches(len(X), batch_size):
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
    batch_size = _check_positive_int(batch_size, "batch_size", "evaluate")
    X, target = check_inputs(model, X, target, where="evaluate")
    return _evaluate(model, X, target, batch_size)


def _evaluate(model, X, target, batch_size) -> dict:
    """``evaluate`` on inputs already checked (fit checks its validation data once, not every epoch)."""
    device = _model_device(model)
    record = _TermRecord()
    with _EvalMode(model):
        for a, b in _batches(len(X), batch_size):
            xb = backend.to_device(X[a:b], device)
            tb = None if target is None else backend.to_device(target[a:b], device)
            total = model.evaluate_loss(xb, tb)
            record.add({**(getattr(model, "terms", None) or {}), "loss": total}, b - a)
    return record.means()


class _TermRecord:
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


# --------------------------------------------------------------------------------------------------
# Ctrl-C: finish the step, then stop
# --------------------------------------------------------------------------------------------------


class _StopRequest:
    """Ctrl-C during ``fit`` (main thread only), without ever leaving a mixed model.

    The first Ctrl-C sets ``requested``: fit stops between two steps, with consistent weights and optimizer
    state. A second one raises KeyboardInterrupt at once, unless fit is inside a ``critical()`` block (the
    optimizer's update, restoring a snapshot): then it is held, and raised when the block ends, so no
    update or restore is ever left half done. Once fit is stopping (``shield()``), further presses only
    print that it is finishing.
    """

    def __init__(self, notice):
        self.requested = False
        self.notice = notice
        self._old = None
        self._depth = 0  # > 0 inside critical(): a second Ctrl-C waits until the block ends
        self._held = False
        self._shielded = False

    def _handler(self, signum, frame):
        if self._shielded:
            self.notice("\nCtrl-C: still finishing (putting the weights back); one moment")
            return
        if not self.requested:
            self.requested = True
            self.notice("\nCtrl-C: stopping after this step (press Ctrl-C again to abort the step)")
            return
        if self._depth:
            self._held = True  # raised when the update or restore in progress is complete
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def critical(self):
        """A block that a second Ctrl-C must not cut in half (it is raised after the block instead)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if not self._depth and self._held:
            self._held = False
            raise KeyboardInterrupt

    def shield(self):
        """From now on, Ctrl-C only says that fit is finishing (fit is restoring weights and returning)."""
        self._shielded = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and _is_replaceable(signal.getsignal(signal.SIGINT)):
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _is_replaceable(handler) -> bool:
    """fit takes over Ctrl-C from Python's default handler or from a ``HoldCtrlC`` around it (and puts it back)."""
    return handler is signal.default_int_handler or isinstance(getattr(handler, "__self__", None), HoldCtrlC)


class HoldCtrlC:
    """A block that Ctrl-C does not cut short: each press is counted (``presses``) and announced, and the
    block runs to its end. ``tinyae train`` wraps fit and the saving of the run in one, so a Ctrl-C that
    comes after fit has returned cannot stop the checkpoint from being written::

        with HoldCtrlC("saving the run") as hold:
            history = fit(model, X, ...)           # fit handles Ctrl-C itself inside
            save(...)
        if hold.presses: ...                       # the user wants to stop: skip what comes next

    Outside the main thread (where Python delivers no signals) it does nothing.
    """

    def __init__(self, what: str = "this step", stream=None):
        self.what, self.stream = what, stream
        self.presses = 0
        self._old = None

    def _handler(self, signum, frame):
        self.presses += 1
        print(f"\nCtrl-C: finishing {self.what} first, then stopping", file=self.stream or sys.stderr, flush=True)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


# --------------------------------------------------------------------------------------------------
# Progress display
# --------------------------------------------------------------------------------------------------


def _fmt_logs(logs: dict, skip=("epoch",)) -> str:
    return "  ".join(f"{k} {v:.5g}" for k, v in logs.items() if k not in skip and k != "epoch_time")


class _Progress:
    """verbose=0: silent. verbose=1: a tqdm bar per epoch on a terminal, one plain line per epoch
    otherwise (CI logs, files). verbose=2: always one plain line per epoch."""

    def __init__(self, verbose: int, epochs: int, steps: int, stream=None):
        self.stream = stream or sys.stdout
        self.epochs, self.steps = epochs, steps
        self.mode = "silent"
        if verbose == 1 and bars_visible(self.stream):
            self.mode = "bar"
        elif verbose:
            self.mode = "lines"
        self.bar = None

    def start_epoch(self, epoch: int):
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.steps, desc=f"epoch {epoch}/{self.epochs}", unit="batch",
                            file=self.stream, leave=True, dynamic_ncols=True)

    def step(self, running_loss: float):
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {running_loss:.5g}", refresh=False)
            self.bar.update(1)

    def end_epoch(self, epoch: int, logs: dict):
        if self.bar is not None:
            post = f"loss {logs['loss']:.5g}"
            if "val_loss" in logs:
                post += f"  val_loss {logs['val_loss']:.5g}"
            self.bar.set_postfix_str(post)
            self.bar.close()
            self.bar = None
        elif self.mode == "lines":
            print(f"epoch {epoch}/{self.epochs}  {_fmt_logs(logs)}  ({logs['epoch_time']:.2f}s)",
                  file=self.stream, flush=True)

    def message(self, text: str):
        if self.mode != "silent":
            if self.bar is not None:
                self.bar.write(text, file=self.stream)
            else:
                print(text, file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where stdout is no terminal, yet tqdm.auto draws a live widget)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    try:
        shell = get() if get is not None else None
    except Exception:  # an IPython in a strange state: no notebook
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def bars_visible(stream=None) -> bool:
    """Whether a progress bar on ``stream`` would be seen: on a terminal, or in a Jupyter notebook. (In a
    pipe, a file or a CI log a bar is a heap of carriage returns: plain lines are printed instead.)"""
    return _isatty(stream if stream is not None else sys.stdout) or in_notebook()


# --------------------------------------------------------------------------------------------------
# NaN/Inf: what exploded and what to try
# --------------------------------------------------------------------------------------------------


def _suggestions(model, optimizer, term) -> str:
    tips = []
    lr = getattr(optimizer, "lr", None)
    tips.append(f"lower the learning rate (now {lr:g}, try {lr / 10:g})" if lr else "lower the learning rate")
    loss_name = _reconstruction_loss_name(model)
    if loss_name == "bce":
        tips.append("replace a Sigmoid output + BCE by an Identity output + BCEWithLogits (stable for any logit)")
    if term and "kl" in term:
        tips.append(f"reduce the weight of the {term!r} term")
    tips.append("check the data range (tinyae.data.check_data; images should be scaled to [0, 1])")
    return "; ".join(tips)


def _nonfinite_error(model, optimizer, epoch, step, history, lf=None, cause=None, restored=None):
    terms = getattr(model, "terms", None) or {}
    term = None
    if cause is None:
        values = {k: float(v) for k, v in terms.items() if k != "loss"}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        term = bad[0] if bad else None
        shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
        what = f"the loss is {lf}" + (f"; the term that exploded: {term!r} ({shown})" if term else f" ({shown})")
    elif "NaN/Inf" in str(cause):
        what = f"a NaN/Inf appeared inside the model: {cause}"
    else:
        what = f"a value inside the model left its valid range: {cause}"
    where = f"epoch {epoch}, validation" if step == "validation" else f"epoch {epoch}, step {step}"
    kept = f"The model was restored to {restored}." if restored else ""
    msg = (f"fit: training diverged at {where}: {what}. {kept} "
           f"Try: {_suggestions(model, optimizer, term)}.")
    return TrainingError(msg, epoch=epoch, step=step, term=term, history=history)


# --------------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------------


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
    X               -- training inputs (N, ...) as floats (see ``check_inputs`` for what is refused)
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
    from tinyae.optim import Adam

    epochs = int(epochs)
    batch_size = _check_positive_int(batch_size, "batch_size", "fit")
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or initial_epoch < 0:
        raise ValueError(f"fit: initial_epoch must be an int >= 0, got {initial_epoch!r}")
    if epochs < initial_epoch:
        raise ValueError(f"fit: epochs ({epochs}) counts all epochs, so it must be >= initial_epoch ({initial_epoch})")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"fit: seed must be an int >= 0, got {seed!r}")
    X, target = check_inputs(model, X, target, where="fit")
    X_val, target_val = _split_validation(validation_data)
    if X_val is not None:
        X_val, target_val = check_inputs(model, X_val, target_val, where="fit(validation_data)")
    if early_stopping is not None:
        if not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"fit: early_stopping must be an EarlyStopping, got {type(early_stopping).__name__}")
        if X_val is None and early_stopping.monitor.startswith("val_"):
            raise ValueError("fit: early stopping on validation loss needs validation_data")
        early_stopping.reset()
    eval_batch_size = _check_positive_int(eval_batch_size, "eval_batch_size", "fit")
    if optimizer is None:
        optimizer = Adam(model.params(), lr=1e-3)
    _check_optimizer_covers(optimizer, model)
    callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]

    n = len(X)
    steps = math.ceil(n / batch_size)
    device = _model_device(model)
    on_device = backend.is_cupy_array(X)
    history = History() if history is None else history
    history.interrupted = history.stopped_early = False
    history.params = {"epochs": epochs, "batch_size": batch_size, "seed": int(seed), "shuffle": bool(shuffle),
                      "samples": n, "optimizer": type(optimizer).__name__, **_optimizer_config(optimizer)}
    progress = _Progress(verbose, epochs, steps)
    best_val, best_weights, best_epoch = math.inf, None, None  # best validation epoch (restored on Ctrl-C)
    es_weights = None  # weights of early stopping's best epoch (restored at the end when restore_best)
    stop_request = _StopRequest(progress.message)

    model.train()
    kept = _KeptWeights()  # weights known to give a finite loss, for the case that training diverges
    try:
        with stop_request:
            try:
                for e in range(int(initial_epoch), epochs):
                    epoch = e + 1  # shown and recorded from 1
                    t0 = time.perf_counter()
                    kept.start_epoch(epoch, _snapshot(model))  # the fallback if this epoch diverges
                    if shuffle:
                        order = epoch_order(n, seed, e)
                        Xe = X[backend.to_device(order, "gpu") if on_device else order]  # one gather per epoch
                        Te = None if target is None else target[backend.to_device(order, "gpu") if on_device
                                                                 else order]
                    else:
                        Xe, Te = X, target
                    progress.start_epoch(epoch)
                    seen, loss_sum, record = 0, 0.0, _TermRecord()
                    for step, (a, b) in enumerate(_batches(n, batch_size), start=1):
                        xb = backend.to_device(Xe[a:b], device)  # a view on the host; moved only on a GPU
                        tb = None if Te is None else backend.to_device(Te[a:b], device)
                        try:
                            lf = _train_step(model, optimizer, xb, tb, stop_request)
                        except _Diverged as div:
                            raise _diverged(model, optimizer, epoch, step, history, div, kept, stop_request) \
                                from div.cause
                        if step == 1:
                            kept.first_step_ok(lf)
                        nb = b - a
                        seen += nb
                        loss_sum += lf * nb
                        record.add(getattr(model, "terms", None) or {}, nb)  # read once, at the end of the epoch
                        progress.step(loss_sum / seen)
                        if stop_request.requested:
                            raise KeyboardInterrupt
                    terms = record.means(skip=("loss",))
                    logs = {"loss": loss_sum / n, **terms}
                    val_logs = {}
                    if X_val is not None:
                        val = _evaluate(model, X_val, target_val, eval_batch_size)
                        val_logs = {"loss": val.pop("loss"), **val}
                        logs["val_loss"] = val_logs["loss"]
                        logs.update({f"val_{k}": v for k, v in val.items()})
                        if not math.isfinite(logs["val_loss"]):
                            raise _diverged(model, optimizer, epoch, "validation", history,
                                            _Diverged(lf=logs["val_loss"]), kept, stop_request)
                    logs["epoch_time"] = time.perf_counter() - t0
                    history._append(epoch, logs["loss"], terms,
                                    val_logs.get("loss"), {k: v for k, v in val_logs.items() if k != "loss"},
                                    logs["epoch_time"])
                    progress.end_epoch(epoch, logs)

                    stop = False
                    snap = None  # this epoch's weights, copied at most once
                    if X_val is not None and logs["val_loss"] < best_val:
                        snap = _snapshot(model)
                        best_val, best_weights, best_epoch = logs["val_loss"], snap, epoch
                        kept.best_validation(epoch, best_val, snap)
                    if early_stopping is not None:
                        improved, stop = early_stopping.update(epoch, logs)
                        if improved and early_stopping.restore_best:
                            es_weights = snap if snap is not None else _snapshot(model)
                        if stop:
                            progress.message(f"early stopping: no improvement of {early_stopping.monitor} for "
                                             f"{early_stopping.wait} epoch(s); best epoch "
                                             f"{early_stopping.best_epoch}")
                    for cb in callbacks:
                        stop = _call_callback(cb, epoch, {"epoch": epoch, **logs}) or stop
                    if stop_request.requested:
                        raise KeyboardInterrupt
                    if stop:
                        history.stopped_early = True
                        break
            except KeyboardInterrupt:
                stop_request.shield()  # from here on a Ctrl-C cannot cut the restore short
                history.interrupted = True
                progress.close()
                if best_weights is not None:
                    _restore(model, best_weights)
                progress.message(f"interrupted after {len(history)} complete epoch(s)"
                                 + (f"; restored the weights of the best validation epoch {best_epoch}"
                                    if best_weights is not None else ""))
            if not history.interrupted and es_weights is not None:
                stop_request.shield()
                _restore(model, es_weights)
    finally:
        progress.close()
        model.eval()
    return history


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


def _optimizer_config(optimizer) -> dict:
    config = getattr(optimizer, "config", None)
    return dict(config()) if callable(config) else {}


# Markers of the ValueErrors that layers and losses raise when values inside the model have become
# unusable: a NaN/Inf, or a KL-sparsity code driven to exactly 0 or 1 (where the KL is infinite).
DIVERGENCE_MARKERS = ("NaN/Inf", "exactly 0 or 1", "is infinite")


class _Diverged(Exception):
    """Raised by ``_train_step``: this step's loss is NaN/Inf (``lf``) or the model refused its values (``cause``)."""

    def __init__(self, lf=None, cause=None):
        super().__init__(str(cause) if cause is not None else f"loss {lf}")
        self.lf, self.cause = lf, cause


def _train_step(model, optimizer, xb, tb, stop_request) -> float:
    """One step: zero_grad, forward + backward, ONE float() of the loss, optimizer step. Returns the loss."""
    model.zero_grad()
    try:
        # Overflow is detected below from the loss itself, with a better message than NumPy's warning.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss = model.loss_and_backward(xb, tb, training=True)
    except ValueError as err:
        # Layers and losses refuse NaN/Inf inputs (and a KL code at exactly 0 or 1): that means divergence.
        if not any(marker in str(err) for marker in DIVERGENCE_MARKERS) and _params_finite(model):
            raise
        raise _Diverged(cause=err) from err
    lf = float(loss)  # the one host sync of the step
    if not math.isfinite(lf):
        raise _Diverged(lf=lf)
    with stop_request.critical():  # a second Ctrl-C waits until every Param is updated
        optimizer.step()
    return lf


class _KeptWeights:
    """The weights fit falls back to when training diverges: ones KNOWN to give a finite loss.

    The weights at the start of an epoch gave a finite loss at its step 1; the weights of the best
    validation epoch gave a finite validation loss. (The weights of the failing step are not: they are
    the ones that produced the NaN, or whose update poisoned the next step.)
    """

    def __init__(self):
        self.current = self.previous = None  # (epoch, weights, loss at its step 1 or None)
        self.best = None  # (epoch, val_loss, weights)

    def start_epoch(self, epoch, weights):
        if self.current is not None and self.current[2] is not None:
            self.previous = self.current
        self.current = (epoch, weights, None)

    def first_step_ok(self, lf):
        epoch, weights, _ = self.current
        self.current = (epoch, weights, lf)

    def best_validation(self, epoch, val_loss, weights):
        self.best = (epoch, val_loss, weights)

    def choose(self, epoch, step):
        """(weights, what they are) to restore after divergence at (epoch, step), or (None, reason)."""
        if self.best is not None:
            e, val, w = self.best
            return w, f"the weights of the best validation epoch {e} (validation loss {val:.5g})"
        for kept in (self.current, self.previous):
            if kept is not None and kept[2] is not None and kept[0] <= epoch:
                e, w, lf = kept
                return w, f"the weights at the start of epoch {e} (its step 1 gave the finite loss {lf:.5g})"
        return None, None


def _diverged(model, optimizer, epoch, step, history, div, kept, stop_request) -> TrainingError:
    """Put back weights known to give a finite loss, then the TrainingError that says what happened."""
    weights, what = kept.choose(epoch, step)
    if weights is not None:
        with stop_request.critical():
            _restore(model, weights)
    restored = what or ("no weights of this run are known to give a finite loss (it diverged at its first "
                        "step): the model keeps the weights it started with")
    return _nonfinite_error(model, optimizer, epoch, step, history, lf=div.lf, cause=div.cause, restored=restored)

"""When a run does not go as planned: Ctrl-C, and a loss that becomes NaN/Inf.

``fit`` holds one ``Rescue`` for the run; it keeps the weights that each outcome needs:

- Ctrl-C (``with rescue:`` around the epochs): the run stops after the step, the model gets the weights of
  its best validation epoch, and ``fit`` returns the History with ``interrupted=True``;
- divergence (``with rescue.step(epoch, step):`` around forward, loss and backward, and
  ``rescue.finite(float(loss))``): a ``TrainingError`` that names the epoch, the step and the term, raised
  after putting back weights KNOWN to give a finite loss (best validation epoch, else the start of this
  or the previous epoch);
- early stopping with ``restore_best``: its best epoch's weights, put back when the run ends.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from tinyae import backend
from tinyae.train.checks import reconstruction_loss_name
from tinyae.train.interrupt import StopRequest

__all__ = ["Rescue", "TrainingError"]


class TrainingError(FloatingPointError):
    """Training produced a NaN or Inf. Attributes: ``epoch`` (from 1), ``step`` (from 1 within the epoch),
    ``term`` (the first non-finite term, or None), ``history`` (the epochs completed before)."""

    def __init__(self, message, *, epoch=None, step=None, term=None, history=None):
        super().__init__(message)
        self.epoch, self.step, self.term, self.history = epoch, step, term, history


def snapshot(model) -> list:
    """Copies of every Param's value (on its device), in ``model.params()`` order."""
    return [p.value.copy() for p in model.params()]


def restore(model, snapshot):
    for p, value in zip(model.params(), snapshot):
        p.value[...] = value  # in place: the Param (and any tie, and the optimizer's reference) stays


def params_finite(model) -> bool:
    for p in model.params():
        if not bool(backend.array_module(p.value).isfinite(p.value).all()):
            return False
    return True


class Rescue:
    """The weights and the Ctrl-C state of one ``fit`` run (see the module docstring)."""

    def __init__(self, model, optimizer, history, progress):
        self.model, self.optimizer, self.history, self.progress = model, optimizer, history, progress
        self.stop_request = StopRequest(progress.message)
        self.kept = _KeptWeights()  # weights known to give a finite loss, for the case that training diverges
        self.best_val, self.best_weights, self.best_epoch = math.inf, None, None  # restored on Ctrl-C
        self.early_stopping_weights = None  # restored at the end when early stopping has restore_best
        self.epoch = self.step_number = None

    def __enter__(self):
        self.model.train()
        self.stop_request.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        """Ctrl-C: restore the best weights and return normally; the end of the run: early stopping's weights."""
        try:
            if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
                self._stop_after_ctrl_c()
                return True
            if exc_type is None and self.early_stopping_weights is not None:
                self.stop_request.shield()
                restore(self.model, self.early_stopping_weights)
            return False
        finally:
            self.stop_request.__exit__(exc_type, exc, tb)
            self.progress.close()
            self.model.eval()

    def _stop_after_ctrl_c(self):
        self.stop_request.shield()  # from here on a Ctrl-C cannot cut the restore short
        self.history.interrupted = True
        self.progress.close()
        if self.best_weights is not None:
            restore(self.model, self.best_weights)
        self.progress.message(f"interrupted after {len(self.history)} complete epoch(s)"
                              + (f"; restored the weights of the best validation epoch {self.best_epoch}"
                                 if self.best_weights is not None else ""))

    def stop_if_requested(self):
        """Between two steps: stop here if Ctrl-C was pressed during the step."""
        if self.stop_request.requested:
            raise KeyboardInterrupt

    def uninterruptible(self):
        """A block (the optimizer's update) that a second Ctrl-C waits for instead of cutting it in half."""
        return self.stop_request.critical()

    def start_epoch(self, epoch):
        self.kept.start_epoch(epoch, snapshot(self.model))  # the fallback if this epoch diverges

    @contextlib.contextmanager
    def step(self, epoch, step):
        """Around forward, loss and backward: a layer or loss that refuses a NaN/Inf (or a KL code at exactly
        0 or 1) means the run diverged: TrainingError, after putting back weights known to be good."""
        self.epoch, self.step_number = epoch, step
        try:
            # Overflow is detected from the loss itself (``finite``), with a better message than NumPy's warning.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                yield
        except backend.NonFiniteError as err:  # a layer or loss met a NaN/Inf (or an infinite KL): diverged
            raise self._diverged(cause=err) from err
        except ValueError as err:  # any other refusal is a bug to show as it is, unless the weights blew up
            if params_finite(self.model):
                raise
            raise self._diverged(cause=err) from err

    def finite(self, loss: float) -> float:
        """The step's loss, or a TrainingError (after putting back weights known to be good) if it is NaN/Inf."""
        if not math.isfinite(loss):
            raise self._diverged(lf=loss)
        if self.step_number == 1:
            self.kept.first_step_ok(loss)
        return loss

    def check_validation(self, epoch, val_loss):
        if not math.isfinite(val_loss):
            self.epoch, self.step_number = epoch, "validation"
            raise self._diverged(lf=val_loss)

    def keep_if_best(self, epoch, val_loss):
        """Copy the weights of a new best validation epoch (for Ctrl-C and divergence); return the copy or None."""
        if val_loss is None or not val_loss < self.best_val:
            return None
        weights = snapshot(self.model)
        self.best_val, self.best_weights, self.best_epoch = val_loss, weights, epoch
        self.kept.best_validation(epoch, val_loss, weights)
        return weights

    def restore_at_the_end(self, weights=None):
        """Early stopping's best epoch: these weights (the current ones if None) are put back when the run ends."""
        self.early_stopping_weights = weights if weights is not None else snapshot(self.model)

    def _diverged(self, lf=None, cause=None) -> TrainingError:
        """Put back weights known to give a finite loss, then the TrainingError that says what happened."""
        epoch, step = self.epoch, self.step_number
        weights, what = self.kept.choose(epoch, step)
        if weights is not None:
            with self.stop_request.critical():
                restore(self.model, weights)
        restored = what or ("no weights of this run are known to give a finite loss (it diverged at its first "
                            "step): the model keeps the weights it started with")
        return _nonfinite_error(self.model, self.optimizer, epoch, step, self.history, lf=lf, cause=cause,
                                restored=restored)


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


def _suggestions(model, optimizer, term) -> str:
    tips = []
    lr = getattr(optimizer, "lr", None)
    tips.append(f"lower the learning rate (now {lr:g}, try {lr / 10:g})" if lr else "lower the learning rate")
    loss_name = reconstruction_loss_name(model)
    if loss_name == "bce":
        tips.append("replace a Sigmoid output + BCE by an Identity output + BCEWithLogits (stable for any logit)")
    if term and "kl" in term:
        tips.append(f"reduce the weight of the {term!r} term")
    tips.append("check the data range (tinyae.data.check_samples; images should be scaled to [0, 1])")
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

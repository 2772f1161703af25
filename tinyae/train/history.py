"""What a training run records: ``History`` (one entry per epoch), ``EarlyStopping`` and the callbacks."""

from __future__ import annotations

import json
import math

import numpy as np

__all__ = ["EarlyStopping", "History", "call_callback"]

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


def call_callback(cb, epoch: int, logs: dict) -> bool:
    """A callback is an object with ``on_epoch_end(epoch, logs)`` or a plain function of (epoch, logs).
    It returns True to stop training (anything else continues)."""
    fn = getattr(cb, "on_epoch_end", None)
    if fn is None:
        if not callable(cb):
            raise TypeError(f"fit: a callback must be callable or have on_epoch_end(epoch, logs), got {cb!r}")
        fn = cb
    return fn(epoch, dict(logs)) is True

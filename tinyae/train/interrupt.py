"""Ctrl-C during ``fit``: the first press finishes the step, then stops; a second one never cuts an
optimizer update or a restore of weights in half. ``HoldCtrlC`` keeps a press from cutting a save short."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

__all__ = ["HoldCtrlC", "StopRequest"]



class StopRequest:
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


"""The progress display of ``fit``: silent, a tqdm bar per epoch, or one plain line per epoch."""

from __future__ import annotations

import sys

__all__ = ["Progress", "bars_visible", "in_notebook"]



def _fmt_logs(logs: dict, skip=("epoch",)) -> str:
    return "  ".join(f"{k} {v:.5g}" for k, v in logs.items() if k not in skip and k != "epoch_time")


class Progress:
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
            from tqdm.auto import tqdm  # 80 ms to import: only when a bar is drawn

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


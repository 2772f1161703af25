"""Hardening the gradient checker against the mistakes students make with the layer contract.

- ``layer_paths``: every layer of an object with a readable path ("decoder.0.TiedDense").
- ``unlisted_params``: ``Param`` attributes that ``params()`` does not yield. Nothing checks them and no
  optimizer would update them, so the checker reports them (and checks them) instead of passing.
- ``watch_overwrites``: during one backward pass of a whole model, each layer's backward is run a second
  time from a shifted gradient; a layer that writes ``W.grad = ...`` instead of adding is named, even
  when it runs first onto a zeroed gradient (a tied decoder does).
- ``StudentException`` / ``locate``: an exception raised inside the checked object's code, with the
  file and line of the student's code where it happened. ``NotImplementedError`` is let through: it
  means a method is not written yet (a YOUR CODE HERE blank, the base Layer's backward), and there
  is nothing to check; callers (the exercises, the command line) say so themselves.

Only the contract is used: forward, backward, params(), children(), Param.value/.grad/.name.
"""

from __future__ import annotations

import os
import sys
import traceback
from contextlib import contextmanager

import numpy as np

from tinyae import backend
from tinyae.gradcheck.report import CaughtException

_CHECKER_DIR = os.path.dirname(os.path.abspath(__file__))  # tinyae/gradcheck/: the checker's own frames
_TINYAE_DIR = os.path.dirname(_CHECKER_DIR)  # tinyae/: library frames, not the student's
_LIBRARY_DIRS = tuple({os.path.dirname(os.__file__), os.path.dirname(np.__file__), sys.prefix, sys.base_prefix})


def _is_param(obj) -> bool:
    return all(hasattr(obj, a) for a in ("value", "grad", "name")) and hasattr(obj.value, "shape")


def children_of(obj):
    return tuple(obj.children()) if hasattr(obj, "children") else ()


def layer_paths(root):
    """(path, layer) for ``root`` ("" ) and every layer under it, in forward order.

    A Sequential's layers are "i.ClassName" (as its ``named_params`` labels them); other children are
    named by the attribute that holds them ("encoder", "decoder").
    """
    out = []

    def visit(obj, path):
        out.append((path, obj))
        kids = children_of(obj)
        listed = getattr(obj, "layers", None)
        attrs = {id(v): k for k, v in vars(obj).items()} if hasattr(obj, "__dict__") else {}
        for i, child in enumerate(kids):
            if isinstance(listed, list) and i < len(listed) and listed[i] is child:
                name = f"{i}.{type(child).__name__}"
            else:
                name = attrs.get(id(child), f"{i}.{type(child).__name__}")
            visit(child, f"{path}.{name}" if path else name)

    visit(root, "")
    return out


def _attr_params(layer):
    """(attribute label, Param) for the Params held in ``layer``'s attributes (or lists/dicts of them)."""
    out = []
    for attr, value in (vars(layer).items() if hasattr(layer, "__dict__") else ()):
        items = [(attr, value)]
        if isinstance(value, (list, tuple)):
            items = [(f"{attr}[{i}]", v) for i, v in enumerate(value)]
        elif isinstance(value, dict):
            items = [(f"{attr}[{k!r}]", v) for k, v in value.items()]
        out += [(label, p) for label, p in items if _is_param(p)]
    return out


def layer_params(layer):
    """The Params a layer uses: what its ``params()`` yields, then Param attributes it forgets (each once)."""
    found = {}
    for p in (layer.params() if hasattr(layer, "params") else ()):
        found.setdefault(id(p), p)
    for _, p in _attr_params(layer):
        found.setdefault(id(p), p)
    return list(found.values())


def unlisted_params(root, listed):
    """(label, Param) for every Param held in an attribute of a layer of ``root`` and not in ``listed``.

    An attribute may hold a Param, or a list/tuple/dict of them. ``listed``: the Params ``params()``
    yields (compared by identity).
    """
    seen = {id(p) for p in listed}
    out = []
    for path, layer in layer_paths(root):
        for label, p in _attr_params(layer):
            if id(p) not in seen:
                seen.add(id(p))
                out.append((f"{path}.{label}" if path else label, p))
    return out


def unlisted_message(unlisted) -> str:
    names = ", ".join(label for label, _ in unlisted)
    yields = "; ".join(f"yield self.{label.rsplit('.', 1)[-1]}" for label, _ in unlisted)
    return (f"{names} {'is a Param' if len(unlisted) == 1 else 'are Params'} that params() does not yield: no "
            f"optimizer would ever update {'it' if len(unlisted) == 1 else 'them'}. Yield every Param: "
            f"def params(self): {yields}")


# --------------------------------------------------------------------------------------------------
# Overwrites of a gradient, layer by layer
# --------------------------------------------------------------------------------------------------


def _grad_copy(p):
    return backend.to_numpy(p.grad).astype(np.float64, copy=True)


@contextmanager
def watch_overwrites(root, rng, found: list):
    """While active, every leaf layer with Params (other than ``root`` itself) is watched during backward.

    Each watched call runs the layer's own backward once more, from its gradients shifted by a random K:
    a layer that adds gives back the shift K, one that overwrites loses it. The gradients are put back
    to what the first call left, and its dx is returned, so the pass goes on as if unwatched. Culprits
    are appended to ``found`` as (layer path, [Param names], [paths of other layers using them]).
    """
    paths = layer_paths(root)
    users = {}
    for path, layer in paths:
        if not children_of(layer):
            for p in layer_params(layer):
                users.setdefault(id(p), []).append(path)
    watched = []
    busy = set()

    def watch(path, layer, method_name):
        method = getattr(layer, method_name)

        def watched_call(*args, **kwargs):
            if id(layer) in busy:  # backward_params calling backward: watch the outer call only
                return method(*args, **kwargs)
            busy.add(id(layer))
            try:
                params = layer_params(layer)
                before = [_grad_copy(p) for p in params]
                out = method(*args, **kwargs)
                after = [_grad_copy(p) for p in params]
                shifts = [rng.normal(size=b.shape) for b in before]
                for p, b, k, a in zip(params, before, shifts, after):
                    if p.grad.shape != b.shape or a.shape != b.shape:
                        shifts = None
                        break
                    p.grad[...] = backend.to_device(b + k, backend.device_of(p.value))
                if shifts is not None:
                    try:
                        method(*args, **kwargs)
                        again = [_grad_copy(p) for p in params]
                    except Exception:  # backward cannot run twice: check_layer's own test reports that
                        again = None
                    if again is not None:
                        lost = [p.name for p, a, g, k in zip(params, after, again, shifts)
                                if g.shape != a.shape or not np.allclose(
                                    g - a, k, rtol=0, atol=1e-9 * (1 + np.abs(a).max(initial=0) + np.abs(k).max()))]
                        if lost:
                            shared = sorted({u for p in params if p.name in lost for u in users.get(id(p), [])
                                             if u != path})
                            found.append((path, lost, shared))
                    for p, a in zip(params, after):
                        if p.grad.shape == a.shape:
                            p.grad[...] = backend.to_device(a, backend.device_of(p.value))
                return out
            finally:
                busy.discard(id(layer))

        had = method_name in getattr(layer, "__dict__", {})
        try:
            setattr(layer, method_name, watched_call)
        except (AttributeError, TypeError):  # __slots__ or a read-only attribute: this layer goes unwatched
            return
        watched.append((layer, method_name, had, method))

    for path, layer in paths:
        if layer is root or children_of(layer) or not layer_params(layer):
            continue
        for method_name in ("backward", "backward_params"):
            if callable(getattr(layer, method_name, None)):
                watch(path, layer, method_name)
    try:
        yield found
    finally:
        for layer, method_name, had, method in watched:
            if had:
                setattr(layer, method_name, method)
            else:
                delattr(layer, method_name)


def overwrite_message(path, lost, shared) -> str:
    names = ", ".join(lost)
    grads = " / ".join(f"{n}.grad" for n in lost)
    msg = (f"{path} overwrites the gradient of {names} instead of adding to it: its backward must say "
           f"{grads} += ..., not {grads} = ...")
    if shared:
        msg += (f"; {names} {'is' if len(lost) == 1 else 'are'} shared with {', '.join(shared)}, so the "
                f"gradient of one use is lost")
    return msg


# --------------------------------------------------------------------------------------------------
# Exceptions raised by the checked code
# --------------------------------------------------------------------------------------------------


class StudentException(Exception):
    """Raised inside the checker when the checked object's own code raised; carries the location."""

    def __init__(self, caught: CaughtException):
        super().__init__(str(caught))
        self.caught = caught


def _is_library(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_LIBRARY_DIRS) or "site-packages" in path or filename.startswith("<frozen")


def locate(err: BaseException, during: str) -> CaughtException:
    """Where ``err`` happened: the deepest frame in the student's code (not tinyae's, numpy's or Python's);
    else the deepest frame outside the checker."""
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if not os.path.abspath(f.filename).startswith(_CHECKER_DIR + os.sep)]
    student = [f for f in frames if not _is_library(f.filename)
               and not os.path.abspath(f.filename).startswith(_TINYAE_DIR + os.sep)]
    frame = (student or frames or [None])[-1]
    message = str(err).splitlines()[0] if str(err) else ""
    if frame is None:
        return CaughtException(type(err).__name__, message, during)
    file = frame.filename
    if os.path.isabs(file) and os.path.abspath(file).startswith(os.getcwd() + os.sep):
        file = os.path.relpath(file)  # as the student typed it, relative to where they stand
    return CaughtException(type(err).__name__, message, during, file=file, line=frame.lineno,
                           code=(frame.line or "").strip())


def call(during: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``; an exception from the checked code becomes a StudentException."""
    try:
        return fn(*args, **kwargs)
    except (StudentException, NotImplementedError):  # NotImplementedError: not written yet, nothing to check
        raise
    except Exception as err:
        raise StudentException(locate(err, during)) from err

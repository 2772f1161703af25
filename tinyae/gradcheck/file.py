"""``tinyae gradcheck path/to/file.py:ClassName``: check a student's own layer or loss class from a file.

    tinyae gradcheck my_layers.py:MyDense --args "4, 3"          # constructor arguments (Python literals)
    tinyae gradcheck my_layers.py:MyDense --shape 8,4            # the input batch's shape (batch axis first)
    tinyae gradcheck my_losses.py:MyMSE --json                   # the report as JSON, for graders

The class is built with ``--args`` (default: no arguments), its Params are cast to float64, and it is
checked with ``check_layer`` (a class whose ``backward`` takes ``dy``) or ``check_loss`` (a class whose
``backward()`` takes nothing), ``--kind`` overriding the guess. Inputs: a layer gets a normal batch
pushed 0.1 away from 0 (no ReLU kink within reach); a loss gets one array per argument of its
``forward``, uniform in [0.05, 0.95] (valid probabilities, sigmoid codes and targets). Without
``--shape`` a layer's input shape is guessed from its ``in_features`` or its first weight (a 2-D W of
(in, out) or (out, in), a 4-D kernel of (out, in, kh, kw) on 6x6 images), a loss's is (4, 5).
``:ClassName`` may be left out when the file defines one class with a ``backward``.

Exit status: 0 the check passed, 1 it failed (the report says why), 2 nothing could be checked (no
such file or class, bad options, the constructor raised).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import re
import sys

import numpy as np

from tinyae.gradcheck.check import check_layer, check_loss
from tinyae.gradcheck.compare import named_params
from tinyae.gradcheck.contract import locate, unlisted_params
from tinyae.gradcheck.inputs import away_from_zero


class CannotCheck(Exception):
    """Nothing could be checked; the message is one line saying why and what to do."""


def parse_target(text: str):
    """'path/file.py:Class' -> (path, 'Class'); 'path/file.py' -> (path, None)."""
    path, sep, name = text.rpartition(":")
    if not sep or not path.endswith(".py"):
        path, name = text, None
    if not path.endswith(".py"):
        raise CannotCheck(f"tinyae gradcheck: expected FILE.py or FILE.py:ClassName, got {text!r}")
    if not os.path.isfile(path):
        raise CannotCheck(f"tinyae gradcheck: no file {path!r}")
    return path, name or None


def load_class(path: str, name: str | None):
    """Import ``path`` as a module (its folder on sys.path, so its own imports work) and return the class."""

    module_name = "tinyae_student_" + "".join(c if c.isalnum() else "_" for c in os.path.splitext(path)[0])
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        c = locate(err, "import")
        where = f" at {c.file}:{c.line}" if c.file else ""
        raise CannotCheck(f"tinyae gradcheck: importing {path} raised {c.type}{where}: {c.message}") from err
    finally:
        sys.path.remove(folder)
    classes = {n: obj for n, obj in vars(module).items()
               if inspect.isclass(obj) and obj.__module__ == module_name and callable(getattr(obj, "backward", None))}
    if name is None:
        if len(classes) != 1:
            raise CannotCheck(f"tinyae gradcheck: {path} defines {len(classes)} classes with a backward "
                              f"({', '.join(classes) or 'none'}); name one: {path}:ClassName")
        return next(iter(classes.values()))
    cls = getattr(module, name, None)
    if not inspect.isclass(cls):
        raise CannotCheck(f"tinyae gradcheck: {path} has no class {name!r}; its classes with a backward: "
                          f"{', '.join(classes) or 'none'}")
    return cls


def parse_call_args(text: str | None):
    """'4, 3, seed=1' -> ((4, 3), {'seed': 1}); only Python literals (nothing is evaluated)."""
    if not text:
        return (), {}
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        args = tuple(ast.literal_eval(a) for a in call.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError) as err:
        raise CannotCheck(f"tinyae gradcheck: --args must be Python literals such as \"4, 3, seed=1\", "
                          f"got {text!r}") from err
    return args, kwargs


def parse_shape(text: str | None):
    if text is None:
        return None
    pieces = re.split(r"[,x\s]+", text.strip())
    shape = tuple(int(s) for s in pieces) if all(s.isdigit() for s in pieces) else ()
    if not shape or any(s < 1 for s in shape):
        raise CannotCheck(f"tinyae gradcheck: --shape must be positive integers such as 4,3, got {text!r}")
    return shape


def build(cls, args, kwargs):
    try:
        return cls(*args, **kwargs)
    except Exception as err:
        try:
            signature = f"{cls.__name__}{inspect.signature(cls)}"
        except (TypeError, ValueError):
            signature = cls.__name__
        raise CannotCheck(f"tinyae gradcheck: {cls.__name__}(...) raised {type(err).__name__}: {err}; "
                          f"give its arguments with --args (its signature: {signature})") from err


def kind_of(obj) -> str:
    """'layer' if ``backward`` takes a required argument (dy), else 'loss'."""
    try:
        parameters = inspect.signature(obj.backward).parameters.values()
    except (TypeError, ValueError):
        return "layer"
    required = [p for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                                              p.POSITIONAL_OR_KEYWORD)]
    return "layer" if required else "loss"


def to_float64(obj):
    """Cast every Param of ``obj`` (those params() yields and those it forgets) to float64, in place."""

    listed = named_params(obj)
    for _, p in listed + unlisted_params(obj, [p for _, p in listed]):
        p.value = np.asarray(p.value, dtype=np.float64)
        p.grad = np.zeros_like(p.value)
    return obj


def _forward_inputs(obj) -> int:
    try:
        parameters = inspect.signature(obj.forward).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(1 for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                                             p.POSITIONAL_OR_KEYWORD))


def layer_shape_candidates(layer, batch=4):
    """Input shapes to try, most likely first."""

    width = getattr(layer, "in_features", None)
    out = [(batch, width)] if isinstance(width, int) else []
    for _, p in named_params(layer):
        s = tuple(p.value.shape)
        if len(s) == 2:
            out += [(batch, s[0]), (batch, s[1])]
        elif len(s) == 4:
            out += [(2, s[1], 6, 6), (2, s[0], 6, 6)]
    return list(dict.fromkeys(out + [(batch, 5), (2, 2, 6, 6)]))


def pick_layer_shape(layer, rng):
    """The first candidate shape the layer's forward accepts."""

    tried = []
    for shape in layer_shape_candidates(layer):
        try:
            layer.forward(away_from_zero(rng, shape), training=False)
            return shape
        except Exception as err:  # noqa: BLE001 -- a shape the layer does not take: try the next
            tried.append(f"{shape} ({type(err).__name__})")
    raise CannotCheck(f"tinyae gradcheck: {type(layer).__name__}.forward took none of the input shapes "
                      f"{', '.join(tried)}; give one with --shape, e.g. --shape 4,3")


def check_file(target: str, *, args: str | None = None, shape: str | None = None, kind: str | None = None,
               seed: int = 0, training: bool = False):
    """Build the class named by ``target`` and check it; returns (report, details)."""

    path, name = parse_target(target)
    cls = load_class(path, name)
    obj = to_float64(build(cls, *parse_call_args(args)))
    kind = kind or kind_of(obj)
    wanted = parse_shape(shape)
    rng = np.random.default_rng(seed)
    if kind == "layer":
        wanted = wanted or pick_layer_shape(obj, np.random.default_rng(seed))
        report = check_layer(obj, away_from_zero(rng, wanted), seed=seed, training=training)
        n_inputs = 1
    else:
        wanted = wanted or (4, 5)
        n_inputs = _forward_inputs(obj)
        inputs = [rng.uniform(0.05, 0.95, size=wanted) for _ in range(n_inputs)]
        report = check_loss(obj, *inputs, seed=seed)
    return report, {"target": target, "class": cls.__name__, "kind": kind, "input_shape": list(wanted),
                    "inputs": n_inputs, "args": args or ""}


def run_file(args) -> int:
    """The command line's side: print the report (or JSON), return the exit status."""
    try:
        report, details = check_file(args.target, args=args.args, shape=args.shape, kind=args.kind,
                                     seed=args.seed, training=args.training)
    except CannotCheck as err:
        if args.json:
            print(json.dumps({"target": args.target, "passed": False, "error": str(err)}, indent=2))
        print(err, file=sys.stderr)
        return 2
    except NotImplementedError as err:

        c = locate(err, "")
        where = f" ({c.file}:{c.line})" if c.file else ""
        msg = f"tinyae gradcheck: a method is not written yet{where}: {c.message or 'NotImplementedError'}"
        if args.json:
            print(json.dumps({"target": args.target, "passed": False, "error": msg}, indent=2))
        print(msg, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**details, **report.to_dict()}, indent=2))
    else:
        shape = "x".join(map(str, details["input_shape"]))
        inputs = "" if details["inputs"] == 1 else f" ({details['inputs']} inputs)"
        print(f"{details['class']} from {args.target}, checked as a {details['kind']} on input {shape}{inputs}")
        print(report)
    return 0 if report.passed else 1

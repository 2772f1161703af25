"""Train one autoencoder from the zoo on a dataset and save everything the run produced.

Examples:
  tinyae train --model ae --data digits --epochs 20 --out runs/ae
  tinyae train --model sparse-kl --data mnist --epochs 10 --arg rho=0.05 --arg beta=3 --out runs/kl
  tinyae train --model vae --data digits --epochs 50 --arg latent_dim=2 --patience 5 --out runs/vae
  tinyae train --resume runs/ae/model.npz --epochs 40          # continue a run exactly where it stopped

Datasets: digits (8x8, bundled with scikit-learn, works offline), mnist and fashion-mnist (28x28,
downloaded once into $TINYAE_DATA_DIR or the user's cache directory).

The run directory (--out) receives:
  model.npz      the checkpoint: weights, optimizer state, history, settings (tinyae.io; resumable)
  history.json   per-epoch train/validation loss and each penalty term, epoch times
  history.csv    the same as a table, one row per epoch
  *.png          loss curves and reconstructions (--no-figures skips them)
Then look at it with `tinyae eval DIR/model.npz`.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from tinyae import data, io, viz, zoo
from tinyae.optim import Adam
from tinyae.train import EarlyStopping, HoldCtrlC, TrainingError, evaluate, fit, predict

EPILOG_HEAD = "models (--model):"


def _models_help() -> str:
    """One line per zoo model (from tinyae.zoo.MODELS, the single list of them)."""
    width = max(len(name) for name in zoo.MODELS)
    lines = [EPILOG_HEAD] + [f"  {name:<{width}}  {text}" for name, text in zoo.MODELS.items()]
    return "\n".join(lines)


def _parse_kv(text: str):
    """--arg KEY=VALUE: VALUE is read as JSON (numbers, true/false, lists), else kept as a string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    key = key.strip().replace("-", "_")
    if not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{key!r} is not a valid argument name")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def configure(parser: argparse.ArgumentParser):
    parser.epilog = _models_help()
    what = parser.add_argument_group("what to train")
    what.add_argument("--model", choices=list(zoo.MODELS), metavar="NAME",
                      help="which autoencoder (see the list below); required unless --resume")
    what.add_argument("--data", default="digits", metavar="NAME",
                      help="digits (default, offline), mnist or fashion-mnist")
    what.add_argument("--arg", action="append", type=_parse_kv, default=[], metavar="KEY=VALUE",
                      help="an argument of the zoo builder, e.g. --arg n_hidden=32 --arg noise=gaussian "
                           "(repeatable; VALUE is read as JSON)")
    what.add_argument("--resume", metavar="CHECKPOINT",
                      help="continue the run saved in CHECKPOINT (model, optimizer, history, seed); "
                           "--epochs is then the total, e.g. 40 after a 20-epoch run")
    how = parser.add_argument_group("how to train")
    how.add_argument("--epochs", type=int, default=None,
                     help="epochs in all (default per dataset: digits 100, mnist/fashion-mnist 10)")
    how.add_argument("--batch-size", type=int, default=None,
                     help="samples per step (default per dataset: digits 32, mnist/fashion-mnist 128)")
    how.add_argument("--lr", type=float, default=None,
                     help="Adam's learning rate (default per dataset: digits 1e-2, mnist/fashion-mnist 1e-3)")
    how.add_argument("--seed", type=int, default=None, help="seed of the weights and of the shuffling (default 0)")
    how.add_argument("--patience", type=int, default=0,
                     help="stop when the validation loss has not improved for this many epochs and keep the "
                          "best weights (default 0: off)")
    how.add_argument("--limit", type=int, default=None, metavar="N",
                     help="train on the first N training samples only (quick experiments)")
    how.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    out = parser.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", default=None,
                     help="run directory (default runs/<model>-<data>, or runs/<model>-<data>-2, -3, ... when that "
                          "holds an earlier run; with --resume, the checkpoint's directory). An --out that holds "
                          "a run is refused unless --force")
    out.add_argument("--force", action="store_true",
                     help="overwrite the run already in --out (without it an earlier run is never replaced)")
    out.add_argument("--no-figures", action="store_true", help="do not draw the figures")
    out.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    out.add_argument("--data-dir", metavar="DIR", default=None, help="where MNIST files are cached")


def _fail(message: str) -> int:
    print(f"tinyae train: error: {message}", file=sys.stderr)
    return 2


# Training settings that work on each dataset (used where --epochs/--batch-size/--lr are not given).
# digits: 1294 small images, so small batches and a high rate (the tour's shallow AE reaches a test MSE
# of about 0.010 in 100 epochs with these); the MNIST-likes: 54000 images, larger batches.
DEFAULTS = {
    "digits": {"epochs": 100, "batch_size": 32, "lr": 1e-2},
    "mnist": {"epochs": 10, "batch_size": 128, "lr": 1e-3},
    "fashion-mnist": {"epochs": 10, "batch_size": 128, "lr": 1e-3},
}
RUN_FILES = ("model.npz", "history.json", "history.csv")  # a folder holding one of these holds a run


def _check_settings(args):
    """The first bad argument in one line, or None (checked before any data is read)."""
    for name, low in (("epochs", 1), ("batch_size", 1), ("patience", 0), ("seed", 0), ("limit", 1)):
        value = getattr(args, name)
        if value is not None and value < low:
            return f"--{name.replace('_', '-')} must be >= {low}, got {value}"
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        return f"--lr must be a finite number > 0, got {args.lr}"
    return None


def _check_resume_settings(settings) -> str | None:
    """The "train" settings a checkpoint of `tinyae train` carries (used to continue it), or what is wrong."""
    if not isinstance(settings, dict):
        return f"expected a JSON object, got {type(settings).__name__}"

    def whole(value, low):
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    checks = {"batch_size": (lambda v: whole(v, 1), "an int >= 1"),
              "seed": (lambda v: whole(v, 0), "an int >= 0"),
              "limit": (lambda v: v is None or whole(v, 1), "an int >= 1 or null"),
              "data": (lambda v: isinstance(v, str) and v in data.DATASETS, f"one of {', '.join(data.DATASETS)}"),
              "model": (lambda v: isinstance(v, str), "a model name"),
              "builder_kw": (lambda v: isinstance(v, dict), "a JSON object")}
    for key, (ok, expected) in checks.items():
        if key in settings and not ok(settings[key]):
            return f"{key!r} must be {expected}, got {settings[key]!r}"
    return None


def _check_builder_args(name: str, kw: dict):
    """--arg KEY=VALUE against the zoo builder's signature: a known name, a value of the right kind."""
    builder = zoo.BUILDERS.get(name)
    if builder is None:
        return None
    params = list(inspect.signature(builder).parameters.values())[1:]  # the first is the input size/shape
    known = {p.name: p for p in params if p.name not in ("seed", "dtype")}
    for key, value in kw.items():
        if key in ("seed", "dtype"):
            return f"--arg {key}: give --{key} instead"
        if key not in known:
            return f"--arg {key}: {name!r} takes no argument {key!r}; it takes {', '.join(known)}"
        p = known[key]
        ann = p.annotation if isinstance(p.annotation, str) else ""
        kinds = {"int": "an int", "float": "a number", "str": "a string"}
        base = ann.split("|")[0].strip() if ann else type(p.default).__name__ if p.default is not None else ""
        ok = {"int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool),
              "str": isinstance(value, str),
              "tuple": isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value),
              }.get(base, True)
        if value is None and ("None" in ann or p.default is None):
            ok = True
        if not ok:
            what = kinds.get(base, "a list of ints, e.g. [256,64]" if base == "tuple" else base)
            return f"--arg {key}: expected {what}, got {value!r}"
    return None


def _check_model_size(kw: dict, n_in: int, itemsize: int):
    """A rough look at the sizes in --arg before anything is allocated: the largest weight matrix they can
    make (the two largest sizes, the input's included) against this machine's memory."""
    sizes = [n_in]
    for value in kw.values():
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                sizes.append(v)
    a, b = sorted(sizes)[-2:] if len(sizes) > 1 else (1, sizes[0])
    need = a * b * itemsize
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    if need > memory // 2:
        args = " ".join(f"--arg {k}={json.dumps(v)}" for k, v in kw.items())
        return (f"{args} asks for a weight matrix of about {a * b:.2g} values ({need / 2**30:.0f} GiB), more than "
                f"half of this machine's {memory / 2**30:.0f} GiB; give smaller sizes")
    return None


def _run_dir(args, name: str):
    """(the run folder, a note or None, an error or None), checked before any training.

    An explicit --out that already holds a run is refused unless --force; the default folder
    runs/<model>-<data> gets the next free number instead (runs/ae-digits-2, -3, ...), and says so.
    With --resume the run continues in the checkpoint's folder (its files are the ones being continued).
    """
    if args.resume:
        return (Path(args.out) if args.out else Path(args.resume).parent), None, None
    if args.out:
        out = Path(args.out)
        held = [f for f in RUN_FILES if (out / f).exists()] if out.is_dir() else []
        if held and not args.force:
            return out, None, (f"--out {out} already holds a run ({', '.join(held)}); give another folder, "
                               f"or --force to overwrite it")
        return out, None, None
    base = Path("runs") / f"{name}-{args.data}"
    out, k = base, 1
    while out.exists() and (not out.is_dir() or any((out / f).exists() for f in RUN_FILES)):
        k += 1
        out = base.with_name(f"{base.name}-{k}")
    note = f"{base} holds an earlier run: this one goes to {out}" if k > 1 else None
    return out, note, None


def _writable(out: Path):
    """None if the run folder can be created and written, else why not (one line)."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a folder; give a folder for the run"
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        return f"cannot write the run folder {out}: {err.strerror or err}; give a folder you can write (--out)"
    return None


def run(args) -> int:
    say = (lambda *a: None) if args.quiet else print
    problem = _check_settings(args)
    if problem:
        return _fail(problem)
    if args.data.lower().replace("_", "-") not in data.DATASETS:
        return _fail(f"--data: unknown dataset {args.data!r}; choose one of {', '.join(data.DATASETS)}")

    # -- the model, fresh or from a checkpoint ------------------------------------------------------
    history = optimizer = None
    initial_epoch = 0
    builder_kw = dict(args.arg)
    if args.resume:
        resume = Path(args.resume)
        if resume.is_dir():
            resume = resume / "model.npz"
        try:
            ck = io.load_checkpoint(resume)
        except (io.CheckpointError, FileNotFoundError) as err:
            return _fail(str(err))
        settings = ck.extra.get("train", {})
        problem = _check_resume_settings(settings)
        if problem:
            return _fail(f"{resume}: the saved training settings are damaged: {problem}")
        model, optimizer, history = ck.model, ck.optimizer, ck.history
        initial_epoch = ck.epoch or 0
        name = settings.get("model", "model")
        args.data = settings.get("data", args.data)
        args.seed = int(settings.get("seed", args.seed if args.seed is not None else 0))
        args.batch_size = int(settings.get("batch_size", args.batch_size or DEFAULTS[args.data]["batch_size"]))
        args.limit = settings.get("limit", args.limit)
        builder_kw = settings.get("builder_kw", {})
        args.resume = str(resume)
        if args.epochs is None:
            return _fail(f"the checkpoint has {initial_epoch} epochs done; give --epochs, the total to reach "
                         f"(more than {initial_epoch})")
        if args.epochs <= initial_epoch:
            return _fail(f"the checkpoint has {initial_epoch} epochs done; --epochs counts all epochs, "
                         f"so give more than {initial_epoch}")
    elif args.model is None:
        return _fail("give --model NAME (or --resume CHECKPOINT); `tinyae train --help` lists the models")
    else:
        name = args.model
        problem = _check_builder_args(name, builder_kw)
        if problem:
            return _fail(f"cannot build {name!r}: {problem}")
    key = args.data.lower().replace("_", "-")
    defaults = DEFAULTS[key]
    chosen = []
    for setting in ("epochs", "batch_size", "lr"):
        if getattr(args, setting) is None:
            setattr(args, setting, defaults[setting])
            if not args.resume:  # a resumed run keeps its checkpoint's batch size and optimizer
                chosen.append(f"{setting.replace('_', '-')} {defaults[setting]:g}")
    if args.seed is None:
        args.seed = 0

    out_dir, note, problem = _run_dir(args, name)
    created = not out_dir.exists()
    if not problem:
        problem = _writable(out_dir)
    if problem:
        return _fail(problem)
    if note:
        say(note)
    try:
        return _train_and_save(args, name, builder_kw, out_dir, model if args.resume else None, optimizer, history,
                               initial_epoch, chosen, say)
    finally:
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()  # stopped before saving anything: leave no empty folder behind


def _train_and_save(args, name, builder_kw, out_dir, model, optimizer, history, initial_epoch, chosen, say) -> int:
    key = args.data.lower().replace("_", "-")

    # -- the data: images for conv models, rows for dense ones ----------------------------------------
    try:
        ds = data.load(args.data, data_dir=args.data_dir, flatten=False, dtype=np.dtype(args.dtype),
                       seed=args.seed, limit=args.limit)
    except (ValueError, data.DatasetUnavailableError) as err:
        return _fail(str(err))
    if model is None:
        problem = _check_model_size(builder_kw, int(np.prod(ds.image_shape)), np.dtype(args.dtype).itemsize)
        if problem:
            return _fail(f"cannot build {name!r}: {problem}")
        try:
            model = zoo.build(name, ds.image_shape, seed=args.seed, dtype=np.dtype(args.dtype), **builder_kw)
        except (TypeError, ValueError) as err:
            return _fail(f"cannot build {name!r} with {builder_kw}: {err}")
        except MemoryError:
            return _fail(f"cannot build {name!r} with {builder_kw}: its weights do not fit in memory; "
                         f"give smaller sizes (--arg)")
    shape = tuple(model.input_shape) if model.input_shape is not None else (int(np.prod(ds.image_shape)),)

    def rows(X):
        return X.reshape(len(X), *shape)

    X_train, X_val, X_test = rows(ds.X_train), rows(ds.X_val), rows(ds.X_test)
    if optimizer is None:
        optimizer = Adam(model.params(), lr=args.lr)
    say(f"{name} on {ds!r}")
    if chosen:
        say(f"defaults for {key}: {', '.join(chosen)} (set them with --epochs, --batch-size, --lr)")
    if hasattr(model, "summary"):
        say(model.summary())

    # -- train, then save: a Ctrl-C after fit has returned waits until the run is saved --------------
    early = EarlyStopping(patience=args.patience) if args.patience > 0 and len(X_val) else None
    settings = {"model": name, "data": ds.name, "seed": args.seed, "batch_size": args.batch_size,
                "limit": args.limit, "builder_kw": builder_kw, "image_shape": list(ds.image_shape)}
    extra = {"train": settings, "command": ["tinyae", *sys.argv[1:]]}
    failure = None
    with HoldCtrlC("saving the run") as hold:
        try:
            history = fit(model, X_train, epochs=args.epochs, batch_size=args.batch_size, optimizer=optimizer,
                          validation_data=X_val if len(X_val) else None, seed=args.seed,
                          verbose=0 if args.quiet else 1, early_stopping=early, initial_epoch=initial_epoch,
                          history=history)
        except TrainingError as err:
            failure, history = err, err.history
            settings["diverged"] = str(err).splitlines()[0]
        settings["interrupted"] = bool(history is not None and history.interrupted)
        if failure is not None and (history is None or not len(history)):
            return _fail(str(failure))  # nothing was learned: nothing to save
        ckpt = io.save(out_dir / "model.npz", model, optimizer=optimizer, history=history, extra=extra)
        history.to_json(out_dir / "history.json")
        history.to_csv(out_dir / "history.csv")
    saved = f"saved {ckpt}, {out_dir / 'history.json'}, {out_dir / 'history.csv'}"
    if failure is not None:
        print(f"tinyae train: error: {failure}\n{saved} (the weights named above, after {len(history)} epochs)",
              file=sys.stderr)
        return 1
    if hold.presses:  # Ctrl-C after training had ended: the run is saved, skip the rest
        print(f"{saved}\ninterrupted while saving: the run is saved; skipped the test evaluation and figures",
              file=sys.stderr)
        return 130

    scores = evaluate(model, X_test)
    say(f"test loss {scores['loss']:.5g}  " + "  ".join(f"{k} {v:.5g}" for k, v in scores.items() if k != "loss"))
    figures = [] if args.no_figures else make_figures(out_dir, model, name, ds, X_test, history, say)
    say(saved + "".join(f", {p}" for p in figures))
    if history.interrupted:
        say(f"interrupted: the checkpoint holds the best weights so far; continue with "
            f"`tinyae train --resume {ckpt} --epochs {args.epochs}` (not bit-exact after a mid-epoch stop)")
        return 130
    return 0


def make_figures(out_dir: Path, model, name: str, ds, X_test, history, say=print) -> list:
    """The standard figures of a run, drawn with ``tinyae.viz``: the loss curves and a reconstruction grid.

    A figure that fails is reported and skipped: the trained model is already saved.
    """
    try:
        paths = [out_dir / "loss_curves.png", out_dir / "reconstructions.png"]
        viz.loss_curves(history, title=f"{name}: loss per epoch", path=paths[0])
        n = min(10, len(X_test))
        viz.reconstruction_grid(X_test[:n], {name: predict(model, X_test[:n])}, ds.image_shape, n=n, path=paths[1])
        return paths
    except Exception as err:  # a figure is not worth losing the run over
        say(f"figures skipped: {type(err).__name__}: {err}")
        return []

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
  *.png          loss curves and reconstructions (when tinyae.viz is available; --no-figures skips them)
Then look at it with `tinyae eval DIR/model.npz`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EPILOG_HEAD = "models (--model):"


def _models_help() -> str:
    """One line per zoo model (from tinyae.zoo.MODELS, the single list of them)."""
    from tinyae import zoo

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
    from tinyae import zoo

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
    how.add_argument("--epochs", type=int, default=10, help="epochs in all (default 10)")
    how.add_argument("--batch-size", type=int, default=128, help="samples per step (default 128)")
    how.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default 1e-3)")
    how.add_argument("--seed", type=int, default=0, help="seed of the weights and of the shuffling (default 0)")
    how.add_argument("--patience", type=int, default=0,
                     help="stop when the validation loss has not improved for this many epochs and keep the "
                          "best weights (default 0: off)")
    how.add_argument("--limit", type=int, default=None, metavar="N",
                     help="train on the first N training samples only (quick experiments)")
    how.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    out = parser.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", default=None,
                     help="run directory (default runs/<model>-<data>; with --resume, the checkpoint's directory)")
    out.add_argument("--no-figures", action="store_true", help="do not draw the figures")
    out.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    out.add_argument("--data-dir", metavar="DIR", default=None, help="where MNIST files are cached")


def _fail(message: str) -> int:
    print(f"tinyae train: error: {message}", file=sys.stderr)
    return 2


def run(args) -> int:
    import numpy as np

    from tinyae import data, io, zoo
    from tinyae.optim import Adam
    from tinyae.train import EarlyStopping, TrainingError, evaluate, fit

    say = (lambda *a: None) if args.quiet else print
    for name in ("epochs", "batch_size", "patience"):
        if getattr(args, name) < (0 if name == "patience" else 1):
            return _fail(f"--{name.replace('_', '-')} must be {'>= 0' if name == 'patience' else '>= 1'}")
    if not (args.lr > 0):
        return _fail("--lr must be > 0")

    # -- the model, fresh or from a checkpoint ------------------------------------------------------
    history = optimizer = None
    initial_epoch = 0
    builder_kw = dict(args.arg)
    if args.resume:
        try:
            ck = io.load_checkpoint(args.resume)
        except (io.CheckpointError, FileNotFoundError) as err:
            return _fail(str(err))
        settings = ck.extra.get("train", {})
        model, optimizer, history = ck.model, ck.optimizer, ck.history
        initial_epoch = ck.epoch or 0
        name = settings.get("model", "model")
        args.data = settings.get("data", args.data)
        args.seed = int(settings.get("seed", args.seed))
        args.batch_size = int(settings.get("batch_size", args.batch_size))
        args.limit = settings.get("limit", args.limit)
        builder_kw = settings.get("builder_kw", {})
        out_dir = Path(args.out) if args.out else Path(args.resume).parent
        if args.epochs <= initial_epoch:
            return _fail(f"the checkpoint has {initial_epoch} epochs done; --epochs counts all epochs, "
                         f"so give more than {initial_epoch}")
    elif args.model is None:
        return _fail("give --model NAME (or --resume CHECKPOINT); `tinyae train --help` lists the models")
    else:
        name = args.model
        out_dir = Path(args.out) if args.out else Path("runs") / f"{name}-{args.data}"

    # -- the data: images for conv models, rows for dense ones ----------------------------------------
    try:
        ds = data.load(args.data, data_dir=args.data_dir, flatten=False, dtype=np.dtype(args.dtype),
                       seed=args.seed, limit=args.limit)
    except (ValueError, data.DatasetUnavailableError) as err:
        return _fail(str(err))
    if not args.resume:
        try:
            model = zoo.build(name, ds.image_shape, seed=args.seed, dtype=np.dtype(args.dtype), **builder_kw)
        except (TypeError, ValueError) as err:
            return _fail(f"cannot build {name!r} with {builder_kw}: {err}")
    shape = tuple(model.input_shape) if model.input_shape is not None else (int(np.prod(ds.image_shape)),)

    def rows(X):
        return X.reshape(len(X), *shape)

    X_train, X_val, X_test = rows(ds.X_train), rows(ds.X_val), rows(ds.X_test)
    if optimizer is None:
        optimizer = Adam(model.params(), lr=args.lr)
    say(f"{name} on {ds!r}")
    if hasattr(model, "summary"):
        say(model.summary())

    # -- train ----------------------------------------------------------------------------------------
    early = EarlyStopping(patience=args.patience) if args.patience > 0 and len(X_val) else None
    try:
        history = fit(model, X_train, epochs=args.epochs, batch_size=args.batch_size, optimizer=optimizer,
                      validation_data=X_val if len(X_val) else None, seed=args.seed, verbose=0 if args.quiet else 1,
                      early_stopping=early, initial_epoch=initial_epoch, history=history)
    except TrainingError as err:
        return _fail(str(err))

    # -- save -----------------------------------------------------------------------------------------
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {"model": name, "data": ds.name, "seed": args.seed, "batch_size": args.batch_size,
                "limit": args.limit, "builder_kw": builder_kw, "image_shape": list(ds.image_shape),
                "interrupted": history.interrupted}
    ckpt = io.save(out_dir / "model.npz", model, optimizer=optimizer, history=history,
                   extra={"train": settings, "command": ["tinyae", *sys.argv[1:]]})
    history.to_json(out_dir / "history.json")
    history.to_csv(out_dir / "history.csv")
    scores = evaluate(model, X_test)
    say(f"test loss {scores['loss']:.5g}  " + "  ".join(f"{k} {v:.5g}" for k, v in scores.items() if k != "loss"))
    figures = [] if args.no_figures else make_figures(out_dir, model, name, ds, X_test, history, say)
    say(f"saved {ckpt}, {out_dir / 'history.json'}, {out_dir / 'history.csv'}"
        + "".join(f", {p}" for p in figures))
    if history.interrupted:
        say(f"interrupted: the checkpoint holds the best weights so far; continue with "
            f"`tinyae train --resume {ckpt} --epochs {args.epochs}` (not bit-exact after a mid-epoch stop)")
        return 130
    return 0


def make_figures(out_dir: Path, model, name: str, ds, X_test, history, say=print) -> list:
    """HOOK for the standard figures of a run: drawn by ``tinyae.viz`` when it is available.

    If viz provides ``standard_figures(out_dir, model=..., dataset=..., history=..., name=...)`` it draws
    them all; otherwise the loss curves and a reconstruction grid are drawn here with viz's functions.
    A figure that fails is reported and skipped: the trained model is already saved.
    """
    try:
        from tinyae import viz
    except ImportError:
        return []
    from tinyae.train import predict

    try:
        if hasattr(viz, "standard_figures"):
            return list(viz.standard_figures(out_dir, model=model, dataset=ds, history=history, name=name))
        paths = [out_dir / "loss_curves.png", out_dir / "reconstructions.png"]
        viz.loss_curves(history, title=f"{name}: loss per epoch", path=paths[0])
        n = min(10, len(X_test))
        viz.reconstruction_grid(X_test[:n], {name: predict(model, X_test[:n])}, ds.image_shape, n=n, path=paths[1])
        return paths
    except Exception as err:  # a figure is not worth losing the run over
        say(f"figures skipped: {type(err).__name__}: {err}")
        return []

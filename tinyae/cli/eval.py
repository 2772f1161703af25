"""Evaluate a saved model: its loss, term by term, on the test split of its dataset.

Examples:
  tinyae eval runs/ae/model.npz                      # the dataset the model was trained on, test split
  tinyae eval runs/ae/model.npz --data digits --split val

Besides the model's own loss (reconstruction + penalties, as in training), it prints the mean squared
error of the reconstructions in data space next to a baseline that knows nothing about the input:
predicting the mean training image for every sample. An autoencoder that does not beat it has learned
nothing about individual images.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tinyae import data, io
from tinyae.train import evaluate, predict


def configure(parser):
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a .npz written by `tinyae train` or tinyae.io.save, or the run folder that holds it")
    parser.add_argument("--data", default=None, metavar="NAME",
                        help="dataset (default: the one recorded in the checkpoint, else digits)")
    parser.add_argument("--split", choices=["test", "val", "train"], default="test", help="which split (default test)")
    parser.add_argument("--batch-size", type=int, default=1024, help="samples per batch (memory only)")
    parser.add_argument("--data-dir", metavar="DIR", default=None, help="where MNIST files are cached")


def run(args) -> int:
    if args.batch_size < 1:
        print(f"tinyae eval: error: --batch-size must be >= 1, got {args.batch_size}", file=sys.stderr)
        return 2
    path = Path(args.checkpoint)
    if path.is_dir():  # the run folder `tinyae train` printed
        if not (path / "model.npz").is_file():
            print(f"tinyae eval: error: {path} is a folder without a model.npz; give a checkpoint (.npz) or the "
                  f"folder of a run", file=sys.stderr)
            return 2
        path = path / "model.npz"
    try:
        ck = io.load_checkpoint(path)
    except (io.CheckpointError, FileNotFoundError) as err:
        print(f"tinyae eval: error: {err}", file=sys.stderr)
        return 2
    model = ck.model
    settings = ck.extra.get("train", {}) if isinstance(ck.extra, dict) else {}
    name = args.data or settings.get("data") or "digits"
    dtype = next(model.params()).value.dtype
    try:
        ds = data.load(name, data_dir=args.data_dir, flatten=False, dtype=dtype, seed=int(settings.get("seed", 0)))
    except (ValueError, data.DatasetUnavailableError) as err:
        print(f"tinyae eval: error: {err}", file=sys.stderr)
        return 2
    X = {"test": ds.X_test, "val": ds.X_val, "train": ds.X_train}[args.split]
    if model.input_shape is not None:
        if int(np.prod(model.input_shape)) != int(np.prod(ds.image_shape)):
            print(f"tinyae eval: error: the model takes samples of shape {tuple(model.input_shape)}, but {name!r} "
                  f"has images of shape {ds.image_shape}; give the dataset it was trained on (--data)",
                  file=sys.stderr)
            return 2
        X = X.reshape(len(X), *model.input_shape)
    if len(X) == 0:
        print(f"tinyae eval: error: the {args.split} split of {name!r} is empty", file=sys.stderr)
        return 2

    scores = evaluate(model, X, batch_size=args.batch_size)
    recon = predict(model, X, batch_size=args.batch_size)
    mse = float(((recon.astype(np.float64) - X) ** 2).mean())
    mean_image = ds.X_train.reshape(len(ds.X_train), -1).mean(axis=0, dtype=np.float64)
    baseline = float(((X.reshape(len(X), -1) - mean_image) ** 2).mean())

    trained = f", trained {ck.epoch} epochs" if ck.epoch else ""
    print(f"{path}: {type(model).__name__} ({settings.get('model', 'model')}{trained})")
    print(f"{name} {args.split} split, {len(X)} samples")
    width = max(len(k) for k in scores)
    print(f"  {'loss':<{width}}  {scores['loss']:.6g}   (the training objective)")
    for key, value in scores.items():
        if key != "loss":
            print(f"  {key:<{width}}  {value:.6g}")
    print(f"reconstruction MSE per pixel: {mse:.6g}   (baseline, the mean training image: {baseline:.6g})")
    return 0

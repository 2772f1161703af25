"""Look at a saved model without writing code: the figures of a checkpoint.

Examples:
  tinyae plot runs/vae                      # a run folder (its model.npz) or a checkpoint .npz
  tinyae plot runs/ae/model.npz --out figs --data digits

Draws into --out (default: a `plots` folder beside the checkpoint), each when the model has it:
  reconstructions.png  test images and their reconstructions, with the test MSE
  latent.png           the codes of the test images in 2-D, coloured by label (a 2-D code as it is;
                       a larger one projected by PCA and t-SNE)
  manifold.png         a 2-D VAE: its latent plane decoded on a grid at the prior's quantiles; another
                       flat code of 2 or more dims: decoded over the codes' first two principal directions
  samples.png          a VAE: images decoded from codes drawn from its prior N(0, I)
  filters.png          a dense first layer: each hidden unit's weights drawn as an image
  loss_curves.png      the training history saved in the checkpoint
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tinyae import data, io, viz
from tinyae.models import leaf_layers
from tinyae.train import encode, predict


def configure(parser):
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a run folder or a .npz written by `tinyae train`")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="folder for the figures (default: CHECKPOINT's folder/plots)")
    parser.add_argument("--data", default=None, metavar="NAME",
                        help="dataset of the test images (default: the one recorded in the checkpoint, else digits)")
    parser.add_argument("--n", type=int, default=12, help="images per row of the reconstructions (default 12)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the samples and of t-SNE (default 0)")
    parser.add_argument("--data-dir", metavar="DIR", default=None, help="where MNIST files are cached")


def _fail(message: str) -> int:
    print(f"tinyae plot: error: {message}", file=sys.stderr)
    return 2


def run(args) -> int:
    if args.n < 1:
        return _fail(f"--n must be >= 1, got {args.n}")
    if args.seed < 0:
        return _fail(f"--seed must be >= 0, got {args.seed}")
    path = Path(args.checkpoint)
    if path.is_dir():
        if not (path / "model.npz").is_file():
            return _fail(f"{path} is a folder without a model.npz; give a checkpoint (.npz) or a run folder")
        path = path / "model.npz"
    out = Path(args.out) if args.out else path.parent / "plots"
    if out.exists() and not out.is_dir():
        return _fail(f"--out {out} is a file, not a folder")
    try:
        ck = io.load_checkpoint(path)
    except (io.CheckpointError, FileNotFoundError) as err:
        return _fail(str(err))
    model = ck.model
    settings = ck.extra.get("train", {}) if isinstance(ck.extra.get("train"), dict) else {}
    name = args.data or settings.get("data") or "digits"
    dtype = next(iter(model.params())).value.dtype
    try:
        ds = data.load(name, data_dir=args.data_dir, flatten=False, dtype=dtype, seed=int(settings.get("seed", 0)))
    except (ValueError, data.DatasetUnavailableError) as err:
        return _fail(str(err))
    if model.input_shape is not None and int(np.prod(model.input_shape)) != ds.n_features:
        return _fail(f"the model takes samples of shape {tuple(model.input_shape)}, but {name!r} has images of "
                     f"shape {ds.image_shape}; give the dataset it was trained on (--data)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return _fail(f"cannot create --out {out}: {err.strerror or err}")

    label = settings.get("model") or type(model).__name__
    written = draw(model, ds, out, label=label, history=ck.history, n=args.n, seed=args.seed)
    print(f"{path}: {type(model).__name__} ({label}), {name} test split")
    for file, note in written:
        print(f"  {out / file}" + (f"   ({note})" if note else ""))
    return 0


def draw(model, ds, out: Path, *, label: str, history=None, n: int = 12, seed: int = 0) -> list:
    """Every figure that fits the model; returns [(file name, note)]. A figure that cannot be drawn is
    reported with the reason and skipped (the others are still drawn)."""
    X = ds.X_test
    if model.input_shape is not None:
        X = X.reshape(len(X), *model.input_shape)
    flat_X = X.reshape(len(X), -1)
    is_vae = hasattr(model, "latent_dim") and hasattr(model, "sample")
    written = []

    def figure(file, make, note=""):
        try:
            viz.save(make(), out / file)
            written.append((file, note))
        except Exception as err:  # one figure is not worth the others
            written.append((file, f"skipped: {type(err).__name__}: {err}"))

    def recon():
        R = predict(model, X[:n])
        return viz.reconstruction_grid(flat_X[:n], {label: R.reshape(len(R), -1)}, ds.image_shape, n=n,
                                       title=f"{label}: test images (top) and their reconstructions")

    figure("reconstructions.png", recon)
    codes = encode(model, X)
    codes = codes.reshape(len(codes), -1)
    k = codes.shape[1]
    what = "the means mu" if is_vae else "the codes"
    figure("latent.png", lambda: viz.latent_maps(
        codes, ds.y_test, methods=("raw",) if k == 2 else ("pca", "tsne"), class_names=ds.classes, seed=seed,
        title=f"{label}: {what} of the test images ({k}-D)" + ("" if k == 2 else ", projected to 2-D")))
    flat_code = hasattr(model, "decode") and encode(model, X[:1]).ndim == 2
    if is_vae and model.latent_dim == 2:
        figure("manifold.png", lambda: viz.latent_manifold(model.decode, 2, ds.image_shape, n=15, dtype=codes.dtype,
                                                           title=f"{label}: its latent plane, decoded"))
    elif flat_code and k >= 2:
        figure("manifold.png", lambda: viz.latent_manifold(
            model.decode, k, ds.image_shape, n=15, codes=codes, dtype=codes.dtype,
            title=f"{label}: decoded over its codes' two main directions"))
    if is_vae:
        figure("samples.png", lambda: viz.generation_comparison(
            {f"{label}: z ~ N(0, I), decoded": model.sample(36, seed=seed)}, ds.image_shape,
            title="Samples from the prior"))
    first = next((layer for layer in leaf_layers(model.encoder) if hasattr(layer, "W")), None)
    if first is not None and first.W.value.ndim in (2, 4) and \
            (first.W.value.ndim == 4 or first.W.value.shape[0] == ds.n_features):
        W = first.W.value
        figure("filters.png", lambda: viz.filter_tiles(
            {label: W}, ds.image_shape, active=(ds.X_train.reshape(len(ds.X_train), -1) > 0).mean(axis=0) >= 0.01
            if W.ndim == 2 else None, title=f"{label}: first-layer filters (grey 0, white +, black \u2212)"))
    if history is not None and len(history):
        figure("loss_curves.png", lambda: viz.loss_curves({label: history}), note=f"{len(history)} epochs")
    return written

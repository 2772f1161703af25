"""Figures that show what an autoencoder learned, each readable on its own (title, axis labels, legend).

    fig = reconstruction_grid(X[:10], {"shallow AE": R1, "sparse AE": R2}, image_shape=(1, 8, 8))
    fig = loss_curves(history, path="losses.png")           # total loss and every penalty term, per epoch
    fig = latent_maps(codes, labels)                         # PCA and t-SNE of the codes, coloured by label
    fig = filter_tiles(encoder_W, image_shape=(1, 8, 8))     # first-layer weights as image tiles
    fig = denoising_triptych(noisy, denoised, clean, image_shape)
    fig = generation_comparison({"plain AE": S1, "VAE": S2}, image_shape)
    fig = latent_manifold(vae.decode, latent_dim, image_shape, codes=mu)
    fig = code_histograms({"plain": H0, "sparse KL": H1}, rho=0.05)

Every function returns a ``matplotlib.figure.Figure`` and, when given ``path``, also writes it there
(PNG unless the suffix says otherwise). Figures are built with the object-oriented API
(``matplotlib.figure.Figure``, rendered by the Agg canvas), never through ``pyplot``: nothing is
registered in pyplot's global list of open figures, no window opens, and this works on a machine
without a display. Show one in a notebook by evaluating it (``fig``) or with ``display(fig)``.

Images arrive flat, (N, C*H*W), or as (N, C, H, W), with ``image_shape = (C, H, W)``; C is 1 (grey)
or 3 (RGB). Values are expected in [0, 1] and are clipped to it for display only. Arrays may live on
the GPU: they are brought to the host first.
"""

from __future__ import annotations

import contextlib
import math
import textwrap
from pathlib import Path
from statistics import NormalDist

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from tinyae import backend

GREY = "gray"  # 0 -> black, 1 -> white (MNIST's convention: white strokes on black)
PAD_COLOUR = "#d9d9d9"  # the gaps between image tiles
FILTER_PAD_COLOUR = "#7fb2d9"  # between filter tiles, whose 0 is mid-grey: a colour no weight takes
LABEL_COLOURS = "tab10"


# --------------------------------------------------------------------------------------------------
# Small helpers: host arrays, image tiles, saving
# --------------------------------------------------------------------------------------------------


def new_figure(width: float, height: float) -> Figure:
    """A Figure attached to an Agg canvas (no pyplot, no display needed)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _suptitle(fig: Figure, text: str):
    """The figure's title, wrapped only when its measured width exceeds the figure's, into lines of
    balanced length (a wrap that leaves one word alone on the last line reads as a mistake)."""
    title = fig.suptitle(str(text))
    renderer = fig.canvas.get_renderer()
    room = 0.96 * fig.get_figwidth() * fig.dpi
    lines = []
    for line in str(text).split("\n"):
        title.set_text(line)
        k = math.ceil(title.get_window_extent(renderer).width / room)
        if k <= 1:
            lines.append(line)
            continue
        chars = math.ceil(len(line) / k)
        wrapped = textwrap.wrap(line, chars)
        while len(wrapped) > k:  # word boundaries made one line more: widen until it is k lines
            chars += 1
            wrapped = textwrap.wrap(line, chars)
        lines.extend(wrapped)
    title.set_text("\n".join(lines))
    return title


def save(fig: Figure, path=None, dpi: int = 100) -> Figure:
    """Write ``fig`` to ``path`` (parent folders are created) and return it; ``path=None`` only returns it."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    return fig


def _host(x, where: str) -> np.ndarray:
    """A NumPy float64 copy of ``x`` (NumPy or CuPy array, or array-like)."""
    x = backend.to_numpy(x) if backend.is_cupy_array(x) else np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"tinyae.viz.{where}: expected numbers, got an array of dtype {x.dtype}")
    return x.astype(np.float64)


def _check_image_shape(image_shape, where: str) -> tuple:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise ValueError(f"tinyae.viz.{where}: image_shape must be (C, H, W) with C = 1 or 3, got {image_shape!r}")
    return shape


def as_images(X, image_shape, where: str = "as_images") -> np.ndarray:
    """``X`` of shape (N, C*H*W) or (N, C, H, W) as a host array (N, C, H, W) clipped to [0, 1]."""
    shape = _check_image_shape(image_shape, where)
    X = _host(X, where)
    if X.ndim < 2 or math.prod(X.shape[1:]) != math.prod(shape):
        raise ValueError(
            f"tinyae.viz.{where}: expected images of shape (N, {math.prod(shape)}) or "
            f"(N, {', '.join(map(str, shape))}) for image_shape {shape}, got {tuple(X.shape)}"
        )
    return np.clip(X.reshape(len(X), *shape), 0.0, 1.0)


def tile_images(images: np.ndarray, ncols: int, pad: int = 1) -> np.ndarray:
    """Lay (N, C, H, W) images on a grid with ``ncols`` columns, ``pad`` pixels apart.

    Returns (rows*(H+pad)-pad, ncols*(W+pad)-pad) for grey images or the same with a last axis of 3 for
    RGB. Gaps and empty cells hold NaN, which ``imshow`` paints in the colour map's "bad" colour.
    """
    n, c, h, w = images.shape
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    canvas = np.full((c, nrows * (h + pad) - pad, ncols * (w + pad) - pad), np.nan)
    for i in range(n):
        r, q = divmod(i, ncols)
        top, left = r * (h + pad), q * (w + pad)
        canvas[:, top:top + h, left:left + w] = images[i]
    return canvas[0] if c == 1 else np.moveaxis(canvas, 0, -1)  # (H', W') or (H', W', 3)


def _show_tiles(ax, tiles: np.ndarray, vmin=0.0, vmax=1.0, cmap=GREY, pad_colour=PAD_COLOUR):
    """imshow a tiled canvas without ticks; NaN gaps shown in ``pad_colour``."""
    from matplotlib import colormaps

    if tiles.ndim == 3:  # RGB: NaN gaps -> a light grey
        tiles = np.where(np.isnan(tiles), 0.85, tiles)
        img = ax.imshow(tiles, interpolation="nearest")
    else:
        cm = colormaps[cmap].with_extremes(bad=pad_colour)
        img = ax.imshow(np.ma.masked_invalid(tiles), cmap=cm, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    return img


def grid_columns(n: int) -> int:
    """Columns for n tiles: a divisor of n near sqrt(n) (64 -> 8, 32 -> 8, 36 -> 6), else ceil(sqrt(n))."""
    root = math.sqrt(n)
    for cols in range(math.ceil(root), int(2 * root) + 1):
        if n % cols == 0:
            return cols
    return max(1, math.ceil(root))


@contextlib.contextmanager
def _one_thread():
    """Run the block with BLAS and OpenMP limited to one thread (threadpoolctl comes with scikit-learn).

    scikit-learn's Barnes-Hut t-SNE loops with OpenMP; on the few hundred points plotted here a second
    thread gains little, and on a loaded 2-core machine spinning threads made it 2-20x slower.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with scikit-learn
        yield
        return
    with threadpool_limits(limits=1):
        yield


def _as_dict(value, default_label: str) -> dict:
    """A single array (or history) becomes {default_label: value}; a dict is kept in its order."""
    return dict(value) if isinstance(value, dict) else {default_label: value}


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a - b) ** 2))


# --------------------------------------------------------------------------------------------------
# Reconstructions
# --------------------------------------------------------------------------------------------------


def image_rows(rows: dict, image_shape, *, n: int = 10, title: str = "", notes: dict | None = None,
               path=None) -> Figure:
    """One row of ``n`` images per entry of ``rows`` ({label: images}), the label (and its note) on the left."""
    shape = _check_image_shape(image_shape, "image_rows")
    if not rows:
        raise ValueError("tinyae.viz.image_rows: no rows to draw")
    notes = notes or {}
    h, w = shape[1:]
    fig = new_figure(width=2.0 + 0.7 * n * w / h, height=0.85 * len(rows) + 0.6)
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (label, X) in zip(axes, rows.items()):
        images = as_images(X, shape, "image_rows")[:n]
        _show_tiles(ax, tile_images(images, ncols=n))
        text = label if label not in notes else f"{label}\n{notes[label]}"
        ax.set_ylabel(text, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        _suptitle(fig, title)
    return save(fig, path)


def reconstruction_grid(original, reconstructions, image_shape, *, n: int = 10, title: str | None = None,
                        path=None) -> Figure:
    """Originals on top, then one row of reconstructions per model, each row labelled with its test MSE.

    original        -- (N, D) or (N, C, H, W) images; the first ``n`` are shown
    reconstructions -- an array like ``original`` or a dict {model name: array}, aligned with ``original``
    The MSE printed under each name is the mean over the shown images and pixels.
    """
    reconstructions = _as_dict(reconstructions, "reconstruction")
    shape = _check_image_shape(image_shape, "reconstruction_grid")
    X = as_images(original, shape, "reconstruction_grid")[:n]
    rows, notes = {"original": X}, {}
    for label, R in reconstructions.items():
        R = as_images(R, shape, "reconstruction_grid")[: len(X)]
        if len(R) < len(X):
            raise ValueError(f"tinyae.viz.reconstruction_grid: {label!r} has {len(R)} images, expected {len(X)}")
        rows[label] = R
        notes[label] = f"MSE {_mse(R, X):.4f}"
    title = title or f"Originals (top) and their reconstructions ({len(X)} test images)"
    return image_rows(rows, shape, n=n, title=title, notes=notes, path=path)


def denoising_triptych(noisy, denoised, clean, image_shape, *, n: int = 10, noise: str = "noisy input",
                       title: str | None = None, path=None) -> Figure:
    """Three rows: the corrupted input, the autoencoder's output for it, and the clean image it should give.

    The MSE against the clean images is printed for the noisy and the denoised rows, so the figure says
    by how much the model removed the noise. ``noise`` names the corruption (e.g. "Gaussian noise, std 0.3").
    ``noisy`` and ``denoised`` may also be dicts {corruption: array} to stack several corruptions.
    """
    shape = _check_image_shape(image_shape, "denoising_triptych")
    C = as_images(clean, shape, "denoising_triptych")[:n]
    noisy, denoised = _as_dict(noisy, noise), _as_dict(denoised, noise)
    if list(noisy) != list(denoised):
        raise ValueError("tinyae.viz.denoising_triptych: noisy and denoised must name the same corruptions")
    rows, notes = {}, {}
    for key in noisy:
        Xn = as_images(noisy[key], shape, "denoising_triptych")[: len(C)]
        Xd = as_images(denoised[key], shape, "denoising_triptych")[: len(C)]
        rows[f"input: {key}"], notes[f"input: {key}"] = Xn, f"MSE to clean {_mse(Xn, C):.4f}"
        rows[f"denoised ({key})"], notes[f"denoised ({key})"] = Xd, f"MSE to clean {_mse(Xd, C):.4f}"
    rows["clean target"] = C
    title = title or "Denoising: corrupted input, the autoencoder's output, the clean image"
    return image_rows(rows, shape, n=n, title=title, notes=notes, path=path)


# --------------------------------------------------------------------------------------------------
# Training curves
# --------------------------------------------------------------------------------------------------


def history_series(history) -> dict:
    """The per-epoch series of a training history as {name: list of floats}.

    Accepts ``tinyae.train.History`` (anything with a ``history`` dict or an ``as_dict()``) or a plain
    dict {name: sequence}. Names that begin with ``val_`` are the validation twins of the others.
    """
    if isinstance(history, dict):
        data = history
    elif hasattr(history, "as_dict"):
        data = history.as_dict()
    elif hasattr(history, "history"):
        data = history.history
    else:
        raise TypeError(f"tinyae.viz.loss_curves: expected a History or a dict of series, got {type(history).__name__}")
    out = {}
    for name, values in data.items():
        values = list(values) if not np.isscalar(values) else None
        if values and all(isinstance(v, (int, float, np.floating, np.integer)) for v in values):
            out[str(name)] = [float(v) for v in values]
    if not out:
        raise ValueError("tinyae.viz.loss_curves: the history holds no per-epoch series")
    return out


def _plot_history(ax, series: dict, label: str):
    """Total loss (thick) and each term (thin), train solid and validation dashed, on one axis."""
    from matplotlib import colormaps

    train = [k for k in series if not k.startswith("val_")]
    terms = [k for k in train if k != "loss"]
    if "loss" in train and len(terms) == 1:
        terms = []  # a single term IS the total: drawing it again only hides the total's line
    names = (["loss"] if "loss" in train else []) + terms
    extra_val = [k for k in series if k.startswith("val_") and k[4:] not in series]
    colours = colormaps["tab10"].colors
    positive = True
    for i, name in enumerate(names + extra_val):
        colour = colours[i % len(colours)]
        width = 2.2 if name == "loss" else 1.3
        ys = series[name]
        epochs = np.arange(1, len(ys) + 1)
        shown = "total loss" if name == "loss" else name.replace("_", " ")
        ax.plot(epochs, ys, color=colour, lw=width, label=f"{shown} (train)", marker="o" if len(ys) < 3 else None)
        positive &= min(ys) > 0
        val = series.get(f"val_{name}")
        if val:
            ax.plot(np.arange(1, len(val) + 1), val, color=colour, lw=width, ls="--", label=f"{shown} (val)")
            positive &= min(val) > 0
    if positive:
        ax.set_yscale("log")  # the terms differ by orders of magnitude; log keeps all of them readable
        _plain_log_labels(ax)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss" + (" (log scale)" if positive else ""))
    ax.set_title(label)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2 if len(ax.get_lines()) > 4 else 1, framealpha=0.8)


def _plain_log_labels(ax):
    """Label a log y axis with plain numbers (0.02, not 2 x 10^-2), minor ticks only when the range is short."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))

    def minor(v, _):
        lo, hi = ax.get_ylim()
        decades = math.log10(hi / lo) if lo > 0 and hi > lo else 99.0
        lead = round(v / 10 ** math.floor(math.log10(v))) if v > 0 else 0
        # enough labels that every panel has at least three: all of them on a short range, 2/3/5 up to two
        # decades, 2 and 5 up to three (a range of 1.2..40 would otherwise show one label, "10")
        if decades < 0.7 or (decades < 2.2 and lead in (2, 3, 5)) or (decades < 3.2 and lead in (2, 5)):
            return f"{v:g}"
        return ""

    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def loss_curves(history, *, title: str | None = None, path=None) -> Figure:
    """Training (solid) and validation (dashed) loss per epoch, with each penalty term as its own curve.

    history -- one History (or dict of series) or a dict {model name: history}, one panel per model.
    The y axis is logarithmic when every value is positive, so a small penalty stays visible next to
    the reconstruction term.
    """
    if isinstance(history, dict) and history and all(not isinstance(v, (list, tuple, np.ndarray))
                                                      for v in history.values()):
        panels = {k: history_series(v) for k, v in history.items()}
    else:
        panels = {"training": history_series(history)}
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = new_figure(4.6 * ncols, 3.4 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (label, series) in zip(axes, panels.items()):
        _plot_history(ax, series, label)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    _suptitle(fig, title or "Loss per epoch: total and each term (train solid, validation dashed)")
    return save(fig, path)


# --------------------------------------------------------------------------------------------------
# Latent space
# --------------------------------------------------------------------------------------------------


def embed_2d(codes, method: str = "pca", *, seed: int = 0):
    """Project codes (N, K) to 2-D with "pca" or "tsne" (scikit-learn), or take the first two coordinates
    as they are ("raw", for a 2-D latent space); returns (points (N, 2), axis names)."""
    Z = _host(codes, "embed_2d").reshape(len(codes), -1)
    if method == "raw":
        if Z.shape[1] < 2:
            raise ValueError(f"tinyae.viz.embed_2d: 'raw' needs codes of at least 2 dims, got {Z.shape[1]}")
        return Z[:, :2], ("z1", "z2")
    if method == "pca":
        if Z.shape[1] == 1:
            return np.column_stack([Z[:, 0], np.zeros(len(Z))]), ("code", "")
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed)
        P = pca.fit_transform(Z)
        ratio = pca.explained_variance_ratio_
        return P, (f"PC 1 ({ratio[0]:.0%} of variance)", f"PC 2 ({ratio[1]:.0%} of variance)")
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (len(Z) - 1) / 3)))  # t-SNE needs perplexity < N
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=500)
        with _one_thread():  # small N: threads cost more than they give (and crawl on a busy machine)
            P = tsne.fit_transform(Z)
        return P, ("t-SNE 1", "t-SNE 2")
    raise ValueError(f"tinyae.viz.embed_2d: method must be 'pca', 'tsne' or 'raw', got {method!r}")


PANEL_TITLES = {"pca": "PCA of the codes", "tsne": "t-SNE of the codes", "raw": "first two coordinates, as they are"}


def latent_maps(codes, labels, *, methods=("pca", "tsne"), class_names=None, max_points: int = 1500, seed: int = 0,
                title: str | None = None, path=None) -> Figure:
    """The codes projected to 2-D (one panel per method), each point coloured by its label, with a legend.

    codes  -- (N, K) codes (for a VAE: the means mu); labels -- (N,) integer labels
    max_points -- a random subset of this many points is shown (t-SNE is O(N^2) in memory)
    PCA shows the linear structure (axes carry their share of variance); t-SNE keeps neighbourhoods,
    so its clusters are meaningful but distances between clusters and the axes are not; "raw" plots
    the first two code coordinates themselves (the natural view of a 2-D latent space).
    """
    from matplotlib import colormaps

    Z = _host(codes, "latent_maps")
    y = np.asarray(backend.to_numpy(labels) if backend.is_cupy_array(labels) else labels).astype(np.int64)
    if Z.ndim != 2 or len(y) != len(Z):
        raise ValueError(f"tinyae.viz.latent_maps: expected codes (N, K) and labels (N,), got {Z.shape} and {y.shape}")
    if len(Z) > max_points:
        keep = np.sort(backend.make_rng(seed).permutation(len(Z))[:max_points])
        Z, y = Z[keep], y[keep]
    classes = np.unique(y)
    colours = colormaps[LABEL_COLOURS if len(classes) <= 10 else "tab20"]
    fig = new_figure(4.4 * len(methods) + 1.2, 4.2)
    axes = fig.subplots(1, len(methods), squeeze=False)[0]
    for ax, method in zip(axes, methods):
        P, (xlabel, ylabel) = embed_2d(Z, method, seed=seed)
        for j, c in enumerate(classes):
            m = y == c
            name = class_names[c] if class_names is not None else str(c)
            ax.scatter(P[m, 0], P[m, 1], s=7, alpha=0.75, color=colours(j % colours.N), label=name, linewidths=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(PANEL_TITLES[method])
    axes[-1].legend(title="label", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=2.5,
                    frameon=False)
    _suptitle(fig, title or f"Latent codes ({Z.shape[1]}-D, {len(Z)} points) projected to 2-D, coloured by label")
    return save(fig, path)


# --------------------------------------------------------------------------------------------------
# Filters and code statistics
# --------------------------------------------------------------------------------------------------


def _filters_as_images(weights, image_shape):
    """First-layer weights as (K, C, H, W): dense W (D, K) -> W.T reshaped; conv W (K, C, KH, KW) as it is."""
    W = _host(weights, "filter_tiles")
    if W.ndim == 4:
        return W
    if W.ndim == 2:
        if image_shape is None:
            raise ValueError("tinyae.viz.filter_tiles: a dense weight matrix needs image_shape=(C, H, W)")
        shape = _check_image_shape(image_shape, "filter_tiles")
        if W.shape[0] != math.prod(shape):
            raise ValueError(
                f"tinyae.viz.filter_tiles: a first-layer dense W must be (C*H*W, units) = ({math.prod(shape)}, K) "
                f"for image_shape {shape}, got {W.shape}"
            )
        return W.T.reshape(W.shape[1], *shape)  # (K, D) -> (K, C, H, W): unit k's incoming weights
    raise ValueError(f"tinyae.viz.filter_tiles: expected a 2-D dense or 4-D conv weight, got shape {W.shape}")


def filter_tiles(weights, image_shape=None, *, n: int = 64, title: str | None = None, active=None,
                 path=None) -> Figure:
    """First-layer filters as image tiles: each hidden unit's incoming weights drawn as an image.

    weights -- a dense encoder's W of shape (C*H*W, K) (tinyae's Dense stores (in, out)), a conv W
               (K, C, KH, KW), or a dict {model name: W} for panels side by side
    active  -- optional: which input pixels the data uses (a boolean array of C*H*W or (C, H, W), e.g.
               ``(X_train > 0).mean(axis=0) >= 0.01``, the pixels inked in at least 1% of the images). The
               weights of the others (the digits' border pixels, almost always 0) get almost no gradient
               and keep their random start: they are drawn grey (0) and left out of each tile's scale.
    Each tile is scaled on its own by a robust range, the 95th percentile of its |w|, and clipped, so
    mid-grey is 0, white positive, black negative: the picture shows each filter's pattern, not its size,
    and a few large weights cannot turn the rest of the tile into one grey. Multi-channel conv filters
    show their channel mean (RGB when C = 3).
    """
    panels = {label: _filters_as_images(W, image_shape)[:n] for label, W in _as_dict(weights, "first layer").items()}
    if active is not None:
        active = np.asarray(_host(active, "filter_tiles"), dtype=bool)
        for label, F in panels.items():
            if active.size != math.prod(F.shape[1:]):
                raise ValueError(f"tinyae.viz.filter_tiles: active has {active.size} pixels, the {label!r} "
                                 f"filters have {math.prod(F.shape[1:])}")
            panels[label] = F * active.reshape(F.shape[1:])
    first = next(iter(panels.values()))
    cols = grid_columns(len(first))
    rows = math.ceil(len(first) / cols)
    aspect = rows * first.shape[2] / (cols * first.shape[3])  # height / width of the tiled panel
    fig = new_figure(3.6 * len(panels) + 0.4, 3.6 * aspect + 0.8)  # no empty bands above and below the tiles
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (label, F) in zip(axes, panels.items()):
        if F.shape[1] not in (1, 3):
            F = F.mean(axis=1, keepdims=True)
        flat = np.abs(F).reshape(len(F), -1)
        if active is not None and active.size == flat.shape[1]:
            flat = flat[:, active.ravel()]
        scale = np.percentile(flat, 95, axis=1) if flat.shape[1] else np.zeros(len(F))
        F = np.clip(F / np.where(scale > 0, scale, 1.0)[:, None, None, None], -1, 1)
        F = 0.5 + 0.5 * F  # each in [0, 1], 0 -> 0.5
        _show_tiles(ax, tile_images(F, ncols=grid_columns(len(F))), pad_colour=FILTER_PAD_COLOUR)
        ax.set_title(f"{label}: {len(F)} filters {F.shape[2]}x{F.shape[3]}", fontsize=10)
    _suptitle(fig, title or "First-layer filters (each tile scaled alone: grey 0, white +, black \u2212)")
    return save(fig, path)


def code_histograms(codes, *, rho: float | None = None, bins: int = 40, title: str | None = None,
                    path=None) -> Figure:
    """How active the code units are: all activations (left) and each unit's mean activation (right).

    codes -- (N, K) codes of a batch, or a dict {model name: codes} to overlay several models
    rho   -- the sparsity target of a KL-sparse model, drawn as a vertical line on the right panel
    A sparse code piles up near 0 on the left (log counts), and its per-unit means sit near rho.
    """
    from matplotlib import colormaps

    panels = {k: _host(v, "code_histograms").reshape(len(v), -1) for k, v in _as_dict(codes, "codes").items()}
    colours = colormaps["tab10"].colors
    fig = new_figure(10.0, 3.8)
    ax_all, ax_mean = fig.subplots(1, 2)
    lo = min(float(H.min()) for H in panels.values())
    hi = max(float(H.max()) for H in panels.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    for i, (label, H) in enumerate(panels.items()):
        colour = colours[i % len(colours)]
        ax_all.hist(H.ravel(), bins=edges, histtype="step", lw=1.6, color=colour,
                    label=f"{label}: mean {H.mean():.3f}", density=True)
        ax_mean.hist(H.mean(axis=0), bins=edges, histtype="stepfilled", alpha=0.45, color=colour,
                     label=f"{label}: {H.shape[1]} units")
    ax_all.set_yscale("log")
    ax_all.set_xlabel("activation h[n, j]")
    ax_all.set_ylabel("density (log scale)")
    ax_all.set_title("All code activations")
    ax_mean.set_xlabel("mean activation of a unit over the batch")
    ax_mean.set_ylabel("number of units")
    ax_mean.set_title("Per-unit mean activation")
    if rho is not None:
        ax_mean.axvline(rho, color="black", ls="--", lw=1.2, label=f"target rho = {rho:g}")
    for ax in (ax_all, ax_mean):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _suptitle(fig, title or "Code activations")
    return save(fig, path)


# --------------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------------


def gaussian_codes(codes, n: int, *, seed=None) -> np.ndarray:
    """``n`` codes drawn from the Gaussian fitted to ``codes`` (N, K): N(mean, covariance) of the codes.

    This is the natural way to "sample" a plain autoencoder: it has no prior, so one fits a density to
    the codes of the training set and decodes draws from it. The draws land wherever the Gaussian puts
    mass, including the holes between the clusters the encoder actually uses.
    """
    Z = _host(codes, "gaussian_codes").reshape(len(codes), -1)
    mean = Z.mean(axis=0)
    cov = np.cov(Z, rowvar=False).reshape(Z.shape[1], Z.shape[1]) + 1e-6 * np.eye(Z.shape[1])
    return backend.make_rng(seed).multivariate_normal(mean, cov, size=n, method="eigh")


def generation_comparison(samples, image_shape, *, n: int = 36, title: str | None = None, path=None) -> Figure:
    """Generated images side by side, one square panel per generator.

    samples -- a dict {caption: images (M, D) or (M, C, H, W)}; the first ``n`` of each are shown.
    Typical use: {"plain AE: z ~ Gaussian fitted to its codes": ..., "VAE: z ~ N(0, I)": ...}.
    """
    panels = _as_dict(samples, "samples")
    shape = _check_image_shape(image_shape, "generation_comparison")
    fig = new_figure(3.6 * len(panels) + 0.4, 4.1)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (label, S) in zip(axes, panels.items()):
        images = as_images(S, shape, "generation_comparison")[:n]
        _show_tiles(ax, tile_images(images, ncols=grid_columns(len(images))))
        ax.set_title(label, fontsize=9)
    _suptitle(fig, title or "Decoded samples: is the model a generator?")
    return save(fig, path)


def manifold_codes(latent_dim: int, n: int = 15, *, codes=None, span: float = 2.0):
    """The (n*n, latent_dim) grid of codes that ``latent_manifold`` decodes, and a description of it.

    without codes -- the prior's inverse-CDF grid over the first two latent axes (the others at 0):
                     z_i = Phi^-1(u_i) with u evenly spaced in (0.05, 0.95), so each cell holds equal
                     mass of N(0, 1) (Kingma & Welling's figure). Meant for a VAE, whose prior is N(0, I).
    with codes    -- (e.g. the encoder's codes or means of real data): a grid over the codes' first two
                     principal directions, from -span to +span standard deviations along each, all other
                     directions held at the codes' mean. Works for any code, a plain AE's included, whose
                     codes follow no known prior; for a 2-D code it covers the codes' own spread.
    Rows run from the top (high second coordinate) down, columns left to right.
    """
    if latent_dim < 2:
        raise ValueError(f"tinyae.viz.manifold_codes: need a latent space of at least 2 dims, got {latent_dim}")
    if codes is None:
        u = np.linspace(0.05, 0.95, n)
        inv_cdf = np.array([NormalDist().inv_cdf(p) for p in u])
        a, b = np.meshgrid(inv_cdf, inv_cdf[::-1])  # row 0 = largest z_2
        Z = np.zeros((n * n, latent_dim))
        Z[:, 0], Z[:, 1] = a.ravel(), b.ravel()
        which = "z1, z2" if latent_dim == 2 else f"z1, z2 (the other {latent_dim - 2} at 0)"
        return Z, f"grid over {which} at prior N(0, 1) quantiles 5%..95%"
    C = _host(codes, "manifold_codes").reshape(len(codes), -1)
    if C.shape[1] != latent_dim:
        raise ValueError(f"tinyae.viz.manifold_codes: codes have {C.shape[1]} dims, expected {latent_dim}")
    mean = C.mean(axis=0)
    _, s, Vt = np.linalg.svd(C - mean, full_matrices=False)
    std = s[:2] / math.sqrt(max(len(C) - 1, 1))  # the codes' standard deviation along PC 1 and PC 2
    t = np.linspace(-span, span, n)
    a, b = np.meshgrid(t, t[::-1])
    Z = mean + (a.ravel()[:, None] * std[0]) * Vt[0] + (b.ravel()[:, None] * std[1]) * Vt[1]
    rest = ", other directions at the mean" if latent_dim > 2 else ""
    return Z, f"grid over the codes' PC 1 and PC 2, -{span:g}..+{span:g} std{rest}"


def latent_manifold(decode, latent_dim: int, image_shape, *, n: int = 15, codes=None, span: float = 2.0,
                    dtype=np.float32, title: str | None = None, path=None) -> Figure:
    """Decode an n x n grid of latent codes into one picture of the learned manifold.

    decode -- a function codes (M, latent_dim) -> images (M, D), e.g. ``vae.decode``
    See ``manifold_codes`` for how the grid is laid out: without ``codes``, the prior's quantiles on
    the first two latent axes (for a VAE); with ``codes``, the codes' first two principal directions.
    """
    shape = _check_image_shape(image_shape, "latent_manifold")
    Z, how = manifold_codes(latent_dim, n, codes=codes, span=span)
    images = as_images(decode(Z.astype(dtype)), shape, "latent_manifold")
    fig = new_figure(6.0, 6.3)
    ax = fig.subplots()
    _show_tiles(ax, tile_images(images, ncols=n))
    # the axes read in code units: each tile's z1 (columns) and z2 (rows, top = largest)
    h, w = images.shape[2:]
    every = max(1, n // 5)
    picks = list(range(0, n, every))
    if codes is None:
        xs, ys = Z[:n, 0], Z[::n, 1]
        xlabel, ylabel = "z1", "z2"
    else:
        xs = ys = np.linspace(-span, span, n)
        ys = ys[::-1]
        xlabel, ylabel = "PC 1 of the codes (in std)", "PC 2 of the codes (in std)"
    ax.set_xticks([j * (w + 1) + (w - 1) / 2 for j in picks], [f"{xs[j]:.2g}" for j in picks])
    ax.set_yticks([i * (h + 1) + (h - 1) / 2 for i in picks], [f"{ys[i]:.2g}" for i in picks])
    ax.tick_params(length=2, labelsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(how, fontsize=9)
    _suptitle(fig, title or f"Decoder output over a {n}x{n} grid of {latent_dim}-D codes")
    return save(fig, path)


# --------------------------------------------------------------------------------------------------
# Comparisons and scores
# --------------------------------------------------------------------------------------------------


def compare_curves(x, series: dict, *, xlabel: str, ylabel: str, title: str, log_y: bool = False,
                   reference: dict | None = None, path=None) -> Figure:
    """One line per method of a metric against a setting, e.g. test MSE against code size.

    x         -- the settings (shared by every series)
    series    -- {method name: values, one per x}
    reference -- {name: value} drawn as dashed horizontal lines (e.g. the accuracy on raw pixels)
    """
    x = list(x)
    fig = new_figure(5.6, 3.8)
    ax = fig.subplots()
    for label, ys in series.items():
        ys = _host(ys, "compare_curves")
        if len(ys) != len(x):
            raise ValueError(f"tinyae.viz.compare_curves: {label!r} has {len(ys)} values for {len(x)} settings")
        ax.plot(x, ys, marker="o", lw=1.8, label=label)
    for label, value in (reference or {}).items():
        ax.axhline(float(value), color="black", ls="--", lw=1.2, label=label)
        ax.update_datalim([(ax.dataLim.x0, float(value))])  # autoscaling ignores axhline
    ax.autoscale_view()
    if log_y:
        ax.set_yscale("log")
        _plain_log_labels(ax)
    if all(isinstance(v, (int, np.integer)) for v in x):
        if len(x) <= 12:
            ax.set_xticks(x)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    _suptitle(fig, title)
    return save(fig, path)


def anomaly_scores(scores_normal, scores_anomalous, *, labels=("normal", "anomalous"), title: str | None = None,
                   path=None) -> Figure:
    """Anomaly scores (e.g. reconstruction errors) of two groups: their histograms and the ROC curve.

    scores_normal, scores_anomalous -- 1-D scores, higher meaning "more anomalous"; or dicts
    {method: scores} with the same keys, to draw one ROC curve per method (histograms of the first).
    The ROC curve's area (AUC) is the probability that a random anomalous sample scores above a random
    normal one: 0.5 is chance, 1.0 perfect separation.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    normal, anomalous = _as_dict(scores_normal, "score"), _as_dict(scores_anomalous, "score")
    if list(normal) != list(anomalous):
        raise ValueError("tinyae.viz.anomaly_scores: the two groups must name the same methods")
    fig = new_figure(10.0, 3.8)
    ax_hist, ax_roc = fig.subplots(1, 2)
    first = next(iter(normal))
    a, b = _host(normal[first], "anomaly_scores").ravel(), _host(anomalous[first], "anomaly_scores").ravel()
    edges = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 41)
    ax_hist.hist(a, bins=edges, alpha=0.55, density=True, label=f"{labels[0]} ({len(a)})")
    ax_hist.hist(b, bins=edges, alpha=0.55, density=True, label=f"{labels[1]} ({len(b)})")
    ax_hist.set_xlabel(f"anomaly score ({first})")
    ax_hist.set_ylabel("density")
    ax_hist.set_title("Score distributions")
    ax_hist.legend(fontsize=8)
    for method in normal:
        a = _host(normal[method], "anomaly_scores").ravel()
        b = _host(anomalous[method], "anomaly_scores").ravel()
        truth = np.r_[np.zeros(len(a)), np.ones(len(b))]
        fpr, tpr, _ = roc_curve(truth, np.r_[a, b])
        ax_roc.plot(fpr, tpr, lw=1.8, label=f"{method}: AUC {roc_auc_score(truth, np.r_[a, b]):.3f}")
    ax_roc.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="chance: AUC 0.5")
    ax_roc.set_xlabel(f"false positive rate ({labels[0]} flagged)")
    ax_roc.set_ylabel(f"true positive rate ({labels[1]} caught)")
    ax_roc.set_title("ROC curve")
    ax_roc.legend(fontsize=8, loc="lower right")
    for ax in (ax_hist, ax_roc):
        ax.grid(alpha=0.3)
    _suptitle(fig, title or "Anomaly detection by score")
    return save(fig, path)


def value_maps(maps: dict, *, title: str, annotate: bool = True, cmap: str = "viridis", path=None) -> Figure:
    """Small 2-D arrays side by side as heat maps, each with its own colour bar (and its values written in).

    maps -- {caption: 2-D array}, e.g. how many kernel taps reach each output pixel of an upsampling layer.
    """
    fig = new_figure(3.3 * len(maps) + 0.6, 3.6)
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    for ax, (label, M) in zip(axes, maps.items()):
        M = _host(M, "value_maps")
        if M.ndim != 2:
            raise ValueError(f"tinyae.viz.value_maps: {label!r} must be a 2-D array, got shape {M.shape}")
        lo, hi = float(M.min()), float(M.max())
        constant = hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1.0)
        if constant:  # one value everywhere: a colour bar from 0.9 to 1.1 would suggest variation
            img = ax.imshow(M, cmap=cmap, interpolation="nearest", vmin=lo - 1, vmax=lo + 1)
        else:
            img = ax.imshow(M, cmap=cmap, interpolation="nearest")
        if annotate and M.size <= 400:
            mid = (M.max() + M.min()) / 2
            for (i, j), v in np.ndenumerate(M):
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7,
                        color="black" if v > mid else "white")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(label, fontsize=9)
        bar = fig.colorbar(img, ax=ax, shrink=0.8)
        if constant:
            bar.set_ticks([lo], labels=[f"{lo:.3g} everywhere"])
    _suptitle(fig, title)
    return save(fig, path)

"""Whitening: UFLDL's sparse autoencoder on 8x8 natural-image patches, with and without ZCA whitening.

Run:  python demos/whitening_natural_patches.py [--quick] [--out DIR]

The patches are cut from the two photographs bundled with scikit-learn (tinyae.whitening.natural_patches,
grey, 8x8; each patch's mean removed; the busier half kept, since flat sky and petals hold no edges).
Neighbouring pixels of natural images are strongly correlated; whitening (tinyae.whitening.Whitening,
docs/whitening.md) removes those correlations so no direction of pixel space dominates. Both networks
are the sparse autoencoder of Andrew Ng's UFLDL exercise: 64-25-64, sigmoid code and output, squared
error, KL sparsity rho = 0.01 (beta 3), weight decay 1e-4, trained by Adam. Each network's input is
prepared as in UFLDL (clipped at 3 standard deviations, mapped to [0.1, 0.9], the sigmoid's range);
the only difference: the "whitened" network's patches are ZCA-whitened (eps = the mean eigenvalue)
before that.

Two numbers score each of the 25 filters (a unit's incoming weights, as an 8x8 image w):
  orientation     the coherence of the filter's structure tensor J = sum over pixels of g g.T,
                  g = (dw/dx, dw/dy) by central differences at the inner 6x6 pixels: (l1 - l2) / (l1 + l2)
                  for J's eigenvalues l1 >= l2. 1 = all gradients along one direction (an oriented edge,
                  bar or grating), 0 = no direction preferred (a round blob)
  peak frequency  where the filter's power spectrum peaks, in cycles per 8 pixels: blobs and ramps
                  about 1, bars a pixel or two wide 2-3
Random Gaussian filters are scored too, as the floor.

What to look for
- whitening.png: the same patches raw, PCA-whitened and ZCA-whitened, and the correlations of every
  pixel with pixel (3, 3) before and after ZCA: in raw patches it spreads over the neighbours, after
  ZCA little is left beyond the nearest ones (eps keeps some: it whitens the strong directions fully
  and the weak, noisy ones only partly). ZCA-whitened patches still look like patches (edges kept, smooth shading
  gone); PCA-whitened ones are coordinates along the principal axes, not images.
- filters.png: the two networks' filters side by side, each with its two scores under it.
- The table: the scores per network against random filters. Both networks learn oriented filters, far
  from random ones; whitening leaves fewer unoriented blobs (the share with orientation >= 0.7) and
  moves the filters to somewhat higher frequencies.
"""

from __future__ import annotations

import _common

SIZE, HIDDEN, RHO, BETA, LAMBDA = 8, 25, 0.01, 3.0, 1e-4
ORIENTED = 0.7  # a filter this coherent or more counts as oriented
N_PATCHES, N_QUICK = 10000, 300


def prepare(P):
    """UFLDL's normalisation: remove each patch's mean, clip at 3 standard deviations, map to [0.1, 0.9]."""
    import numpy as np

    P = P - P.mean(axis=1, keepdims=True)
    s = 3 * P.std()
    return (np.clip(P, -s, s) / s + 1) * 0.4 + 0.1


def sparse_ae(seed):
    """The 64-25-64 sparse AE: sigmoid code and output, squared error, KL sparsity, weight decay.

    UFLDL's cost is J = 1/(2N) sum ||x̂ - x||^2 + lambda/2 sum W^2 + beta sum KL. tinyae's MSE("batch_mean")
    has no 1/2, so with the same lambda and beta the penalties weigh half as much against the error as in
    UFLDL. That is the setting used here: with UFLDL's exact balance (weight decay 2 lambda, beta 2 beta here)
    Adam left most units of the whitened network dead in this budget of epochs.
    """
    from tinyae import zoo

    return zoo.sparse_kl_ae(SIZE * SIZE, HIDDEN, rho=RHO, beta=BETA, weight_decay=LAMBDA, output="sigmoid", seed=seed)


def filters(model):
    """The encoder's filters as (25, 8, 8) images (tinyae's Dense stores W as (in, out))."""
    import numpy as np

    return np.asarray(model.encoder[0].W.value, dtype=np.float64).T.reshape(-1, SIZE, SIZE)


def orientation(F):
    """Per filter: coherence (l1 - l2) / (l1 + l2) of the structure tensor sum g g.T. (K, H, W) -> (K,)."""
    import numpy as np

    gx = (F[:, 1:-1, 2:] - F[:, 1:-1, :-2]) / 2  # (K, H-2, W-2): central differences at the inner pixels
    gy = (F[:, 2:, 1:-1] - F[:, :-2, 1:-1]) / 2  # (K, H-2, W-2)
    jxx, jyy, jxy = (gx * gx).sum(axis=(1, 2)), (gy * gy).sum(axis=(1, 2)), (gx * gy).sum(axis=(1, 2))
    return np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / (jxx + jyy)  # (l1 - l2)/(l1 + l2) of [[jxx, jxy], [jxy, jyy]]


def peak_frequency(F, pad=32):
    """Per filter: the spatial frequency (cycles per 8 pixels) where its power spectrum peaks. (K, H, W) -> (K,).

    The filter is zero-padded to pad x pad so the spectrum is finely sampled; the constant (frequency 0) is
    left out. Smooth blobs and ramps peak near 1 cycle per patch, edges and bars of a pixel or two higher.
    """
    import numpy as np

    power = np.abs(np.fft.fft2(F - F.mean(axis=(1, 2), keepdims=True), s=(pad, pad))) ** 2  # (K, pad, pad)
    f = np.fft.fftfreq(pad)  # cycles per pixel
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)  # (pad, pad)
    peak = power.reshape(len(F), -1).argmax(axis=1)  # (K,)
    return radius.ravel()[peak] * F.shape[-1]


def whitening_figure(P, pca, zca, path_note):
    """Patches raw / PCA- / ZCA-whitened, and the correlation of every pixel with pixel (3, 3)."""
    import numpy as np

    from tinyae.viz import _show_tiles, _suptitle, new_figure, tile_images

    n = 16
    rows = {"raw patches (their means removed)": P[:n], "PCA-whitened (axes, not pixels)": pca.transform(P[:n]),
            "ZCA-whitened": zca.transform(P[:n])}
    fig = new_figure(11, 3.6)
    grid = fig.add_gridspec(3, 3, width_ratios=[3.2, 1, 1])
    for i, (label, X) in enumerate(rows.items()):
        ax = fig.add_subplot(grid[i, 0])
        img = (X / np.abs(X).max(axis=1, keepdims=True) + 1) / 2  # each patch scaled alone, grey = 0
        _show_tiles(ax, tile_images(img.reshape(-1, 1, SIZE, SIZE), ncols=n))
        ax.set_title(label, fontsize=10, loc="left")
    centre = 3 * SIZE + 3
    for j, (label, X) in enumerate((("raw", P), ("ZCA-whitened", zca.transform(P)))):
        ax = fig.add_subplot(grid[:, 1 + j])
        C = np.corrcoef(X.T)[centre].reshape(SIZE, SIZE)
        im = ax.imshow(C, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{label}: correlation\nwith pixel (3, 3)", fontsize=10)
    fig.colorbar(im, ax=fig.axes[-2:], shrink=0.6, location="bottom")
    _suptitle(fig, f"What whitening does to 8x8 natural-image patches{path_note}")
    return fig


def filter_figure(panels, scores, title):
    """The two networks' 25 filters side by side, each with its orientation and peak frequency written under it."""
    import numpy as np

    from tinyae.viz import _show_tiles, _suptitle, new_figure

    cols, px, py = 5, 2, 5  # 5 filters a row; 2 pixels between columns, 5 between rows (room for the scores)
    fig = new_figure(9.6, 7.0)
    fig.get_layout_engine().set(wspace=0.08)
    axes = fig.subplots(1, len(panels))
    for ax, (label, F) in zip(axes, panels.items()):
        ori, freq = scores[label]
        rows = -(-len(F) // cols)
        canvas = np.full((rows * (SIZE + py), cols * (SIZE + px) - px), np.nan)
        for k in range(len(F)):
            r, c = divmod(k, cols)
            top, left = r * (SIZE + py), c * (SIZE + px)
            canvas[top:top + SIZE, left:left + SIZE] = 0.5 + 0.5 * F[k] / np.abs(F[k]).max()  # alone, grey = 0
            ax.text(left + SIZE / 2 - 0.5, top + SIZE + 1.3, f"{ori[k]:.2f} / {freq[k]:.1f}", ha="center",
                    va="center", fontsize=8)
        _show_tiles(ax, canvas, pad_colour="white")
        oriented = int((ori >= ORIENTED).sum())
        ax.set_title(f"{label}\nmedians {np.median(ori):.2f} / {np.median(freq):.2f}; "
                     f"{oriented} of {len(F)} with orientation >= {ORIENTED}", fontsize=10)
    _suptitle(fig, title)
    return fig


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "whitening_natural_patches", argv)
    import numpy as np

    from tinyae import viz
    from tinyae.experiment import blas_single_thread, train
    from tinyae.train import encode
    from tinyae.whitening import Whitening, natural_patches

    with blas_single_thread():
        args.data = "natural patches"
        report = _common.Report(args)
        n = N_QUICK if args.quick else N_PATCHES
        P = natural_patches(2 * n, SIZE, seed=args.seed)
        P = P - P.mean(axis=1, keepdims=True)  # each patch's brightness removed (UFLDL does so before whitening)
        contrast = P.var(axis=1)
        P = P[contrast > np.median(contrast)]  # the busier half: flat sky and petals hold no edges to learn
        lam_mean = float(np.var(P, axis=0).mean())  # the mean eigenvalue of the covariance (its trace / D)
        eps = lam_mean
        pca = Whitening("pca", eps=eps).fit(P)
        zca = Whitening("zca", eps=eps).fit(P)
        report.value("eps", eps, f"{len(P)} patches {SIZE}x{SIZE} (the busier half of {2 * n}); covariance "
                                 f"eigenvalues {pca.eigenvalues_[0]:.3g} down to {pca.eigenvalues_[-2]:.2g} "
                                 f"(and one 0: the patch means were removed); ZCA eps = {eps:.3g}, their mean")
        report.figure(whitening_figure(P, pca, zca, f" (eps = {eps:.2g})"), "whitening.png")

        data = {"raw (no whitening)": prepare(P), "ZCA-whitened": prepare(zca.transform(P))}
        rng = np.random.default_rng(args.seed)
        random_F = rng.normal(size=(1000, SIZE, SIZE))
        headers = ["filters", "mean activation", "median orientation", f"share with orientation >= {ORIENTED}",
                   "median peak frequency"]
        rows = [["random Gaussian (1000)", "-", float(np.median(orientation(random_F))),
                 float(np.mean(orientation(random_F) >= ORIENTED)), float(np.median(peak_frequency(random_F)))]]
        panels, scores, histories = {}, {}, {}
        for label, X in data.items():
            X = X.astype(np.float32)
            model = sparse_ae(args.seed)
            run = train(label, model, X, epochs=_common.epochs(args, 150), batch_size=100, lr=2e-2, seed=args.seed)
            histories[label] = run.history
            F = panels[label] = filters(model)
            scores[label] = (orientation(F), peak_frequency(F))
            ori, freq = scores[label]
            rows.append([label, float(np.mean(encode(model, X))), float(np.median(ori)),
                         float(np.mean(ori >= ORIENTED)), float(np.median(freq))])
        report.table("filters", headers, rows,
                     title=f"64-25-64 sparse AE (rho {RHO}, beta {BETA}, lambda {LAMBDA:g}) on natural patches: "
                           f"its 25 filters scored (orientation: 1 = one direction; peak frequency: cycles per "
                           f"{SIZE} pixels)")
        report.figure(filter_figure(panels, scores, "The 25 filters of each network (each scaled alone: grey 0); "
                                                    "under each: orientation / peak frequency"), "filters.png")
        report.figure(viz.loss_curves(histories, title="Loss per epoch: squared error, KL sparsity, weight decay"),
                      "loss_curves.png")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

"""Convolutional decoders: nearest upsampling + convolution vs transposed convolution (checkerboard artefacts).

Run:  python demos/conv_upsample_vs_transpose.py [--quick] [--out DIR]

Three convolutional autoencoders share the encoder (Conv3x3-ReLU-MaxPool2 twice: 8x8 -> 2x2) and differ
only in how the decoder doubles the resolution, twice:
  nearest      Upsample2D (nearest) then Conv 3x3             tinyae.zoo.conv_ae(upsample="nearest")
  transpose 2  ConvTranspose 2x2, stride 2 (no overlap)       tinyae.zoo.conv_ae(upsample="transpose")
  transpose 3  ConvTranspose 3x3, stride 2 (uneven overlap)   built here
A transposed convolution with a kernel size not divisible by its stride paints some output pixels
with more kernel taps than their neighbours (Odena, Dumoulin & Olah, 2016, "Deconvolution and
Checkerboard Artifacts"): a checkerboard is built into the layer before any training.

What to look for
- overlap.png: each upsampling step applied to a constant image with all weights 1. The 3x3 / stride 2
  transposed convolution gives the 1-2-4 checkerboard; 2x2 / stride 2 paints each pixel exactly once;
  nearest upsampling + 3x3 convolution is flat inside (only the zero padding dims the border).
- at_init.png: the untrained decoders' output for the codes of real digits: the checkerboard of the
  3x3 transposed convolution is visible at once.
- reconstructions.png and the table: after training. "period-2 share" is the fraction of an image's
  variance in patterns that repeat every 2 pixels (the highest Fourier frequencies); a decoder whose
  output has a larger share than the real digits adds a checkerboard.

Part 2, the sparse convolutional autoencoder (tinyae.zoo.conv_sparse_ae): the nearest-upsampling
model again, with an L1 penalty lam * mean|h| on its code map h (8 channels x 2x2 for the digits),
trained the same way and compared with the plain one.
- The sparsity table: the share of code entries that are exactly 0, the mean code value, how many
  entries are on per image, and how many of the 8 code channels are never on (dead) on the test set;
  the price in test MSE.
- sparse_codes.png: the code maps of a few test digits, plain vs sparse (each digit's 8 channels of
  2x2 side by side), and the histogram of all code values.
- sparse_reconstructions.png: the two models' reconstructions of the same digits.
"""

from __future__ import annotations

import _common

CHANNELS = (16, 8)
SPARSE_LAM = 0.1


def transpose3_ae(image_shape, seed):
    """The conv AE with a ConvTranspose 3x3 / stride 2 decoder (the checkerboard-prone choice)."""
    from tinyae import backend, zoo
    from tinyae.layers import ConvTranspose2D, Identity, ReLU
    from tinyae.models import Autoencoder, Sequential

    rng = backend.make_rng(seed + 1000)
    encoder = zoo.conv_ae(image_shape, CHANNELS, seed=seed).encoder
    c, (c1, c2) = image_shape[0], CHANNELS
    decoder = Sequential(ConvTranspose2D(c2, c1, 3, stride=2, padding=1, output_padding=1, seed=rng), ReLU(),
                         ConvTranspose2D(c1, c, 3, stride=2, padding=1, output_padding=1, init="identity", seed=rng),
                         Identity())
    return Autoencoder(encoder, decoder, loss="bce_with_logits", input_shape=tuple(image_shape))


def overlap_maps():
    """Each way up applied to a constant 4x4 image, all weights 1 and no bias: taps per output pixel."""
    import numpy as np

    from tinyae.layers import Conv2D, ConvTranspose2D, Upsample2D

    def ones(layer):
        for p in layer.params():
            p.value[...] = 1.0 if p.name == "W" else 0.0
        return layer

    x = np.ones((1, 1, 4, 4), dtype=np.float32)
    t3 = ones(ConvTranspose2D(1, 1, 3, stride=2, padding=1, output_padding=1)).forward(x)
    t2 = ones(ConvTranspose2D(1, 1, 2, stride=2)).forward(x)
    up = ones(Conv2D(1, 1, 3, padding=1)).forward(Upsample2D(2).forward(x))
    return {"nearest upsample + conv 3x3": up[0, 0], "transposed conv 2x2, stride 2": t2[0, 0],
            "transposed conv 3x3, stride 2": t3[0, 0]}


def period2_share(X, image_shape):
    """The share of an image's variance carried by patterns that repeat every 2 pixels, averaged over images.

    The three patterns (-1)^i, (-1)^j and (-1)^(i+j) are the highest frequencies of the 2-D Fourier basis:
    they are orthogonal to each other and to the constant, and each has mean square 1, so the squared
    coefficient c_p = mean(x * p) is exactly the variance of x that pattern p explains.
    """
    import numpy as np

    _, h, w = image_shape
    A = np.asarray(X, dtype=np.float64).reshape(len(X), -1, h, w)
    i, j = np.arange(h)[:, None], np.arange(w)[None, :]
    patterns = [(-1.0) ** i + 0 * j, 0 * i + (-1.0) ** j, (-1.0) ** (i + j)]  # each (h, w)
    power = sum(((A * p).mean(axis=(-2, -1))) ** 2 for p in patterns)  # (N, C)
    var = A.var(axis=(-2, -1))  # (N, C)
    return float(np.mean(power / np.maximum(var, 1e-12)))


def code_sparsity(H):
    """Sparsity numbers of code maps H (N, C, h, w): share of exact zeros, mean value, entries on per image,
    channels never on in any image."""
    import numpy as np

    H = np.asarray(H)
    on = H > 0
    return [float((H == 0).mean()), float(H.mean()), float(on.reshape(len(H), -1).sum(axis=1).mean()),
            int((~on.any(axis=(0, 2, 3))).sum())]


def sparse_code_figure(codes, X, image_shape, n=8):
    """Left: n test digits and, per model, their codes (one row per channel, one column per place of the
    h x w map; one colour scale per model). Right: the histogram of all code values of each model (log counts)."""
    import numpy as np

    from tinyae.viz import _show_tiles, _suptitle, new_figure, tile_images

    fig = new_figure(12, 1.0 + 1.3 * (1 + len(codes)))
    grid = fig.add_gridspec(1 + len(codes), 2, width_ratios=[3, 1.3])
    ax = fig.add_subplot(grid[0, 0])
    _show_tiles(ax, tile_images(np.asarray(X[:n]).reshape(n, *image_shape), ncols=n))
    ax.set_ylabel("digit", rotation=0, ha="right", va="center", fontsize=9)
    for i, (label, H) in enumerate(codes.items()):
        H = np.asarray(H, dtype=np.float64)
        c, h, w = H.shape[1:]
        maps = (H[:n] / max(H.max(), 1e-12)).reshape(n, 1, c, h * w)  # one row per channel, one column per place
        ax = fig.add_subplot(grid[1 + i, 0])
        _show_tiles(ax, tile_images(maps, ncols=n, pad=1), cmap="magma")
        zeros = float((H == 0).mean())
        ax.set_ylabel(f"{label.split(' (')[0]}\ncodes (rows: channels)\n{zeros:.0%} zeros", rotation=0, ha="right",
                      va="center", fontsize=9)
    ax = fig.add_subplot(grid[:, 1])
    top = max(float(np.max(H)) for H in codes.values())
    for label, H in codes.items():
        ax.hist(np.ravel(H), bins=40, range=(0, top), histtype="step", linewidth=1.5, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("code value")
    ax.set_ylabel("count (log)")
    ax.legend(fontsize=8)
    _suptitle(fig, "Codes of test digits (black: 0 or near it; each model on its own scale) and all code values")
    return fig


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "conv_upsample_vs_transpose", argv)
    from tinyae import viz, zoo
    from tinyae.experiment import blas_single_thread, pixel_mse, train
    from tinyae.train import encode, predict

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        shape = ds.image_shape

        def images(A):
            return A.reshape(len(A), *shape)

        X, Xv, Xt = images(ds.X_train), images(ds.X_val), images(ds.X_test)
        models = {
            "nearest upsample + conv": zoo.conv_ae(shape, CHANNELS, upsample="nearest", seed=args.seed),
            "transposed conv 2x2 s2": zoo.conv_ae(shape, CHANNELS, upsample="transpose", seed=args.seed),
            "transposed conv 3x3 s2": transpose3_ae(shape, args.seed),
        }
        report.figure(viz.value_maps(overlap_maps(), title="How many kernel taps reach each output pixel "
                                                           "(constant 4x4 input, all weights 1)"), "overlap.png")
        at_init = {k: predict(m, Xt) for k, m in models.items()}
        report.figure(viz.reconstruction_grid(Xt, at_init, shape, n=12,
                                              title="Untrained decoders: output for the codes of test digits"),
                      "at_init.png")
        real = period2_share(Xt, shape)
        rows, histories = [["real test digits", "-", real, real]], {}
        for label, model in models.items():
            run = train(label, model, X, epochs=_common.epochs(args, 30), batch_size=32, lr=3e-3, X_val=Xv,
                        seed=args.seed)
            histories[label] = run.history
            rows.append([label, pixel_mse(model, Xt), period2_share(at_init[label], shape),
                         period2_share(predict(model, Xt), shape)])
        report.table("results", ["decoder", "test MSE", "period-2 share untrained", "period-2 share trained"],
                     rows, title="Conv autoencoders on the test set (period-2 share: the fraction of each image's "
                                 "variance in patterns repeating every 2 pixels)")
        report.figure(viz.reconstruction_grid(Xt, {k: predict(m, Xt) for k, m in models.items()}, shape, n=12,
                                              title="Trained: reconstructions of test digits"),
                      "reconstructions.png")
        report.figure(viz.loss_curves(histories, title="Loss per epoch (BCE on logits, per pixel)"),
                      "loss_curves.png")
        plain = models["nearest upsample + conv"]
        sparse = zoo.conv_sparse_ae(shape, CHANNELS, lam=SPARSE_LAM, seed=args.seed)
        train(f"sparse (L1 {SPARSE_LAM:g})", sparse, X, epochs=_common.epochs(args, 30), batch_size=32, lr=3e-3,
              X_val=Xv, seed=args.seed)
        pair = {"plain conv AE": plain, f"sparse conv AE (L1, lam {SPARSE_LAM:g})": sparse}
        codes = {label: encode(m, Xt) for label, m in pair.items()}  # (N, c2, H/4, W/4) each
        report.table("sparsity", ["model", "test MSE", "exact zeros", "mean code value", "entries on per image",
                                  "dead channels"],
                     [[label, pixel_mse(pair[label], Xt), *code_sparsity(H)] for label, H in codes.items()],
                     title=f"Part 2: plain vs sparse conv AE, code maps {tuple(codes['plain conv AE'].shape[1:])} "
                           f"on the test set")
        report.figure(sparse_code_figure(codes, Xt, shape), "sparse_codes.png")
        report.figure(viz.reconstruction_grid(Xt, {k: predict(m, Xt) for k, m in pair.items()}, shape, n=12,
                                              title="Plain vs sparse conv AE: reconstructions of test digits"),
                      "sparse_reconstructions.png")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

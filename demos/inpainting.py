"""Inpainting: a convolutional autoencoder fills in the part of a digit that was wiped out.

Run:  python demos/inpainting.py [--quick] [--out DIR]

Two kinds of damage, each wiping pixels of a test digit to 0 (dark, like the background):
  missing block    a 3x3 square (of 8x8) at a random place
  dark cross-bar   a full row or column, one pixel wide, through the middle half of the digit
The autoencoder gets two channels: the damaged digit and the mask of the wiped pixels (so it knows
where to paint), and is trained to output the clean digit (BCE on logits; 4 differently damaged copies
of each training digit, half of each kind). It is tinyae.zoo.conv_ae's pyramid with one pooling
instead of two (Conv3x3-ReLU-MaxPool2-Conv3x3-ReLU down to 32x4x4, Upsample2-Conv3x3-ReLU-Conv3x3 back
up): filling a hole needs detail more than a tight code (with two poolings, down to 2x2, the error on
the block was about 15% higher). The restored digit keeps the visible pixels and takes the network's
output on the wiped ones.

Three fills that need no training, as baselines; each knows the mask, as the network does:
  mean fill               each wiped pixel gets that pixel's mean over the training digits
  nearest visible pixel   each wiped pixel copies the nearest visible pixel of the same digit
  nearest training digit  the training digit closest on the visible pixels lends its wiped ones

What to look for
- The table: mean squared error on the wiped pixels only (the visible ones are kept as they are, so
  every method is exact there). The network beats all three fills on both kinds of damage.
- inpainting_block.png / inpainting_bar.png: damaged (the wiped pixels tinted red), restored by the
  network, the best baseline's fill, and the original digit.
- loss_curves.png: training and validation loss (damaged validation digits).
"""

from __future__ import annotations

import _common

COPIES = 4  # damaged copies of each training digit
KINDS = ("missing block", "dark cross-bar")


def damage(X, kind, rng):
    """Wipe pixels of images X (N, 1, H, W) to 0; return (damaged, mask) with mask 1 on the wiped pixels."""
    import numpy as np

    n, _, h, w = X.shape
    mask = np.zeros((n, 1, h, w), dtype=X.dtype)
    if kind == "missing block":
        b = max(2, round(3 * h / 8))  # 3 for 8x8 digits, 10 for 28x28 MNIST
        top, left = rng.integers(h - b + 1, size=n), rng.integers(w - b + 1, size=n)
        for i in range(n):
            mask[i, 0, top[i]:top[i] + b, left[i]:left[i] + b] = 1
    elif kind == "dark cross-bar":
        t = max(1, h // 8)  # 1 pixel for 8x8, 3 for 28x28
        across = rng.integers(2, size=n)  # 1: a horizontal bar (a row), 0: a vertical one (a column)
        at = rng.integers(h // 4, 3 * h // 4 - t + 1, size=n)  # through the middle half
        for i in range(n):
            if across[i]:
                mask[i, 0, at[i]:at[i] + t, :] = 1
            else:
                mask[i, 0, :, at[i]:at[i] + t] = 1
    else:
        raise ValueError(f"damage: kind must be one of {KINDS}, got {kind!r}")
    return X * (1 - mask), mask


def mixed_damage(X, rng, copies):
    """``copies`` damaged versions of every image of X, alternating the two kinds: (inputs, targets)."""
    import numpy as np

    inputs = []
    for k in range(copies):
        damaged, mask = damage(X, KINDS[k % 2], rng)
        inputs.append(np.concatenate([damaged, mask], axis=1))  # (N, 2, H, W): image and mask
    return np.concatenate(inputs), np.concatenate([X] * copies)


def inpainting_ae(image_shape, seed, channels=(32, 32)):
    """A conv AE with a second input channel (the mask): (2, H, W) -> logits (1, H, W), one 2x2 pooling.

    Conv3x3-ReLU-MaxPool2-Conv3x3-ReLU down to (c2, H/2, W/2), Upsample2-Conv3x3-ReLU-Conv3x3 back up.
    """
    from tinyae import backend
    from tinyae.layers import Conv2D, Identity, MaxPool2D, ReLU, Upsample2D
    from tinyae.models import Autoencoder, Sequential

    rng = backend.make_rng(seed)
    c, h, w = image_shape
    c1, c2 = channels
    encoder = Sequential(Conv2D(2 * c, c1, 3, padding=1, init="relu", seed=rng), ReLU(), MaxPool2D(2),
                         Conv2D(c1, c2, 3, padding=1, init="relu", seed=rng), ReLU())
    decoder = Sequential(Upsample2D(2), Conv2D(c2, c1, 3, padding=1, init="relu", seed=rng), ReLU(),
                         Conv2D(c1, c, 3, padding=1, init="identity", seed=rng), Identity())
    return Autoencoder(encoder, decoder, loss="bce_with_logits", input_shape=(2 * c, h, w))


def mean_fill(damaged, mask, X_train):
    """Each wiped pixel takes that pixel's mean over the training images."""
    return damaged + mask * X_train.mean(axis=0, keepdims=True)


def nearest_pixel_fill(damaged, mask):
    """Each wiped pixel copies the nearest visible pixel of the same image (Euclidean distance on the grid)."""
    import numpy as np
    from scipy.ndimage import distance_transform_edt

    out = damaged.copy()
    for i in range(len(damaged)):
        m = mask[i, 0] > 0
        _, (r, c) = distance_transform_edt(m, return_indices=True)  # for each pixel: the nearest pixel with m == 0
        out[i, 0] = np.where(m, damaged[i, 0][r, c], damaged[i, 0])
    return out


def nearest_image_fill(damaged, mask, X_train, chunk=256):
    """The training image closest to each damaged image on its visible pixels lends its wiped pixels.

    sum_p v_p (x_p - t_p)^2 = v.x^2 - 2 (v*x).t + v.t^2 for the visible mask v: one matrix product per chunk.
    """
    import numpy as np

    n = len(damaged)
    T = X_train.reshape(len(X_train), -1).astype(np.float64)  # (M, D)
    out = damaged.copy()
    for s in range(0, n, chunk):
        x = damaged[s:s + chunk].reshape(-1, T.shape[1]).astype(np.float64)  # (n, D)
        v = 1.0 - mask[s:s + chunk].reshape(-1, T.shape[1])  # (n, D): 1 on the visible pixels
        d = (v * x * x).sum(axis=1)[:, None] - 2 * (v * x) @ T.T + v @ (T * T).T  # (n, M)
        best = T[d.argmin(axis=1)].reshape(damaged[s:s + chunk].shape)
        out[s:s + chunk] = damaged[s:s + chunk] + mask[s:s + chunk] * best
    return out


def hidden_mse(filled, X, mask):
    """Mean squared error over the wiped pixels only."""
    return float((((filled - X) ** 2) * mask).sum() / mask.sum())


def tinted(damaged, mask):
    """Damaged grey images (N, 1, H, W) as RGB, the wiped pixels painted a dark red."""
    import numpy as np

    rgb = np.repeat(damaged, 3, axis=1)
    red = np.array([0.75, 0.1, 0.1], dtype=rgb.dtype)[None, :, None, None]
    return np.where(mask > 0, red, rgb)


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "inpainting", argv)
    import numpy as np

    from tinyae import viz
    from tinyae.experiment import blas_single_thread, train
    from tinyae.train import predict

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args, flatten=False)
        shape = ds.image_shape
        rng = np.random.default_rng(args.seed + 100)
        X, Xt = ds.X_train, ds.X_test
        inputs, targets = mixed_damage(X, rng, 1 if args.quick else COPIES)
        val_inputs, val_targets = mixed_damage(ds.X_val, rng, 2)
        model = inpainting_ae(shape, args.seed)
        run = train("inpainting conv AE", model, inputs, target=targets, epochs=_common.epochs(args, 30),
                    batch_size=64, lr=3e-3, X_val=(val_inputs, val_targets), seed=args.seed)

        methods = ["the damage itself (wiped = 0)", "mean fill", "nearest visible pixel", "nearest training digit",
                   "conv autoencoder"]
        errors = {m: [] for m in methods}
        for kind in KINDS:
            damaged, mask = damage(Xt, kind, np.random.default_rng(args.seed + 200))
            out = predict(model, np.concatenate([damaged, mask], axis=1))  # (N, 1, H, W), sigmoid applied
            fills = {
                methods[0]: damaged,
                methods[1]: mean_fill(damaged, mask, X),
                methods[2]: nearest_pixel_fill(damaged, mask),
                methods[3]: nearest_image_fill(damaged, mask, X),
                methods[4]: damaged + mask * out,  # the visible pixels kept, the wiped ones from the network
            }
            for m, filled in fills.items():
                errors[m].append(hidden_mse(filled, Xt, mask))
            best = min(methods[1:4], key=lambda m: errors[m][-1])
            rows = {"damaged": tinted(damaged, mask), "restored (conv AE)": fills[methods[4]],
                    f"{best} (best baseline)": fills[best], "original": Xt}
            notes = {k: f"MSE on wiped {hidden_mse(v, Xt, mask):.4f}" for k, v in rows.items()
                     if k not in ("damaged", "original")}
            rgb = {k: v if v.shape[1] == 3 else np.repeat(v, 3, axis=1) for k, v in rows.items()}
            fname = "inpainting_block.png" if kind == "missing block" else "inpainting_bar.png"
            report.figure(viz.image_rows(rgb, (3, *shape[1:]), n=12, notes=notes,
                                         title=f"Inpainting a {kind}: damaged (wiped pixels red), restored, the best "
                                               f"baseline, original"), fname)
        report.table("hidden_mse", ["fill", *(f"{k}: MSE on wiped pixels" for k in KINDS)],
                     [[m, *errors[m]] for m in methods],
                     title="Test digits: mean squared error on the wiped pixels only")
        report.figure(viz.loss_curves(run.history, title="Loss per epoch (BCE on logits; validation on damaged "
                                                         "validation digits)"), "loss_curves.png")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

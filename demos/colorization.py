"""Toy colorization: a convolutional autoencoder paints grey circles red and grey squares blue.

Run:  python demos/colorization.py [--quick] [--out DIR]

The data are made here: 16x16 grey images, each with 1 to 3 filled shapes that do not touch, every
shape a circle or a square (even odds) of random size, place and brightness (0.5 to 1) on black. The
target is the same image in colour: each circle's pixels red (v, 0, 0), each square's blue (0, 0, v).
Nothing but shape tells the two apart. The network is tinyae.zoo.conv_ae's pyramid with one input and
three output channels: Conv3x3-ReLU-MaxPool2 twice (16x16 -> 32x4x4), Upsample-Conv3x3 twice back up
to RGB logits, BCE per colour channel.

Each test shape is scored by the mean predicted red R and blue B over its pixels:
  colour accuracy   the shape counts as painted red when R > B, blue otherwise
  purple            min(R, B) / max(R, B) > 0.5: the network mixes the two colours on that shape
                    (0 = one pure colour, 1 = equal parts of red and blue)

What to look for
- The table and by_size.png: accuracy and the share of purple shapes by shape and size. Large shapes
  are painted right nearly always; the smallest circles and squares (a few pixels, where a circle is a
  blocky plus or square on the pixel grid) are where the network hesitates and mixes red and blue.
- purple.png: test images with the most hesitant shapes: grey input, the network's colours, the
  target. The purple the tutorial describes is the network's honest answer to "circle or square?":
  under a squared or cross-entropy loss the best guess for an ambiguous shape is a mix of both colours.
- examples.png: the first test images, most of them painted right.
"""

from __future__ import annotations

import _common

SIZE = 16
N_TRAIN, N_TEST = 3000, 600
SIZE_BINS = ((1, 8, "1-8"), (9, 20, "9-20"), (21, 40, "21-40"), (41, 400, "41+"))  # shape areas in pixels


def draw_shape(kind, rng, size=SIZE):
    """A boolean (size, size) mask of one circle or square of random size and place."""
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size]
    if kind == "circle":
        r = rng.uniform(1.0, 4.0)
        cy, cx = rng.uniform(r, size - r, size=2)
        return (yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2 <= r * r  # pixel centres within r
    a = int(rng.integers(2, 8))  # side in pixels
    top, left = rng.integers(0, size - a + 1, size=2)
    return (yy >= top) & (yy < top + a) & (xx >= left) & (xx < left + a)


def make_shapes(n, rng, size=SIZE):
    """n grey images (n, 1, size, size), their colour targets (n, 3, size, size) and the list of shapes.

    Each shape is (image index, "circle" or "square", mask (size, size), area). Shapes keep a pixel of
    black between them (a new one that would touch an earlier one is drawn again).
    """
    import numpy as np
    from scipy.ndimage import binary_dilation

    grey = np.zeros((n, 1, size, size), dtype=np.float32)
    colour = np.zeros((n, 3, size, size), dtype=np.float32)
    shapes = []
    for i in range(n):
        taken = np.zeros((size, size), dtype=bool)
        for _ in range(int(rng.integers(1, 4))):
            kind = "circle" if rng.random() < 0.5 else "square"
            for _try in range(20):
                m = draw_shape(kind, rng, size)
                if m.any() and not (binary_dilation(m) & taken).any():
                    break
            else:
                continue  # no room left for it
            v = rng.uniform(0.5, 1.0)
            taken |= m
            grey[i, 0][m] = v
            colour[i, 0 if kind == "circle" else 2][m] = v  # circles red, squares blue
            shapes.append((i, kind, m, int(m.sum())))
    return grey, colour, shapes


def colour_model(seed, channels=(16, 32)):
    """The conv pyramid of tinyae.zoo.conv_ae with 1 input and 3 output channels: (1, H, W) -> RGB logits."""
    from tinyae import backend
    from tinyae.layers import Conv2D, Identity, MaxPool2D, ReLU, Upsample2D
    from tinyae.models import Autoencoder, Sequential

    rng = backend.make_rng(seed)
    c1, c2 = channels
    encoder = Sequential(Conv2D(1, c1, 3, padding=1, init="relu", seed=rng), ReLU(), MaxPool2D(2),
                         Conv2D(c1, c2, 3, padding=1, init="relu", seed=rng), ReLU(), MaxPool2D(2))
    decoder = Sequential(Upsample2D(2), Conv2D(c2, c1, 3, padding=1, init="relu", seed=rng), ReLU(),
                         Upsample2D(2), Conv2D(c1, 3, 3, padding=1, init="identity", seed=rng), Identity())
    return Autoencoder(encoder, decoder, loss="bce_with_logits", input_shape=(1, SIZE, SIZE))


def score_shapes(pred, shapes):
    """Per shape: (kind, area, mean red R, mean blue B, painted right, purple score min(R, B) / max(R, B))."""
    out = []
    for i, kind, m, area in shapes:
        r, b = float(pred[i, 0][m].mean()), float(pred[i, 2][m].mean())
        right = (r > b) == (kind == "circle")
        out.append((kind, area, r, b, right, min(r, b) / max(r, b, 1e-12)))
    return out


def hesitant_figure(Xt, P, Yt, shapes, scores, n=8):
    """The n most mixed shapes (one per image), each boxed in its image: grey input, the network's colours,
    the target, with the shape's mean red and blue written under it."""
    import numpy as np
    from matplotlib.patches import Rectangle

    from tinyae.viz import _suptitle, new_figure

    order, seen, picked = sorted(range(len(scores)), key=lambda k: -scores[k][5]), set(), []
    for k in order:
        if shapes[k][0] not in seen:
            seen.add(shapes[k][0])
            picked.append(k)
        if len(picked) == n:
            break
    fig = new_figure(1.45 * n + 1.2, 5.4)
    axes = fig.subplots(3, n, squeeze=False)
    for j, k in enumerate(picked):
        i, kind, m, _ = shapes[k]
        ys, xs = np.nonzero(m)
        for row, (name, img) in enumerate((("grey input", np.repeat(Xt[i], 3, axis=0)), ("network's colours", P[i]),
                                            ("target", Yt[i]))):
            ax = axes[row, j]
            ax.imshow(np.clip(np.moveaxis(img, 0, -1), 0, 1), interpolation="nearest")
            ax.add_patch(Rectangle((xs.min() - 1, ys.min() - 1), xs.max() - xs.min() + 2, ys.max() - ys.min() + 2,
                                   fill=False, edgecolor="yellow", linewidth=1.5))
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name, fontsize=9)
        _, _, r, b, right, purple = scores[k]
        axes[0, j].set_title(f"a {kind}, {m.sum()} px", fontsize=9)
        axes[1, j].set_xlabel(f"R {r:.2f}  B {b:.2f}", fontsize=9)
    _suptitle(fig, "The most hesitant shapes of the test set (boxed): the network mixes red and blue into purple")
    return fig


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "colorization", argv)
    import numpy as np

    from tinyae import viz
    from tinyae.experiment import blas_single_thread, train
    from tinyae.train import predict

    with blas_single_thread():
        args.data = "circles and squares"
        report = _common.Report(args)
        rng = np.random.default_rng(args.seed)
        n_train, n_test = (100, 60) if args.quick else (N_TRAIN, N_TEST)
        X, Y, _ = make_shapes(n_train, rng)
        Xv, Yv, _ = make_shapes(n_test // 2, rng)
        Xt, Yt, shapes = make_shapes(n_test, rng)
        model = colour_model(args.seed)
        run = train("colorization conv AE", model, X, target=Y, epochs=_common.epochs(args, 30), batch_size=32,
                    lr=3e-3, X_val=(Xv, Yv), seed=args.seed)
        P = predict(model, Xt)  # (N, 3, H, W) colours in [0, 1]
        scores = score_shapes(P, shapes)

        rows, by_size = [], {"circles": [], "squares": []}
        for kind, name in (("circle", "circles"), ("square", "squares")):
            mine = [s for s in scores if s[0] == kind]
            rows.append([name, "all", len(mine), float(np.mean([s[4] for s in mine])),
                         float(np.mean([s[5] > 0.5 for s in mine]))])
            for lo, hi, label in SIZE_BINS:
                sel = [s for s in mine if lo <= s[1] <= hi]
                acc = float(np.mean([s[4] for s in sel])) if sel else float("nan")
                purple = float(np.mean([s[5] > 0.5 for s in sel])) if sel else float("nan")
                rows.append([name, label, len(sel), acc, purple])
                by_size[name].append((acc, purple))
        report.table("per_shape", ["shape", "area (pixels)", "count", "colour accuracy", "share purple"], rows,
                     title=f"{len(scores)} test shapes: painted the right colour (R > B for circles, B > R for "
                           f"squares), and mixed (min(R, B) / max(R, B) > 0.5)")

        def rgb(A):
            return np.repeat(A, 3, axis=1) if A.shape[1] == 1 else A

        report.figure(viz.image_rows({"grey input": rgb(Xt), "network's colours": P, "target": Yt}, (3, SIZE, SIZE),
                                     n=10, title="Colorization of the first test images: circles red, squares blue"),
                      "examples.png")
        report.figure(hesitant_figure(Xt, P, Yt, shapes, scores), "purple.png")
        labels = [label for _, _, label in SIZE_BINS]
        series = {f"{name}: {what}": [v[j] for v in by_size[name]] for name in by_size
                  for j, what in enumerate(("colour accuracy", "share purple"))}
        report.figure(viz.compare_curves(labels, series, xlabel="shape area (pixels)", ylabel="share of test shapes",
                                         title="Small shapes are ambiguous: accuracy falls and purple appears"),
                      "by_size.png")
        report.figure(viz.loss_curves(run.history, title="Loss per epoch (BCE on RGB logits)"), "loss_curves.png")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

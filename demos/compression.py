"""Compression: autoencoder codes and PCA, quantised to b bits per number, against JPEG at the same bytes.

Run:  python demos/compression.py [--quick] [--out DIR] [--data mnist]

Each test image is sent as a few bytes and rebuilt from them; the rate is the bytes per image, the
distortion the mean squared error per pixel (pixels in [0, 1]), also given as PSNR = 10 log10(1 / MSE).

  AE    a deep autoencoder 64-128-64-k-64-128-64 with a sigmoid code of k numbers (k = 2 ... 32), trained
        on the training digits; each code number is quantised to b bits (b = 1 ... 8) with a uniform
        quantiser over that number's range on the training set: k * b / 8 bytes per image
  PCA   the k leading principal components, quantised the same way
  JPEG  Pillow's baseline JPEG (optimised Huffman tables) at qualities 1 ... 95, the test images laid
        side by side in one greyscale picture on JPEG's 8x8 block grid, so the file header (its tables:
        most of the ~190 bytes a digit costs as a JPEG file of its own) is shared; bytes per image =
        file size / images
  PNG   the same picture, lossless, as a reference

For each method the curve is its best distortion at each rate over all its settings (the
rate-distortion frontier). AE and PCA send every number with b bits flat, while JPEG entropy-codes what
it keeps; the dashed curves show what ideal entropy coding of the quantised numbers (with their
training-set frequencies) would save. The AE and PCA need a decoder the receiver must hold; its size
(float32 weights) is reported, and the AE curve is drawn again with its decoder's bytes shared out over
the test images. JPEG's decoder is the standard one every computer already has.

What to look for
- rate_distortion.png and the first table: on these digits the AE gives the lowest error below about
  12 bytes per image, PCA from about 12 to 32 bytes (this deep AE stops improving near 23 dB); JPEG is
  far behind both below 16 bytes, passes the AE near 22 and meets PCA near 30. Lossless PNG needs only
  26 bytes: the digits have 17 grey levels and black borders, so above 26 bytes no lossy code is worth
  having.
- The decoder: the AE's decoder is 66 KiB, about 190 bytes per image when shared over the 359 test
  images: counted in, the AE loses to everything, raw pixels included. It wins only where one decoder
  serves a great many images of this one kind, and only at a few bytes per image.
- JPEG is made for large photographs; a whole 8x8 digit is one JPEG block, and a single digit sent as
  its own JPEG file takes about 190 bytes, nearly all header. Autoencoders do not beat JPEG in general; what this
  shows is that a code learned for one narrow kind of tiny image beats a general-purpose codec on it.
- reconstructions.png: the same digits at about 8 bytes per image from each method.
"""

from __future__ import annotations

import io
import math

import _common

SIZES = (2, 4, 8, 16, 32)
BITS = (1, 2, 3, 4, 5, 6, 8)
QUALITIES = (1, 2, 3, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
HIDDEN = (128, 64)
SHOWN_RATE = 8.0  # bytes per image of the reconstructions figure


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "compression", argv)
    import numpy as np
    from sklearn.decomposition import PCA

    from tinyae import viz, zoo
    from tinyae.experiment import blas_single_thread, train
    from tinyae.train import encode

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        X, Xt = ds.X_train, ds.X_test
        D, shape = ds.n_features, ds.image_shape
        digits = args.data == "digits"
        sizes = (4, 8) if args.quick else SIZES
        qualities = (10, 50, 90) if args.quick else QUALITIES
        fit_kw = {"epochs": _common.epochs(args, 100 if digits else 10), "batch_size": 32 if digits else 128,
                  "lr": 3e-3, "X_val": ds.X_val, "seed": args.seed, "progress": False}

        # Every (method, setting) -> (bytes per image, MSE, reconstructions, decoder bytes)
        points = {"AE": [], "PCA": [], "AE, entropy-coded": [], "PCA, entropy-coded": []}
        for k in sizes:
            model = zoo.stacked_ae(D, (*HIDDEN, k), code_activation="sigmoid", seed=args.seed)
            run = train(f"AE k={k}", model, X, **fit_kw)
            ae_dec = 4 * model.decoder.num_params() + 2 * 4 * k  # float32 weights + each number's range
            pca = PCA(n_components=k, random_state=0).fit(X)
            pca_dec = 4 * (pca.components_.size + pca.mean_.size) + 2 * 4 * k
            coders = {"AE": (encode(model, X), encode(model, Xt), lambda C, m=model: _decode(m, C), ae_dec),
                      "PCA": (pca.transform(X), pca.transform(Xt), pca.inverse_transform, pca_dec)}
            for name, (C, Ct, decode, dec_bytes) in coders.items():
                for b in BITS:
                    values, symbols, train_symbols = _quantise(Ct, C, b)
                    R = np.clip(decode(values), 0, 1)
                    points[name].append({"setting": f"k={k}, b={b}", "bytes": k * b / 8, "mse": _mse(R, Xt),
                                         "images": R, "decoder": dec_bytes})
                    points[f"{name}, entropy-coded"].append(
                        {**points[name][-1], "bytes": _entropy_bits(symbols, train_symbols, b) / 8})
            best = min(points["AE"][-len(BITS):], key=lambda p: p["mse"])
            print(f"  k = {k:2d}: AE trained in {run.seconds:.1f}s, test MSE {best['mse']:.4g} at {best['setting']}",
                  flush=True)
        points["JPEG"] = [{"setting": f"quality {q}", **_jpeg(Xt, shape, q)} for q in qualities]
        png = _png(Xt, shape)

        fronts = {name: _frontier(pts) for name, pts in points.items()}
        methods = ("AE", "PCA", "JPEG")
        rows = []
        for rate in (2 ** i for i in range(1, int(math.log2(D)) + 1)):  # 2, 4, ... up to the raw bytes
            row = [rate]
            for name in methods:
                p = _best_within(points[name], rate)
                row.append("-" if p is None else f"{p['mse']:.3g} ({p['setting']})")
            rows.append(row)
        report.table("rate_distortion", ["bytes per image", *methods], rows,
                     title="Lowest test MSE per pixel (and its setting) within each budget of bytes per image "
                           "('-': no setting that small)")
        for name in ("AE", "PCA"):
            saved = [1 - e["bytes"] / p["bytes"] for p, e in zip(points[name], points[f"{name}, entropy-coded"])
                     if not p["setting"].endswith("b=1")]
            report.value(f"entropy_coding_saving_{name}", float(np.mean(saved)),
                         f"{name}: ideal entropy coding of the quantised numbers would save {np.mean(saved):.0%} of "
                         f"the bytes on average (at most {max(saved):.0%}; settings with b >= 2)")
        n_test = len(Xt)
        dec_rows = []
        for k in sizes:
            ae = next(p for p in points["AE"] if p["setting"].startswith(f"k={k},"))
            pc = next(p for p in points["PCA"] if p["setting"].startswith(f"k={k},"))
            dec_rows.append([k, ae["decoder"] / 1024, ae["decoder"] / n_test, pc["decoder"] / 1024,
                             pc["decoder"] / n_test])
        report.table("decoder_size", ["code size k", "AE decoder (KiB)", f"AE decoder / {n_test} images (bytes)",
                                      "PCA basis (KiB)", f"PCA basis / {n_test} images (bytes)"], dec_rows,
                     title="What the receiver must hold besides the codes (float32)")
        report.value("raw_bytes_per_image", D, f"raw 8-bit pixels: {D} bytes per image")
        report.value("png_bytes_per_image", png["bytes"],
                     f"PNG (lossless, 8-bit): {png['bytes']:.2f} bytes per image, MSE {png['mse']:.2g}")
        single = _jpeg(Xt[:1], shape, 50)["bytes"]
        report.value("jpeg_single_image_bytes", single,
                     f"one image alone as a JPEG file (quality 50): {single:.0f} bytes, header included")

        report.figure(_rd_figure(viz, points, fronts, png, n_test, D), "rate_distortion.png")
        shown = {"original": Xt}
        for name in ("AE", "PCA", "JPEG"):
            p = min(points[name], key=lambda p: (abs(math.log(p["bytes"] / SHOWN_RATE)), p["mse"]))
            shown[f"{name}, {p['setting']}: {p['bytes']:.1f} B"] = p["images"]
        report.figure(viz.image_rows(shown, shape, n=12, title=f"Test images at about {SHOWN_RATE:g} bytes each"),
                      "reconstructions.png")
        return report.finish()


def _quantise(Ct, C, b: int):
    """Uniform b-bit quantisation of each column of Ct over that column's range in C (the training codes).

    The range [lo, hi] is cut into 2^b equal cells; a value is sent as its cell's index (b bits) and
    rebuilt as the cell's centre. Values outside [lo, hi] go to the end cells.
    Returns (rebuilt values, the test indices, the training indices).
    """
    import numpy as np

    lo, hi = C.min(axis=0), C.max(axis=0)
    width = np.maximum(hi - lo, 1e-12) / 2 ** b

    def index(V):  # what is sent: integers 0 .. 2^b - 1
        return np.clip(np.floor((V - lo) / width), 0, 2 ** b - 1).astype(np.int64)

    sent = index(Ct)
    return (lo + (sent + 0.5) * width).astype(Ct.dtype), sent, index(C)


def _entropy_bits(symbols, train_symbols, b: int) -> float:
    """Mean bits per image if each code number were entropy-coded with its training-set frequencies.

    For number j, p_j(s) is how often index s occurs among the training codes (plus 1/2, so no index
    has probability 0); an arithmetic coder that knows p_j spends about -log2 p_j(s) bits on s. The
    sum over the k numbers, averaged over the test images, is the rate. The tables p_j (2^b per number)
    would travel with the decoder.
    """
    import numpy as np

    total = 0.0
    for j in range(symbols.shape[1]):
        counts = np.bincount(train_symbols[:, j], minlength=2 ** b) + 0.5
        total -= np.log2(counts[symbols[:, j]] / counts.sum()).mean()
    return float(total)


def _decode(model, C):
    """Images from (dequantised) codes: the decoder half of the model, in eval mode, 1000 codes at a time."""
    import numpy as np

    C = np.ascontiguousarray(C, dtype=np.float32)
    return np.concatenate([model.decode(C[i:i + 1000]) for i in range(0, len(C), 1000)])


def _mse(R, X) -> float:
    return float(((R.reshape(len(R), -1) - X.reshape(len(X), -1)) ** 2).mean())


def _mosaic(X, shape):
    """Images side by side in one uint8 picture, each cell padded to a multiple of 8 pixels (JPEG's blocks)."""
    import numpy as np

    c, h, w = shape
    ph, pw = -(-h // 8) * 8, -(-w // 8) * 8
    cols = math.ceil(math.sqrt(len(X)))
    rows = math.ceil(len(X) / cols)
    canvas = np.zeros((rows * ph, cols * pw), dtype=np.uint8)
    imgs = np.rint(np.clip(X.reshape(len(X), h, w), 0, 1) * 255).astype(np.uint8)
    for i, img in enumerate(imgs):
        r, q = divmod(i, cols)
        canvas[r * ph:r * ph + h, q * pw:q * pw + w] = img
    return canvas, (ph, pw, cols)


def _unmosaic(canvas, n, shape, grid):
    import numpy as np

    c, h, w = shape
    ph, pw, cols = grid
    out = np.empty((n, h * w), dtype=np.float32)
    for i in range(n):
        r, q = divmod(i, cols)
        out[i] = canvas[r * ph:r * ph + h, q * pw:q * pw + w].ravel() / 255.0
    return out


def _encode_image(canvas, fmt: str, **kw):
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format=fmt, **kw)
    size = buf.tell()
    buf.seek(0)
    return size, np.asarray(Image.open(buf).convert("L"))


def _jpeg(X, shape, quality: int) -> dict:
    canvas, grid = _mosaic(X, shape)
    size, back = _encode_image(canvas, "JPEG", quality=quality, optimize=True)
    R = _unmosaic(back, len(X), shape, grid)
    return {"bytes": size / len(X), "mse": _mse(R, X), "images": R, "decoder": 0}


def _png(X, shape) -> dict:
    canvas, grid = _mosaic(X, shape)
    size, back = _encode_image(canvas, "PNG", optimize=True)
    R = _unmosaic(back, len(X), shape, grid)
    return {"bytes": size / len(X), "mse": _mse(R, X)}


def _frontier(points):
    """The points no other point beats in both rate and distortion, by rising rate."""
    front = []
    for p in sorted(points, key=lambda p: (p["bytes"], p["mse"])):
        if not front or p["mse"] < front[-1]["mse"]:
            front.append(p)
    return front


def _best_within(points, rate):
    inside = [p for p in points if p["bytes"] <= rate + 1e-9]
    return min(inside, key=lambda p: p["mse"]) if inside else None


def _rd_figure(viz, points, fronts, png, n_test, D):
    """Distortion (PSNR) against bytes per image: every setting faint, each method's frontier bold."""
    colours = {"AE": "tab:orange", "PCA": "tab:blue", "JPEG": "tab:green"}
    fig = viz.new_figure(7.5, 5.0)
    ax = fig.subplots()
    for name, pts in points.items():
        colour = colours[name.split(",")[0]]
        front = fronts[name]
        xy = ([p["bytes"] for p in front], [_psnr(p["mse"]) for p in front])
        if name.endswith("entropy-coded"):
            ax.plot(*xy, ls="--", lw=1.6, color=colour, label=f"{name} (ideal)")
            continue
        if name != "JPEG":
            ax.scatter([p["bytes"] for p in pts], [_psnr(p["mse"]) for p in pts], s=10, alpha=0.25,
                       color=colour, lw=0)
        label = f"JPEG, {pts[0]['setting']} to {pts[-1]['setting'].split()[-1]}" if name == "JPEG" else \
            f"{name}, b bits per number"
        ax.plot(*xy, marker="o", ms=4, lw=2, color=colour, label=label)
    ae = fronts["AE"]
    ax.plot([p["bytes"] + p["decoder"] / n_test for p in ae], [_psnr(p["mse"]) for p in ae], ls=":", lw=2,
            color=colours["AE"], label=f"AE + its decoder shared over {n_test} images")
    ax.axvline(png["bytes"], color="black", ls="-.", lw=1.2,
               label=f"PNG, lossless: {png['bytes']:.0f} B (no error)")
    ax.axvline(D, color="grey", ls="--", lw=1.2, label=f"raw 8-bit pixels: {D} B")
    ax.set_xscale("log")
    ticks = [t for t in (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256) if t <= ax.get_xlim()[1]]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("bytes per image (log scale)")
    ax.set_ylabel("PSNR (dB, higher is better)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Rate-distortion on the test images (faint dots: every code size k and bits b)")
    return fig


def _psnr(mse: float) -> float:
    return 10 * math.log10(1.0 / max(mse, 1e-12))


if __name__ == "__main__":
    raise SystemExit(main())

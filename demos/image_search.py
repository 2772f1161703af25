"""Image search with autoencoder codes, and semantic hashing: binary codes searched by Hamming distance.

Run:  python demos/image_search.py [--quick] [--out DIR] [--data mnist]

Every test digit is a query; the database is the training set. A search returns the 10 database images
whose codes are nearest to the query's, and precision@10 is the fraction of them with the query's label
(the labels are used for scoring only; no model ever sees them).

1. Float codes, exact Euclidean search (tinyae.retrieval.nearest_neighbors): k numbers per image from
   a deep autoencoder (64-128-64-k-64-128-64, ReLU, a linear code) against PCA's k components and
   against all raw pixels. "An image can be compressed to about 30 numbers, as in image search": 30 is
   the tutorial's number, made for 784-pixel MNIST. The digits have 64 pixels, and PCA-30 keeps 96% of
   their variance, so 30 is barely a compression here; the demo therefore sweeps k = 4, 8, 16, 30.
2. Binary codes, Hamming search (tinyae.retrieval.hamming_search): 30 bits (4 bytes) per image from
   zoo.hashing_ae, whose sigmoid code gets Gaussian noise (std 4) on its input while training, which
   pushes it to 0/1 (semantic hashing, Salakhutdinov & Hinton 2009); against the same network trained
   without the noise and thresholded at 0.5, and against the signs of PCA's 30 components.
3. Query time (of all test queries, at most 500): exact float search on 30 float32 numbers vs Hamming
   search on the 30-bit codes, on the training set and on a database of at least 100,000 codes (the
   training codes repeated: timing only).

What to look for
- precision_vs_code_size.png and the first table: at 4 and 8 numbers the AE's codes retrieve better
  than PCA's; at 16-30 numbers PCA (and the raw pixels) catch up: this little image has no more to give.
- The binary table: 4 bytes of AE bits beat 4 bytes of PCA signs by a wide margin, and stay close to
  the 30-float search. The noise makes the code binary (almost no code value between 0.1 and 0.9, see
  code_values.png), so thresholding it changes little; on these digits thresholding the noiseless
  network's code at 0.5 retrieves about as well, but its float code is not binary.
- The timing table: brute-force Hamming search is faster than brute-force float search, and its
  codes are 30 times smaller (4 bytes instead of 120).
- retrievals.png: queries and what each search returns; red frames mark retrieved digits of another label.
"""

from __future__ import annotations

import time

import _common

SIZES = (4, 8, 16, 30)
N_BITS = 30
NOISE_STD = 4.0
HIDDEN = (128, 64)
K = 10
N_SHOWN = 8  # queries in retrievals.png
LARGE_DB = 100_000  # the large database for timing: the training codes repeated to at least this many
TIMED_QUERIES = 500  # at most this many test queries are timed


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "image_search", argv)
    import numpy as np
    from sklearn.decomposition import PCA

    from tinyae import viz, zoo
    from tinyae.experiment import blas_single_thread, train
    from tinyae.retrieval import binary_codes, hamming_search, nearest_neighbors, pack_bits, precision_at_k
    from tinyae.train import encode

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        X, y, Xt, yt = ds.X_train, ds.y_train, ds.X_test, ds.y_test
        D = ds.n_features
        sizes = (4, N_BITS) if args.quick else SIZES
        digits = args.data == "digits"
        fit_kw = {"epochs": _common.epochs(args, 100 if digits else 10), "batch_size": 32 if digits else 128,
                  "lr": 3e-3, "X_val": ds.X_val, "seed": args.seed, "progress": False}

        def p_at_k(C, Ct):
            return precision_at_k(nearest_neighbors(Ct, C, K)[0], yt, y)

        # 1. Float codes at several code sizes ---------------------------------------------------------
        raw = p_at_k(X, Xt)
        prec = {"PCA": [], "deep AE": []}
        codes30 = None
        for k in sizes:
            pca = PCA(n_components=k, random_state=0).fit(X)
            model = zoo.stacked_ae(D, (*HIDDEN, k), seed=args.seed)
            run = train(f"AE k={k}", model, X, **fit_kw)
            C, Ct = encode(model, X), encode(model, Xt)
            prec["PCA"].append(p_at_k(pca.transform(X), pca.transform(Xt)))
            prec["deep AE"].append(p_at_k(C, Ct))
            if k == N_BITS:
                codes30 = (C, Ct)
            print(f"  k = {k:2d}: AE trained in {run.seconds:.1f}s; precision@{K} PCA {prec['PCA'][-1]:.3f}, "
                  f"AE {prec['deep AE'][-1]:.3f}", flush=True)
        rows = [[k, prec["PCA"][i], prec["deep AE"][i]] for i, k in enumerate(sizes)]
        rows.append([f"{D} (raw pixels)", raw, raw])
        report.table("precision_float", ["numbers per image", "PCA", "deep AE"], rows,
                     title=f"Precision@{K} by label, exact Euclidean search on float codes")
        report.figure(viz.compare_curves(sizes, prec, xlabel="numbers per image (code size k)",
                                         ylabel=f"precision@{K}", reference={f"raw pixels ({D})": raw},
                                         title=f"Image search: precision@{K} against code size"),
                      "precision_vs_code_size.png")

        # 2. Binary codes: 30 bits, Hamming search ----------------------------------------------------
        hashing = {}
        for label, std in (("hashing AE (noise std 4)", NOISE_STD), ("same AE, no noise", 0.0)):
            model = zoo.hashing_ae(D, HIDDEN, N_BITS, noise_std=std, seed=args.seed)
            run = train(label, model, X, **fit_kw)
            hashing[label] = (encode(model, X), encode(model, Xt))
            print(f"  {label}: trained in {run.seconds:.1f}s", flush=True)
        pca = PCA(n_components=N_BITS, random_state=0).fit(X)
        P, Pt = pca.transform(X), pca.transform(Xt)
        bits = {label: (binary_codes(H), binary_codes(Ht)) for label, (H, Ht) in hashing.items()}
        bits[f"PCA-{N_BITS} signs"] = (P > 0, Pt > 0)  # PCA components are centred: the sign splits each in two
        floats = {**hashing, f"PCA-{N_BITS} signs": (P, Pt)}
        rows, found = [], {}
        for label, (B, Bt) in bits.items():
            idx, _ = hamming_search(pack_bits(Bt), pack_bits(B), K)
            found[label] = idx
            H = floats[label][0]
            middle = float(((H > 0.1) & (H < 0.9)).mean()) if not label.startswith("PCA") else float("nan")
            rows.append([label, precision_at_k(idx, yt, y), p_at_k(*floats[label]), middle])
        report.table("precision_binary", ["code", f"Hamming P@{K} ({N_BITS} bits)", f"float P@{K} (same code)",
                                          "code values in (0.1, 0.9)"], rows,
                     title=f"Binary codes of {N_BITS} bits ({-(-N_BITS // 8)} bytes per image), Hamming search")
        report.figure(_code_values(viz, hashing), "code_values.png")

        # 3. Query time --------------------------------------------------------------------------------
        C, Ct = (codes30 if codes30 is not None else (X[:, :N_BITS], Xt[:, :N_BITS]))
        C, Ct = np.ascontiguousarray(C, dtype=np.float32), np.ascontiguousarray(Ct, dtype=np.float32)
        B, Bt = (pack_bits(b) for b in bits["hashing AE (noise std 4)"])
        Ct, Bt = Ct[:TIMED_QUERIES], Bt[:TIMED_QUERIES]
        factor = 2 if args.quick else max(2, -(-LARGE_DB // len(C)))  # digits: 1294 x 78 = 100,932 codes
        rows = []
        for Cdb, Bdb in ((C, B), (np.tile(C, (factor, 1)), np.tile(B, (factor, 1)))):
            t_float = _best_time(lambda Cdb=Cdb: nearest_neighbors(Ct, Cdb, K))
            t_hamming = _best_time(lambda Bdb=Bdb: hamming_search(Bt, Bdb, K))
            rows.append([len(Cdb), 1e6 * t_float / len(Ct), 1e6 * t_hamming / len(Ct), t_float / t_hamming,
                         Cdb.nbytes / 1024, Bdb.nbytes / 1024])
        report.table("query_time", ["database size", f"float search, {N_BITS} x float32 (us/query)",
                                    f"Hamming search, {N_BITS} bits (us/query)", "speed-up", "float codes (KiB)",
                                    "binary codes (KiB)"], rows,
                     title=f"Time per query, {len(Ct)} queries, k = {K} (best of 3, one thread)")

        # 4. The retrievals themselves -----------------------------------------------------------------
        C, Ct = codes30 if codes30 is not None else (X, Xt)
        shown = {f"deep AE, {N_BITS} floats": nearest_neighbors(Ct, C, K)[0],
                 f"hashing AE, {N_BITS} bits": found["hashing AE (noise std 4)"],
                 f"PCA, {N_BITS} signs": found[f"PCA-{N_BITS} signs"]}
        report.figure(_retrieval_figure(viz, Xt, X, yt, y, shown, ds.image_shape), "retrievals.png")
        return report.finish()


def _best_time(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _code_values(viz, hashing: dict):
    """Histograms of the eval-mode sigmoid code values of the training images, one panel per model."""
    import numpy as np

    fig = viz.new_figure(8.0, 3.0)
    axes = fig.subplots(1, len(hashing), sharey=True)
    for ax, (label, (H, _)) in zip(axes, hashing.items()):
        ax.hist(np.asarray(H).ravel(), bins=40, range=(0, 1), color="tab:blue")
        ax.set_yscale("log")
        ax.set_title(label)
        ax.set_xlabel("code value (sigmoid output)")
        ax.axvline(0.5, color="black", ls="--", lw=1)
    axes[0].set_ylabel("count (log scale)")
    fig.suptitle(f"The {N_BITS} code values of every training digit: the noise pushes them to 0 or 1")
    return fig


def _retrieval_figure(viz, Xq, Xdb, yq, ydb, shown: dict, image_shape):
    """One panel per search: each row a query, then its K results; a red frame marks a wrong label."""
    import numpy as np

    imgs_q = viz.as_images(Xq, image_shape)[:, 0]  # (Q, H, W): grey
    imgs_db = viz.as_images(Xdb, image_shape)[:, 0]
    h, w = imgs_q.shape[1:]
    pad, gap = max(1, h // 8), max(3, h // 2)  # frame width; the gap between query and results
    cell_h, cell_w = h + 2 * pad, w + 2 * pad
    width = cell_w * (K + 1) + gap
    fig = viz.new_figure(1.0 + 0.42 * (K + 1), 0.2 + len(shown) * (0.42 * N_SHOWN + 0.4))
    axes = fig.subplots(len(shown), 1)
    for ax, (title, idx) in zip(np.atleast_1d(axes), shown.items()):
        canvas = np.full((N_SHOWN * cell_h, width, 3), 1.0)
        for r in range(N_SHOWN):
            top = r * cell_h
            _put(canvas, imgs_q[r], top, 0, pad, (0.2, 0.4, 0.9))  # the query, framed in blue
            for j, d in enumerate(idx[r]):
                wrong = ydb[d] != yq[r]
                frame = (0.9, 0.1, 0.1) if wrong else (1.0, 1.0, 1.0)
                _put(canvas, imgs_db[d], top, gap + (j + 1) * cell_w, pad, frame)
        ax.imshow(canvas, interpolation="nearest")
        ax.set_xticks([cell_w / 2 - 0.5, gap + cell_w * (K / 2 + 1) - 0.5], ["query", f"its {K} nearest"])
        ax.set_yticks([])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        hits = float((ydb[idx[:N_SHOWN]] == yq[:N_SHOWN, None]).mean())
        ax.set_title(f"{title}: {hits:.0%} of these results share the query's label", fontsize=10)
    fig.suptitle(f"Queries (blue) and their {K} nearest; red = another label", fontsize=11)
    return fig


def _put(canvas, img, top, left, pad, frame):
    h, w = img.shape
    canvas[top:top + h + 2 * pad, left:left + w + 2 * pad] = frame
    canvas[top + pad:top + pad + h, left + pad:left + pad + w] = img[..., None]


if __name__ == "__main__":
    raise SystemExit(main())

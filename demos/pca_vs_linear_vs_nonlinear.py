"""PCA vs a linear autoencoder vs nonlinear autoencoders: reconstruction error at equal code size.

Run:  python demos/pca_vs_linear_vs_nonlinear.py [--quick] [--out DIR]

For code sizes k = 2, 4, 8, 16, 32 (of 64 pixels), four ways to compress a digit to k numbers and back:
  PCA                 the k leading principal components (scikit-learn), the best LINEAR code in MSE
  linear AE           64-k-64 with identity activations, trained with MSE by Adam
  shallow sigmoid AE  64-k-64 with a sigmoid code and output
  deep ReLU AE        64-64-k-64-64 with ReLU hidden layers, a linear code and a sigmoid output
all trained with the same squared error, and scored by the test MSE per pixel.

What to look for
- mse_vs_code_size.png and the table: the linear AE lands on PCA's error (Baldi & Hornik, 1989: with
  MSE, a linear autoencoder's optimum spans the principal subspace; it need not find the components
  themselves). A nonlinear AE can beat PCA, clearly at small k with depth; the shallow sigmoid AE
  gains little, and at large k PCA is hard to beat with this little data.
- reconstructions_k4.png: the four reconstructions at k = 4.
"""

from __future__ import annotations

import _common

SIZES = (2, 4, 8, 16, 32)


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "pca_vs_linear_vs_nonlinear", argv)
    from sklearn.decomposition import PCA

    from tinyae import viz, zoo
    from tinyae.experiment import blas_single_thread, pixel_mse, train
    from tinyae.train import predict

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        D, X, Xt = ds.n_features, ds.X_train, ds.X_test
        sizes = (2, 4) if args.quick else SIZES
        fit_kw = {"epochs": _common.epochs(args, 80), "batch_size": 32, "X_val": ds.X_val, "seed": args.seed,
                  "progress": False}
        methods = ("PCA", "linear AE", "shallow sigmoid AE", "deep ReLU AE")
        errors = {m: [] for m in methods}
        shown = {}
        for k in sizes:
            pca = PCA(n_components=k, random_state=0).fit(X)
            R_pca = pca.inverse_transform(pca.transform(Xt))
            models = {
                "linear AE": (zoo.shallow_ae(D, k, activation="identity", output="linear", seed=args.seed), 3e-3),
                "shallow sigmoid AE": (zoo.shallow_ae(D, k, seed=args.seed), 1e-2),
                "deep ReLU AE": (zoo.stacked_ae(D, (64, k), output="sigmoid", seed=args.seed), 3e-3),
            }
            errors["PCA"].append(float(((R_pca - Xt) ** 2).mean()))
            for label, (model, lr) in models.items():
                run = train(label, model, X, lr=lr, **fit_kw)
                errors[label].append(pixel_mse(model, Xt))
                print(f"  k = {k:2d}  {label}: {run.seconds:.1f}s, test MSE {errors[label][-1]:.4f}", flush=True)
            if k == 4:
                shown = {"PCA": R_pca, **{label: predict(m, Xt) for label, (m, _) in models.items()}}
        rows = [[k, *(errors[m][i] for m in methods)] for i, k in enumerate(sizes)]
        report.table("test_mse", ["code size k", *methods], rows, title="Test MSE per pixel at equal code size")
        report.figure(viz.compare_curves(sizes, errors, xlabel="code size k (numbers per 64-pixel digit)",
                                         ylabel="test MSE per pixel", log_y=True,
                                         title="Reconstruction error against code size"), "mse_vs_code_size.png")
        if shown:
            report.figure(viz.reconstruction_grid(Xt, shown, ds.image_shape, n=12,
                                                  title="Reconstructions from a code of 4 numbers"),
                          "reconstructions_k4.png")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

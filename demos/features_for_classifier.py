"""Encoder features for a downstream classifier: logistic regression on raw pixels vs PCA vs autoencoder codes.

Run:  python demos/features_for_classifier.py [--quick] [--out DIR]

The autoencoders never see a label. Their codes are then used as the input of a logistic regression
(scikit-learn, features standardised, trained on the training digits, scored on the test digits):
  raw pixels          all 64 pixels (the reference: no compression)
  PCA                 the k leading principal components
  shallow sigmoid AE  the k sigmoid units of a 64-k-64 autoencoder
  deep ReLU AE        the k-dimensional linear code of a 64-64-k-64-64 autoencoder
for code sizes k = 2, 4, 8, 16.

What to look for
- The accuracy table and accuracy_vs_code_size.png: at small k, which k numbers per digit keep the
  most label information? A nonlinear code can separate classes a linear projection mixes, so the deep
  AE tends to lead at k = 2 and 4; as k grows every method approaches the raw-pixel accuracy. Whether
  the autoencoder wins on this run is printed, not assumed (see docs/demos.md for the numbers).
- codes_k2.png: the 2-D features of PCA and of the deep AE, coloured by digit.
"""

from __future__ import annotations

import _common

SIZES = (2, 4, 8, 16)


def accuracy(F_train, y_train, F_test, y_test, max_iter=2000) -> float:
    """Test accuracy of a logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    return float(clf.fit(F_train, y_train).score(F_test, y_test))


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "features_for_classifier", argv)
    from sklearn.decomposition import PCA

    from tinyae import viz, zoo
    from tinyae.tour import blas_single_thread, train
    from tinyae.train import encode

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        D, X, y, Xt, yt = ds.n_features, ds.X_train, ds.y_train, ds.X_test, ds.y_test
        sizes = (2,) if args.quick else SIZES
        iters = 100 if args.quick else 2000
        fit_kw = {"epochs": _common.epochs(args, 80), "batch_size": 32, "X_val": ds.X_val, "seed": args.seed,
                  "progress": False}
        raw = accuracy(X, y, Xt, yt, iters)
        methods = ("PCA", "shallow sigmoid AE", "deep ReLU AE")
        acc = {m: [] for m in methods}
        for k in sizes:
            pca = PCA(n_components=k, random_state=0).fit(X)
            feats = {"PCA": (pca.transform(X), pca.transform(Xt))}
            models = {"shallow sigmoid AE": (zoo.shallow_ae(D, k, seed=args.seed), 1e-2),
                      "deep ReLU AE": (zoo.stacked_ae(D, (64, k), output="sigmoid", seed=args.seed), 3e-3)}
            for label, (model, lr) in models.items():
                train(label, model, X, lr=lr, **fit_kw)
                feats[label] = (encode(model, X), encode(model, Xt))
            for m in methods:
                acc[m].append(accuracy(feats[m][0], y, feats[m][1], yt, iters))
            print(f"  k = {k:2d}: " + ", ".join(f"{m} {acc[m][-1]:.3f}" for m in methods), flush=True)
            if k == 2:
                for m in ("PCA", "deep ReLU AE"):
                    name = "pca" if m == "PCA" else "deep_ae"
                    report.figure(viz.latent_maps(feats[m][1], yt, methods=("raw",), class_names=ds.classes,
                                                  title=f"{m}: 2-D features of the test digits"),
                                  f"codes_k2_{name}.png")
        rows = [[k, *(acc[m][i] for m in methods)] for i, k in enumerate(sizes)]
        rows.append([f"{D} (raw pixels)", raw, raw, raw])
        report.table("accuracy", ["features per digit", *methods], rows,
                     title="Test accuracy of logistic regression on each set of features")
        best = {k: max(methods, key=lambda m, i=i: acc[m][i]) for i, k in enumerate(sizes)}
        report.value("best_at_each_k", best, "best features at each k: "
                     + ", ".join(f"k={k}: {m}" for k, m in best.items()))
        report.figure(viz.compare_curves(sizes, acc, reference={f"all {D} raw pixels": raw},
                                         xlabel="number of features k", ylabel="test accuracy",
                                         title="Logistic regression on k features learned without labels"),
                      "accuracy_vs_code_size.png")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

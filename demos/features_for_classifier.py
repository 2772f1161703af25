"""Encoder features for a downstream classifier: logistic regression on raw pixels vs PCA vs autoencoder codes.

Run:  python demos/features_for_classifier.py [--quick] [--out DIR]

The autoencoders never see a label. Each feature extractor is the first step of one scikit-learn
pipeline, the same shape for all of them:

    make_pipeline(EXTRACTOR, StandardScaler(), LogisticRegression())

fitted on the training digits and scored on the test digits, with EXTRACTOR one of
  raw pixels          nothing: all 64 pixels (the reference: no compression)
  PCA                 PCA(n_components=k): the k leading principal components
  shallow sigmoid AE  AutoencoderTransformer("ae", hidden=k): the k sigmoid units of a 64-k-64 autoencoder
  deep ReLU AE        AutoencoderTransformer("stacked", hidden=(64, k)): the linear k-code of 64-64-k-64-64
for code sizes k = 2, 4, 8, 16. Then GridSearchCV picks k for PCA and for the deep AE by 3-fold
cross-validated accuracy on the training digits (k as a grid parameter, like any other hyperparameter).

What to look for
- The accuracy table and accuracy_vs_code_size.png: at small k, which k numbers per digit keep the
  most label information? A nonlinear code can separate classes a linear projection mixes, so the deep
  AE tends to lead at k = 2 and 4; as k grows every method approaches the raw-pixel accuracy. Whether
  the autoencoder wins on this run is printed, not assumed (see docs/demos.md for the numbers).
- The grid search: which k cross-validation picks (more features rarely hurt a linear classifier, so
  expect the largest), and what the autoencoder's search costs in time next to PCA's.
- codes_k2.png: the 2-D features of PCA and of the deep AE, coloured by digit.
"""

from __future__ import annotations

import time

import _common

SIZES = (2, 4, 8, 16)


def classifier(extractor=None, max_iter=2000):
    """The pipeline every feature set goes through: [extractor ->] standardise -> logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [] if extractor is None else [extractor]
    return make_pipeline(*steps, StandardScaler(), LogisticRegression(max_iter=max_iter))


def extractors(k, args):
    """The three ways to get k features per digit, as unfitted scikit-learn transformers."""
    from sklearn.decomposition import PCA

    from tinyae.sklearn import AutoencoderTransformer

    epochs = _common.epochs(args, 80)
    return {"PCA": PCA(n_components=k, random_state=0),
            "shallow sigmoid AE": AutoencoderTransformer("ae", hidden=k, epochs=epochs, lr=1e-2,
                                                         random_state=args.seed),
            "deep ReLU AE": AutoencoderTransformer("stacked", hidden=(64, k), model_params={"output": "sigmoid"},
                                                   epochs=epochs, lr=3e-3, random_state=args.seed)}


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "features_for_classifier", argv)
    from sklearn.model_selection import GridSearchCV

    from tinyae import viz
    from tinyae.experiment import blas_single_thread

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        D, X, y, Xt, yt = ds.n_features, ds.X_train, ds.y_train, ds.X_test, ds.y_test
        sizes = (2,) if args.quick else SIZES
        iters = 100 if args.quick else 2000
        raw = float(classifier(None, iters).fit(X, y).score(Xt, yt))
        methods = ("PCA", "shallow sigmoid AE", "deep ReLU AE")
        acc = {m: [] for m in methods}
        for k in sizes:
            for m, extractor in extractors(k, args).items():
                start = time.perf_counter()
                clf = classifier(extractor, iters).fit(X, y)
                acc[m].append(float(clf.score(Xt, yt)))
                if m != "PCA":
                    print(f"  {m}, k = {k}: fitted in {time.perf_counter() - start:.1f}s", flush=True)
                if k == 2 and m != "shallow sigmoid AE":
                    name = "pca" if m == "PCA" else "deep_ae"
                    report.figure(viz.latent_maps(clf[0].transform(Xt), yt, methods=("raw",), class_names=ds.classes,
                                                  title=f"{m}: 2-D features of the test digits"),
                                  f"codes_k2_{name}.png")
            print(f"  k = {k:2d}: " + ", ".join(f"{m} {acc[m][-1]:.3f}" for m in methods), flush=True)
        rows = [[k, *(acc[m][i] for m in methods)] for i, k in enumerate(sizes)]
        rows.append([f"{D} (raw pixels)", raw, raw, raw])
        report.table("accuracy", ["features per digit", *methods], rows,
                     title="Test accuracy of logistic regression on each set of features")
        best = {k: max(methods, key=lambda m, i=i: acc[m][i]) for i, k in enumerate(sizes)}
        report.value("best_at_each_k", best, "best features at each k: "
                     + ", ".join(f"k={k}: {m}" for k, m in best.items()))

        # Choosing k by cross-validation: the code size is a grid parameter like any other.
        grid_sizes = (2, 4) if args.quick else SIZES
        searches = {"PCA": ("pca__n_components", extractors(2, args)["PCA"]),
                    "deep ReLU AE": ("autoencodertransformer__hidden", extractors(2, args)["deep ReLU AE"])}
        grid_rows = []
        for m, (param, extractor) in searches.items():
            values = list(grid_sizes) if m == "PCA" else [(64, k) for k in grid_sizes]
            start = time.perf_counter()
            search = GridSearchCV(classifier(extractor, iters), {param: values}, cv=2 if args.quick else 3)
            search.fit(X, y)
            seconds = time.perf_counter() - start
            chosen = search.best_params_[param]
            k = chosen[-1] if isinstance(chosen, tuple) else chosen
            grid_rows.append([m, k, float(search.best_score_), float(search.score(Xt, yt)), seconds])
        report.table("grid_search", ["features", "k chosen", "CV accuracy", "test accuracy", "seconds"], grid_rows,
                     title=f"GridSearchCV over k in {list(grid_sizes)} ({len(grid_sizes)} sizes x "
                           f"{2 if args.quick else 3} folds + the refit)")
        report.figure(viz.compare_curves(sizes, acc, reference={f"all {D} raw pixels": raw},
                                         xlabel="number of features k", ylabel="test accuracy",
                                         title="Logistic regression on k features learned without labels"),
                      "accuracy_vs_code_size.png")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

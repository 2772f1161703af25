"""Anomaly detection by reconstruction error: train on nine digits, flag the tenth.

Run:  python demos/anomaly_detection.py [--quick] [--out DIR] [--holdout DIGIT]

An autoencoder trained only on "normal" data reconstructs it well and anything unlike it badly, so
its reconstruction error is an anomaly score. Here the normal data are the training digits of nine
classes; the held-out class never appears in training. On the test set, the score should rank the
held-out digits above the others: the ROC AUC measures how well (0.5 chance, 1.0 perfect).
The autoencoder (64-64-8-64-64, ReLU, MSE) is a scikit-learn transformer,
AutoencoderTransformer("stacked", hidden=(64, 8)), compared with PCA(n_components=8), whose
reconstruction error is the classic linear baseline. Both are scored the same way, by
inverse_transform(transform(X)) (for the autoencoder that is -score_samples(X)). Every class is held
out in turn (one model each). For the first held-out digit, GridSearchCV then picks the code size of
each by cross-validated reconstruction error of the normal training digits (no anomaly is needed to
choose it), and the test AUC at the chosen size is printed next to the AUC at size 8.

What to look for
- The table: AUC per held-out digit, autoencoder vs PCA. Some digits are easy to flag (they look like
  no other), some hard (a held-out 9 resembles the 4s, 7s and 3s the model did learn). Whether the
  nonlinear model beats the linear baseline is printed per class, not assumed.
- The grid search: the code that reconstructs normal digits best is the largest, but a larger code
  also reconstructs the anomalies better; whether the AUC rises or falls with it is printed.
- scores_DIGIT.png: the score histograms of normal and held-out test digits and the ROC curves, for
  the first held-out digit and for the one the autoencoder flags worst (lowest AUC).
- worst_DIGIT.png: the normal test digits the model reconstructs worst next to the held-out ones it
  reconstructs best: where the detector is fooled.
"""

from __future__ import annotations

import time

import _common

CODE = 8


def holdout_arg(parser):
    parser.add_argument("--holdout", type=int, default=None, choices=range(10), metavar="DIGIT",
                        help="hold out only this digit, 0-9 (default: each digit in turn; --quick: digit 0)")


def scores(est, X):
    """Reconstruction error per image, mean squared error over its pixels, for any fitted transformer with
    ``inverse_transform`` (PCA or AutoencoderTransformer alike)."""
    return ((est.inverse_transform(est.transform(X)) - X) ** 2).mean(axis=1)


def neg_reconstruction_error(est, X, y=None):
    """A GridSearchCV scorer: minus the mean reconstruction error (higher is better; y is not used)."""
    return -float(scores(est, X).mean())


def autoencoder(args, hidden=(64, CODE)):
    from tinyae.sklearn import AutoencoderTransformer

    return AutoencoderTransformer("stacked", hidden=hidden, model_params={"output": "sigmoid"},
                                  epochs=_common.epochs(args, 60), batch_size=32, lr=3e-3, random_state=args.seed)


def grid_sizes(args):
    """The code sizes the grid search tries, and its number of folds."""
    return ((2, 4), 2) if args.quick else ((2, 4, 8, 16), 3)


def grid_search(args, X, Xt, out, auc_at_code):
    """Choose each model's code size by GridSearchCV on normal digits alone; return the table rows."""
    from sklearn.decomposition import PCA
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV

    sizes, folds = grid_sizes(args)
    candidates = {"autoencoder": (autoencoder(args), "hidden", [(64, k) for k in sizes]),
                  "PCA": (PCA(random_state=0), "n_components", list(sizes))}
    rows = []
    for name, (est, param, values) in candidates.items():
        start = time.perf_counter()
        search = GridSearchCV(est, {param: values}, scoring=neg_reconstruction_error, cv=folds).fit(X)
        seconds = time.perf_counter() - start
        chosen = search.best_params_[param]
        auc = float(roc_auc_score(out, scores(search.best_estimator_, Xt)))
        rows.append([name, chosen[-1] if isinstance(chosen, tuple) else chosen, -float(search.best_score_), auc,
                     auc_at_code[name], seconds])
    return rows


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "anomaly_detection", argv, extra=holdout_arg)
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.metrics import roc_auc_score

    from tinyae import viz
    from tinyae.experiment import blas_single_thread

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        Xt, yt = ds.X_test, ds.y_test
        if args.holdout is not None:
            digits = [args.holdout]
        else:
            digits = [0] if args.quick else sorted(set(ds.y_train.tolist()))
        rows, kept = [], {}
        for c in digits:
            X = ds.X_train[ds.y_train != c]
            start = time.perf_counter()
            ae = autoencoder(args).fit(X)
            print(f"  AE without digit {c}: {len(ae.history_)} epochs in {time.perf_counter() - start:.1f}s, "
                  f"loss {ae.history_.loss[-1]:.4g}", flush=True)
            pca = PCA(n_components=CODE, random_state=0).fit(X)
            s_ae, s_pca = scores(ae, Xt), scores(pca, Xt)
            out = yt == c  # the held-out class: the anomalies
            auc_ae, auc_pca = (float(roc_auc_score(out, s)) for s in (s_ae, s_pca))
            rows.append([ds.classes[c], int(out.sum()), auc_ae, auc_pca, "AE" if auc_ae > auc_pca else "PCA"])
            kept[c] = (s_ae, s_pca, ae.inverse_transform(ae.transform(Xt)))
            if c == digits[0]:
                grid = grid_search(args, X, Xt, out, {"autoencoder": auc_ae, "PCA": auc_pca})
        figure_digits = [digits[0]]
        hardest = digits[min(range(len(rows)), key=lambda i: rows[i][2])]
        if hardest not in figure_digits:
            figure_digits.append(hardest)  # where the detector does worst
        for c in figure_digits:
            s_ae, s_pca, R = kept[c]
            out = yt == c
            report.figure(viz.anomaly_scores({"autoencoder": s_ae[~out], f"PCA ({CODE})": s_pca[~out]},
                                             {"autoencoder": s_ae[out], f"PCA ({CODE})": s_pca[out]},
                                             labels=("normal digits", f"held-out digit {ds.classes[c]}"),
                                             title=f"Reconstruction error as anomaly score: digit "
                                                   f"{ds.classes[c]} never seen in training"),
                          f"scores_{ds.classes[c]}.png")
            normal_idx = np.flatnonzero(~out)[np.argsort(-s_ae[~out])][:10]
            held_idx = np.flatnonzero(out)[np.argsort(s_ae[out])][:10]
            rows_img = {"worst normal digits": Xt[normal_idx], "their reconstructions": R[normal_idx],
                        f"best-hidden {ds.classes[c]}s": Xt[held_idx], "their reconstructions ": R[held_idx]}
            notes = {"worst normal digits": "highest scores", f"best-hidden {ds.classes[c]}s": "lowest scores"}
            report.figure(viz.image_rows(rows_img, ds.image_shape, n=10, notes=notes,
                                         title=f"Where the detector is fooled (held-out digit {ds.classes[c]})"),
                          f"worst_{ds.classes[c]}.png")
        mean_ae = float(np.mean([r[2] for r in rows]))
        mean_pca = float(np.mean([r[3] for r in rows]))
        if len(rows) > 1:
            rows.append(["mean", "-", mean_ae, mean_pca, "AE" if mean_ae > mean_pca else "PCA"])
        report.table("auc", ["held-out digit", "test images of it", "ROC AUC autoencoder", f"ROC AUC PCA ({CODE})",
                             "better"], rows, title="Detecting a digit never seen in training (test set)")
        sizes, folds = grid_sizes(args)
        report.table("grid_search", ["model", "code size chosen", "CV reconstruction MSE", "test AUC at it",
                                     f"test AUC at {CODE}", "seconds"], grid,
                     title=f"GridSearchCV over the code size {list(sizes)} ({folds} folds, normal training digits "
                           f"only), held-out digit {ds.classes[digits[0]]}")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

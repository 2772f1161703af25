"""Anomaly detection by reconstruction error: train on nine digits, flag the tenth.

Run:  python demos/anomaly_detection.py [--quick] [--out DIR] [--holdout DIGIT]

An autoencoder trained only on "normal" data reconstructs it well and anything unlike it badly, so
its reconstruction error is an anomaly score. Here the normal data are the training digits of nine
classes; the held-out class never appears in training. On the test set, the score should rank the
held-out digits above the others: the ROC AUC measures how well (0.5 chance, 1.0 perfect).
The autoencoder (64-64-8-64-64, ReLU, MSE) is compared with PCA with the same code size (8), whose
reconstruction error is the classic linear baseline. Every class is held out in turn (one model each).

What to look for
- The table: AUC per held-out digit, autoencoder vs PCA. Some digits are easy to flag (they look like
  no other), some hard (a held-out 9 resembles the 4s, 7s and 3s the model did learn). Whether the
  nonlinear model beats the linear baseline is printed per class, not assumed.
- scores_DIGIT.png: the score histograms of normal and held-out test digits and the ROC curves, for
  the first held-out digit and for the one the autoencoder flags worst (lowest AUC).
- worst_DIGIT.png: the normal test digits the model reconstructs worst next to the held-out ones it
  reconstructs best: where the detector is fooled.
"""

from __future__ import annotations

import _common

CODE = 8


def holdout_arg(parser):
    parser.add_argument("--holdout", type=int, default=None,
                        help="hold out only this digit (default: each digit in turn; --quick: digit 0)")


def scores(R, X):
    """Reconstruction error per image: mean squared error over its pixels."""
    return ((R.reshape(len(R), -1) - X.reshape(len(X), -1)) ** 2).mean(axis=1)


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "anomaly_detection", argv, extra=holdout_arg)
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.metrics import roc_auc_score

    from tinyae import viz, zoo
    from tinyae.tour import blas_single_thread, train
    from tinyae.train import predict

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        D, Xt, yt = ds.n_features, ds.X_test, ds.y_test
        if args.holdout is not None:
            digits = [args.holdout]
        else:
            digits = [0] if args.quick else sorted(set(ds.y_train.tolist()))
        rows, kept = [], {}
        for c in digits:
            keep = ds.y_train != c
            X, Xv = ds.X_train[keep], ds.X_val[ds.y_val != c]
            model = zoo.stacked_ae(D, (64, CODE), output="sigmoid", seed=args.seed)
            train(f"AE without digit {c}", model, X, epochs=_common.epochs(args, 60), batch_size=32, lr=3e-3,
                  X_val=Xv, seed=args.seed)
            pca = PCA(n_components=CODE, random_state=0).fit(X)
            s_ae = scores(predict(model, Xt), Xt)
            s_pca = scores(pca.inverse_transform(pca.transform(Xt)), Xt)
            out = yt == c  # the held-out class: the anomalies
            auc_ae, auc_pca = (float(roc_auc_score(out, s)) for s in (s_ae, s_pca))
            rows.append([ds.classes[c], int(out.sum()), auc_ae, auc_pca, "AE" if auc_ae > auc_pca else "PCA"])
            kept[c] = (s_ae, s_pca, predict(model, Xt))
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
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

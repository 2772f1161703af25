"""The plain dense autoencoder: 64 pixels -> 16 sigmoid units -> 64 pixels, trained with MSE.

Run:  python demos/dense_ae.py [--quick] [--out DIR]

What to look for
- reconstructions.png: the reconstructions keep each digit's shape but lose fine detail; the
  bottleneck (16 numbers for 64 pixels) forces the network to keep what matters most.
- loss_curves.png: training and validation loss fall together (no overfitting at this size).
- latent_map.png: the codes, projected to 2-D by PCA and t-SNE and coloured by the digit label the
  model never saw, gather by digit: the code describes the image's content.
- filters.png: each hidden unit's incoming weights as an 8x8 image. Pixels at the left and right edges
  are 0 in almost every digit, so their weights get (almost) no gradient and keep their random start:
  the speckle at the borders of the tiles.
Numbers: test MSE per pixel against two baselines (the mean image, and PCA with as many components).
"""

from __future__ import annotations

import _common


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "dense_ae", argv)
    from sklearn.decomposition import PCA

    from tinyae import viz, zoo
    from tinyae.experiment import blas_single_thread, pixel_mse, train
    from tinyae.train import encode, predict

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        D, k = ds.n_features, ds.n_features // 4
        model = zoo.shallow_ae(D, k, seed=args.seed)
        run = train(f"dense AE {D}-{k}-{D}", model, ds.X_train, epochs=_common.epochs(args, 80), batch_size=32,
                    lr=1e-2, X_val=ds.X_val, seed=args.seed)
        pca = PCA(n_components=min(k, len(ds.X_train)), random_state=0).fit(ds.X_train)
        R_pca = pca.inverse_transform(pca.transform(ds.X_test))
        rows = [
            ["mean training image", float(((ds.X_test - ds.X_train.mean(0)) ** 2).mean())],
            [f"PCA, {k} components", float(((ds.X_test - R_pca) ** 2).mean())],
            [f"dense AE {D}-{k}-{D} (sigmoid)", pixel_mse(model, ds.X_test)],
        ]
        report.table("test_mse", ["reconstruction", "test MSE per pixel"], rows, title="Test reconstruction error")
        report.value("train_seconds", round(run.seconds, 1))

        R = predict(model, ds.X_test)
        report.figure(viz.reconstruction_grid(ds.X_test, {f"AE ({k} units)": R, f"PCA ({k} comp.)": R_pca},
                                              ds.image_shape, n=12), "reconstructions.png")
        report.figure(viz.loss_curves({"dense AE: squared error per pixel": run.history}), "loss_curves.png")
        report.figure(viz.latent_maps(encode(model, ds.X_test), ds.y_test, class_names=ds.classes, seed=args.seed,
                                      title=f"The {k}-D codes of the test digits, projected to 2-D"),
                      "latent_map.png")
        inked = (ds.X_train > 0).mean(axis=0) >= 0.01  # pixels the digits use; the rest keep random weights
        report.figure(viz.filter_tiles(model.encoder[0].W.value, ds.image_shape, active=inked,
                                       title="What each hidden unit looks for: its weights as an image"),
                      "filters.png")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

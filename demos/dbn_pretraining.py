"""Deep belief autoencoder 64-128-64-32-8: RBM pretraining vs random initialisation vs PCA, at a code of 8.

Run:  python demos/dbn_pretraining.py [--quick] [--out DIR]

Hinton & Salakhutdinov (2006) trained a deep autoencoder (784-1000-500-250-30 on MNIST) in three steps:
train a restricted Boltzmann machine on the pixels with contrastive divergence, another on its hidden
units, and so on up to the code (whose units are linear: a Gaussian-hidden RBM); unroll the stack into
an encoder and, with the transposed weights, a decoder; fine-tune the whole by backprop. From a random
start the same deep sigmoid network barely trained, and the fine-tuned one beat PCA at the same code size.
Here the same comparison is scaled to the 8x8 digits: 64-128-64-32-8 (the sizes of ``zoo.dbn_ae(64)``),
4 RBMs of 20 CD-1 epochs each, then 100 epochs of fine-tuning by Adam with BCE on the output logits,
against the same network fine-tuned from its random (Xavier) start and against PCA with 8 components.
With ``--data mnist`` (files in the cache) the network is the paper's own 784-1000-500-250-30.

What to look for
- The table: the unrolled RBM stack reconstructs before any backprop (far better than the mean image),
  fine-tuning takes it to well under half of PCA's error, while the randomly initialised network,
  with as many epochs of backprop, only gets to about PCA's error.
- val_curves.png: the pretrained network's validation loss starts where the random one is still
  stuck after many epochs.
- reconstructions.png: the pretrained and fine-tuned row is the sharpest; the random start's digits are
  blurred and some are the wrong digit.
- rbm_levels.png: each RBM's reconstruction error (relative to the variance of its input) falls during
  its CD-1 epochs. first_filters.png: the first RBM's filters (localised blobs and stroke fragments,
  noisy after 20 epochs on 1294 digits), nearly unchanged by fine-tuning: backprop adjusts them.
"""

from __future__ import annotations

import _common

RBM_SETTINGS = dict(batch_size=20, lr=0.1, lr_code=0.01, momentum=0.9, weight_decay=2e-4)
LR = 3e-3  # Adam, fine-tuning and the random start alike
BATCH = 32


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "dbn_pretraining", argv)
    import time

    from sklearn.decomposition import PCA

    from tinyae import rbm, viz, zoo
    from tinyae.experiment import blas_single_thread, pixel_mse, train
    from tinyae.train import predict

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        D = ds.n_features
        epochs = _common.epochs(args, 100)
        rbm_epochs = 2 if args.quick else 20

        # 1. greedy RBM pretraining, unrolled into the deep autoencoder
        start = time.perf_counter()
        pretrained = zoo.dbn_ae(D, seed=args.seed)  # 64-128-64-32-8 for the digits, 784-1000-500-250-30 for MNIST
        sizes = tuple(dense.out_features for dense in pretrained.encoder.layers[::2])
        code, arch = sizes[-1], "-".join(map(str, (D, *sizes)))
        levels = rbm.pretrain(pretrained, ds.X_train, epochs=rbm_epochs, seed=args.seed, **RBM_SETTINGS)
        pretrain_seconds = time.perf_counter() - start
        unrolled_mse = pixel_mse(pretrained, ds.X_test)
        recs = {"RBM stack, unrolled (no backprop)": predict(pretrained, ds.X_test)}

        # the RBMs' progress: reconstruction error over the variance of each level's input
        level_rows, level_curves, inputs = [], {}, ds.X_train.astype("float64")
        for i, (machine, history) in enumerate(levels):
            variance = float(inputs.var(axis=0).mean())
            errors = history["reconstruction_error"]
            level_curves[f"RBM {i + 1}: {machine.n_visible}-{machine.n_hidden} ({machine.hidden})"] = [
                e / variance for e in errors]
            level_rows.append([i + 1, f"{machine.n_visible}-{machine.n_hidden}", machine.hidden, variance, errors[0],
                               errors[-1]])
            inputs = machine.hidden_mean(inputs)
        report.table("rbm_levels", ["level", "RBM", "hidden units", "input variance", "recon. error, epoch 1",
                                    f"recon. error, epoch {rbm_epochs}"], level_rows,
                     title=f"Greedy pretraining: {len(levels)} RBMs x {rbm_epochs} CD-1 epochs "
                           f"(mean-field reconstruction error per unit, training data)")

        # 2. fine-tuning, and the same network from its random start
        run_ft = train("RBM-pretrained: fine-tuning", pretrained, ds.X_train, epochs=epochs, batch_size=BATCH, lr=LR,
                       X_val=ds.X_val, seed=args.seed)
        random_init = zoo.dbn_ae(D, seed=args.seed)
        run_rand = train("random start: training", random_init, ds.X_train, epochs=epochs, batch_size=BATCH, lr=LR,
                         X_val=ds.X_val, seed=args.seed)

        # 3. PCA with as many components as the code has numbers
        start = time.perf_counter()
        pca = PCA(code).fit(ds.X_train)
        pca_rec = pca.inverse_transform(pca.transform(ds.X_test))
        pca_seconds = time.perf_counter() - start
        pca_mse = float(((pca_rec - ds.X_test) ** 2).mean())

        mean_mse = float(((ds.X_test - ds.X_train.mean(axis=0)) ** 2).mean())
        rows = [
            ["mean training image (no code)", "-", mean_mse, 0.0],
            [f"PCA, {code} components", "-", pca_mse, pca_seconds],
            [f"{arch} from random weights, {epochs} epochs", "-", pixel_mse(random_init, ds.X_test),
             run_rand.seconds],
            [f"{arch} RBM-pretrained, then {epochs} epochs of fine-tuning", unrolled_mse,
             pixel_mse(pretrained, ds.X_test), pretrain_seconds + run_ft.seconds],
        ]
        report.table("test_mse", ["model", "test MSE after pretraining", "final test MSE", "seconds"], rows,
                     title=f"Code of {code} numbers, test MSE per pixel ({len(ds.X_test)} test digits)")
        report.value("pretrain_seconds", round(pretrain_seconds, 2),
                     f"\npretraining the {len(levels)} RBMs took {pretrain_seconds:.1f}s")

        recs = {f"PCA, {code} components": pca_rec,
                "random start + backprop": predict(random_init, ds.X_test),
                **recs,
                "RBM-pretrained + backprop": predict(pretrained, ds.X_test)}
        report.figure(viz.reconstruction_grid(ds.X_test, recs, ds.image_shape, n=12,
                                              title=f"Codes of {code} numbers: reconstructions of test digits"),
                      "reconstructions.png")
        report.figure(viz.compare_curves(range(1, epochs + 1),
                                         {"RBM-pretrained, fine-tuning": run_ft.history.val_loss,
                                          "random start": run_rand.history.val_loss},
                                         xlabel="epoch of backprop",
                                         ylabel="validation loss (BCE on logits, per pixel)", log_y=True,
                                         title=f"{arch}: RBM-pretrained vs random start"),
                      "val_curves.png")
        report.figure(viz.compare_curves(range(1, rbm_epochs + 1), level_curves, xlabel="CD-1 epoch",
                                         ylabel="reconstruction error / input variance", log_y=True,
                                         title="Each RBM learns its level (greedy pretraining)"),
                      "rbm_levels.png")
        report.figure(viz.filter_tiles({"RBM 1, pretrained": levels[0][0].W,
                                        "after fine-tuning": pretrained.encoder[0].W.value}, ds.image_shape, n=64,
                                       title="First-layer filters, 64 of 128 (each tile scaled alone: grey 0, "
                                             "white +, black -)"),
                      "first_filters.png")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

"""Deep (stacked) autoencoder 64-48-32-8-32-48-64: greedy layer-wise pretraining vs end-to-end training.

Run:  python demos/stacked_greedy_vs_end_to_end.py [--quick] [--out DIR]

Greedy pretraining (Bengio et al., 2007; Hinton & Salakhutdinov, 2006) trains the stack one shallow
autoencoder at a time (level k reconstructs the codes of level k-1), then fine-tunes the whole stack.
It was how deep autoencoders were first trained at all. Here each stack is trained both ways, with
ReLU hidden layers and with sigmoid hidden layers, the same number of fine-tuning epochs as end-to-end
epochs (pretraining comes on top).

What to look for
- The table: with sigmoid layers, end-to-end training from a random start is slow (the gradient shrinks
  through each saturating layer) and pretraining gives a much better starting point. With ReLU layers
  and Adam, end-to-end training does as well on its own: the reason pretraining fell out of use.
- val_curves.png: the validation loss per epoch of fine-tuning (starts low) and of end-to-end training.
- reconstructions.png: the four models on the same test digits.
"""

from __future__ import annotations

import _common

SIZES = (48, 32, 8)
LR = 3e-3


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "stacked_greedy_vs_end_to_end", argv)
    from tinyae import viz, zoo
    from tinyae.experiment import blas_single_thread, pixel_mse, train
    from tinyae.train import predict

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        D = ds.n_features
        epochs = _common.epochs(args, 40)
        pre_epochs = 1 if args.quick else 10
        arch = "-".join(map(str, (D, *SIZES, *SIZES[-2::-1], D)))
        rows, curves, recs = [], {}, {}
        for act in ("relu", "sigmoid"):
            e2e = zoo.stacked_ae(D, SIZES, activation=act, seed=args.seed)
            run_e2e = train(f"{act}: end-to-end", e2e, ds.X_train, epochs=epochs, batch_size=32, lr=LR,
                            X_val=ds.X_val, seed=args.seed)
            greedy = zoo.stacked_ae(D, SIZES, activation=act, seed=args.seed)
            levels = zoo.greedy_pretrain(greedy, ds.X_train, epochs=pre_epochs, batch_size=32, lr=LR, seed=args.seed)
            after_pretraining = pixel_mse(greedy, ds.X_test)
            run_ft = train(f"{act}: pretrained, fine-tuned", greedy, ds.X_train, epochs=epochs, batch_size=32, lr=LR,
                           X_val=ds.X_val, seed=args.seed)
            rows.append([act, "end-to-end from random weights", "-", pixel_mse(e2e, ds.X_test)])
            rows.append([act, f"greedy pretraining ({len(levels)} levels x {pre_epochs} epochs), then fine-tuning",
                         after_pretraining, pixel_mse(greedy, ds.X_test)])
            curves[f"{act}: end-to-end"] = run_e2e.history.val_loss
            curves[f"{act}: pretrained + fine-tuned"] = run_ft.history.val_loss
            recs[f"{act}, end-to-end"] = predict(e2e, ds.X_test)
            recs[f"{act}, pretrained"] = predict(greedy, ds.X_test)
        report.table("test_mse", ["hidden layers", "training", "test MSE after pretraining", "final test MSE"], rows,
                     title=f"Stacked AE {arch}, {epochs} epochs of (fine-)tuning, test MSE per pixel")

        report.figure(viz.compare_curves(range(1, epochs + 1), curves, xlabel="epoch of end-to-end / fine-tuning",
                                         ylabel="validation loss (BCE on logits, per pixel)", log_y=True,
                                         title=f"Stacked AE {arch}: does greedy pretraining help?"),
                      "val_curves.png")
        report.figure(viz.reconstruction_grid(ds.X_test, recs, ds.image_shape, n=12,
                                              title=f"Stacked AE {arch}: reconstructions of test digits"),
                      "reconstructions.png")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

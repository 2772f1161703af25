"""Sparse autoencoders: the classic MSE / MSE+L2 / MSE+L2+KL comparison, then L1 (ReLU) vs KL (sigmoid) sparsity.

Run:  python demos/sparse_l1_vs_kl.py [--quick] [--out DIR]

Part 1 is the classic sparse-autoencoder experiment (a 784-196-784 sigmoid network on MNIST), scaled to
the 8x8 digits with the same 4:1 ratio: 64-16-64, sigmoid code and output, squared error summed over
pixels and averaged over the batch, then + L2 weight decay (lam), then + the KL sparsity penalty
beta * sum_j KL(rho || rho_hat_j) on the batch-mean activation rho_hat_j of each unit.
Part 2 compares two ways to sparsity in an overcomplete code (64 units for 64 pixels): an L1 penalty on
ReLU activations (exact zeros) and the KL penalty on sigmoid activations (small but never zero).

What to look for
- The tables: the KL models' mean code activation lands near rho (the penalty's target); L2 alone
  shrinks the weights but does not make the code sparse; sparsity costs some reconstruction error.
- "exact zeros": only the ReLU code has them. "dead units" (never above 0.05 on the test set): L1
  switches some units off for good, KL cannot (a unit that never fires has rho_hat far below rho).
- filters_classic.png / filters_overcomplete.png: L2 and sparsity turn noisy weights into localized
  stroke detectors (the classic picture).
- codes_classic.png / codes_overcomplete.png: activation histograms, with rho marked.
- loss_curves.png: every penalty term per epoch next to the reconstruction term.
"""

from __future__ import annotations

import _common

RHO_CLASSIC, BETA, LAM = 0.1, 3.0, 1e-3
RHO_OVER, LAM_L1 = 0.05, 3e-2


def classic_ae(D, H, *, weight_decay=None, rho=None, seed=0):
    """The classic sparse AE: sigmoid code and output, squared error summed over pixels (mean over the batch)."""
    from tinyae import backend
    from tinyae.layers import Dense, Sigmoid
    from tinyae.losses import MSE, KLSparsity
    from tinyae.models import Autoencoder, Sequential

    rng = backend.make_rng(seed)
    encoder = Sequential(Dense(D, H, init="sigmoid", seed=rng), Sigmoid())
    decoder = Sequential(Dense(H, D, init="sigmoid", seed=rng), Sigmoid())
    penalties = [KLSparsity(rho, BETA)] if rho is not None else []
    return Autoencoder(encoder, decoder, loss=MSE(reduction="batch_mean"), penalties=penalties,
                       weight_decay=weight_decay, input_shape=(D,))


def code_stats(model, X):
    """Test MSE and sparsity numbers of a model's code on X."""
    from tinyae.experiment import pixel_mse
    from tinyae.train import encode

    H = encode(model, X)
    return H, {"test MSE": pixel_mse(model, X), "mean activation": float(H.mean()),
               "share of h < 0.05": float((H < 0.05).mean()), "exact zeros": float((H == 0).mean()),
               "dead units": int((H.max(axis=0) < 0.05).sum())}


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "sparse_l1_vs_kl", argv)
    from tinyae import viz, zoo
    from tinyae.experiment import blas_single_thread, train

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        D = ds.n_features
        H = D // 4
        epochs = _common.epochs(args, 60)
        fit_kw = {"epochs": epochs, "batch_size": 32, "lr": 1e-2, "X_val": ds.X_val, "seed": args.seed}
        headers = ["model", "test MSE", "mean activation", "share of h < 0.05", "exact zeros", "dead units"]

        classic = {
            "MSE": classic_ae(D, H, seed=args.seed),
            f"MSE + L2 ({LAM:g})": classic_ae(D, H, weight_decay=LAM, seed=args.seed),
            f"MSE + L2 + KL (rho {RHO_CLASSIC})": classic_ae(D, H, weight_decay=LAM, rho=RHO_CLASSIC, seed=args.seed),
        }
        over = {
            f"L1 on ReLU code (lam {LAM_L1:g})": zoo.sparse_l1_ae(D, D, lam=LAM_L1, seed=args.seed),
            f"KL on sigmoid code (rho {RHO_OVER}) + L2": zoo.sparse_kl_ae(D, D, rho=RHO_OVER, beta=BETA,
                                                                          weight_decay=1e-4, seed=args.seed),
        }
        histories, codes = {}, {}
        for group, models in (("classic", classic), ("overcomplete", over)):
            rows = []
            for label, model in models.items():
                lr = 3e-3 if label.startswith("L1") else 1e-2
                histories[label] = train(label, model, ds.X_train, **{**fit_kw, "lr": lr}).history
                codes[label], stats = code_stats(model, ds.X_test)
                rows.append([label, *stats.values()])
            title = (f"Part 1, the classic experiment on {D}-{H}-{D} (sigmoid; beta {BETA})" if group == "classic"
                     else f"Part 2, overcomplete {D}-{D}-{D}: L1 vs KL sparsity")
            report.table(group, headers, rows, title=title)

        report.figure(viz.filter_tiles({k: m.encoder[0].W.value for k, m in classic.items()}, ds.image_shape,
                                       title=f"{D}-{H}-{D} first-layer filters: plain, + weight decay, "
                                             f"+ weight decay and KL sparsity"), "filters_classic.png")
        report.figure(viz.filter_tiles({k: m.encoder[0].W.value for k, m in over.items()}, ds.image_shape,
                                       title=f"{D}-{D}-{D} first-layer filters: L1 (ReLU) vs KL (sigmoid) sparsity"),
                      "filters_overcomplete.png")
        report.figure(viz.code_histograms({k: codes[k] for k in classic}, rho=RHO_CLASSIC,
                                          title=f"{D}-{H}-{D} code activations on the test set"),
                      "codes_classic.png")
        report.figure(viz.code_histograms({k: codes[k] for k in over}, rho=RHO_OVER,
                                          title=f"{D}-{D}-{D} code activations on the test set "
                                                f"(ReLU codes are not bounded by 1)"), "codes_overcomplete.png")
        report.figure(viz.loss_curves(histories, title="Loss per epoch: reconstruction and each penalty "
                                                       "(train solid, validation dashed)"), "loss_curves.png")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

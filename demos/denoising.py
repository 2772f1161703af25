"""Denoising autoencoders: trained on Gaussian noise and on input dropout (masking), vs a plain autoencoder.

Run:  python demos/denoising.py [--quick] [--out DIR]

Three 64-32-64 sigmoid autoencoders (BCE on logits) with the same architecture and training:
  plain AE        trained to reconstruct clean x from clean x
  DAE (Gaussian)  trained on x + N(0, 0.3^2) (clipped to [0, 1]), target the clean x
  DAE (masking)   trained on x with 25% of its pixels set to 0 (input dropout), target the clean x
The corruption is a layer at the front of the encoder, active only in training (Vincent et al., 2008).
All three are then given test digits corrupted both ways.

What to look for
- The table: each model's output compared with the clean digit. The plain AE removes part of the noise
  too (its bottleneck cannot copy noise), but each DAE removes more of the corruption it was trained on.
  On clean input the DAEs reconstruct worse (about twice the plain AE's error on digits): the price
  of robustness.
- denoising_gaussian.png / denoising_masking.png: corrupted input, each model's output, clean digit.
- triptych.png: each DAE on the corruption it was trained for.
- filters.png: the first-layer filters of the three models.
"""

from __future__ import annotations

import _common

STD, DROP = 0.3, 0.25


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "denoising", argv)
    from tinyae import viz, zoo
    from tinyae.data import gaussian_noise, masking_noise
    from tinyae.experiment import blas_single_thread, pixel_mse, train
    from tinyae.train import predict

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        D, H, seed = ds.n_features, ds.n_features // 2, args.seed
        models = {
            "plain AE": zoo.shallow_ae(D, H, output="logits", seed=seed),
            f"DAE (Gaussian {STD})": zoo.denoising_ae(D, H, noise="gaussian", level=STD, seed=seed),
            f"DAE (masking {DROP:.0%})": zoo.denoising_ae(D, H, noise="masking", level=DROP, seed=seed),
        }
        histories = {}
        for label, model in models.items():
            histories[label] = train(label, model, ds.X_train, epochs=_common.epochs(args, 60), batch_size=32,
                                     lr=3e-3, X_val=ds.X_val, seed=seed).history

        Xt = ds.X_test
        corrupted = {f"Gaussian noise, std {STD}": gaussian_noise(Xt, STD, seed + 1),
                     f"masking, {DROP:.0%} of pixels": masking_noise(Xt, DROP, seed + 2)}

        def mse(A):
            return float(((A - Xt) ** 2).mean())

        rows = [["clean input (no corruption)", 0.0, *(pixel_mse(m, Xt) for m in models.values())]]
        outputs = {}
        for name, Xn in corrupted.items():
            outputs[name] = {label: predict(m, Xn) for label, m in models.items()}
            rows.append([name, mse(Xn), *(mse(R) for R in outputs[name].values())])
        report.table("mse_to_clean", ["test input", "input itself", *models], rows,
                     title="Mean squared error to the clean test digits (per pixel)")

        for (name, Xn), fname in zip(corrupted.items(), ("denoising_gaussian.png", "denoising_masking.png")):
            rows_img = {"input": Xn, **outputs[name], "clean": Xt}
            notes = {k: f"MSE {mse(v):.4f}" for k, v in rows_img.items() if k != "clean"}
            report.figure(viz.image_rows(rows_img, ds.image_shape, n=12, notes=notes,
                                         title=f"Test digits with {name}: what each model makes of them"), fname)
        (g_name, g_in), (m_name, m_in) = corrupted.items()
        g_model, m_model = list(models)[1], list(models)[2]
        report.figure(viz.denoising_triptych({g_name: g_in, m_name: m_in},
                                             {g_name: outputs[g_name][g_model], m_name: outputs[m_name][m_model]},
                                             Xt, ds.image_shape, n=12,
                                             title="Each denoising AE on the corruption it was trained with"),
                      "triptych.png")
        report.figure(viz.filter_tiles({k: m.encoder[-2].W.value for k, m in models.items()}, ds.image_shape,
                                       title="First-layer filters of the plain and the denoising autoencoders"),
                      "filters.png")
        report.figure(viz.loss_curves(histories, title="Loss per epoch (BCE on logits; the DAEs train on "
                                                       "corrupted input, validate on clean input)"),
                      "loss_curves.png")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

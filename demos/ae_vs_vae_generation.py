"""Plain autoencoder vs variational autoencoder as generators of new digits.

Run:  python demos/ae_vs_vae_generation.py [--quick] [--out DIR]

For each code size L (2 and 8) two models with the same layers (64-64-L-64-64, ReLU, BCE on logits):
  plain AE  a deterministic code; to "generate", fit a Gaussian N(mean, covariance) to the codes of
            the training digits and decode draws from it (a plain AE has no prior of its own)
  VAE       a Gaussian code trained with a KL term towards N(0, I); decode draws from that prior
500 samples of each are scored three ways:
  distance   the squared distance per pixel from each sample to its nearest training digit (lower:
             closer to a real digit); real test digits give the reference value
  confidence how sure a logistic-regression digit classifier (trained on the raw training pixels) is
             of its label for the sample (mean of the top class probability)
  labels     how many digit classes the samples spread over (exp of the entropy of the predicted labels; 10 is even)

What to look for
- samples.png: at L = 8, the VAE's samples are blurrier (its decoder averages over nearby codes) but are
  digits; the plain AE's are sharper but more often malformed, where the fitted Gaussian puts mass in
  the gaps between the regions its codes actually occupy. At L = 2 the two look alike: a Gaussian fitted
  to a 2-D code covers it well enough.
- codes_L2_ae.png / codes_L2_vae.png: the 2-D codes of both models. The VAE's fill a round blob near
  N(0, I); the plain AE's form elongated clusters with empty space between them, which a Gaussian fit cannot know about.
- manifold_*.png: the decoded latent plane. For L = 8, the grid runs over the first two principal
  directions of the codes (the others at their mean).
- The table: whether the numbers agree with the pictures (see docs/demos.md for this run's numbers).
"""

from __future__ import annotations

import _common

LATENTS = (2, 8)
N_SAMPLES = 500


def sample_scores(S, X_train, clf):
    """Distance to the nearest training image, classifier confidence, and the spread over labels."""
    import numpy as np

    from tinyae.experiment import distance_to_nearest

    P = clf.predict_proba(np.asarray(S, dtype=np.float64))
    share = np.bincount(P.argmax(axis=1), minlength=P.shape[1]) / len(P)
    share = share[share > 0]
    return [distance_to_nearest(S, X_train), float(P.max(axis=1).mean()), float(np.exp(-(share * np.log(share)).sum()))]


def main(argv=None) -> int:
    args = _common.parse_args(__doc__, "ae_vs_vae_generation", argv)
    from sklearn.linear_model import LogisticRegression

    from tinyae import viz, zoo
    from tinyae.experiment import blas_single_thread, pixel_mse, train
    from tinyae.train import encode

    with blas_single_thread():
        report = _common.Report(args)
        ds = _common.load_data(args)
        D, X = ds.n_features, ds.X_train
        n = 50 if args.quick else N_SAMPLES
        clf = LogisticRegression(max_iter=100 if args.quick else 2000).fit(X, ds.y_train)
        rows = [["real test digits", "-", "-", *sample_scores(ds.X_test[:n], X, clf)]]
        samples, fit_kw = {}, {"epochs": _common.epochs(args, 80), "batch_size": 32, "lr": 3e-3, "X_val": ds.X_val,
                                "seed": args.seed}
        for L in LATENTS:
            ae = zoo.stacked_ae(D, (64, L), seed=args.seed)
            vae = zoo.vae(D, hidden=64, latent_dim=L, seed=args.seed)
            train(f"plain AE, L = {L}", ae, X, **fit_kw)
            train(f"VAE, L = {L}", vae, X, **fit_kw)
            codes_ae, mu = encode(ae, X), encode(vae, X)
            S_ae = ae.decode(viz.gaussian_codes(codes_ae, n, seed=args.seed).astype(X.dtype))
            S_vae = vae.sample(n, seed=args.seed)
            samples[f"plain AE, L = {L}\nz ~ Gaussian fitted to codes"] = S_ae
            samples[f"VAE, L = {L}\nz ~ N(0, I)"] = S_vae
            rows.append([f"plain AE, L = {L}", L, pixel_mse(ae, ds.X_test), *sample_scores(S_ae, X, clf)])
            rows.append([f"VAE, L = {L}", L, pixel_mse(vae, ds.X_test), *sample_scores(S_vae, X, clf)])
            for name, model, codes in (("ae", ae, codes_ae), ("vae", vae, mu)):
                grid_codes = None if (name == "vae" and L == 2) else codes
                report.figure(viz.latent_manifold(model.decode, L, ds.image_shape, n=12, codes=grid_codes,
                                                  title=f"{'VAE' if name == 'vae' else 'Plain AE'}, L = {L}: "
                                                        f"decoded latent grid"), f"manifold_{name}_L{L}.png")
            if L == 2:
                report.figure(viz.latent_maps(codes_ae, ds.y_train, methods=("raw",), class_names=ds.classes,
                                              title="Plain AE: 2-D codes of the training digits"), "codes_L2_ae.png")
                report.figure(viz.latent_maps(mu, ds.y_train, methods=("raw",), class_names=ds.classes,
                                              title="VAE: 2-D codes (means mu) of the training digits"),
                              "codes_L2_vae.png")
        report.table("samples", ["model", "code size", "test MSE", "distance to nearest training digit",
                                 "classifier confidence", "labels spread over"], rows,
                     title=f"{n} generated samples per model (real test digits for reference)")
        report.figure(viz.generation_comparison(samples, ds.image_shape, n=36,
                                                title="Decoded random codes: plain AE vs VAE"), "samples.png")
        return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())

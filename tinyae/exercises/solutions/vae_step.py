"""Stage 5 · vae_step: one VAE training step, the loss and every gradient

Task: write the body of `vae_loss_and_backward`: the negative ELBO of a batch and its gradient, ADDED
into every Param of the encoder and the decoder (tinyae layers: `forward`, `backward`). Stage 5's two
other exercises are its pieces.

    stats       = encoder(x)                    (N, 2L): mu = stats[:, :L], logvar = stats[:, L:]
    z           = mu + exp(0.5 logvar) * eps    eps (N, L), given
    out         = decoder(z)                    logits, (N, D)
    loss        = recon(out, x) + beta * KL(mu, logvar)
    dz          = decoder.backward(recon.backward())
    dmu         = dz + beta * dKL/dmu
    dlogvar     = dz * eps * 0.5 * exp(0.5 logvar) + beta * dKL/dlogvar
    encoder.backward(concatenate([dmu, dlogvar], axis=1))

recon is BCEWithLogits("batch_mean") and kl is GaussianKL("batch_mean"), tinyae's (given). The check
compares the loss and every gradient with tinyae's `VAE.loss_and_backward` on the same layers and
noise, runs `tinyae.gradcheck.check_model`, and trains a small VAE a few steps with your gradient.

Derivation: docs/vae.md (the gradient through the sampling step). Check: `tinyae exercise check vae_step`.
"""

import numpy as np

from tinyae.losses import BCEWithLogits, GaussianKL


def vae_loss_and_backward(encoder, decoder, x, eps, beta=1.0):
    """The negative ELBO of the batch x (N, D) with noise eps (N, L); ADDS every gradient into .grad."""
    recon, kl = BCEWithLogits("batch_mean"), GaussianKL("batch_mean")
    L = eps.shape[1]
    # BEGIN YOUR CODE: forward (mu, logvar, z, out, loss), then backward through the decoder, z and the encoder
    stats = encoder.forward(x, training=True)  # (N, 2L)
    mu, logvar = stats[:, :L], stats[:, L:]
    sigma = np.exp(0.5 * logvar)
    z = mu + sigma * eps  # (N, L)
    out = decoder.forward(z, training=True)
    loss = recon.forward(out, x) + beta * kl.forward(mu, logvar)
    dz = decoder.backward(recon.backward())  # (N, L)
    dmu_kl, dlogvar_kl = kl.backward()
    dmu = dz + beta * dmu_kl
    dlogvar = dz * eps * 0.5 * sigma + beta * dlogvar_kl
    encoder.backward(np.concatenate([dmu, dlogvar], axis=1))  # (N, 2L)
    return loss
    # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("vae_step", vae_loss_and_backward)
    raise SystemExit(0 if result.passed else 1)

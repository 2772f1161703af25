"""Stage 5 · gaussian_kl: the KL divergence of the encoder's Gaussian from the prior, and its gradients

Task: write `GaussianKL.forward` and `GaussianKL.backward`. Per sample, the KL of N(mu, diag(sigma^2))
from N(0, I) has a closed form; summed over the latent dimensions and averaged over the batch:

    KL      = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) / N        mu, logvar (N, L)
    dKL/dmu     = mu / N
    dKL/dlogvar = 0.5 * (exp(logvar) - 1) / N

backward returns the two gradients as a pair (dmu, dlogvar). The KL is 0 exactly at the prior
(mu = 0, logvar = 0), where both gradients vanish.

Derivation: docs/losses.md (GaussianKL) and docs/vae.md. Check: `tinyae exercise check gaussian_kl`.
"""

import numpy as np


class GaussianKL:
    """KL(N(mu, exp(logvar)) || N(0, 1)), summed over latent dimensions, mean over the batch."""

    def __init__(self):
        self.mu = self.logvar = None

    def forward(self, mu, logvar):
        # BEGIN YOUR CODE: keep what backward needs, return the KL
        self.mu, self.logvar = mu, logvar
        return -0.5 * np.sum(1 + logvar - mu * mu - np.exp(logvar)) / mu.shape[0]
        # END YOUR CODE

    def backward(self):
        # BEGIN YOUR CODE: return (dmu, dlogvar)
        n = self.mu.shape[0]
        return self.mu / n, 0.5 * (np.exp(self.logvar) - 1) / n
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("gaussian_kl", GaussianKL)
    raise SystemExit(0 if result.passed else 1)

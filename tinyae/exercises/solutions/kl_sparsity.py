"""Stage 2 · kl_sparsity: the KL sparsity penalty of a sparse autoencoder

Task: write `KLSparsity.forward` and `KLSparsity.backward`. h (N, units) is a sigmoid code, values in
(0, 1); each unit's AVERAGE activation over the batch should be about rho:

    rho_hat_j   = (1/N) sum_n h[n, j]                                     the batch mean, (units,)
    L           = beta * sum_j [rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j))]
    dL/dh[n, j] = beta * (-rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j)) / N    the same for every n

The 1/N comes from d rho_hat_j / d h[n, j] = 1/N. The penalty is on the batch mean, not on each
sample: a unit may be on for a few samples and off for the rest.

Derivation: docs/losses.md (KLSparsity). Check: `tinyae exercise check kl_sparsity`.
"""

import numpy as np


class KLSparsity:
    """beta * sum_j KL(rho || rho_hat_j), rho_hat the batch mean activation."""

    def __init__(self, rho=0.05, beta=3.0):
        self.rho, self.beta = rho, beta
        self.rho_hat = self.shape = None

    def forward(self, h):
        # BEGIN YOUR CODE: rho_hat (keep it, and h's shape), return the penalty
        rho, r = self.rho, h.mean(axis=0)  # (units,)
        self.rho_hat, self.shape = r, h.shape
        return self.beta * np.sum(rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r)))
        # END YOUR CODE

    def backward(self):
        # BEGIN YOUR CODE: return dL/dh, shape (N, units)
        rho, r, n = self.rho, self.rho_hat, self.shape[0]
        d_rho_hat = self.beta * (-rho / r + (1 - rho) / (1 - r))  # (units,)
        return np.broadcast_to(d_rho_hat / n, self.shape).copy()  # every sample gets the same
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("kl_sparsity", KLSparsity)
    raise SystemExit(0 if result.passed else 1)

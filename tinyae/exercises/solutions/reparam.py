"""Stage 5 · reparam: the reparameterisation step and its two gradients

Task: write `reparameterize` and `reparameterize_backward`. A VAE's encoder outputs the mean mu and
the log-variance logvar of a Gaussian; the sample is written as a function of them and of noise eps
drawn outside the model, so the gradient can flow to mu and logvar:

    sigma = exp(0.5 * logvar)                  the standard deviation (exp(logvar) is the VARIANCE)
    z     = mu + sigma * eps                   mu, logvar, eps, z: (N, L)
    dmu     = dz                               dz/dmu = 1
    dlogvar = dz * eps * 0.5 * sigma           dz/dlogvar = eps * d/dlogvar exp(0.5 logvar)

eps is a constant of the backward pass. Finite differences cannot tell sigma = exp(logvar) from the
right formula when backward is consistent with it; the check also measures the spread of z over many
draws of eps (its variance must be exp(logvar)).

Derivation: docs/vae.md (the reparameterisation trick; why exp(0.5 * logvar)).
Check: `tinyae exercise check reparam`.
"""

import numpy as np


def reparameterize(mu, logvar, eps):
    """z = mu + exp(0.5 * logvar) * eps."""
    # BEGIN YOUR CODE: return z
    return mu + np.exp(0.5 * logvar) * eps
    # END YOUR CODE


def reparameterize_backward(dz, mu, logvar, eps):
    """(dmu, dlogvar) from dz = dL/dz."""
    # BEGIN YOUR CODE: return dmu, dlogvar
    sigma = np.exp(0.5 * logvar)
    return dz, dz * eps * 0.5 * sigma
    # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("reparam", reparameterize, reparameterize_backward)
    raise SystemExit(0 if result.passed else 1)

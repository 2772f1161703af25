"""Stage 2 · bce_logits: binary cross-entropy on logits, in the stable form

Task: write `BCEWithLogits.forward` and `BCEWithLogits.backward`. The input is a logit z (a linear
output, any real number); the probability is sigmoid(z). Averaged over every entry:

    l_i   = -(t log sigmoid(z) + (1 - t) log(1 - sigmoid(z)))
          = max(z, 0) - z t + log1p(exp(-|z|))          the stable form: exp never sees a positive number
    L     = sum(l) / D,              D = z.size
    dL/dz = (sigmoid(z) - t) / D

Computed the first way, z = 800 gives exp(800) = inf and the loss is nan; the check feeds such logits.

Derivation: docs/losses.md (BCEWithLogits). Check: `tinyae exercise check bce_logits`.
"""

import numpy as np


def stable_sigmoid(z):
    """1 / (1 + exp(-z)) without overflow."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


class BCEWithLogits:
    """Binary cross-entropy of logits z against targets t, mean over all entries."""

    def __init__(self):
        self.z = self.t = None

    def forward(self, z, t):
        # BEGIN YOUR CODE: keep z and t, return the mean of the stable l
        self.z, self.t = z, t
        return np.sum(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))) / z.size
        # END YOUR CODE

    def backward(self):
        # BEGIN YOUR CODE: return dL/dz
        return (stable_sigmoid(self.z) - self.t) / self.z.size
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("bce_logits", BCEWithLogits)
    raise SystemExit(0 if result.passed else 1)

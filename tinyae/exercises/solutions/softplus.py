"""Stage 1 · softplus: log(1 + exp(x)), computed stably, and its derivative

Task: write `Softplus.forward` and `Softplus.backward`.

    forward    y  = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))     any shape
    backward   dx = dy * sigmoid(x)

The first form overflows for x > 709 in float64 (exp(710) is inf); the second is the same number
and never takes exp of a positive argument. The check feeds x = 800.

Derivation: docs/layers/activations.md. Check: `tinyae exercise check softplus` (or run this file).
"""

import numpy as np

from tinyae.layers.base import Layer


def stable_sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp only ever sees -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Softplus(Layer):
    """y = log(1 + exp(x)), element-wise."""

    def __init__(self):
        self.x = None

    def forward(self, x, training=False):
        # BEGIN YOUR CODE: keep x, return the stable softplus
        self.x = x
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
        # END YOUR CODE

    def backward(self, dy):
        # BEGIN YOUR CODE: return dx
        return dy * stable_sigmoid(self.x)
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("softplus", Softplus)
    raise SystemExit(0 if result.passed else 1)

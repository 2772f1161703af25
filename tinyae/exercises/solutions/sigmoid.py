"""Stage 1 · sigmoid: the logistic function and its derivative y (1 - y)

Task: write `Sigmoid.forward` and `Sigmoid.backward`.

    forward    y  = 1 / (1 + exp(-x))          any shape, y like x
    backward   dx = dy * y * (1 - y)           element-wise: sigma'(x) = sigma(x) (1 - sigma(x))

Keep the output y (not the input): the derivative is cheapest in terms of y. `stable_sigmoid` below
computes the forward without overflow for very negative x; use it.

Derivation: docs/layers/activations.md. Check: `tinyae exercise check sigmoid` (or run this file).
"""

import numpy as np

from tinyae.layers.base import Layer


def stable_sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp only ever sees -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Layer):
    """y = sigmoid(x), element-wise."""

    def __init__(self):
        self.y = None

    def forward(self, x, training=False):
        # BEGIN YOUR CODE: compute y, keep it for backward, return it
        self.y = stable_sigmoid(x)
        return self.y
        # END YOUR CODE

    def backward(self, dy):
        # BEGIN YOUR CODE: return dx
        return dy * self.y * (1 - self.y)
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("sigmoid", Sigmoid)
    raise SystemExit(0 if result.passed else 1)

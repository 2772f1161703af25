"""Stage 1 · tanh: the hyperbolic tangent and its derivative 1 - y^2

Task: write `Tanh.forward` and `Tanh.backward`.

    forward    y  = tanh(x)                    any shape
    backward   dx = dy * (1 - y^2)

Derivation: docs/layers/activations.md. Check: `tinyae exercise check tanh` (or run this file).
"""

import numpy as np

from tinyae.layers.base import Layer


class Tanh(Layer):
    """y = tanh(x), element-wise."""

    def __init__(self):
        self.y = None

    def forward(self, x, training=False):
        # BEGIN YOUR CODE: keep y = tanh(x), return it
        self.y = np.tanh(x)
        return self.y
        # END YOUR CODE

    def backward(self, dy):
        # BEGIN YOUR CODE: return dx
        return dy * (1 - self.y * self.y)
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("tanh", Tanh)
    raise SystemExit(0 if result.passed else 1)

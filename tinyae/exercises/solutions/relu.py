"""Stage 1 · relu: max(x, 0) and its mask

Task: write `ReLU.forward` and `ReLU.backward`.

    forward    y  = max(x, 0)                  any shape, y like x
    backward   dx = dy * [x > 0]               the derivative is 1 where x > 0, else 0

At exactly x = 0 the derivative is taken as 0 (the left one). Keep the boolean mask in forward.
Never modify `dy` in place: it belongs to the caller.

Derivation: docs/layers/activations.md. Check: `tinyae exercise check relu` (or run this file).
"""

import numpy as np

from tinyae.layers.base import Layer


class ReLU(Layer):
    """y = max(x, 0), element-wise."""

    def __init__(self):
        self.mask = None

    def forward(self, x, training=False):
        # BEGIN YOUR CODE: keep the mask x > 0, return max(x, 0)
        self.mask = x > 0
        return np.maximum(x, 0)
        # END YOUR CODE

    def backward(self, dy):
        # BEGIN YOUR CODE: return dx
        return dy * self.mask
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("relu", ReLU)
    raise SystemExit(0 if result.passed else 1)

"""Stage 2 · mse: the mean squared error and its gradient

Task: write `MSE.forward` and `MSE.backward`.

    forward    L = sum((pred - target)^2) / D,   D = pred.size (every entry counts once)
    backward   dL/dpred = 2 (pred - target) / D, the shape of pred

A loss's backward takes no argument: it is the start of the chain rule, dL/dL = 1. Divide by exactly
what forward divided by: D is the number of ENTRIES (batch times features), not the batch size.

Derivation: docs/losses.md (MSE, and "Reductions"). Check: `tinyae exercise check mse`.
"""

import numpy as np


class MSE:
    """Mean squared error over all entries."""

    def __init__(self):
        self.diff = None

    def forward(self, pred, target):
        # BEGIN YOUR CODE: keep what backward needs, return the loss (one number)
        self.diff = pred - target
        return np.sum(self.diff * self.diff) / pred.size
        # END YOUR CODE

    def backward(self):
        # BEGIN YOUR CODE: return dL/dpred
        return 2 * self.diff / self.diff.size
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("mse", MSE)
    raise SystemExit(0 if result.passed else 1)

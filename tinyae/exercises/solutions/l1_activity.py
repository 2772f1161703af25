"""Stage 2 · l1_activity: the L1 penalty on a code, pushing activations to exactly 0

Task: write `L1Activity.forward` and `L1Activity.backward`, a penalty on the code h (N, units):

    L     = lam * sum|h| / N,       N = h.shape[0], the batch size ("batch_mean": per sample, summed over units)
    dL/dh = lam * sign(h) / N       (0 at h = 0: the subgradient an optimizer sees)

Derivation: docs/losses.md (L1Activity). Check: `tinyae exercise check l1_activity`.
"""

import numpy as np


class L1Activity:
    """lam * sum|h| / N."""

    def __init__(self, lam):
        self.lam = lam
        self.h = None

    def forward(self, h):
        # BEGIN YOUR CODE: keep h, return the penalty
        self.h = h
        return self.lam * np.sum(np.abs(h)) / h.shape[0]
        # END YOUR CODE

    def backward(self):
        # BEGIN YOUR CODE: return dL/dh
        return self.lam * np.sign(self.h) / self.h.shape[0]
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("l1_activity", L1Activity)
    raise SystemExit(0 if result.passed else 1)

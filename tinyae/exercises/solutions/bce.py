"""Stage 2 · bce: binary cross-entropy on probabilities

Task: write `BCE.forward` and `BCE.backward`, for probabilities p (a sigmoid's output) and targets t
in [0, 1], averaged over every entry.

    l_i = -(t_i log p_i + (1 - t_i) log(1 - p_i))
    L   = sum(l) / D,                     D = p.size
    dL/dp = (p - t) / (p (1 - p)) / D     (from -t/p + (1 - t)/(1 - p), over one denominator)

p is first clipped to [eps, 1 - eps] (given) so that log never sees 0; backward uses the clipped p.

Derivation: docs/losses.md (BCE). Check: `tinyae exercise check bce`.
"""

import numpy as np


class BCE:
    """Binary cross-entropy of probabilities p against targets t, mean over all entries."""

    def __init__(self, eps=1e-7):
        self.eps = eps
        self.p = self.t = None

    def forward(self, p, t):
        p = np.clip(p, self.eps, 1 - self.eps)  # log(0) would be -inf
        # BEGIN YOUR CODE: keep p and t, return the mean of l
        self.p, self.t = p, t
        return -np.sum(t * np.log(p) + (1 - t) * np.log1p(-p)) / p.size
        # END YOUR CODE

    def backward(self):
        # BEGIN YOUR CODE: return dL/dp
        p, t = self.p, self.t
        return (p - t) / (p * (1 - p) * p.size)
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("bce", BCE)
    raise SystemExit(0 if result.passed else 1)

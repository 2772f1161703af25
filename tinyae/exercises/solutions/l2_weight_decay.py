"""Stage 2 · l2_weight_decay: weight decay, a penalty on Params

Task: write `L2WeightDecay.forward` and `L2WeightDecay.backward`. The penalty reads Params (tinyae's
`Param`: `.value` and `.grad`), not an input:

    L = 0.5 * lam * sum over the Params W of sum(W^2)
    dL/dW = lam * W, ADDED into W.grad (the data gradient is already there); backward returns None

Derivation: docs/losses.md (L2WeightDecay). Check: `tinyae exercise check l2_weight_decay`.
"""

import numpy as np


class L2WeightDecay:
    """0.5 * lam * sum(W^2) over the given Params."""

    def __init__(self, params, lam):
        self.weights = list(params)
        self.lam = lam

    def params(self):
        return iter(self.weights)

    def forward(self):
        # BEGIN YOUR CODE: return the penalty
        return 0.5 * self.lam * sum(np.sum(W.value * W.value) for W in self.weights)
        # END YOUR CODE

    def backward(self):
        # BEGIN YOUR CODE: add lam * W into each W.grad; return nothing
        for W in self.weights:
            W.grad += self.lam * W.value
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("l2_weight_decay", L2WeightDecay)
    raise SystemExit(0 if result.passed else 1)

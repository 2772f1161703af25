"""Stage 1 · dense: the affine layer y = x W + b

Task: write `Dense.forward` and `Dense.backward`. The constructor, the Params and `params()` are given.

    forward    y  = x @ W + b          x (N, in), W (in, out), b (out,), y (N, out)
    backward   dW = x.T @ dy           (in, N) @ (N, out) -> (in, out)
               db = sum_n dy[n]        (out,)
               dx = dy @ W.T           (N, out) @ (out, in) -> (N, in)

The contract: forward keeps on `self` what backward needs; backward ADDS dW into `self.W.grad` and
db into `self.b.grad` (`+=`, so a Param used twice collects both uses) and returns dx. It never
changes `dy` or a Param's value.

Derivation: docs/layers/dense.md. Check: `tinyae exercise check dense` (or run this file).
"""

import numpy as np

from tinyae.layers.base import Layer, Param


class Dense(Layer):
    """Fully connected layer y = x @ W + b, x (N, in) -> y (N, out)."""

    def __init__(self, in_features, out_features, seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        self.W = Param(rng.normal(0.0, 1.0 / np.sqrt(in_features), (in_features, out_features)).astype(dtype), "W")
        self.b = Param(np.zeros(out_features, dtype=dtype), "b")
        self.x = None

    def params(self):
        yield self.W
        yield self.b

    def forward(self, x, training=False):
        # BEGIN YOUR CODE: keep x for backward, return y = x @ W + b
        self.x = x  # (N, in): dW needs it
        return x @ self.W.value + self.b.value  # (N, in) @ (in, out) + (out,) -> (N, out)
        # END YOUR CODE

    def backward(self, dy):
        # BEGIN YOUR CODE: add dW into self.W.grad and db into self.b.grad, return dx
        self.W.grad += self.x.T @ dy  # (in, N) @ (N, out) -> (in, out)
        self.b.grad += dy.sum(axis=0)  # (out,)
        return dy @ self.W.value.T  # (N, out) @ (out, in) -> (N, in)
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("dense", Dense)
    raise SystemExit(0 if result.passed else 1)

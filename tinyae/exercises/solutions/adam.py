"""Stage 6 · adam: Adam with bias correction

Task: write `Adam.step`. The moments start at 0 and t counts the steps from 1 (Kingma & Ba, 2015):

    g      = p.grad
    m      = b1 m + (1 - b1) g               first moment, per Param, same shape
    v      = b2 v + (1 - b2) g^2             second moment (element-wise square)
    m_hat  = m / (1 - b1^t)                  the bias correction: undo the pull towards the zero start
    v_hat  = v / (1 - b2^t)
    p.value -= lr * m_hat / (sqrt(v_hat) + eps)     in place: the Param keeps its array

At t = 1, m_hat = g and v_hat = g^2: the first step is lr * g / (|g| + eps), about lr * sign(g).
Finite differences cannot check an optimizer; the check runs your Adam and tinyae's side by side over
a sequence of steps (betas and lr you have not seen) and compares every value after every step.

Derivation: docs/optim.md (Adam). Check: `tinyae exercise check adam`.
"""

import numpy as np


class Adam:
    """Adam over a list of Params (each with .value and .grad)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.t = 0
        self.m = [np.zeros_like(p.value) for p in self.params]
        self.v = [np.zeros_like(p.value) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = np.zeros_like(p.value)

    def step(self):
        b1, b2 = self.beta1, self.beta2
        # BEGIN YOUR CODE: count the step, update m and v, then every p.value in place
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m[...] = b1 * m + (1 - b1) * g
            v[...] = b2 * v + (1 - b2) * g * g
            m_hat = m / (1 - b1**self.t)
            v_hat = v / (1 - b2**self.t)
            p.value -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        # END YOUR CODE


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("adam", Adam)
    raise SystemExit(0 if result.passed else 1)

"""Stage 3 · sparse_ae: UFLDL's sparse autoencoder, the cost and gradient of a whole network

Task: write `SparseAutoencoder.loss_and_backward`: the cost J of a batch and its gradient with respect
to all four Params, by hand, with NumPy only (no tinyae layers). Then train it on the 8x8 digits and
look at its filters (`train_and_draw`, given).

    a1 = sigmoid(x @ W1 + b1)            x (N, 64), W1 (64, 25), a1 (N, 25)   the code
    a2 = sigmoid(a1 @ W2 + b2)           W2 (25, 64), a2 (N, 64)              the reconstruction
    J  = (1/N) sum ||a2 - x||^2                          reconstruction (MSE summed over pixels, mean over samples)
       + (lam/2) (sum W1^2 + sum W2^2)                   weight decay (not the biases)
       + beta sum_j KL(rho || rho_hat_j),  rho_hat = mean of a1 over the batch     sparsity

The gradient is the chain rule from the top; the code a1 is used twice (by the decoder and by the KL
penalty), so its gradient is the sum of both (the 1/N of rho_hat included). Stage 2's KL exercise is
the penalty on its own.

`loss_and_backward` ADDS into each Param's `.grad` and returns J (the contract `tinyae.gradcheck.check_model`
checks). The check compares J and the four gradients with tinyae's own `Autoencoder` (Dense + Sigmoid,
`MSE("batch_mean")`, `KLSparsity`, `weight_decay`) on sizes you have not seen, runs `check_model`,
and trains a few steps.

Derivation: docs/losses.md (KLSparsity, L2WeightDecay) and docs/models.md (the code used twice).
Check: `tinyae exercise check sparse_ae` (or run this file: it also trains and draws the filters).
"""

import numpy as np

from tinyae.layers.base import Param


def sigmoid(z):
    """1 / (1 + exp(-z)) without overflow."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


class SparseAutoencoder:
    """A sigmoid autoencoder n_visible -> n_hidden -> n_visible with weight decay and KL sparsity."""

    def __init__(self, n_visible=64, n_hidden=25, lam=1e-4, rho=0.05, beta=3.0, seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        r = np.sqrt(6 / (n_visible + n_hidden + 1))  # UFLDL's initialisation
        self.W1 = Param(rng.uniform(-r, r, (n_visible, n_hidden)).astype(dtype), "W1")
        self.b1 = Param(np.zeros(n_hidden, dtype=dtype), "b1")
        self.W2 = Param(rng.uniform(-r, r, (n_hidden, n_visible)).astype(dtype), "W2")
        self.b2 = Param(np.zeros(n_visible, dtype=dtype), "b2")
        self.lam, self.rho, self.beta = lam, rho, beta

    def params(self):
        return iter([self.W1, self.b1, self.W2, self.b2])

    def loss_and_backward(self, x, target=None, training=True):
        """J for the batch x (N, n_visible); ADDS dJ/dW1, dJ/db1, dJ/dW2, dJ/db2 into the grads."""
        W1, b1, W2, b2 = self.W1.value, self.b1.value, self.W2.value, self.b2.value
        lam, rho, beta = self.lam, self.rho, self.beta
        N = x.shape[0]
        # BEGIN YOUR CODE: the forward pass and the three terms of J
        a1 = sigmoid(x @ W1 + b1)  # (N, hidden)
        a2 = sigmoid(a1 @ W2 + b2)  # (N, visible)
        rho_hat = a1.mean(axis=0)  # (hidden,)
        reconstruction = np.sum((a2 - x) ** 2) / N
        decay = 0.5 * lam * (np.sum(W1 * W1) + np.sum(W2 * W2))
        sparsity = beta * np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
        # END YOUR CODE
        # BEGIN YOUR CODE: the backward pass, ADDING into the four grads
        d2 = 2 * (a2 - x) / N * a2 * (1 - a2)  # dJ/d(a1 @ W2 + b2), (N, visible)
        self.W2.grad += a1.T @ d2 + lam * W2  # (hidden, N) @ (N, visible)
        self.b2.grad += d2.sum(axis=0)
        da1 = d2 @ W2.T + beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) / N  # the code's two uses
        d1 = da1 * a1 * (1 - a1)  # (N, hidden)
        self.W1.grad += x.T @ d1 + lam * W1  # (visible, N) @ (N, hidden)
        self.b1.grad += d1.sum(axis=0)
        # END YOUR CODE
        # The three terms, kept as tinyae's models keep theirs: check_model then names the term whose
        # gradient a wrong tensor's error equals.
        self.terms = {"reconstruction": reconstruction, "weight_decay": decay, "sparsity": sparsity}
        return reconstruction + decay + sparsity


def train_and_draw(steps=300, lr=0.02, path="sparse_ae_filters.png"):
    """Train a 64-25-64 sparse autoencoder on the 8x8 digits with Adam; draw W1's 25 filters."""
    from tinyae import data, viz
    from tinyae.optim import Adam

    x = data.load("digits", dtype=np.float64).X_train  # (1294, 64), values in [0, 1]
    model = SparseAutoencoder(64, 25, lam=3e-3, rho=0.05, beta=3.0, seed=0)
    opt = Adam(list(model.params()), lr=lr)
    for step in range(steps + 1):
        opt.zero_grad()
        J = model.loss_and_backward(x)
        if step % 100 == 0:
            print(f"step {step:4d}  J = {float(J):.4f}")
        if step < steps:
            opt.step()
    viz.filter_tiles(model.W1.value, (1, 8, 8), title="Sparse autoencoder: the 25 filters of W1", path=path)
    print(f"filters drawn in {path}")
    return model


if __name__ == "__main__":
    from tinyae.exercises import check

    result = check("sparse_ae", SparseAutoencoder)
    if result.passed:
        train_and_draw()
    raise SystemExit(0 if result.passed else 1)

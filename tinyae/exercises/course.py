"""The course: six stages, 21 exercises. Each one names what the student writes, how long it takes,
the derivation page it practises, and its hints (shown one more per ``tinyae exercise hint NAME``).

The checks themselves live in ``stage1.py`` ... ``stage6.py`` (``parts_<name>``); the files the
student edits are generated from ``solutions/<name>.py`` (see ``source.py``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

STAGES = {
    1: ("dense", "the dense layer and its activations: the chain rule on one layer"),
    2: ("losses", "reconstruction losses and penalties: dividing by exactly what forward divided by"),
    3: ("sparse autoencoder", "UFLDL's exercise: the cost and gradient of a whole sparse AE, then training it"),
    4: ("convolution", "im2col and its adjoint, Conv2D, pooling and upsampling backward, ConvTranspose2D"),
    5: ("VAE", "the reparameterisation trick, the Gaussian KL, one VAE training step"),
    6: ("optimizer", "Adam with bias correction"),
}


@dataclass(frozen=True)
class Exercise:
    name: str
    stage: int
    title: str  # one line: what the student builds
    minutes: int  # a time estimate for a student who has read the derivation page
    targets: tuple  # the names the student's file defines and ``check`` receives, in order
    docs: str  # the derivation page (relative to docs/)
    hints: tuple  # progressive: each is one step closer, none is the solution

    @property
    def stage_name(self) -> str:
        return STAGES[self.stage][0]

    def parts(self, targets, rng):
        """The check's parts for these student objects: a list of (part name, function)."""
        module = importlib.import_module(f"tinyae.exercises.stage{self.stage}")
        return getattr(module, f"parts_{self.name}")(*targets, rng=rng)


def _ex(name, stage, title, minutes, targets, docs, *hints):
    return Exercise(name, stage, title, minutes, tuple(targets), docs, tuple(hints))


EXERCISES = [
    # ---- stage 1: dense -----------------------------------------------------------------------------
    _ex("dense", 1, "the affine layer y = x W + b: forward, and dx, dW, db", 20, ["Dense"], "layers/dense.md",
        "Write the shapes first: x (N, in), W (in, out), dy (N, out). Each gradient has the shape of its tensor.",
        "dW must be (in, out) and is a sum over the batch: which product of x and dy has that shape?",
        "The bias is added to every row of x @ W, so db sums dy over the batch axis (axis 0).",
        "Gradients are ADDED into .grad (+=), never assigned: a Param used twice must collect both uses."),
    _ex("sigmoid", 1, "the logistic sigmoid and its derivative y (1 - y)", 10, ["Sigmoid"], "layers/activations.md",
        "Element-wise layer: dx = dy * f'(x). What does forward need to keep so backward can compute f'?",
        "sigma'(x) = sigma(x) (1 - sigma(x)): keep the OUTPUT y, not the input.",
        "Computing 1 / (1 + exp(-x)) overflows for x < -700 in float64; the stable sigmoid is already given to you."),
    _ex("relu", 1, "max(x, 0) and its mask", 10, ["ReLU"], "layers/activations.md",
        "f'(x) is 1 where x > 0 and 0 elsewhere: keep that mask in forward.",
        "dx = dy * mask. Do not change dy in place (dy[mask] = 0 would change the caller's array)."),
    _ex("softplus", 1, "log(1 + exp(x)), computed stably, and its derivative", 10, ["Softplus"],
        "layers/activations.md",
        "softplus'(x) is the sigmoid of x: keep x (or sigmoid(x)) in forward.",
        "log(1 + exp(x)) overflows for large x. Use max(x, 0) + log1p(exp(-|x|)): the same number, exp never "
        "sees a positive argument."),
    _ex("tanh", 1, "tanh and its derivative 1 - y^2", 5, ["Tanh"], "layers/activations.md",
        "tanh'(x) = 1 - tanh(x)^2: keep the output y.",
        "dx = dy * (1 - y * y). Check the sign: the derivative is positive everywhere."),
    # ---- stage 2: losses ----------------------------------------------------------------------------
    _ex("mse", 2, "mean squared error over all entries, and its gradient", 10, ["MSE"], "losses.md",
        "L = sum((p - t)^2) / D with D = p.size. Differentiate one entry: dL/dp = 2 (p - t) / D.",
        "Divide by exactly what forward divided by: the number of ENTRIES, not the batch size."),
    _ex("bce", 2, "binary cross-entropy on probabilities", 15, ["BCE"], "losses.md",
        "l = -(t log p + (1 - t) log(1 - p)); dl/dp = -t / p + (1 - t) / (1 - p) = (p - t) / (p (1 - p)).",
        "L is the mean over all entries, so divide the gradient by p.size too.",
        "p is clipped to [eps, 1 - eps] before the logs (given): use the clipped p in backward."),
    _ex("bce_logits", 2, "binary cross-entropy on logits, the stable form", 20, ["BCEWithLogits"], "losses.md",
        "With p = sigmoid(z) the loss per entry is max(z, 0) - z t + log1p(exp(-|z|)): no exp of a positive number.",
        "On paper, check the stable form against -(t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))) at z = +-3.",
        "The gradient is beautifully simple: dl/dz = sigmoid(z) - t (then divide by the number of entries)."),
    _ex("l1_activity", 2, "the L1 activity penalty lam * sum|h| / N", 10, ["L1Activity"], "losses.md",
        "d|h|/dh = sign(h) (0 at h = 0).",
        "The reduction is batch_mean: divide by N = h.shape[0], the batch size, in forward AND backward."),
    _ex("l2_weight_decay", 2, "weight decay 0.5 lam sum W^2, added into W.grad", 10, ["L2WeightDecay"], "losses.md",
        "d/dW of 0.5 lam sum(W^2) is lam W.",
        "backward returns None and ADDS lam * W into each Param's .grad (+=): the data gradient is already there."),
    _ex("kl_sparsity", 2, "the KL sparsity penalty (rho, beta, the batch mean)", 25, ["KLSparsity"], "losses.md",
        "rho_hat is the mean of h over the BATCH (axis 0): one number per hidden unit.",
        "dL/drho_hat_j = beta (-rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j)).",
        "Each h[n, j] moves rho_hat_j by 1/N: dL/dh[n, j] = dL/drho_hat_j / N, the same for every n."),
    # ---- stage 3: the sparse autoencoder --------------------------------------------------------------
    _ex("sparse_ae", 3, "UFLDL's sparse autoencoder: the cost and gradient of a whole 64-25-64 network, then training",
        60, ["SparseAutoencoder"], "losses.md",
        "Forward: a1 = sigmoid(x W1 + b1), a2 = sigmoid(a1 W2 + b2). Write the three cost terms separately.",
        "Backward from the top: d2 = dL/da2 * a2 (1 - a2), then dW2 = a1.T @ d2, db2 = sum of d2 over the batch.",
        "The code a1 is used twice (decoder and KL penalty): dL/da1 = d2 @ W2.T + the KL's gradient (with its 1/N).",
        "Weight decay adds lam * W1 and lam * W2 to the weight gradients, not to the biases."),
    # ---- stage 4: convolution ---------------------------------------------------------------------------
    _ex("im2col", 4, "im2col and col2im, and why col2im is the adjoint", 45, ["im2col", "col2im"], "layers/conv.md",
        "Loop over the KH*KW window offsets (i, j), not over output pixels: each offset is one strided slice of xpad.",
        "Entry (i, j) of every window: xpad[:, :, i : i + sh*(OH-1) + 1 : sh, j : j + sw*(OW-1) + 1 : sw].",
        "col's row is (c*KH + i)*KW + j, its column (n*OH + oh)*OW + ow: fill a (C, KH, KW, N, OH, OW) array.",
        "col2im is the same loop with += into a padded zero array (windows overlap), then the padding is cut off."),
    _ex("conv2d", 4, "Conv2D forward and backward by im2col (stride, padding, channels)", 30, ["Conv2D"],
        "layers/conv.md",
        "Forward: col = im2col(x) (C*KH*KW, N*OH*OW); y_mat = W_mat @ col + b[:, None], W_mat = W reshaped (F, -1).",
        "y_mat is (F, N*OH*OW): reshape to (F, N, OH, OW), then move the batch axis first.",
        "Backward: dy_mat = dy moved to (F, N, OH, OW) and reshaped; dW_mat = dy_mat @ col.T; dcol = W_mat.T @ dy_mat.",
        "dx = col2im(dcol, x.shape, ...): the adjoint of the im2col that forward used."),
    _ex("maxpool", 4, "MaxPool2D backward: the gradient goes to the winner", 25, ["MaxPool2D"], "layers/pooling.md",
        "Forward kept argmax: the winner's offset k = i*KW + j inside each window, (N, C, OH, OW).",
        "Loop over the offsets (i, j): where argmax == i*KW + j, dy goes to input pixel (oh*sh + i, ow*sw + j).",
        "Windows can overlap (stride < kernel): one pixel can win twice, so ADD (+=) into dx."),
    _ex("upsample", 4, "nearest Upsample2D backward: a block SUM", 15, ["Upsample2D"], "layers/pooling.md",
        "Each input pixel is copied into an sh x sw block of the output: it feeds sh*sw outputs.",
        "So its gradient is the SUM of dy over its block (not one entry of it, not the mean).",
        "dy[:, :, i::sh, j::sw] is entry (i, j) of every block: sum these over (i, j)."),
    _ex("conv_transpose", 4, "ConvTranspose2D: the adjoint of Conv2D", 30, ["ConvTranspose2D"], "layers/conv.md",
        "Forward is Conv2D's input gradient: col = W_mat.T @ x_mat, then col2im onto the (bigger) output.",
        "x_mat is x moved to (C_in, N, H, W) and reshaped (C_in, N*H*W); W_mat is W reshaped (C_in, C_out*KH*KW).",
        "Backward uses im2col: dcol = im2col(dy); dW_mat = x_mat @ dcol.T; dx_mat = W_mat @ dcol."),
    # ---- stage 5: the VAE ---------------------------------------------------------------------------------
    _ex("reparam", 5, "the reparameterisation step z = mu + sigma eps and its two gradients", 15,
        ["reparameterize", "reparameterize_backward"], "vae.md",
        "sigma is the standard deviation: exp(0.5 * logvar), not exp(logvar) (that is the variance).",
        "dz/dmu = 1; dz/dlogvar = eps * 0.5 * exp(0.5 * logvar).",
        "eps is a constant of the backward pass: it gets no gradient."),
    _ex("gaussian_kl", 5, "KL(N(mu, sigma^2) || N(0, 1)) and its two gradients", 15, ["GaussianKL"], "vae.md",
        "KL = -0.5 sum(1 + logvar - mu^2 - exp(logvar)) / N, N the batch size.",
        "dKL/dmu = mu / N; dKL/dlogvar = 0.5 (exp(logvar) - 1) / N.",
        "Check: the KL is 0 exactly when mu = 0 and logvar = 0, and both gradients vanish there."),
    _ex("vae_step", 5, "one VAE training step: loss and every gradient", 30, ["vae_loss_and_backward"], "vae.md",
        "Split the encoder's output: mu = stats[:, :L], logvar = stats[:, L:].",
        "z = mu + exp(0.5 logvar) eps; decode; loss = reconstruction + beta * KL.",
        "dz is what the decoder's backward returns for the reconstruction loss's gradient; then dmu and dlogvar "
        "each get a path through z AND one from the KL.",
        "The encoder output [mu, logvar] side by side: its upstream gradient is [dmu, dlogvar] side by side."),
    # ---- stage 6: the optimizer ---------------------------------------------------------------------------
    _ex("adam", 6, "Adam with bias correction, checked over a sequence of steps", 25, ["Adam"], "optim.md",
        "Per Param: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2 (element-wise square).",
        "Bias correction uses the step count t (starting at 1): m_hat = m / (1 - b1**t), v_hat = v / (1 - b2**t).",
        "w -= lr * m_hat / (sqrt(v_hat) + eps), in place (p.value -= ...): the Param keeps its array."),
]

BY_NAME = {e.name: e for e in EXERCISES}


def get(name: str) -> Exercise:
    """The exercise called ``name``, or a one-line error listing the names."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in BY_NAME:
        raise KeyError(f"no exercise called {name!r}; the exercises are: {', '.join(BY_NAME)}")
    return BY_NAME[key]


def next_after(name: str):
    names = list(BY_NAME)
    i = names.index(name)
    return BY_NAME[names[i + 1]] if i + 1 < len(names) else None

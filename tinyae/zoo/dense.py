"""The dense autoencoders of the zoo: shallow, stacked, sparse (L1, KL), denoising, tied, VAE, semantic
hashing and the deep belief autoencoder. Each builder shows one idea (its docstring says which)."""

from __future__ import annotations

from tinyae import backend
from tinyae.layers.activations import Identity, Sigmoid, make_activation
from tinyae.layers.base import check_positive_int
from tinyae.layers.dense import TiedDense
from tinyae.layers.noise import Dropout, GaussianNoise
from tinyae.losses import KLSparsity, L1Activity
from tinyae.models import VAE, Autoencoder, Sequential
from tinyae.zoo.parts import default_hidden, dense_for, output_pair


def shallow_ae(n_in: int, n_hidden: int | None = None, *, activation: str = "sigmoid", output: str = "sigmoid",
               weight_decay: float | None = None, seed=0, dtype=backend.DEFAULT_DTYPE) -> Autoencoder:
    """One hidden layer: x (n_in) -> h = sigmoid(W1 x + b1) (n_hidden) -> x̂ = sigmoid(W2 h + b2) (n_in).

    The idea: a bottleneck. With n_hidden < n_in the code cannot copy x and must keep what matters
    (a linear version with MSE finds the principal subspace, as PCA does). Default n_hidden = n_in // 4:
    784-196-784 for MNIST, the network of the classic sparse-autoencoder experiments; 64-16-64 for digits.
    """
    n_hidden = default_hidden(n_in, n_hidden, "shallow_ae")
    out_layer, loss, out_init = output_pair(output, "shallow_ae")
    rng = backend.make_rng(seed)
    encoder = Sequential(dense_for(n_in, n_hidden, activation, rng, dtype), make_activation(activation))
    decoder = Sequential(dense_for(n_hidden, n_in, out_init, rng, dtype), out_layer())
    return Autoencoder(encoder, decoder, loss=loss, weight_decay=weight_decay, input_shape=(n_in,))


def stacked_ae(n_in: int, sizes=(512, 256, 64), *, activation: str = "relu", code_activation: str = "identity",
               output: str = "logits", seed=0, dtype=backend.DEFAULT_DTYPE) -> Autoencoder:
    """A deep symmetric autoencoder: n_in -> sizes[0] -> ... -> sizes[-1] (the code) -> ... -> n_in.

    The idea: depth. Each layer re-describes the previous one, so a deep encoder can bend the data
    manifold in ways one layer cannot (Hinton & Salakhutdinov, 2006). The decoder mirrors the encoder.
    Hidden layers use ``activation`` (ReLU by default), the code ``code_activation`` (linear by default,
    so the code is not squashed), the output is "logits" (BCE on the logits).

    Deep stacks were historically hard to train from a random start; ``greedy_pretrain`` trains them
    one layer at a time first (Bengio et al., 2007), and ``fit`` then fine-tunes the whole stack.
    """
    check_positive_int(n_in, "n_in", "stacked_ae")
    sizes = tuple(sizes)
    if not sizes:
        raise ValueError("stacked_ae: sizes must list at least one hidden size, e.g. (512, 256, 64)")
    for s in sizes:
        check_positive_int(s, "each of sizes", "stacked_ae")
    out_layer, loss, out_init = output_pair(output, "stacked_ae")
    rng = backend.make_rng(seed)
    widths = (n_in, *sizes)
    acts = [activation] * (len(sizes) - 1) + [code_activation]
    enc = []
    for a, b, act in zip(widths[:-1], widths[1:], acts):
        enc += [dense_for(a, b, act, rng, dtype), make_activation(act)]
    dec = []
    back = widths[::-1]  # (code, ..., n_in)
    for i, (a, b) in enumerate(zip(back[:-1], back[1:])):
        last = i == len(back) - 2
        dec += [dense_for(a, b, out_init if last else activation, rng, dtype),
                out_layer() if last else make_activation(activation)]
    return Autoencoder(Sequential(enc), Sequential(dec), loss=loss, input_shape=(n_in,))


def sparse_l1_ae(n_in: int, n_hidden: int | None = None, *, lam: float = 0.1, output: str = "softplus",
                 seed=0, dtype=backend.DEFAULT_DTYPE) -> Autoencoder:
    """An overcomplete ReLU code made sparse by an L1 penalty on the activations.

        L = sum_i (x̂_i - x_i)^2 / N + lam * sum_j |h_j| / N      (both summed per sample, averaged over the batch)

    The idea: sparsity instead of a bottleneck. The code may be wider than the input (default
    n_hidden = n_in), but the L1 penalty pushes activations to exactly 0, and a ReLU can sit at exactly 0,
    so each input is explained by a few active units. The classic guidance (Glorot, Bordes & Bengio, 2011,
    on rectifier autoencoders): L1 on ReLU codes, and a softplus output layer with a squared-error loss,
    which fits non-negative data such as pixel intensities while keeping a gradient everywhere.
    Both terms are per-sample sums, so lam means the same on 64 or 784 features (default 0.1: on digits
    about 70% of the codes are exactly 0 after 10 epochs, at a modest cost in reconstruction).
    """
    n_hidden = n_in if n_hidden is None else n_hidden
    n_hidden = default_hidden(n_in, n_hidden, "sparse_l1_ae")
    out_layer, loss, out_init = output_pair(output, "sparse_l1_ae", reduction="batch_mean")
    rng = backend.make_rng(seed)
    encoder = Sequential(dense_for(n_in, n_hidden, "relu", rng, dtype), make_activation("relu"))
    decoder = Sequential(dense_for(n_hidden, n_in, out_init, rng, dtype), out_layer())
    return Autoencoder(encoder, decoder, loss=loss, penalties=[L1Activity(lam)], input_shape=(n_in,))


def sparse_kl_ae(n_in: int, n_hidden: int | None = None, *, rho: float = 0.1, beta: float = 3.0,
                 output: str = "sigmoid", weight_decay: float | None = None, seed=0,
                 dtype=backend.DEFAULT_DTYPE) -> Autoencoder:
    """A sigmoid code whose average activation is held near rho by a KL penalty (Ng's sparse autoencoder).

    The idea: each hidden unit should be active (near 1) for a few inputs only. With rho_hat_j the
    batch-mean activation of unit j, the penalty beta * sum_j KL(rho || rho_hat_j) is 0 when
    rho_hat_j = rho and grows steeply as a unit fires too often (or never). Defaults rho = 0.1, beta = 3,
    n_hidden = n_in // 4 (784-196-784 as in the classic MNIST experiment). The reconstruction error is
    summed per sample and averaged over the batch, as in Ng's notes, so beta weighs the KL against a
    per-sample error whatever the number of features.
    """
    n_hidden = default_hidden(n_in, n_hidden, "sparse_kl_ae")
    out_layer, loss, out_init = output_pair(output, "sparse_kl_ae", reduction="batch_mean")
    rng = backend.make_rng(seed)
    encoder = Sequential(dense_for(n_in, n_hidden, "sigmoid", rng, dtype), Sigmoid())
    decoder = Sequential(dense_for(n_hidden, n_in, out_init, rng, dtype), out_layer())
    return Autoencoder(encoder, decoder, loss=loss, penalties=[KLSparsity(rho, beta)], weight_decay=weight_decay,
                       input_shape=(n_in,))


def denoising_ae(n_in: int, n_hidden: int | None = None, *, noise: str = "masking", level: float | None = None,
                 activation: str = "sigmoid", output: str = "logits", seed=0,
                 dtype=backend.DEFAULT_DTYPE) -> Autoencoder:
    """Reconstruct the clean x from a corrupted x~ (Vincent et al., 2008).

    The idea: a model that must undo noise cannot learn the identity, even with a wide code; it has to
    learn how the data hang together. The corruption is the first layer of the encoder and acts only in
    training mode and only on the input: the loss compares with the CLEAN x, and ``encode`` (eval mode)
    sees x as it is.

    noise -- "masking": a fraction ``level`` of each input's pixels set to 0 (default 0.25);
             "gaussian": x + N(0, level^2) clipped to [0, 1] (default level 0.3).
    Default n_hidden = n_in // 2 (the noise, not the bottleneck, does the regularising); cross-entropy
    on the logits, as in the original paper.
    """
    n_hidden = default_hidden(n_in, n_hidden, "denoising_ae", ratio=2)
    rng = backend.make_rng(seed)
    noise_rng = rng.spawn(1)[0]  # its own stream: the weights do not depend on the noise's draws
    if noise == "masking":
        level = 0.25 if level is None else level
        corrupt = Dropout(level, rescale=False, seed=noise_rng)
    elif noise == "gaussian":
        level = 0.3 if level is None else level
        corrupt = GaussianNoise(level, clip=(0.0, 1.0), seed=noise_rng)
    else:
        raise ValueError(f"denoising_ae: noise must be 'masking' or 'gaussian', got {noise!r}")
    out_layer, loss, out_init = output_pair(output, "denoising_ae")
    encoder = Sequential(corrupt, dense_for(n_in, n_hidden, activation, rng, dtype), make_activation(activation))
    decoder = Sequential(dense_for(n_hidden, n_in, out_init, rng, dtype), out_layer())
    return Autoencoder(encoder, decoder, loss=loss, input_shape=(n_in,))


def tied_ae(n_in: int, n_hidden: int | None = None, *, activation: str = "sigmoid", output: str = "sigmoid",
            seed=0, dtype=backend.DEFAULT_DTYPE) -> Autoencoder:
    """Tied weights: the decoder uses the encoder's W transposed, x̂ = out(W.T h + c), h = act(W x + b).

    The idea: one matrix both analyses and synthesises (as PCA's components do). Half the weights, and
    W gets the sum of the gradients of its two uses. Default n_hidden = n_in // 4.
    """
    n_hidden = default_hidden(n_in, n_hidden, "tied_ae")
    out_layer, loss, _ = output_pair(output, "tied_ae")
    rng = backend.make_rng(seed)
    dense = dense_for(n_in, n_hidden, activation, rng, dtype)
    encoder = Sequential(dense, make_activation(activation))
    decoder = Sequential(TiedDense(dense), out_layer())
    return Autoencoder(encoder, decoder, loss=loss, input_shape=(n_in,))


def vae(n_in: int, hidden=None, latent_dim: int = 2, *, recon: str = "bce_with_logits", beta: float = 1.0,
        activation: str = "relu", seed=0, dtype=backend.DEFAULT_DTYPE) -> VAE:
    """A dense variational autoencoder: x -> hidden -> (mu, logvar) (2 * latent_dim) ; z -> hidden -> x̂.

    The idea: the code is a distribution, not a point. The KL term pulls q(z|x) towards N(0, I), so
    the whole latent space decodes to plausible data and ``sample(n)`` draws new ones. latent_dim = 2
    gives a plane that can be plotted and decoded as a grid. Default hidden = (max(64, n_in // 2),):
    (392,) for MNIST, (64,) for digits; a tuple gives several hidden layers (mirrored in the decoder).
    """
    check_positive_int(n_in, "n_in", "vae")
    hidden = (max(64, n_in // 2),) if hidden is None else ((hidden,) if isinstance(hidden, int) else tuple(hidden))
    rng = backend.make_rng(seed)
    sampler_rng = rng.spawn(1)[0]  # eps gets its own stream
    widths = (n_in, *hidden)
    enc = []
    for a, b in zip(widths[:-1], widths[1:]):
        enc += [dense_for(a, b, activation, rng, dtype), make_activation(activation)]
    enc.append(dense_for(widths[-1], 2 * latent_dim, "identity", rng, dtype))
    back = (latent_dim, *hidden[::-1])
    dec = []
    for a, b in zip(back[:-1], back[1:]):
        dec += [dense_for(a, b, activation, rng, dtype), make_activation(activation)]
    dec += [dense_for(back[-1], n_in, "identity", rng, dtype), Identity()]
    return VAE(Sequential(enc), Sequential(dec), latent_dim, recon=recon, beta=beta, seed=sampler_rng,
               input_shape=(n_in,))


def hashing_ae(n_in: int, sizes=None, n_bits: int = 30, *, noise_std: float = 4.0, activation: str = "relu",
               output: str = "logits", seed=0, dtype=backend.DEFAULT_DTYPE) -> Autoencoder:
    """A deep autoencoder with a binary-ish code: n_in -> sizes -> n_bits (sigmoid) -> mirrored -> n_in.

    The idea: semantic hashing (Salakhutdinov & Hinton, 2009). While training, Gaussian noise of std
    ``noise_std`` is added to the code's pre-activation, just before its sigmoid:

        h = sigmoid(a + noise_std * eps)      eps ~ N(0, 1), training only; h = sigmoid(a) in eval mode

    A code unit near 0.5 passes mostly noise to the decoder, so to reconstruct well the encoder learns
    to push |a| far beyond the noise, where the sigmoid saturates at 0 or 1. Thresholding the eval-mode
    code at 0.5 (``tinyae.retrieval.binary_codes``) then loses little: the code is an n_bits-bit address,
    searched by Hamming distance. Default sizes = (max(64, n_in // 2), max(64, n_in // 4)): (392, 196)
    for MNIST, (64, 64) for digits; ReLU hidden layers, BCE on the output logits.
    """
    check_positive_int(n_in, "n_in", "hashing_ae")
    check_positive_int(n_bits, "n_bits", "hashing_ae")
    sizes = (max(64, n_in // 2), max(64, n_in // 4)) if sizes is None else tuple(sizes)
    for s in sizes:
        check_positive_int(s, "each of sizes", "hashing_ae")
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) or not noise_std >= 0:
        raise ValueError(f"hashing_ae: noise_std must be a number >= 0, got {noise_std!r}")
    out_layer, loss, out_init = output_pair(output, "hashing_ae")
    rng = backend.make_rng(seed)
    noise_rng = rng.spawn(1)[0]  # its own stream: the weights do not depend on the noise's draws
    widths = (n_in, *sizes)
    enc = []
    for a, b in zip(widths[:-1], widths[1:]):
        enc += [dense_for(a, b, activation, rng, dtype), make_activation(activation)]
    enc += [dense_for(widths[-1], n_bits, "sigmoid", rng, dtype), GaussianNoise(noise_std, clip=None, seed=noise_rng),
            Sigmoid()]
    back = (n_bits, *sizes[::-1], n_in)
    dec = []
    for i, (a, b) in enumerate(zip(back[:-1], back[1:])):
        last = i == len(back) - 2
        dec += [dense_for(a, b, out_init if last else activation, rng, dtype),
                out_layer() if last else make_activation(activation)]
    return Autoencoder(Sequential(enc), Sequential(dec), loss=loss, input_shape=(n_in,))


def dbn_ae(n_in: int, sizes=None, *, code_activation: str = "identity", seed=0,
           dtype=backend.DEFAULT_DTYPE) -> Autoencoder:
    """The deep belief autoencoder of Hinton & Salakhutdinov (2006): a deep sigmoid stack to pretrain with RBMs.

    n_in -> sizes[0] -> ... -> sizes[-1] (the code) -> ... -> n_in, sigmoid hidden layers, a linear code
    (``code_activation``; "sigmoid" for binary code units), logits out with BCE (the paper's
    cross-entropy). Default sizes: the paper's 1000-500-250-30 for 784 inputs (MNIST) or more, else
    (2 n_in, n_in, n_in / 2, n_in / 8): 64-128-64-32-8 for the digits.

    The idea: each layer is first trained as an RBM on the layer below (``tinyae.rbm.pretrain(model, X)``),
    which sets the encoder's weights and, transposed, the decoder's; backprop then fine-tunes the whole
    stack (``tinyae.train.fit``). Built without pretraining it is a plain sigmoid stacked autoencoder
    (random initialisation), the baseline the paper compares against.
    """
    check_positive_int(n_in, "n_in", "dbn_ae")
    if sizes is None:
        sizes = (1000, 500, 250, 30) if n_in >= 784 else (2 * n_in, n_in, max(2, n_in // 2), max(2, n_in // 8))
    if code_activation not in ("identity", "sigmoid"):
        raise ValueError(f"dbn_ae: code_activation must be 'identity' (Gaussian code units) or 'sigmoid' "
                         f"(binary code units), got {code_activation!r}")
    return stacked_ae(n_in, sizes, activation="sigmoid", code_activation=code_activation, output="logits",
                      seed=seed, dtype=dtype)

"""The zoo: one-line builders for the classic autoencoders, each showing one idea.

    model = zoo.shallow_ae(784)                          # 784-196-784, sigmoid
    model = zoo.build("sparse-kl", ds.image_shape)       # by name (what the CLI uses)
    history = tinyae.train.fit(model, ds.X_train, epochs=20)

Every builder returns an ``Autoencoder`` (or a ``VAE``) whose defaults train on both the 8x8 digits
(64 features) and MNIST (784): sizes that are not given scale with the input (a hidden layer of n_in // 4
is 784 -> 196 for MNIST and 64 -> 16 for digits). Each takes ``seed`` (the weights) and ``dtype``
(float32 to train, float64 for gradient checks).

The output of a dense decoder and its loss go together (the ``output`` argument):

    "sigmoid"   Sigmoid output, MSE loss              the classic textbook pairing
    "logits"    linear output, BCE on the logits      the stable cross-entropy for data in [0, 1];
                                                      ``reconstruct`` applies the sigmoid
    "softplus"  Softplus output, MSE loss             for non-negative data (Glorot et al., 2011)
    "linear"    linear output, MSE loss               for real-valued data (e.g. ReLU codes in pretraining)

``MODELS`` lists the names ``build`` knows, each with a one-line description.
"""

from __future__ import annotations

import math

from tinyae import backend
from tinyae.layers.activations import Identity, Sigmoid, Softplus, make_activation
from tinyae.layers.dense import Dense, TiedDense
from tinyae.layers.noise import Dropout, GaussianNoise
from tinyae.losses import MSE, BCEWithLogits, KLSparsity, L1Activity
from tinyae.models import VAE, Autoencoder, Sequential

OUTPUTS = {
    # output name: (output layer, reconstruction loss, the init of the Dense that feeds it)
    "sigmoid": (Sigmoid, "mse", "sigmoid"),
    "logits": (Identity, "bce_logits", "identity"),
    "softplus": (Softplus, "mse", "softplus"),
    "linear": (Identity, "mse", "identity"),
}

MODELS = {
    "ae": "shallow autoencoder, one sigmoid hidden layer (784-196-784): the undercomplete bottleneck",
    "stacked": "deep symmetric autoencoder (784-512-256-64 mirrored), optional greedy layer-wise pretraining",
    "sparse-l1": "overcomplete ReLU code with an L1 penalty on the activations, softplus output: most codes are 0",
    "sparse-kl": "sigmoid code whose mean activation is held near rho by a KL penalty (the classic sparse AE)",
    "denoising": "reconstructs the clean input from a corrupted one (masking or Gaussian noise, training only)",
    "conv": "convolutional pyramid: Conv-ReLU-MaxPool x2 down, Upsample-Conv x2 up (weights shared over space)",
    "vae": "variational autoencoder: a Gaussian code, sampled by reparameterisation, KL to N(0, I)",
    "conv-vae": "variational autoencoder with the convolutional encoder and decoder",
    "tied": "decoder weights are the encoder's transposed (W and W.T): half the parameters",
    "hashing": "semantic hashing: deep AE whose sigmoid code is pushed to 0/1 by noise (binary codes for search)",
}


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _positive_int(value, name, where):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return value


def _default_hidden(n_in, n_hidden, where, ratio=4):
    _positive_int(n_in, "n_in", where)
    return max(2, n_in // ratio) if n_hidden is None else _positive_int(n_hidden, "n_hidden", where)


def _output(output, where, reduction="mean"):
    """(output layer class, reconstruction Loss with ``reduction``, init of the Dense that feeds the output)."""
    if output not in OUTPUTS:
        raise ValueError(f"{where}: output must be one of {sorted(OUTPUTS)}, got {output!r}")
    layer, loss, init = OUTPUTS[output]
    return layer, (MSE if loss == "mse" else BCEWithLogits)(reduction=reduction), init


def _dense(n_in, n_out, act, rng, dtype):
    """Dense initialised for the activation that follows it (He for ReLU-like, Xavier otherwise)."""
    return Dense(n_in, n_out, init=act, seed=rng, dtype=dtype)


def _image_shape(image_shape, where):
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
    if shape is None or len(shape) != 3 or not all(isinstance(s, int) and s >= 1 for s in shape):
        raise ValueError(f"{where}: image_shape must be (C, H, W), e.g. (1, 28, 28), got {image_shape!r}")
    c, h, w = shape
    if h % 4 or w % 4:
        raise ValueError(f"{where}: the two 2x2 poolings need H and W divisible by 4, got {h}x{w} "
                         f"(pad the images, e.g. 30x30 -> 32x32)")
    return shape


# --------------------------------------------------------------------------------------------------
# Dense autoencoders
# --------------------------------------------------------------------------------------------------


def shallow_ae(n_in: int, n_hidden: int | None = None, *, activation: str = "sigmoid", output: str = "sigmoid",
               weight_decay: float | None = None, seed=0, dtype=backend.DEFAULT_DTYPE) -> Autoencoder:
    """One hidden layer: x (n_in) -> h = sigmoid(W1 x + b1) (n_hidden) -> x̂ = sigmoid(W2 h + b2) (n_in).

    The idea: a bottleneck. With n_hidden < n_in the code cannot copy x and must keep what matters
    (a linear version with MSE finds the principal subspace, as PCA does). Default n_hidden = n_in // 4:
    784-196-784 for MNIST, the network of the classic sparse-autoencoder experiments; 64-16-64 for digits.
    """
    n_hidden = _default_hidden(n_in, n_hidden, "shallow_ae")
    out_layer, loss, out_init = _output(output, "shallow_ae")
    rng = backend.make_rng(seed)
    encoder = Sequential(_dense(n_in, n_hidden, activation, rng, dtype), make_activation(activation))
    decoder = Sequential(_dense(n_hidden, n_in, out_init, rng, dtype), out_layer())
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
    _positive_int(n_in, "n_in", "stacked_ae")
    sizes = tuple(sizes)
    if not sizes:
        raise ValueError("stacked_ae: sizes must list at least one hidden size, e.g. (512, 256, 64)")
    for s in sizes:
        _positive_int(s, "each of sizes", "stacked_ae")
    out_layer, loss, out_init = _output(output, "stacked_ae")
    rng = backend.make_rng(seed)
    widths = (n_in, *sizes)
    acts = [activation] * (len(sizes) - 1) + [code_activation]
    enc = []
    for a, b, act in zip(widths[:-1], widths[1:], acts):
        enc += [_dense(a, b, act, rng, dtype), make_activation(act)]
    dec = []
    back = widths[::-1]  # (code, ..., n_in)
    for i, (a, b) in enumerate(zip(back[:-1], back[1:])):
        last = i == len(back) - 2
        dec += [_dense(a, b, out_init if last else activation, rng, dtype),
                out_layer() if last else make_activation(activation)]
    return Autoencoder(Sequential(enc), Sequential(dec), loss=loss, input_shape=(n_in,))


def greedy_pretrain(model: Autoencoder, X, epochs: int = 5, *, batch_size: int = 128, lr: float = 1e-3, seed=0,
                    verbose: int = 0) -> list:
    """Greedy layer-wise pretraining of a stacked autoencoder (Bengio et al., 2007), in place.

    Level k is the shallow autoencoder made of the k-th encoder Dense (with its activation) and its mirror
    in the decoder (with the activation that follows it there). It is trained on the codes of level k-1
    (level 0 on X) with ``tinyae.train.fit``; the shallow models are built from the stack's OWN layer
    objects, so training them writes straight into the stack: nothing needs copying. Level 0 uses the
    model's loss; deeper levels reconstruct real-valued codes and use MSE. Afterwards, fine-tune the
    whole stack with ``fit(model, X, ...)``.

    model  -- an Autoencoder whose encoder and decoder are Sequentials of (Dense, activation) pairs,
              mirrored (as ``stacked_ae`` builds them)
    X      -- training data (N, n_in)
    Returns the list of per-level ``History`` objects.
    """
    from tinyae.optim import Adam
    from tinyae.train import encode, fit

    enc, dec = model.encoder, model.decoder
    pairs_enc, pairs_dec = _dense_pairs(enc, "encoder"), _dense_pairs(dec, "decoder")
    if len(pairs_enc) != len(pairs_dec) or any(
            e[0].in_features != d[0].out_features or e[0].out_features != d[0].in_features
            for e, d in zip(pairs_enc, reversed(pairs_dec))):
        raise ValueError("greedy_pretrain: the decoder must mirror the encoder layer by layer "
                         "(build the model with zoo.stacked_ae)")
    histories, codes = [], X
    depth = len(pairs_enc)
    for k in range(depth):
        (dense_e, act_e), (dense_d, act_d) = pairs_enc[k], pairs_dec[depth - 1 - k]
        loss = model.loss if k == 0 else "mse"
        level = Autoencoder(Sequential(dense_e, act_e), Sequential(dense_d, act_d), loss=loss,
                            input_shape=(dense_e.in_features,))
        opt = Adam(level.params(), lr=lr)
        histories.append(fit(level, codes, epochs=epochs, batch_size=batch_size, optimizer=opt, seed=seed,
                             verbose=verbose))
        codes = encode(level, codes)  # the input of the next level
    return histories


def _dense_pairs(seq, what):
    layers = list(seq.layers) if isinstance(seq, Sequential) else []
    if not layers or len(layers) % 2 or not all(isinstance(layer, Dense) for layer in layers[::2]):
        raise ValueError(f"greedy_pretrain: the {what} must be a Sequential of (Dense, activation) pairs "
                         f"(as zoo.stacked_ae builds it), got {seq!r}")
    return list(zip(layers[::2], layers[1::2]))


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
    n_hidden = _default_hidden(n_in, n_hidden, "sparse_l1_ae")
    out_layer, loss, out_init = _output(output, "sparse_l1_ae", reduction="batch_mean")
    rng = backend.make_rng(seed)
    encoder = Sequential(_dense(n_in, n_hidden, "relu", rng, dtype), make_activation("relu"))
    decoder = Sequential(_dense(n_hidden, n_in, out_init, rng, dtype), out_layer())
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
    n_hidden = _default_hidden(n_in, n_hidden, "sparse_kl_ae")
    out_layer, loss, out_init = _output(output, "sparse_kl_ae", reduction="batch_mean")
    rng = backend.make_rng(seed)
    encoder = Sequential(_dense(n_in, n_hidden, "sigmoid", rng, dtype), Sigmoid())
    decoder = Sequential(_dense(n_hidden, n_in, out_init, rng, dtype), out_layer())
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
    n_hidden = _default_hidden(n_in, n_hidden, "denoising_ae", ratio=2)
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
    out_layer, loss, out_init = _output(output, "denoising_ae")
    encoder = Sequential(corrupt, _dense(n_in, n_hidden, activation, rng, dtype), make_activation(activation))
    decoder = Sequential(_dense(n_hidden, n_in, out_init, rng, dtype), out_layer())
    return Autoencoder(encoder, decoder, loss=loss, input_shape=(n_in,))


def tied_ae(n_in: int, n_hidden: int | None = None, *, activation: str = "sigmoid", output: str = "sigmoid",
            seed=0, dtype=backend.DEFAULT_DTYPE) -> Autoencoder:
    """Tied weights: the decoder uses the encoder's W transposed, x̂ = out(W.T h + c), h = act(W x + b).

    The idea: one matrix both analyses and synthesises (as PCA's components do). Half the weights, and
    W gets the sum of the gradients of its two uses. Default n_hidden = n_in // 4.
    """
    n_hidden = _default_hidden(n_in, n_hidden, "tied_ae")
    out_layer, loss, _ = _output(output, "tied_ae")
    rng = backend.make_rng(seed)
    dense = _dense(n_in, n_hidden, activation, rng, dtype)
    encoder = Sequential(dense, make_activation(activation))
    decoder = Sequential(TiedDense(dense), out_layer())
    return Autoencoder(encoder, decoder, loss=loss, input_shape=(n_in,))


def vae(n_in: int, hidden=None, latent_dim: int = 2, *, recon: str = "bce_logits", beta: float = 1.0,
        activation: str = "relu", seed=0, dtype=backend.DEFAULT_DTYPE) -> VAE:
    """A dense variational autoencoder: x -> hidden -> (mu, logvar) (2 * latent_dim) ; z -> hidden -> x̂.

    The idea: the code is a distribution, not a point. The KL term pulls q(z|x) towards N(0, I), so
    the whole latent space decodes to plausible data and ``sample(n)`` draws new ones. latent_dim = 2
    gives a plane that can be plotted and decoded as a grid. Default hidden = (max(64, n_in // 2),):
    (392,) for MNIST, (64,) for digits; a tuple gives several hidden layers (mirrored in the decoder).
    """
    _positive_int(n_in, "n_in", "vae")
    hidden = (max(64, n_in // 2),) if hidden is None else ((hidden,) if isinstance(hidden, int) else tuple(hidden))
    rng = backend.make_rng(seed)
    sampler_rng = rng.spawn(1)[0]  # eps gets its own stream
    widths = (n_in, *hidden)
    enc = []
    for a, b in zip(widths[:-1], widths[1:]):
        enc += [_dense(a, b, activation, rng, dtype), make_activation(activation)]
    enc.append(_dense(widths[-1], 2 * latent_dim, "identity", rng, dtype))
    back = (latent_dim, *hidden[::-1])
    dec = []
    for a, b in zip(back[:-1], back[1:]):
        dec += [_dense(a, b, activation, rng, dtype), make_activation(activation)]
    dec += [_dense(back[-1], n_in, "identity", rng, dtype), Identity()]
    return VAE(Sequential(enc), Sequential(dec), latent_dim, recon=recon, beta=beta, seed=sampler_rng,
               input_shape=(n_in,))


# --------------------------------------------------------------------------------------------------
# Convolutional autoencoders
# --------------------------------------------------------------------------------------------------


def _conv_encoder(image_shape, channels, rng, dtype):
    from tinyae.layers.conv import Conv2D
    from tinyae.layers.pooling import MaxPool2D

    c = image_shape[0]
    c1, c2 = channels
    return [Conv2D(c, c1, 3, padding=1, init="relu", seed=rng, dtype=dtype), make_activation("relu"), MaxPool2D(2),
            Conv2D(c1, c2, 3, padding=1, init="relu", seed=rng, dtype=dtype), make_activation("relu"), MaxPool2D(2)]


def _conv_decoder(image_shape, channels, upsample, rng, dtype):
    from tinyae.layers.conv import Conv2D, ConvTranspose2D
    from tinyae.layers.pooling import Upsample2D

    c = image_shape[0]
    c1, c2 = channels
    if upsample == "nearest":
        return [Upsample2D(2), Conv2D(c2, c1, 3, padding=1, init="relu", seed=rng, dtype=dtype),
                make_activation("relu"),
                Upsample2D(2), Conv2D(c1, c, 3, padding=1, init="identity", seed=rng, dtype=dtype), Identity()]
    if upsample == "transpose":
        return [ConvTranspose2D(c2, c1, 2, stride=2, init="relu", seed=rng, dtype=dtype), make_activation("relu"),
                ConvTranspose2D(c1, c, 2, stride=2, init="identity", seed=rng, dtype=dtype), Identity()]
    raise ValueError(f"conv_ae: upsample must be 'nearest' or 'transpose', got {upsample!r}")


def _channels(channels, where):
    channels = tuple(channels)
    if len(channels) != 2:
        raise ValueError(f"{where}: channels must be a pair (c1, c2), got {channels!r}")
    for ch in channels:
        _positive_int(ch, "each of channels", where)
    return channels


def conv_ae(image_shape=(1, 28, 28), channels=(16, 8), *, upsample: str = "nearest", seed=0,
            dtype=backend.DEFAULT_DTYPE) -> Autoencoder:
    """The convolutional pyramid: (C, H, W) -> Conv3x3-ReLU-MaxPool2 -> Conv3x3-ReLU-MaxPool2 -> (c2, H/4, W/4)
    -> Upsample2-Conv3x3-ReLU -> Upsample2-Conv3x3 -> logits (C, H, W), BCE on the logits.

    The idea: images have local structure. A convolution shares one small filter over all positions,
    so the encoder needs far fewer weights than a dense one and each code entry describes a place in
    the image; pooling halves the resolution twice, the decoder doubles it back. ``upsample`` picks the
    decoder's way up: "nearest" (Upsample then Conv: no checkerboard artefacts) or "transpose"
    (ConvTranspose 2x2, stride 2: learned upsampling). Works for 1x8x8 digits (code 8x2x2) and 1x28x28
    MNIST (code 8x7x7); H and W must be divisible by 4. Input: images (N, C, H, W)
    (``tinyae.data.load(..., flatten=False)``).
    """
    image_shape = _image_shape(image_shape, "conv_ae")
    channels = _channels(channels, "conv_ae")
    rng = backend.make_rng(seed)
    encoder = Sequential(_conv_encoder(image_shape, channels, rng, dtype))
    decoder = Sequential(_conv_decoder(image_shape, channels, upsample, rng, dtype))
    return Autoencoder(encoder, decoder, loss="bce_logits", input_shape=image_shape)


def conv_vae(image_shape=(1, 28, 28), latent_dim: int = 2, channels=(16, 32), *, beta: float = 1.0, seed=0,
             dtype=backend.DEFAULT_DTYPE) -> VAE:
    """A VAE with the convolutional pyramid: conv encoder -> Flatten -> Dense(2 * latent_dim) (mu, logvar);
    z -> Dense -> ReLU -> Reshape(c2, H/4, W/4) -> Upsample-Conv x2 -> logits (C, H, W).

    The idea: the VAE's probabilistic code on top of an encoder/decoder that know images are local.
    Input: images (N, C, H, W).
    """
    from tinyae.layers.shape import Flatten, Reshape

    image_shape = _image_shape(image_shape, "conv_vae")
    channels = _channels(channels, "conv_vae")
    _positive_int(latent_dim, "latent_dim", "conv_vae")
    rng = backend.make_rng(seed)
    sampler_rng = rng.spawn(1)[0]
    c, h, w = image_shape
    code_shape = (channels[1], h // 4, w // 4)
    n_code = math.prod(code_shape)
    encoder = Sequential(*_conv_encoder(image_shape, channels, rng, dtype), Flatten(),
                         _dense(n_code, 2 * latent_dim, "identity", rng, dtype))
    decoder = Sequential(_dense(latent_dim, n_code, "relu", rng, dtype), make_activation("relu"), Reshape(code_shape),
                         *_conv_decoder(image_shape, channels, "nearest", rng, dtype))
    return VAE(encoder, decoder, latent_dim, recon="bce_logits", beta=beta, seed=sampler_rng,
               input_shape=image_shape)


# --------------------------------------------------------------------------------------------------
# By name
# --------------------------------------------------------------------------------------------------

_DENSE_BUILDERS = {
    "ae": shallow_ae,
    "stacked": stacked_ae,
    "sparse-l1": sparse_l1_ae,
    "sparse-kl": sparse_kl_ae,
    "denoising": denoising_ae,
    "vae": vae,
    "tied": tied_ae,
}
_CONV_BUILDERS = {"conv": conv_ae, "conv-vae": conv_vae}


def build(name: str, input_shape, **kw):
    """Build the zoo model ``name`` (see ``MODELS``) for samples of ``input_shape``; ``kw`` go to its builder.

    input_shape -- one sample's shape: (C, H, W) (e.g. ``Dataset.image_shape``), (D,) or an int D.
                   Dense models take n_in = C*H*W (feed them rows, ``load(..., flatten=True)``); conv models
                   need (C, H, W) (feed them images, ``load(..., flatten=False)``).
    """
    key = name.lower().replace("_", "-") if isinstance(name, str) else name
    if key not in MODELS:
        raise ValueError(f"zoo.build: unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(int(s) for s in input_shape)
    if key in _CONV_BUILDERS:
        if len(shape) != 3:
            raise ValueError(f"zoo.build({name!r}): a conv model needs the image shape (C, H, W), e.g. (1, 28, 28), "
                             f"got {shape}; use Dataset.image_shape")
        return _CONV_BUILDERS[key](shape, **kw)
    return _DENSE_BUILDERS[key](math.prod(shape), **kw)


# --------------------------------------------------------------------------------------------------
# Semantic hashing (tinyae.retrieval)
# --------------------------------------------------------------------------------------------------


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
    _positive_int(n_in, "n_in", "hashing_ae")
    _positive_int(n_bits, "n_bits", "hashing_ae")
    sizes = (max(64, n_in // 2), max(64, n_in // 4)) if sizes is None else tuple(sizes)
    for s in sizes:
        _positive_int(s, "each of sizes", "hashing_ae")
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) or not noise_std >= 0:
        raise ValueError(f"hashing_ae: noise_std must be a number >= 0, got {noise_std!r}")
    out_layer, loss, out_init = _output(output, "hashing_ae")
    rng = backend.make_rng(seed)
    noise_rng = rng.spawn(1)[0]  # its own stream: the weights do not depend on the noise's draws
    widths = (n_in, *sizes)
    enc = []
    for a, b in zip(widths[:-1], widths[1:]):
        enc += [_dense(a, b, activation, rng, dtype), make_activation(activation)]
    enc += [_dense(widths[-1], n_bits, "sigmoid", rng, dtype), GaussianNoise(noise_std, clip=None, seed=noise_rng),
            Sigmoid()]
    back = (n_bits, *sizes[::-1], n_in)
    dec = []
    for i, (a, b) in enumerate(zip(back[:-1], back[1:])):
        last = i == len(back) - 2
        dec += [_dense(a, b, out_init if last else activation, rng, dtype),
                out_layer() if last else make_activation(activation)]
    return Autoencoder(Sequential(enc), Sequential(dec), loss=loss, input_shape=(n_in,))


_DENSE_BUILDERS["hashing"] = hashing_ae


# --------------------------------------------------------------------------------------------------
# Deep belief autoencoder (RBM pretraining: tinyae.rbm.pretrain)
# --------------------------------------------------------------------------------------------------


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
    _positive_int(n_in, "n_in", "dbn_ae")
    if sizes is None:
        sizes = (1000, 500, 250, 30) if n_in >= 784 else (2 * n_in, n_in, max(2, n_in // 2), max(2, n_in // 8))
    if code_activation not in ("identity", "sigmoid"):
        raise ValueError(f"dbn_ae: code_activation must be 'identity' (Gaussian code units) or 'sigmoid' "
                         f"(binary code units), got {code_activation!r}")
    return stacked_ae(n_in, sizes, activation="sigmoid", code_activation=code_activation, output="logits",
                      seed=seed, dtype=dtype)


MODELS["dbn"] = ("deep belief autoencoder (784-1000-500-250-30, sigmoid), here from random weights; "
                 "RBM-pretrain it with tinyae.rbm.pretrain")
_DENSE_BUILDERS["dbn"] = dbn_ae


# --------------------------------------------------------------------------------------------------
# Sparse convolutional autoencoder
# --------------------------------------------------------------------------------------------------

MODELS["conv-sparse"] = "convolutional pyramid with an L1 penalty on its code map: most code entries are exactly 0"


def conv_sparse_ae(image_shape=(1, 28, 28), channels=(16, 8), *, lam: float = 0.1, upsample: str = "nearest", seed=0,
                   dtype=backend.DEFAULT_DTYPE) -> Autoencoder:
    """The convolutional pyramid of ``conv_ae`` with an L1 penalty on its code map (c2, H/4, W/4):

        L = mean over pixels of BCE(x̂, x) + lam * mean over code entries of |h|

    The idea: sparsity instead of (or on top of) the bottleneck, as ``sparse_l1_ae`` does for a dense
    code. The code is the output of ReLU then max-pooling, so it is >= 0 and can be exactly 0; the L1
    term (gradient lam * sign(h) / entries) pushes every entry towards 0, and only the entries the
    decoder needs to draw the image stay on. Both terms are means, so lam means the same for 8x8 digits
    (code 8x2x2) and MNIST (code 8x7x7). Default lam = 0.1: on the digits two thirds of the code entries
    are exactly 0 after 30 epochs (the plain conv AE: 42%), for a test MSE of 0.023 instead of 0.017
    (demos/conv_upsample_vs_transpose.py). The penalty also shrinks the code's scale (the decoder's
    weights grow to make up for it), so count exact zeros, not the mean |h|, to see the sparsity.
    Input: images (N, C, H, W).
    """
    image_shape = _image_shape(image_shape, "conv_sparse_ae")
    channels = _channels(channels, "conv_sparse_ae")
    rng = backend.make_rng(seed)
    encoder = Sequential(_conv_encoder(image_shape, channels, rng, dtype))
    decoder = Sequential(_conv_decoder(image_shape, channels, upsample, rng, dtype))
    return Autoencoder(encoder, decoder, loss="bce_logits", penalties=[L1Activity(lam, reduction="mean")],
                       input_shape=image_shape)


_CONV_BUILDERS["conv-sparse"] = conv_sparse_ae

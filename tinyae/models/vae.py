"""``VAE``: a Gaussian code, sampled by the reparameterisation trick."""

from __future__ import annotations

from tinyae import backend, losses
from tinyae.layers.dense import Dense
from tinyae.models.autoencoder import Autoencoder, _zero_d, reconstruction_loss_name
from tinyae.models.sequential import _fmt_shape, leaf_layers

# ==================================================================================================
# VAE: a Gaussian code, sampled by the reparameterisation trick
# ==================================================================================================


class VAE(Autoencoder):
    """Variational autoencoder (Kingma & Welling, 2014): the encoder outputs a Gaussian, the decoder a likelihood.

        [mu, logvar] = encoder(x)                  (N, 2L): the first L columns are mu, the last L log sigma²
        z            = mu + exp(0.5 * logvar) * eps,   eps ~ N(0, I)   (N, L)   the reparameterisation
        x̂            = decoder(z)
        L            = reconstruction(x̂, x) + beta * KL(N(mu, sigma²) || N(0, I))

    reconstruction is summed over the features of a sample and averaged over the batch (reduction
    "batch_mean"), as the KL term is: together they are the negative ELBO per sample (for beta = 1).
    recon="bce_with_logits": Bernoulli likelihood on a linear output (BCEWithLogits; decoded images are
    sigmoid(x̂)). recon="mse": squared error (a Gaussian likelihood up to scale), on the output as is.

    The gradient through the sampling step. z depends on mu and logvar through

        dz/dmu = 1,    dz/dlogvar = eps * d/dlogvar exp(0.5 * logvar) = 0.5 * eps * exp(0.5 * logvar),

    eps being a fixed input of the step (that is the trick: the randomness sits outside the path from
    the parameters to the loss). With dz = decoder.backward(dL/dx̂), element-wise:

        dmu     = dz                                 + beta * dKL/dmu      (dKL/dmu = mu / N)
        dlogvar = dz * 0.5 * eps * exp(0.5 * logvar) + beta * dKL/dlogvar  (dKL/dlogvar = 0.5 (exp(logvar) - 1) / N)

    and the encoder gets the two side by side, d[mu, logvar] = concat(dmu, dlogvar) (N, 2L).
    Note sigma = exp(0.5 * logvar), NOT exp(logvar): that would be the variance used as a standard
    deviation, a bug finite differences cannot see (the gradient would be right for the wrong model).

    Arguments
    ---------
    encoder    -- Layers mapping x to (N, 2 * latent_dim) (e.g. ending with Dense(..., 2 * latent_dim)).
    decoder    -- Layers mapping z (N, latent_dim) to the data shape (a linear output for "bce_with_logits").
    latent_dim -- L, the size of z.
    recon      -- "bce_with_logits" (default, data in [0, 1]) or "mse" (the earlier spelling "bce_logits"
                  is read as "bce_with_logits").
    beta       -- weight of the KL term (beta-VAE; 1 is the ELBO).
    seed       -- int, None or a numpy Generator for eps (``self.rng``; drawn on the host, then moved).

    ``loss_and_backward(x, target=None, training=True, eps=None)``: pass ``eps`` (N, L) to fix the noise
    (gradient checks); otherwise it is drawn from ``self.rng``. ``self.terms``: "reconstruction", "kl" (the
    KL itself, in nats per sample, before the beta weight) and "loss" = reconstruction + beta * kl.
    """

    def __init__(self, encoder, decoder, latent_dim: int, recon: str = "bce_with_logits", beta: float = 1.0, seed=None,
                 input_shape=None):
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"VAE: latent_dim must be a positive int, got {latent_dim!r}")
        recon = reconstruction_loss_name(recon, "VAE: recon", allowed=("bce_with_logits", "mse"))
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0 or beta == float("inf"):
            raise ValueError(f"VAE: beta must be a finite number >= 0, got {beta!r}")
        loss = losses.BCEWithLogits("batch_mean") if recon == "bce_with_logits" else losses.MSE("batch_mean")
        super().__init__(encoder, decoder, loss=loss, input_shape=input_shape)
        self.latent_dim = int(latent_dim)
        self.recon = recon
        self.beta = float(beta)
        self.rng = backend.make_rng(seed)
        self.kl = losses.GaussianKL(reduction="batch_mean")
        self._check_widths()

    def _check_widths(self):
        """Refuse, at construction, a Dense encoder output or decoder input of the wrong width."""
        L = self.latent_dim
        last = [layer for layer in leaf_layers(self.encoder) if layer.num_params() > 0]
        if last and isinstance(last[-1], Dense) and last[-1].out_features != 2 * L:
            raise ValueError(
                f"VAE: the encoder must output 2 * latent_dim = {2 * L} values per sample (mu and logvar side "
                f"by side), but its last layer is {last[-1]!r}; make it Dense(..., {2 * L})"
            )
        first = [layer for layer in leaf_layers(self.decoder) if layer.num_params() > 0]
        if first and isinstance(first[0], Dense) and first[0].in_features != L:
            raise ValueError(
                f"VAE: the decoder takes z of latent_dim = {L} values, but its first layer is {first[0]!r}; "
                f"make it Dense({L}, ...)"
            )

    def _losses(self):
        return [self.loss, self.kl]

    # -- the Gaussian code ------------------------------------------------------------------------
    def _split(self, stats, where):
        """Encoder output (N, 2L) -> mu (N, L), logvar (N, L) (views)."""
        L = self.latent_dim
        if stats.ndim != 2 or stats.shape[1] != 2 * L:
            raise ValueError(
                f"VAE.{where}: the encoder output has shape {tuple(stats.shape)}, expected (N, {2 * L}) "
                f"= (N, 2 * latent_dim): mu and logvar side by side; end the encoder with Dense(..., {2 * L})"
            )
        return stats[:, :L], stats[:, L:]  # (N, L), (N, L)

    def _draw_eps(self, n, like, rng):
        eps = rng.standard_normal((n, self.latent_dim), dtype=backend.host_dtype(like))  # on the host, then moved
        return backend.from_host(eps, like=like)  # to like's array library and device

    def _check_eps(self, eps, mu):
        if tuple(eps.shape) != tuple(mu.shape):
            raise ValueError(f"VAE: eps has shape {tuple(eps.shape)}, expected {tuple(mu.shape)} = (N, latent_dim)")
        if eps.dtype != mu.dtype:
            raise TypeError(f"VAE: eps is {eps.dtype} but the model is {mu.dtype}; cast eps")
        return eps

    def encode_stats(self, x):
        """(mu, logvar) of q(z | x), each (N, latent_dim), in eval mode."""
        self._check_batch(x, "encode_stats")
        return self._split(self.encoder.forward(x, training=False), "encode_stats")

    def encode(self, x):
        """The mean code mu (N, latent_dim) (the usual deterministic embedding of x)."""
        return self.encode_stats(x)[0]

    def decode(self, z):
        """Data from latent points z (N, latent_dim): sigmoid(decoder(z)) for "bce_with_logits", else decoder(z)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"VAE.decode: z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        return self._to_data(self.decoder.forward(z, training=False))

    def reconstruct(self, x):
        """decode(mu): the reconstruction from the mean code (no sampling)."""
        return self.decode(self.encode(x))

    def sample(self, n: int, seed=None):
        """n new samples: z ~ N(0, I) from the prior, decoded. ``seed`` (int/Generator) or else ``self.rng``."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"VAE.sample: n must be a positive int, got {n!r}")
        rng = self.rng if seed is None else backend.make_rng(seed)
        like = next(self.params()).value
        return self.decode(self._draw_eps(n, like, rng))

    def forward(self, x, training: bool | None = None):
        """The decoder's raw output: from a sampled z when training, from mu in eval mode."""
        training = self.training if training is None else training
        self._check_batch(x, "forward")
        mu, logvar = self._split(self.encoder.forward(x, training=training), "forward")
        z = mu
        if training:
            z = mu + backend.array_module(mu).exp(0.5 * logvar) * self._draw_eps(mu.shape[0], mu, self.rng)
        return self.decoder.forward(z, training=training)

    def backward(self, dy):
        raise NotImplementedError(
            "VAE.backward: the VAE's gradient needs the sampling noise and the KL term; "
            "use loss_and_backward(x, eps=...) instead"
        )

    # -- the training step ------------------------------------------------------------------------
    def loss_and_backward(self, x, target=None, training: bool = True, eps=None):
        """Negative ELBO of the batch and its gradient (ADDED into every param.grad); see the class docstring.

        eps -- (N, latent_dim) standard normal noise to use; drawn from ``self.rng`` when None.
        """
        self._check_batch(x, "loss_and_backward")
        target = x if target is None else target
        xp = backend.array_module(x)
        mu, logvar = self._split(self.encoder.forward(x, training=training), "loss_and_backward")  # (N, L) each
        eps = self._draw_eps(mu.shape[0], mu, self.rng) if eps is None else self._check_eps(eps, mu)
        std = xp.exp(0.5 * logvar)  # sigma = exp(logvar / 2)
        z = mu + std * eps  # (N, L)
        out = self.decoder.forward(z, training=training)
        rec = self.loss.forward(out, target)
        kl = self.kl.forward(mu, logvar)

        dz = self.decoder.backward(self.loss.backward())  # (N, L)
        dmu_kl, dlogvar_kl = self.kl.backward()
        dmu = dz + self.beta * dmu_kl
        dlogvar = dz * eps * (0.5 * std) + self.beta * dlogvar_kl
        self.encoder.backward_params(backend.concat([dmu, dlogvar], axis=1))  # (N, 2L); no dL/dx of the data
        return self._vae_total_loss(rec, kl, out)

    def evaluate_loss(self, x, target=None, eps=None, seed: int = 0):
        """The negative ELBO without backward, in eval mode; fills ``self.terms``.

        It still samples z (the ELBO is an expectation over q(z|x)), but with eps from a fresh
        ``Generator(seed)`` at every call, not from ``self.rng``: the same batch always gets the same
        value (validation losses compare across epochs, and early stopping is not fooled by noise),
        and the training noise stream is left untouched.
        """
        self._check_batch(x, "evaluate_loss")
        target = x if target is None else target
        mu, logvar = self._split(self.encoder.forward(x, training=False), "evaluate_loss")
        if eps is None:
            eps = self._draw_eps(mu.shape[0], mu, backend.make_rng(seed))
        z = mu + backend.array_module(mu).exp(0.5 * logvar) * self._check_eps(eps, mu)
        out = self.decoder.forward(z, training=False)
        return self._vae_total_loss(self.loss.forward(out, target), self.kl.forward(mu, logvar), out)

    def _vae_total_loss(self, rec, kl, like):
        self.terms = {"reconstruction": rec, "kl": kl, "loss": _zero_d(rec + self.beta * kl, like)}
        return self.terms["loss"]

    # -- saving and showing -----------------------------------------------------------------------
    def config(self) -> dict:
        """{"class": "VAE", "encoder": <layer spec>, "decoder": <layer spec>, "latent_dim": L,
        "recon": "bce_with_logits" | "mse", "beta": b, "input_shape": [..] or null} (see Autoencoder.config)."""
        return {
            "class": "VAE",
            **self._parts_config(),
            "latent_dim": self.latent_dim,
            "recon": self.recon,
            "beta": self.beta,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
        }

    def _summary_rows(self, input_shape):
        shape = (1, *input_shape)
        rows = [("input", _fmt_shape(shape), ""), ("-- encoder", "", "")]
        for layer in leaf_layers(self.encoder):
            shape = layer.output_shape(shape)
            rows.append((repr(layer), _fmt_shape(shape), f"{layer.num_params():,}"))
        L = self.latent_dim
        rows.append(("-- z = mu + exp(logvar / 2) * eps", f"(N, {L})", ""))
        shape = (1, L)
        rows.append(("-- decoder", "", ""))
        for layer in leaf_layers(self.decoder):
            shape = layer.output_shape(shape)
            rows.append((repr(layer), _fmt_shape(shape), f"{layer.num_params():,}"))
        return rows

    def _loss_line(self) -> str:
        return f"loss: {self.loss!r} on the reconstruction + {self.beta:g} * GaussianKL(q(z|x) || N(0, I))"

    def __repr__(self):
        return (f"VAE({self.encoder!r} -> z[{self.latent_dim}] -> {self.decoder!r}, recon={self.recon!r}, "
                f"beta={self.beta:g})")



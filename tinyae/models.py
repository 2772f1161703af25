"""Models built from layers: ``Sequential`` (a stack of layers, itself a layer), ``Autoencoder`` (an
encoder, a decoder, a reconstruction loss and penalties on the code) and ``VAE``.

A stack y = f_K(... f_2(f_1(x))) is differentiated by the chain rule in reverse order:

    forward:   h_0 = x,  h_k = f_k(h_{k-1}),  y = h_K
    backward:  dh_K = dy,  dh_{k-1} = f_k.backward(dh_k),  dx = dh_0

Each ``f_k.backward`` also adds its own parameter gradients into ``param.grad``.

``Autoencoder`` and ``VAE`` own their loss: ``loss_and_backward(x)`` runs the whole training step of
DESIGN.md's data flow (the derivation of each is in its class docstring). ``config()`` describes a model
as JSON and ``from_config`` rebuilds it (``tinyae.io`` stores the arrays next to it).
"""

from __future__ import annotations

import math

from tinyae import backend, losses
from tinyae.layers import activations, conv, dense, noise, pooling, shape
from tinyae.layers.activations import Activation, sigmoid
from tinyae.layers.base import Layer
from tinyae.layers.dense import Dense, TiedDense
from tinyae.layers.noise import Dropout, GaussianNoise


class Sequential(Layer):
    """Layers applied one after the other; a ``Layer`` itself, so stacks nest.

    ``train()`` / ``eval()`` set the default mode used when ``forward`` is called without ``training``
    (noise and dropout layers act only in training mode).
    """

    def __init__(self, *layers, name: str | None = None):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a Layer")
        self.layers = list(layers)
        self.name = name
        self.training = False

    # -- the contract ---------------------------------------------------------------------------
    def forward(self, x, training: bool | None = None):
        training = self.training if training is None else training
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def backward_params(self, dy):
        """``backward`` without dx, for a stack whose input is data (a model's encoder; Layer.backward_params).

        The layers before the first one with Params get no backward at all (they have nothing to add
        into), and that first one computes its parameter gradients only.
        """
        with_params = [i for i, layer in enumerate(self.layers) if any(True for _ in layer.params())]
        if not with_params:
            return None
        first = with_params[0]
        for layer in reversed(self.layers[first + 1:]):
            dy = layer.backward(dy)
        self.layers[first].backward_params(dy)
        return None

    def params(self):
        """Each Param once, in layer order (a tied Param is yielded at its first use only)."""
        return first_uses(p for layer in self.layers for p in layer.params())

    def named_params(self):
        """("index.Layer.name", Param) pairs, each Param once (the same order as ``params()``)."""
        def labelled():
            for i, layer in enumerate(self.layers):
                yield from _labelled(f"{i}.{type(layer).__name__}", layer)

        return first_uses(labelled(), param=lambda pair: pair[1])

    def children(self):
        return tuple(self.layers)

    # -- modes and shapes -----------------------------------------------------------------------
    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def output_shape(self, input_shape: tuple) -> tuple:
        for layer in self.layers:
            input_shape = layer.output_shape(input_shape)
        return tuple(input_shape)

    def summary(self, input_shape: tuple) -> str:
        """A compact table: each layer, its output shape (batch axis shown as N) and parameter count.

        ``input_shape`` is one sample's shape, e.g. ``(784,)`` or ``(1, 28, 28)``.
        """
        shape = (1, *input_shape)
        rows = [("input", _fmt_shape(shape), "")]
        for layer in self.layers:
            shape = layer.output_shape(shape)
            rows.append((repr(layer), _fmt_shape(shape), f"{layer.num_params():,}"))
        width = max(len(r[0]) for r in rows)
        swidth = max(len(r[1]) for r in rows)
        lines = [f"{'layer':<{width}}  {'output':<{swidth}}  params"]
        lines += [f"{a:<{width}}  {b:<{swidth}}  {c}" for a, b, c in rows]
        lines.append(f"total parameters: {self.num_params():,}")
        return "\n".join(lines)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential({inner})" if self.name is None else f"{self.name}: Sequential({inner})"


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(["N", *(str(s) for s in shape[1:])]) + ")"


# ==================================================================================================
# Autoencoder: an encoder, a decoder, a reconstruction loss and penalties on the code
# ==================================================================================================
#
# One training step (DESIGN.md, "Data flow"):
#
#     x ──► encoder ──► h ──► decoder ──► x̂ ──► loss(x̂, target) ──► L  (+ penalties(h), + weight decay)
#          encoder.backward_params ◄── dh ◄── decoder.backward ◄── dx̂ ◄── loss.backward()
#                                 dh += Σ penalty.backward()
#
# The code h feeds two things, the decoder and the penalties, so by the chain rule its gradient is the
# sum of the two contributions. That sum is formed BEFORE the encoder's backward runs, so the encoder is
# differentiated once, with the total dh. The encoder's input is data: nobody needs dL/dx, so the step
# calls backward_params (the parameter gradients only; Layer.backward_params).


def _as_part(part, what: str) -> Layer:
    """An encoder/decoder: a Layer, or a list/tuple of layers (made into a Sequential)."""
    if isinstance(part, (list, tuple)):
        return Sequential(*part)
    if not isinstance(part, Layer):
        raise TypeError(f"{what}: expected a Layer (e.g. a Sequential) or a list of layers, got {type(part).__name__}")
    return part


def leaf_layers(layer) -> list:
    """The layers of ``layer`` in forward order, nested Sequentials flattened (the model's "flat list")."""
    if isinstance(layer, Sequential):
        return [leaf for child in layer.layers for leaf in leaf_layers(child)]
    return [layer]


def first_uses(items, param=lambda item: item):
    """The items whose Param (``param(item)``) has not come before: each Param once, at its first use.

    A tied Param is used by two layers; an optimizer must see it once (it gets the sum of both gradients).
    ``params()`` runs at every ``zero_grad``, so it builds no labels: ``named_params()`` does that.
    """
    seen = set()
    for item in items:
        key = id(param(item))
        if key not in seen:
            seen.add(key)
            yield item


def _labelled(prefix: str, layer):
    """("prefix.label", Param) pairs of a layer, labels as Sequential gives them ("0.Dense.W")."""
    inner = layer.named_params() if hasattr(layer, "named_params") else ((p.name, p) for p in layer.params())
    for name, p in inner:
        yield f"{prefix}.{name}", p


def _make_loss(loss):
    if loss is None:
        return losses.MSE()
    if isinstance(loss, str):
        names = {"mse": losses.MSE, "bce": losses.BCE, "bce_logits": losses.BCEWithLogits,
                 "bce_with_logits": losses.BCEWithLogits}
        if loss not in names:
            raise ValueError(f"Autoencoder: loss must be a Loss or one of {sorted(names)}, got {loss!r}")
        return names[loss]()
    if not (hasattr(loss, "forward") and hasattr(loss, "backward")):
        raise TypeError(f"Autoencoder: loss must be a Loss (e.g. tinyae.losses.MSE()), got {type(loss).__name__}")
    return loss


def _check_penalty(pen):
    if isinstance(pen, losses.GaussianKL):
        raise TypeError("Autoencoder: GaussianKL is the prior term of a VAE, not a code penalty; use tinyae.models.VAE")
    if isinstance(pen, losses.L2WeightDecay):
        raise TypeError("Autoencoder: weight decay is not a code penalty; pass weight_decay=lam instead")
    if not (hasattr(pen, "forward") and hasattr(pen, "backward")):
        raise TypeError(f"Autoencoder: a penalty must be a Loss on the code h (KLSparsity, L1Activity), "
                        f"got {type(pen).__name__}")
    return pen


def _first_dense_width(layers):
    """The input width of the first Dense among ``layers`` if only shape-keeping layers come before it."""
    for layer in layers:
        if isinstance(layer, Dense):
            return layer.in_features
        if not isinstance(layer, (Activation, GaussianNoise, Dropout)):
            return None
    return None


def _zero_d(value, like):
    """A loss value as a 0-d array of ``like``'s dtype (NumPy returns scalars from 0-d arithmetic)."""
    return backend.array_module(like).asarray(value, dtype=like.dtype)


class Autoencoder(Layer):
    """An encoder, a decoder, a reconstruction loss, and optional penalties on the code h.

        h  = encoder(x)                      the code
        x̂  = decoder(h)                      the decoder's raw output (logits for BCEWithLogits)
        L  = loss(x̂, target) + Σ_k penalty_k(h) + weight_decay/2 · Σ_W ||W||²

    Arguments
    ---------
    encoder, decoder -- Layers (usually ``Sequential``), or lists of layers.
    loss         -- the reconstruction loss: a Loss (``MSE()``, ``BCEWithLogits()``, ...) or one of
                    "mse", "bce", "bce_logits". Default MSE (mean over all entries).
    penalties    -- Losses on the code h with ``forward(h)`` / ``backward() -> dh``: ``KLSparsity`` (sigmoid
                    codes), ``L1Activity`` (any code, ReLU in particular).
    weight_decay -- lam of an L2 penalty lam/2 · Σ W² on every weight matrix/kernel (Params with 2 or more
                    dimensions; biases are not decayed), or None. Its gradient lam · W is ADDED into W.grad.
    input_shape  -- one sample's shape, e.g. (64,) or (1, 8, 8). Checked on every call with a message that
                    says how to reshape; inferred from a first Dense layer when not given.

    ``loss_and_backward(x, target)`` runs one step of the data flow and fills ``self.terms`` with 0-d
    arrays: "reconstruction", one key per penalty (its ``name``: "kl_sparsity", "l1_activity"; a repeated
    name gets "_2", "_3"), "weight_decay" when set, and "loss", their sum. ``target`` defaults to the CLEAN
    x: a denoising autoencoder corrupts its input with a noise layer inside the encoder, and the loss
    still compares with the uncorrupted x.

    Modes. ``forward(x)`` uses the model's mode (``train()`` / ``eval()``, eval by default);
    ``loss_and_backward`` trains (training=True), ``evaluate_loss``, ``encode``, ``decode`` and
    ``reconstruct`` always run in eval mode (no noise, deterministic).
    """

    _cache_names = ()

    def __init__(self, encoder, decoder, loss=None, penalties=(), weight_decay=None, input_shape=None):
        self.encoder = _as_part(encoder, "Autoencoder(encoder)")
        self.decoder = _as_part(decoder, "Autoencoder(decoder)")
        self.loss = _make_loss(loss)
        if not isinstance(penalties, (list, tuple)):
            penalties = (penalties,)
        self.penalties = [_check_penalty(p) for p in penalties]
        self._penalty_keys = []
        for pen in self.penalties:
            key = getattr(pen, "name", type(pen).__name__.lower())
            base, k = key, 2
            while key in self._penalty_keys or key in ("reconstruction", "weight_decay", "loss"):
                key, k = f"{base}_{k}", k + 1
            self._penalty_keys.append(key)
        self.weight_decay = None
        self._decay = None
        if weight_decay is not None and weight_decay != 0:
            weights = [p for p in self.params() if p.value.ndim >= 2]
            self._decay = losses.L2WeightDecay(weights, weight_decay)
            self.weight_decay = self._decay.lam
        if input_shape is None:
            width = _first_dense_width(leaf_layers(self.encoder))
            input_shape = None if width is None else (width,)
        self.input_shape = None if input_shape is None else tuple(int(s) for s in input_shape)
        self.training = False
        self.terms = {}

    # -- parameters and structure ---------------------------------------------------------------
    def named_params(self):
        """("encoder.0.Dense.W", Param) pairs, encoder first, each Param once (a tied W under its encoder label)."""
        pairs = (pair for prefix, part in (("encoder", self.encoder), ("decoder", self.decoder))
                 for pair in _labelled(prefix, part))
        return first_uses(pairs, param=lambda pair: pair[1])

    def params(self):
        return first_uses(p for part in (self.encoder, self.decoder) for p in part.params())

    def children(self):
        return (self.encoder, self.decoder)

    def layers(self) -> list:
        """The flat list of layers, encoder's then decoder's (the positions ``TiedDense.tied_to`` refers to)."""
        return leaf_layers(self.encoder) + leaf_layers(self.decoder)

    def _losses(self):
        return [self.loss, *self.penalties] + ([self._decay] if self._decay is not None else [])

    def astype(self, dtype):
        """Cast every Param to ``dtype`` (float32 to train, float64 to gradient-check); drops all caches."""
        dtype = backend.check_float_dtype(dtype, f"{type(self).__name__}.astype")
        for part in self.children():
            part.astype(dtype)  # a tied Param is cast in place, so both of its users see the new array
        for loss in self._losses():
            loss.clear_cache()
        return self

    def to(self, device: str):
        """Move every Param to ``device`` ('cpu' or 'gpu'); drops all caches."""
        for part in self.children():
            part.to(device)
        for loss in self._losses():
            loss.clear_cache()
        return self

    def clear_cache(self):
        for part in self.children():
            for leaf in _walk(part):
                leaf.clear_cache()
        for loss in self._losses():
            loss.clear_cache()

    @property
    def device(self) -> str:
        for p in self.params():
            return backend.device_of(p.value)
        return "cpu"

    def train(self):
        self.training = True
        for part in self.children():
            if hasattr(part, "train"):
                part.train()
        return self

    def eval(self):
        self.training = False
        for part in self.children():
            if hasattr(part, "eval"):
                part.eval()
        return self

    # -- input checks -----------------------------------------------------------------------------
    def _check_input(self, x, where: str):
        """Refuse a batch whose shape is not this model's, saying how to get the right one."""
        if not (hasattr(x, "shape") and hasattr(x, "dtype")):
            raise TypeError(f"{type(self).__name__}.{where}: expected a NumPy or CuPy array, got {type(x).__name__}")
        if self.input_shape is None:
            return
        want, got = self.input_shape, tuple(x.shape[1:])
        if x.ndim >= 1 and got == want:
            return
        msg = (f"{type(self).__name__}.{where}: this model expects input of shape "
               f"(N, {', '.join(map(str, want))}), got {tuple(x.shape)}")
        size, got_size = math.prod(want), math.prod(got)
        if x.ndim >= 2 and got_size == size and len(want) == 3:
            msg += (f"; the sizes match: reshape the rows to images with tinyae.data.to_images(X, {want}), "
                    f"or load the data with tinyae.data.load(..., flatten=False)")
        elif x.ndim >= 2 and got_size == size and len(want) == 1:
            msg += ("; the sizes match: flatten the images with tinyae.data.flatten_images(X), "
                    "or load the data with tinyae.data.load(..., flatten=True)")
        else:
            msg += "; build the model for this data, e.g. tinyae.zoo.build(name, X.shape[1:])"
        raise ValueError(msg)

    # -- inference --------------------------------------------------------------------------------
    def forward(self, x, training: bool | None = None):
        """The decoder's raw output x̂ = decoder(encoder(x)) (logits for a BCEWithLogits model)."""
        training = self.training if training is None else training
        self._check_input(x, "forward")
        return self.decoder.forward(self.encoder.forward(x, training=training), training=training)

    def backward(self, dy):
        """dx from dL/dx̂ through decoder and encoder (no penalties: those live in ``loss_and_backward``)."""
        return self.encoder.backward(self.decoder.backward(dy))

    def _to_data(self, out):
        """Decoder output -> data space: sigmoid of the logits for a BCEWithLogits model, else as is."""
        return sigmoid(out) if isinstance(self.loss, losses.BCEWithLogits) else out

    def encode(self, x):
        """The code h = encoder(x), in eval mode (no noise)."""
        self._check_input(x, "encode")
        return self.encoder.forward(x, training=False)

    def decode(self, h):
        """Data from codes: decoder(h), passed through a sigmoid for a BCEWithLogits model (eval mode)."""
        return self._to_data(self.decoder.forward(h, training=False))

    def reconstruct(self, x):
        """decode(encode(x)): the model's reconstruction of x, in data space (images for BCE models)."""
        return self.decode(self.encode(x))

    # -- the training step ------------------------------------------------------------------------
    def loss_and_backward(self, x, target=None, training: bool = True):
        """One step of the data flow: forward, total loss, backward (ADDING into every param.grad).

        x      -- a batch (N, *input_shape)
        target -- what the reconstruction is compared with; default the clean x itself
        Returns the total loss as a 0-d array; the terms are in ``self.terms``.
        """
        self._check_input(x, "loss_and_backward")
        target = x if target is None else target
        h = self.encoder.forward(x, training=training)  # (N, code...)
        out = self.decoder.forward(h, training=training)  # (N, *input_shape)
        terms = {"reconstruction": self.loss.forward(out, target)}
        dh = self.decoder.backward(self.loss.backward())  # dL/dh from the reconstruction
        for key, pen in zip(self._penalty_keys, self.penalties):
            terms[key] = pen.forward(h)
            dh = dh + pen.backward()  # the code's second use: its gradient adds up (a new array: dh is not mutated)
        self.encoder.backward_params(dh)  # the parameter gradients only: nobody needs dL/dx of the data
        if self._decay is not None:
            terms["weight_decay"] = self._decay.forward()
            self._decay.backward()  # adds lam * W into W.grad
        return self._finish(terms, out)

    def evaluate_loss(self, x, target=None):
        """The same total loss without backward, in eval mode (no noise); fills ``self.terms`` too."""
        self._check_input(x, "evaluate_loss")
        target = x if target is None else target
        h = self.encoder.forward(x, training=False)
        out = self.decoder.forward(h, training=False)
        terms = {"reconstruction": self.loss.forward(out, target)}
        for key, pen in zip(self._penalty_keys, self.penalties):
            terms[key] = pen.forward(h)
        if self._decay is not None:
            terms["weight_decay"] = self._decay.forward()
        return self._finish(terms, out)

    def _finish(self, terms, like):
        total = terms["reconstruction"]
        for key, value in terms.items():
            if key != "reconstruction":
                total = total + value
        terms["loss"] = _zero_d(total, like)
        self.terms = terms
        return terms["loss"]

    # -- saving and showing -----------------------------------------------------------------------
    def config(self) -> dict:
        """A JSON-ready description that rebuilds this model with ``tinyae.models.from_config`` (no arrays).

        {"class": "Autoencoder", "encoder": <layer spec>, "decoder": <layer spec>,
         "loss": <loss spec>, "penalties": [<loss spec>, ...], "weight_decay": lam or null,
         "input_shape": [..] or null}
        A layer spec is {"class": "Sequential", "layers": [<layer spec>, ...]} or
        {"class": <layer class name>, "config": layer.config()}; a TiedDense's config holds "tied_to",
        its encoder's position in ``self.layers()``. A loss spec is {"class": ..., "config": loss.config()}.
        """
        return {
            "class": type(self).__name__,
            **self._parts_config(),
            "loss": _loss_spec(self.loss),
            "penalties": [_loss_spec(p) for p in self.penalties],
            "weight_decay": self.weight_decay,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
        }

    def _parts_config(self) -> dict:
        flat = self.layers()
        return {"encoder": layer_spec(self.encoder, flat), "decoder": layer_spec(self.decoder, flat)}

    def rng_states(self) -> list:
        """The state of every random Generator in the model (noise layers, a VAE's sampler), in a fixed
        order, as JSON-ready dicts; ``set_rng_states`` puts them back (for exact resuming)."""
        return [part.rng.bit_generator.state for part in _walk(self) if _has_rng(part)]

    def set_rng_states(self, states: list):
        parts = [part for part in _walk(self) if _has_rng(part)]
        if len(states) != len(parts):
            raise ValueError(f"{type(self).__name__}.set_rng_states: got {len(states)} states for "
                             f"{len(parts)} random parts")
        for part, state in zip(parts, states):
            part.rng.bit_generator.state = state

    def _summary_rows(self, input_shape):
        shape = (1, *input_shape)
        rows = [("input", _fmt_shape(shape), "")]
        rows.append(("-- encoder", "", ""))
        for layer in leaf_layers(self.encoder):
            shape = layer.output_shape(shape)
            rows.append((repr(layer), _fmt_shape(shape), f"{layer.num_params():,}"))
        rows.append(("-- decoder", "", ""))
        for layer in leaf_layers(self.decoder):
            shape = layer.output_shape(shape)
            rows.append((repr(layer), _fmt_shape(shape), f"{_own_params(layer, self):,}"))
        return rows

    def summary(self, input_shape=None) -> str:
        """A table of the layers, their output shapes (batch axis N) and parameter counts, and the loss.

        ``input_shape`` is one sample's shape, e.g. (784,) or (1, 28, 28); default the model's own.
        """
        input_shape = self.input_shape if input_shape is None else tuple(input_shape)
        if input_shape is None:
            raise ValueError(f"{type(self).__name__}.summary: give input_shape (one sample's shape, e.g. (784,))")
        rows = self._summary_rows(tuple(input_shape))
        width = max(len(r[0]) for r in rows)
        swidth = max(len(r[1]) for r in rows)
        lines = [f"{type(self).__name__}", f"{'layer':<{width}}  {'output':<{swidth}}  params"]
        lines += [f"{a:<{width}}  {b:<{swidth}}  {c}".rstrip() for a, b, c in rows]
        lines.append(f"total parameters: {self.num_params():,}")
        lines.append(self._loss_line())
        return "\n".join(lines)

    def _loss_line(self) -> str:
        parts = [f"loss: {self.loss!r} on the reconstruction"]
        parts += [f"{p!r} on the code" for p in self.penalties]
        if self._decay is not None:
            parts.append(f"weight decay {self.weight_decay:g}")
        return " + ".join(parts)

    def __repr__(self):
        extra = "".join(f", {p!r}" for p in self.penalties)
        if self.weight_decay is not None:
            extra += f", weight_decay={self.weight_decay:g}"
        return f"{type(self).__name__}({self.encoder!r} -> {self.decoder!r}, loss={self.loss!r}{extra})"


def _own_params(layer, model) -> int:
    """Parameters of a decoder layer not already counted in the encoder (a tied W counts once)."""
    enc = {id(p) for p in model.encoder.params()}
    return sum(p.size for p in layer.params() if id(p) not in enc)


def _walk(obj):
    yield obj
    for child in obj.children() if hasattr(obj, "children") else ():
        yield from _walk(child)


def _has_rng(part) -> bool:
    """A part with its own numpy Generator in ``.rng`` (a noise layer, a VAE)."""
    return hasattr(getattr(part, "rng", None), "bit_generator")


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
    recon="bce_logits": Bernoulli likelihood on a linear output (BCEWithLogits; decoded images are
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
    decoder    -- Layers mapping z (N, latent_dim) to the data shape (a linear output for "bce_logits").
    latent_dim -- L, the size of z.
    recon      -- "bce_logits" (default, data in [0, 1]) or "mse".
    beta       -- weight of the KL term (beta-VAE; 1 is the ELBO).
    seed       -- int, None or a numpy Generator for eps (``self.rng``; drawn on the host, then moved).

    ``loss_and_backward(x, target=None, training=True, eps=None)``: pass ``eps`` (N, L) to fix the noise
    (gradient checks); otherwise it is drawn from ``self.rng``. ``self.terms``: "reconstruction", "kl" (the
    KL itself, in nats per sample, before the beta weight) and "loss" = reconstruction + beta * kl.
    """

    def __init__(self, encoder, decoder, latent_dim: int, recon: str = "bce_logits", beta: float = 1.0, seed=None,
                 input_shape=None):
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"VAE: latent_dim must be a positive int, got {latent_dim!r}")
        if recon not in ("bce_logits", "mse"):
            raise ValueError(f"VAE: recon must be 'bce_logits' or 'mse', got {recon!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0 or beta == float("inf"):
            raise ValueError(f"VAE: beta must be a finite number >= 0, got {beta!r}")
        loss = losses.BCEWithLogits("batch_mean") if recon == "bce_logits" else losses.MSE("batch_mean")
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
        self._check_input(x, "encode_stats")
        return self._split(self.encoder.forward(x, training=False), "encode_stats")

    def encode(self, x):
        """The mean code mu (N, latent_dim) (the usual deterministic embedding of x)."""
        return self.encode_stats(x)[0]

    def decode(self, z):
        """Data from latent points z (N, latent_dim): sigmoid(decoder(z)) for "bce_logits", decoder(z) for "mse"."""
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
        self._check_input(x, "forward")
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
        self._check_input(x, "loss_and_backward")
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
        return self._finish_vae(rec, kl, out)

    def evaluate_loss(self, x, target=None, eps=None, seed: int = 0):
        """The negative ELBO without backward, in eval mode; fills ``self.terms``.

        It still samples z (the ELBO is an expectation over q(z|x)), but with eps from a fresh
        ``Generator(seed)`` at every call, not from ``self.rng``: the same batch always gets the same
        value (validation losses compare across epochs, and early stopping is not fooled by noise),
        and the training noise stream is left untouched.
        """
        self._check_input(x, "evaluate_loss")
        target = x if target is None else target
        mu, logvar = self._split(self.encoder.forward(x, training=False), "evaluate_loss")
        if eps is None:
            eps = self._draw_eps(mu.shape[0], mu, backend.make_rng(seed))
        z = mu + backend.array_module(mu).exp(0.5 * logvar) * self._check_eps(eps, mu)
        out = self.decoder.forward(z, training=False)
        return self._finish_vae(self.loss.forward(out, target), self.kl.forward(mu, logvar), out)

    def _finish_vae(self, rec, kl, like):
        self.terms = {"reconstruction": rec, "kl": kl, "loss": _zero_d(rec + self.beta * kl, like)}
        return self.terms["loss"]

    # -- saving and showing -----------------------------------------------------------------------
    def config(self) -> dict:
        """{"class": "VAE", "encoder": <layer spec>, "decoder": <layer spec>, "latent_dim": L,
        "recon": "bce_logits" | "mse", "beta": b, "input_shape": [..] or null} (see Autoencoder.config)."""
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


# ==================================================================================================
# Rebuilding a model from its config
# ==================================================================================================


def _loss_spec(loss) -> dict:
    return {"class": type(loss).__name__, "config": dict(loss.config())}


def layer_spec(layer, flat=None) -> dict:
    """A JSON-ready spec of a layer: {"class": "Sequential", "layers": [...]} or {"class": name, "config": ...}.

    ``flat`` is the model's flat list of layers; a TiedDense's "tied_to" is filled with the position of
    its encoder Dense in it (and set on the layer, as TiedDense's docstring asks of the model).
    """
    if isinstance(layer, Sequential):
        spec = {"class": "Sequential", "layers": [layer_spec(child, flat) for child in layer.layers]}
        if layer.name is not None:
            spec["name"] = layer.name
        return spec
    if isinstance(layer, TiedDense) and flat is not None:
        positions = [i for i, other in enumerate(flat) if other is layer.encoder]
        if not positions:
            raise ValueError(f"config: {layer!r} is tied to a Dense layer that is not part of this model")
        layer.tied_to = positions[0]
    return {"class": type(layer).__name__, "config": dict(layer.config())}


def layer_classes() -> dict:
    """{class name: class} of every layer a spec may name."""
    classes = {"Sequential": Sequential}
    for module in (dense, activations, noise, conv, pooling, shape):
        for name in dir(module):
            obj = getattr(module, name)
            if (isinstance(obj, type) and issubclass(obj, Layer) and obj.__module__ == module.__name__
                    and not name.startswith("_") and obj.forward is not Layer.forward):  # not an abstract base
                classes[name] = obj
    return classes


def _loss_from_spec(spec):
    allowed = {"MSE", "BCE", "BCEWithLogits", "KLSparsity", "L1Activity"}
    name = spec.get("class") if isinstance(spec, dict) else None
    if name not in allowed:
        raise ValueError(f"from_config: unknown loss {name!r}; known: {sorted(allowed)}")
    return getattr(losses, name)(**spec.get("config", {}))


def layer_from_spec(spec, flat: list, classes=None):
    """Build a layer from ``layer_spec``'s output; ``flat`` collects the leaf layers built so far (in order)."""
    classes = layer_classes() if classes is None else classes
    if not isinstance(spec, dict) or spec.get("class") not in classes:
        name = spec.get("class") if isinstance(spec, dict) else spec
        raise ValueError(f"from_config: unknown layer {name!r}; known: {sorted(classes)}")
    cls = classes[spec["class"]]
    if cls is Sequential:
        return Sequential([layer_from_spec(s, flat, classes) for s in spec.get("layers", [])], name=spec.get("name"))
    cfg = dict(spec.get("config", {}))
    if cls is TiedDense:
        pos = cfg.pop("tied_to", None)
        if not isinstance(pos, int) or not 0 <= pos < len(flat) or not isinstance(flat[pos], Dense):
            raise ValueError(f"from_config: TiedDense refers to layer {pos!r}, which is not an earlier Dense layer")
        layer = TiedDense(flat[pos], **cfg)
        layer.tied_to = pos
    else:
        layer = cls(**cfg)
    flat.append(layer)
    return layer


def from_config(config: dict, dtype=backend.DEFAULT_DTYPE):
    """Rebuild an ``Autoencoder`` or ``VAE`` from its ``config()`` (fresh weights: load the arrays after).

    The Params of the rebuilt model have the same ``named_params()`` labels, shapes and order as the
    original's, so the saved arrays can be copied in by label.
    """
    if not isinstance(config, dict) or config.get("class") not in ("Autoencoder", "VAE"):
        got = config.get("class") if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"from_config: expected the config of an Autoencoder or a VAE, got {got!r}")
    classes = layer_classes()
    flat = []
    encoder = layer_from_spec(config["encoder"], flat, classes)
    decoder = layer_from_spec(config["decoder"], flat, classes)
    input_shape = config.get("input_shape")
    if config["class"] == "VAE":
        model = VAE(encoder, decoder, config["latent_dim"], recon=config["recon"], beta=config["beta"],
                    input_shape=input_shape)
    else:
        model = Autoencoder(encoder, decoder, loss=_loss_from_spec(config["loss"]),
                            penalties=[_loss_from_spec(s) for s in config.get("penalties", [])],
                            weight_decay=config.get("weight_decay"), input_shape=input_shape)
    return model.astype(dtype)

"""``Autoencoder``: an encoder, a decoder, a reconstruction loss and penalties on the code."""

from __future__ import annotations

import math

from tinyae import backend, losses
from tinyae.layers.activations import Activation, sigmoid
from tinyae.layers.base import Layer
from tinyae.layers.dense import Dense
from tinyae.layers.noise import Dropout, GaussianNoise
from tinyae.models.sequential import (
    Sequential,
    _fmt_shape,
    _labelled,
    each_param_once,
    leaf_layers,
    noise_sources,
    walk,
)
from tinyae.models.spec import _loss_spec, layer_spec

# ==================================================================================================
# Autoencoder: an encoder, a decoder, a reconstruction loss and penalties on the code
# ==================================================================================================
#
# One training step (docs/architecture.md, "One training step"):
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



# The reconstruction losses by name: one vocabulary for models, the zoo, the command line and checkpoints
# (each name is the loss class's ``name``). "bce_logits" is the earlier spelling of "bce_with_logits":
# still accepted, so that old checkpoints and scripts keep working, and read as the new one.
RECONSTRUCTION_LOSSES = {"mse": losses.MSE, "bce": losses.BCE, "bce_with_logits": losses.BCEWithLogits}
OLD_LOSS_NAMES = {"bce_logits": "bce_with_logits"}


def reconstruction_loss_name(name: str, where: str, allowed=tuple(RECONSTRUCTION_LOSSES)) -> str:
    """The canonical name of a reconstruction loss (an old spelling translated), or a one-line error."""
    name = OLD_LOSS_NAMES.get(name, name) if isinstance(name, str) else name
    if name not in allowed:
        raise ValueError(f"{where} must be one of {', '.join(repr(a) for a in allowed)}"
                         f"{' (or a Loss object)' if where.endswith('loss') else ''}, got {name!r}")
    return name


def _make_loss(loss):
    if loss is None:
        return losses.MSE()
    if isinstance(loss, str):
        return RECONSTRUCTION_LOSSES[reconstruction_loss_name(loss, "Autoencoder: loss")]()
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
                    "mse", "bce", "bce_with_logits". Default MSE (mean over all entries).
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
        return each_param_once(pairs, param=lambda pair: pair[1])

    def params(self):
        return each_param_once(p for part in (self.encoder, self.decoder) for p in part.params())

    def children(self):
        return (self.encoder, self.decoder)

    def flat_layers(self) -> list:
        """The flat list of layers, encoder's then decoder's (the positions TiedDense.encoder_position names)."""
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
            for leaf in walk(part):
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
    def _check_batch(self, x, where: str):
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
        self._check_batch(x, "forward")
        return self.decoder.forward(self.encoder.forward(x, training=training), training=training)

    def backward(self, dy):
        """dx from dL/dx̂ through decoder and encoder (no penalties: those live in ``loss_and_backward``)."""
        return self.encoder.backward(self.decoder.backward(dy))

    def _to_data(self, out):
        """Decoder output -> data space: sigmoid of the logits for a BCEWithLogits model, else as is."""
        return sigmoid(out) if isinstance(self.loss, losses.BCEWithLogits) else out

    def encode(self, x):
        """The code h = encoder(x), in eval mode (no noise)."""
        self._check_batch(x, "encode")
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
        self._check_batch(x, "loss_and_backward")
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
        return self._total_loss(terms, out)

    def evaluate_loss(self, x, target=None):
        """The same total loss without backward, in eval mode (no noise); fills ``self.terms`` too."""
        self._check_batch(x, "evaluate_loss")
        target = x if target is None else target
        h = self.encoder.forward(x, training=False)
        out = self.decoder.forward(h, training=False)
        terms = {"reconstruction": self.loss.forward(out, target)}
        for key, pen in zip(self._penalty_keys, self.penalties):
            terms[key] = pen.forward(h)
        if self._decay is not None:
            terms["weight_decay"] = self._decay.forward()
        return self._total_loss(terms, out)

    def _total_loss(self, terms, like):
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
        {"class": <layer class name>, "config": layer.config()}; a TiedDense's config holds "encoder_position",
        its encoder's position in ``self.flat_layers()``. A loss spec is {"class": ..., "config": loss.config()}.
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
        flat = self.flat_layers()
        return {"encoder": layer_spec(self.encoder, flat), "decoder": layer_spec(self.decoder, flat)}

    def rng_states(self) -> list:
        """The state of every random Generator in the model (noise layers, a VAE's sampler), in a fixed
        order, as JSON-ready dicts; ``set_rng_states`` puts them back (for exact resuming)."""
        return [part.rng.bit_generator.state for part in noise_sources(self)]

    def set_rng_states(self, states: list):
        parts = noise_sources(self)
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



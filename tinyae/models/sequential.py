"""``Sequential``: layers applied one after the other (the chain rule in reverse), and the helpers that
walk a tree of layers (walk, noise_sources, leaf_layers, each_param_once)."""

from __future__ import annotations

from tinyae.layers.base import Layer


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
        return each_param_once(p for layer in self.layers for p in layer.params())

    def named_params(self):
        """("index.Layer.name", Param) pairs, each Param once (the same order as ``params()``)."""
        def labelled():
            for i, layer in enumerate(self.layers):
                yield from _labelled(f"{i}.{type(layer).__name__}", layer)

        return each_param_once(labelled(), param=lambda pair: pair[1])

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


def leaf_layers(layer) -> list:
    """The layers of ``layer`` in forward order, nested Sequentials flattened (the model's "flat list")."""
    if isinstance(layer, Sequential):
        return [leaf for child in layer.layers for leaf in leaf_layers(child)]
    return [layer]


def each_param_once(items, param=lambda item: item):
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


def walk(obj):
    """``obj`` and every part inside it, depth first (a part's ``children()``, then theirs, ...)."""
    yield obj
    for child in obj.children() if hasattr(obj, "children") else ():
        yield from walk(child)


def noise_sources(obj) -> list:
    """The parts of ``obj`` (itself included) that draw noise from their own Generator in ``.rng`` (a noise
    layer, dropout, a VAE's sampler), in ``walk`` order."""
    return [part for part in walk(obj) if hasattr(getattr(part, "rng", None), "bit_generator")]


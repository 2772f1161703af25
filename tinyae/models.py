"""Models built from layers: ``Sequential`` (a stack of layers, itself a layer).

A stack y = f_K(... f_2(f_1(x))) is differentiated by the chain rule in reverse order:

    forward:   h_0 = x,  h_k = f_k(h_{k-1}),  y = h_K
    backward:  dh_K = dy,  dh_{k-1} = f_k.backward(dh_k),  dx = dh_0

Each ``f_k.backward`` also adds its own parameter gradients into ``param.grad``.
"""

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

    def params(self):
        """Each Param once, in layer order (a tied Param is yielded at its first use only)."""
        return (p for _, p in self.named_params())

    def named_params(self):
        """("index.Layer.name", Param) pairs, each Param once."""
        seen = set()
        for i, layer in enumerate(self.layers):
            inner = layer.named_params() if hasattr(layer, "named_params") else ((p.name, p) for p in layer.params())
            for name, p in inner:
                if id(p) not in seen:
                    seen.add(id(p))
                    yield f"{i}.{type(layer).__name__}.{name}", p

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

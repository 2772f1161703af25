"""Layers as JSON specs and back (``layer_spec`` / ``layer_from_spec``); ``config.from_config`` rebuilds a model."""

from __future__ import annotations

from tinyae import losses
from tinyae.layers import activations, conv, dense, noise, pooling, shape
from tinyae.layers.base import Layer
from tinyae.layers.dense import Dense, TiedDense
from tinyae.models.sequential import Sequential

# ==================================================================================================
# Rebuilding a model from its config
# ==================================================================================================


def _loss_spec(loss) -> dict:
    return {"class": type(loss).__name__, "config": dict(loss.config())}


def layer_spec(layer, flat=None) -> dict:
    """A JSON-ready spec of a layer: {"class": "Sequential", "layers": [...]} or {"class": name, "config": ...}.

    ``flat`` is the model's flat list of layers; a TiedDense's "encoder_position" is filled with the position of
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
        layer.encoder_position = positions[0]
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
        pos = cfg.pop("encoder_position", cfg.pop("tied_to", None))  # "tied_to": its name before December 2026
        if not isinstance(pos, int) or not 0 <= pos < len(flat) or not isinstance(flat[pos], Dense):
            raise ValueError(f"from_config: TiedDense refers to layer {pos!r}, which is not an earlier Dense layer")
        layer = TiedDense(flat[pos], **cfg)
        layer.encoder_position = pos
    else:
        layer = cls(**cfg)
    flat.append(layer)
    return layer

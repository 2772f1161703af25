"""``load`` and ``load_checkpoint``: check the file (``npz``, ``manifest``), then rebuild the model from its
config (``tinyae.models.from_config``: a fixed registry, no code from the file), its weights, noise
generators, optimizer and History."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyae import backend, models, optim
from tinyae.io.manifest import check_fields, read_manifest
from tinyae.io.npz import check_headers, open_npz, read_member
from tinyae.io.spec import FORMAT_VERSION, META_KEY, OPTIM_PREFIX, PARAM_PREFIX, CheckpointError, array_sha256
from tinyae.train import History


@dataclass
class Checkpoint:
    """What ``load_checkpoint`` returns.

    model           -- the rebuilt model with its saved weights (and noise generators' states)
    optimizer       -- an optimizer over ``model``'s Params with its saved state (None if none was saved)
    optimizer_state -- that state as a plain dict (``Optimizer.state_dict()`` form), or None
    history         -- the ``tinyae.train.History`` saved with it, or None
    epoch           -- epochs completed when saved (pass as ``fit(initial_epoch=...)``), or None
    extra           -- the JSON ``extra`` given to ``save`` (e.g. the dataset name), or {}
    """

    model: object
    optimizer: object = None
    optimizer_state: dict | None = None
    history: object = None
    epoch: int | None = None
    extra: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    tinyae_version: str = ""
    path: str = ""


OPTIMIZERS = {"SGD": optim.SGD, "Adam": optim.Adam}  # the optimizers a checkpoint may name


def load(path, device: str = "cpu"):
    """The model saved in ``path`` (weights loaded, eval mode), on ``device`` ('cpu' or 'gpu')."""
    return load_checkpoint(path, device=device).model


def load_checkpoint(path, device: str = "cpu") -> Checkpoint:
    """Everything saved in ``path``: the model, the optimizer (rebuilt over the model's Params, state
    restored), the History, the epoch and ``extra``. Raises ``CheckpointError`` (naming the file) for
    anything that is not an intact tinyae checkpoint of a known format version."""
    path = Path(path)
    where = f"tinyae.io.load({str(path)!r})"
    if not path.is_file():
        raise FileNotFoundError(f"{where}: no such file")
    with open_npz(path, where) as npz:
        manifest = read_manifest(npz, where)
        check_fields(manifest, where)
        check_headers(path, manifest, where)  # shapes and sizes, before any array or layer is allocated
        arrays = _read_arrays(npz, manifest, where)
    model = _rebuild_model(manifest, arrays, where)
    optimizer, optimizer_state = _rebuild_optimizer(manifest, model, arrays, where)
    history = None
    if manifest.get("history") is not None:
        try:
            history = History.from_state(manifest["history"])
        except ValueError as err:
            raise CheckpointError(f"{where}: the saved history is damaged: {err}") from err
    bad = [label for label, p in model.named_params() if not np.isfinite(p.value).all()]
    if bad:
        warnings.warn(f"{where}: Param(s) {bad[:5]} hold NaN/Inf values: the model will compute NaN "
                      f"(saved after training diverged?)", RuntimeWarning, stacklevel=2)
    if device != "cpu":
        model.to(device)  # the optimizer's buffers follow their Params on first use
    model.eval()
    epoch = manifest.get("epoch")
    return Checkpoint(model=model, optimizer=optimizer, optimizer_state=optimizer_state, history=history,
                      epoch=None if epoch is None else int(epoch), extra=manifest.get("extra") or {},
                      format_version=manifest["format_version"], tinyae_version=str(manifest.get("tinyae_version")),
                      path=str(path))


def _read_arrays(npz, manifest, where) -> dict:
    """Every array the manifest lists, checked against its SHA-256; no more, no fewer."""
    expected = manifest["arrays"]
    present = set(npz.files) - {META_KEY}
    missing = sorted(set(expected) - present)
    extra = sorted(present - set(expected))
    if missing:
        raise CheckpointError(f"{where}: missing array(s) {missing[:5]} that the manifest lists")
    if extra:
        raise CheckpointError(f"{where}: unexpected array(s) {extra[:5]} not listed in the manifest "
                              f"(the file was modified after saving)")
    arrays = {}
    for name, digest in expected.items():
        value = read_member(npz, name, where)
        if value.dtype.kind != "f" and value.dtype.kind not in "iu":
            raise CheckpointError(f"{where}: array {name!r} has dtype {value.dtype}; only numbers are accepted")
        if array_sha256(value) != digest:
            raise CheckpointError(f"{where}: array {name!r} does not match its SHA-256 checksum "
                                  f"(the file was modified or corrupted after saving)")
        arrays[name] = value
    return arrays


def _rebuild_model(manifest, arrays, where):
    try:
        dtype = backend.check_float_dtype(manifest["dtype"], where)
    except TypeError as err:
        raise CheckpointError(f"{where}: {err}") from err
    try:
        model = models.from_config(manifest["model"], dtype=dtype)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError, MemoryError,
            OverflowError) as err:
        # MemoryError: a config that asks for absurdly large layers (a damaged or hostile file)
        raise CheckpointError(f"{where}: cannot rebuild the model from its config: {type(err).__name__}: "
                              f"{err}") from err

    saved = [entry.get("label") if isinstance(entry, dict) else None for entry in manifest["params"]]
    built = dict(model.named_params())
    missing = [label for label in built if label not in saved]
    unknown = [label for label in saved if label not in built]
    if missing or unknown:
        raise CheckpointError(f"{where}: the saved Params do not match the model's: missing {missing[:5]}, "
                              f"unexpected {unknown[:5]}")
    for label, p in built.items():
        key = PARAM_PREFIX + label
        if key not in arrays:
            raise CheckpointError(f"{where}: no array for Param {label!r}")
        value = arrays[key]
        if tuple(value.shape) != tuple(p.shape):
            raise CheckpointError(f"{where}: Param {label!r} has shape {tuple(value.shape)} in the file, but the "
                                  f"model built from the config needs {tuple(p.shape)}")
        if value.dtype != dtype:
            raise CheckpointError(f"{where}: Param {label!r} is {value.dtype}, the manifest says {dtype}")
        p.value[...] = value  # in place: a tied Param stays one object shared by both layers
    states = manifest.get("rng_states") or []
    if states:
        if not hasattr(model, "set_rng_states"):
            raise CheckpointError(f"{where}: the file holds random states but the model cannot take them")
        try:
            model.set_rng_states(states)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as err:
            raise CheckpointError(f"{where}: cannot restore the noise generators: {err}") from err
    return model


def _rebuild_optimizer(manifest, model, arrays, where):
    meta = manifest.get("optimizer")
    if meta is None:
        return None, None
    classes = OPTIMIZERS
    if not isinstance(meta, dict) or meta.get("class") not in classes:
        name = meta.get("class") if isinstance(meta, dict) else meta
        raise CheckpointError(f"{where}: unknown optimizer {name!r}; known: {sorted(classes)}")
    built = dict(model.named_params())
    try:
        params = [built[label] for label in meta["params"]]
        state = {"t": int(meta["t"])}
        for key in meta["arrays"]:
            state[key] = arrays[OPTIM_PREFIX + key]
        optimizer = classes[meta["class"]](params, **meta["config"])
        optimizer.load_state_dict(state)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
        raise CheckpointError(f"{where}: cannot restore the optimizer: {type(err).__name__}: {err}") from err
    return optimizer, state

"""The manifest of a checkpoint (its JSON description): read it, and check every field that loading uses
for its kind and range, so that a damaged or edited file gives a ``CheckpointError`` naming the field."""

from __future__ import annotations

import json

import numpy as np

from tinyae.io.npz import read_member
from tinyae.io.spec import FORMAT, FORMAT_VERSION, MAX_MANIFEST_BYTES, META_KEY, CheckpointError


def read_manifest(npz, where) -> dict:
    if META_KEY not in npz.files:
        raise CheckpointError(f"{where}: no {META_KEY!r} entry; this .npz was not written by tinyae.io.save "
                              f"(it holds {sorted(npz.files)[:5]}...)")
    try:
        size = npz.zip.getinfo(META_KEY + ".npy").file_size
    except (AttributeError, KeyError):
        size = 0
    if size > MAX_MANIFEST_BYTES:
        raise CheckpointError(f"{where}: member {META_KEY!r} is {size} bytes; a manifest is never that large")
    raw = read_member(npz, META_KEY, where)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{where}: the {META_KEY!r} entry is not a byte string")
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise CheckpointError(f"{where}: the manifest is not valid JSON ({type(err).__name__}: {err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{where}: the manifest does not describe a tinyae checkpoint")
    version = manifest.get("format_version")
    if not is_int(version) or version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        hint = " (written by a newer tinyae: upgrade tinyae to read it)" if newer else ""
        raise CheckpointError(f"{where}: unknown checkpoint format version {version!r}; this tinyae reads "
                              f"version {FORMAT_VERSION}{hint}")
    for key, kind in (("model", dict), ("params", list), ("arrays", dict), ("dtype", str)):
        if not isinstance(manifest.get(key), kind):
            raise CheckpointError(f"{where}: the manifest's {key!r} entry is missing or malformed")
    return manifest


def is_int(value, low=None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and (low is None or value >= low)


def check_fields(manifest, where):
    """Every JSON field that load_checkpoint uses, checked for its kind and range: a CheckpointError naming
    the field, never a TypeError, OverflowError or a division by zero later."""
    for i, entry in enumerate(manifest["params"]):
        if not (isinstance(entry, dict) and isinstance(entry.get("label"), str)
                and isinstance(entry.get("shape"), list) and all(is_int(s, 0) for s in entry["shape"])):
            raise CheckpointError(f"{where}: the manifest's params[{i}] must be {{'label': str, 'shape': [ints "
                                  f">= 0]}}, got {str(entry)[:100]}")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in manifest["arrays"].items()):
        raise CheckpointError(f"{where}: the manifest's 'arrays' must map names to SHA-256 strings")
    epoch = manifest.get("epoch")
    if epoch is not None and not is_int(epoch, 0):
        raise CheckpointError(f"{where}: the manifest's 'epoch' must be an int >= 0 or null, got {epoch!r}")
    extra = manifest.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise CheckpointError(f"{where}: the manifest's 'extra' must be a JSON object or null, got a "
                              f"{type(extra).__name__}")
    for key in ("history", "optimizer"):
        if manifest.get(key) is not None and not isinstance(manifest[key], dict):
            raise CheckpointError(f"{where}: the manifest's {key!r} must be a JSON object or null, got a "
                                  f"{type(manifest[key]).__name__}")
    if not isinstance(manifest.get("rng_states", []), list):
        raise CheckpointError(f"{where}: the manifest's 'rng_states' must be a list")
    meta = manifest.get("optimizer")
    if meta is not None:
        if not is_int(meta.get("t"), 0):
            raise CheckpointError(f"{where}: the optimizer's step count 't' must be an int >= 0, got {meta.get('t')!r}")
        if not isinstance(meta.get("config"), dict) or not isinstance(meta.get("params"), list) \
                or not isinstance(meta.get("arrays"), list):
            raise CheckpointError(f"{where}: the optimizer entry needs 'config' (object), 'params' and 'arrays' "
                                  f"(lists)")
    model = manifest["model"]
    shape = model.get("input_shape")
    if shape is not None and not (isinstance(shape, list) and shape and all(is_int(s, 1) for s in shape)):
        raise CheckpointError(f"{where}: the model's 'input_shape' must be a list of ints >= 1 or null, "
                              f"got {shape!r}")

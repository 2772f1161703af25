"""Saving and loading models and training checkpoints: one ``.npz`` file, arrays plus a JSON description.

    save("run/model.npz", model, optimizer=opt, history=history)    # after training
    model = load("run/model.npz")                                   # the model alone, ready to use
    ck = load_checkpoint("run/model.npz")                           # everything, to resume training
    fit(ck.model, X, epochs=20, optimizer=ck.optimizer, history=ck.history,
        initial_epoch=ck.epoch, seed=ck.history.params["seed"])

What is in the file (format version 1). A ``.npz`` is a zip archive of ``.npy`` arrays. It holds:

    __tinyae__          uint8 array: the UTF-8 bytes of the JSON manifest below
    param/<label>       one array per Param, by its ``model.named_params()`` label, e.g. "encoder.0.Dense.W"
                        (a tied weight is ONE Param with one label: it is stored once and loaded once)
    optim/<name>.<i>    the optimizer's state arrays (Adam's "m.3", "v.3"; SGD's "velocity.3"), as
                        ``Optimizer.state_dict()`` names them; i counts the optimizer's Params, whose
                        labels the manifest lists in that order

    manifest = {"format": "tinyae-checkpoint", "format_version": 1, "tinyae_version": "0.1.0",
                "model": model.config(),          # the classes and constructor arguments, no arrays
                "dtype": "float32",
                "params": [{"label", "shape", "sha256"}, ...],
                "rng_states": [...],              # noise layers' and a VAE's Generators (exact resume)
                "optimizer": {"class", "config", "t", "params": [labels], "arrays": [names]} or null,
                "history": History.state() or null, "epoch": int or null, "extra": {...} or null,
                "arrays": {name: sha256}}         # every array's checksum

Why this way. Nothing in the file is code. ``np.load(..., allow_pickle=False)`` refuses pickled and
object arrays, and the model is rebuilt from the JSON by ``tinyae.models.from_config``, which only
instantiates classes from a fixed registry of tinyae's layers and losses with plain-value arguments: a
checkpoint from a stranger can be wrong, but it cannot run anything. (``pickle``/``torch.load``-style
files can execute arbitrary code when opened.) Every array has its SHA-256 in the manifest, so a file
that was truncated, flipped or edited by hand is refused with a message naming the file and the
array, never half-loaded.

A file that lies about sizes cannot make loading allocate what it claims: before any array is read or
any layer built, every member's ``.npy`` header (a few hundred bytes) is checked against the member's
size and the manifest's shapes, a compressed member may not expand more than 100-fold, and the model
config's layer sizes are bounded against the values the file's arrays hold (an edited
``Dense(20000, 20000)`` in a 31 kB file is refused, not allocated). Every JSON field load uses is
checked for its kind and range. Whatever is wrong, the error is a ``CheckpointError`` naming the file
(and the member); non-finite weights load with a ``RuntimeWarning`` (``save`` warns too).

Writing is atomic: the archive goes to a temporary file in the same directory, is flushed to disk,
and then ``os.replace`` moves it over the target in one step. A crash or Ctrl-C while saving leaves
the previous checkpoint intact, never a half-written one; the temporary file of a save that was killed
(``.model.npz.<pid>.<random>.tmp``) is deleted by the next save of the same checkpoint, once its
process is gone. The file gets the mode the user's umask gives (as every other file of a run).

Resuming is exact. ``fit`` shuffles epoch e with its own ``default_rng([seed, e])``; the checkpoint
holds the weights, the optimizer's moments and step count, and the noise generators' states. So
training k epochs, saving, loading and training on to n gives bit-for-bit the losses of n epochs in
one go (tests/test_io.py checks it in float32).
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyae import backend

FORMAT = "tinyae-checkpoint"
FORMAT_VERSION = 1
META_KEY = "__tinyae__"
PARAM_PREFIX = "param/"
OPTIM_PREFIX = "optim/"


class CheckpointError(ValueError):
    """A file that is not a valid tinyae checkpoint (truncated, edited, from an unknown version, ...)."""


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


# --------------------------------------------------------------------------------------------------
# save
# --------------------------------------------------------------------------------------------------


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _json_bytes(obj, what: str) -> bytes:
    try:
        return json.dumps(obj, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as err:
        raise TypeError(f"tinyae.io.save: {what} is not JSON-serialisable ({err})") from err


def save(path, model, optimizer=None, history=None, extra=None, epoch=None) -> Path:
    """Write ``model`` (and optionally its optimizer, History and ``extra``) to ``path`` as one ``.npz``.

    path      -- the file; ".npz" is appended when the name has another suffix (as ``np.savez`` does)
    model     -- an ``Autoencoder``/``VAE`` (anything with ``config()`` that ``models.from_config`` rebuilds,
                 and ``named_params()``)
    optimizer -- a ``tinyae.optim`` optimizer over the model's Params, to resume training exactly
    history   -- a ``tinyae.train.History``; its last epoch becomes the checkpoint's ``epoch``
    extra     -- a JSON-serialisable dict of your own (dataset name, command line, notes)
    epoch     -- epochs completed, if not the History's last epoch
    Returns the Path written. The write is atomic (temporary file + ``os.replace``).
    """
    from tinyae import __version__

    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    if not (hasattr(model, "config") and hasattr(model, "named_params")):
        raise TypeError(f"tinyae.io.save: expected a tinyae model (Autoencoder, VAE), got {type(model).__name__}")

    arrays, checksums, params_meta = {}, {}, []
    labels = {}
    dtype = None
    for label, p in model.named_params():
        value = backend.to_numpy(p.value)
        dtype = dtype or value.dtype
        if value.dtype != dtype:
            raise TypeError(f"tinyae.io.save: Param {label!r} is {value.dtype} but others are {dtype}; "
                            f"cast the model with model.astype(...) first")
        arrays[PARAM_PREFIX + label] = value
        labels[id(p)] = label
        params_meta.append({"label": label, "shape": list(value.shape)})
    if not arrays:
        raise ValueError("tinyae.io.save: the model has no Params to save")

    optim_meta = None
    if optimizer is not None:
        optim_meta = _optimizer_meta(optimizer, labels, arrays)

    if history is not None and epoch is None and len(history):
        epoch = history.epoch[-1]
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tinyae_version": __version__,
        "model": model.config(),
        "dtype": np.dtype(dtype).name,
        "params": params_meta,
        "rng_states": model.rng_states() if hasattr(model, "rng_states") else [],
        "optimizer": optim_meta,
        "history": None if history is None else history.state(),
        "epoch": None if epoch is None else int(epoch),
        "extra": extra,
    }
    for name, value in arrays.items():
        checksums[name] = _sha256(value)
    manifest["arrays"] = checksums
    arrays[META_KEY] = np.frombuffer(_json_bytes(manifest, "the model config, history or extra"), dtype=np.uint8)

    bad = [name[len(PARAM_PREFIX):] for name, value in arrays.items()
           if name.startswith(PARAM_PREFIX) and not np.isfinite(value).all()]
    if bad:
        warnings.warn(f"tinyae.io.save({str(path)!r}): Param(s) {bad[:5]} hold NaN/Inf values; the checkpoint "
                      f"is written as asked, but the model it holds computes NaN", RuntimeWarning, stacklevel=2)

    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a checkpoint gets the user's usual mode
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, never a mix
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


STALE_SECONDS = 600  # a temporary file of unknown origin this old is left over from a killed save


def _remove_stale_temporaries(path: Path):
    """Delete the temporary files that earlier saves of ``path`` left behind when they were killed
    (``.<name>.<pid>.<random>.tmp``): those of processes that no longer run, and, when the name carries no
    process id, those older than STALE_SECONDS. A save still running in another process keeps its file."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid_text = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        try:
            if pid_text.isdigit():
                if int(pid_text) == os.getpid() or _process_alive(int(pid_text)):
                    continue
            elif time.time() - tmp.stat().st_mtime < STALE_SECONDS:
                continue
            tmp.unlink()
        except OSError:
            pass  # gone already, or not ours to remove


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or cannot tell: keep its file
    return True


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _optimizer_meta(optimizer, labels: dict, arrays: dict) -> dict:
    """The optimizer's class, hyperparameters, step count and the labels of its Params (in its order);
    its state arrays go into ``arrays`` as optim/<name>.<i>."""
    names = []
    for p in optimizer.params:
        if id(p) not in labels:
            raise ValueError(f"tinyae.io.save: the optimizer updates {p!r}, which is not a Param of this model")
        names.append(labels[id(p)])
    state = optimizer.state_dict()
    keys = []
    for key, value in state.items():
        if key == "t":
            continue
        arrays[OPTIM_PREFIX + key] = np.asarray(value)
        keys.append(key)
    return {"class": type(optimizer).__name__, "config": optimizer.config(), "t": int(state["t"]),
            "params": names, "arrays": keys}


# --------------------------------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------------------------------


def load(path, device: str = "cpu"):
    """The model saved in ``path`` (weights loaded, eval mode), on ``device`` ('cpu' or 'gpu')."""
    return load_checkpoint(path, device=device).model


def _optimizer_classes() -> dict:
    from tinyae import optim

    return {"SGD": optim.SGD, "Adam": optim.Adam}


def load_checkpoint(path, device: str = "cpu") -> Checkpoint:
    """Everything saved in ``path``: the model, the optimizer (rebuilt over the model's Params, state
    restored), the History, the epoch and ``extra``. Raises ``CheckpointError`` (naming the file) for
    anything that is not an intact tinyae checkpoint of a known format version."""
    path = Path(path)
    where = f"tinyae.io.load({str(path)!r})"
    if not path.is_file():
        raise FileNotFoundError(f"{where}: no such file")
    with _open_npz(path, where) as npz:
        manifest = _read_manifest(npz, where)
        _check_fields(manifest, where)
        _check_headers(path, manifest, where)  # shapes and sizes, before any array or layer is allocated
        arrays = _read_arrays(npz, manifest, where)
    model = _rebuild_model(manifest, arrays, where)
    optimizer, optimizer_state = _rebuild_optimizer(manifest, model, arrays, where)
    history = None
    if manifest.get("history") is not None:
        from tinyae.train import History

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


class _open_npz:
    """``np.load`` of a ``.npz`` that turns every way a file can be broken into one CheckpointError."""

    def __init__(self, path, where):
        self.path, self.where = path, where

    def __enter__(self):
        with open(self.path, "rb") as f:
            head = f.read(8)
        if not head.startswith(b"PK\x03\x04") and not head.startswith(b"PK\x05\x06"):
            raise CheckpointError(f"{self.where}: {_what_file(head)}, not a tinyae checkpoint (a .npz archive); "
                                  f"`tinyae train` saves its checkpoint as model.npz in the run folder")
        try:
            npz = np.load(self.path, allow_pickle=False)
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # a damaged archive can raise nearly anything inside zipfile
            raise CheckpointError(f"{self.where}: not a readable .npz archive, the file is truncated or corrupt "
                                  f"({_describe(err)})") from err
        self.npz = npz
        return npz

    def __exit__(self, *exc):
        self.npz.close()


def _what_file(head: bytes) -> str:
    """What a file that is not a zip archive probably is, from its first bytes."""
    text = head.lstrip()
    if text[:1] in (b"{", b"["):
        return "this is a JSON file (a run's history.json?)"
    if head.startswith(b"\x93NUMPY"):
        return "this is a single .npy array"
    if head.startswith(b"\x1f\x8b"):
        return "this is a gzip file"
    if not head:
        return "the file is empty"
    return f"the file starts with bytes {head[:4].hex(' ')}"


def _describe(err: BaseException) -> str:
    """An exception as 'Type: message', without NumPy's advice to load with pickle (never safe here)."""
    text = str(err)
    if "pickle" in text:
        text = "it holds Python objects, which a checkpoint never does (tinyae never loads them: that could run code)"
    return f"{type(err).__name__}: {text}"[:300]


def _read_member(npz, name, where) -> np.ndarray:
    try:
        return npz[name]
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # damaged bytes reach tokenize, zlib, zipfile, NumPy's header parser, ...
        raise CheckpointError(f"{where}: member {name!r} is damaged (the file is truncated or was modified): "
                              f"{_describe(err)}") from err


MAX_MANIFEST_BYTES = 64 << 20
MAX_DEFLATE_RATIO = 100  # tinyae writes its arrays uncompressed; real float weights do not compress 100x


def _check_headers(path, manifest, where):
    """Read every member's .npy header (a few hundred bytes each) and refuse, before anything is allocated:
    a header whose shape and dtype do not match the member's size, a compressed member that would expand far
    beyond its stored bytes, a Param whose shape differs from the manifest's, and a model config that asks
    for far more values than the file's arrays hold (an edited config would allocate them all at rebuild)."""
    shapes = {}
    for entry in manifest["params"]:
        shapes[PARAM_PREFIX + entry["label"]] = tuple(entry["shape"])
    declared = 0
    try:
        zf = zipfile.ZipFile(path)
    except KeyboardInterrupt:
        raise
    except BaseException as err:
        raise CheckpointError(f"{where}: not a readable .npz archive ({_describe(err)})") from err
    with zf:
        for info in zf.infolist():
            name = info.filename.removesuffix(".npy")
            if info.compress_type != zipfile.ZIP_STORED and \
                    info.file_size > MAX_DEFLATE_RATIO * info.compress_size + (1 << 20):
                raise CheckpointError(f"{where}: member {name!r} would expand from {info.compress_size} to "
                                      f"{info.file_size} bytes; refused (tinyae writes checkpoints uncompressed)")
            try:
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, _, dtype = reader(f)
                    offset = f.tell()
            except KeyboardInterrupt:
                raise
            except BaseException as err:
                raise CheckpointError(f"{where}: member {name!r} has a damaged header: {_describe(err)}") from err
            if dtype.hasobject or dtype.kind not in "biuf":
                raise CheckpointError(f"{where}: member {name!r} has dtype {dtype} and cannot be read safely "
                                      f"(a checkpoint holds numbers only)")
            nbytes = math.prod(shape) * dtype.itemsize
            if offset + nbytes != info.file_size:
                raise CheckpointError(f"{where}: member {name!r}: its header claims shape {shape} of {dtype} "
                                      f"({nbytes} bytes) but the member holds {info.file_size - offset} bytes")
            if name == META_KEY and nbytes > MAX_MANIFEST_BYTES:
                raise CheckpointError(f"{where}: member {name!r} is {nbytes} bytes; a manifest is never that large")
            if name in shapes:
                if tuple(shape) != shapes[name]:
                    raise CheckpointError(f"{where}: Param {name[len(PARAM_PREFIX):]!r} has shape {tuple(shape)} "
                                          f"in the file (member {name!r}), but the manifest needs {shapes[name]}")
                declared += math.prod(shape)
    bound, example = _config_size_bound(manifest["model"])
    if bound > 64 * declared + (1 << 20):
        raise CheckpointError(f"{where}: the model config asks for layers of up to about {bound:.3g} values "
                              f"(e.g. {example}), but the file's Params hold {declared}; the config was edited "
                              f"or belongs to another file")


def _config_size_bound(config) -> tuple:
    """An upper bound on the number of parameters the layer specs in ``config`` would allocate, without
    building anything: for each layer's constructor arguments, the product plus the sum of its positive ints
    (Dense: in*out + in + out >= its in*out + out Params; Conv2D: in*out*kh*kw*...). Returns (bound, the
    largest layer as text)."""
    total, largest = 0, (0, "")
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            cfg = node.get("config")
            if isinstance(cfg, dict) and isinstance(node.get("class"), str):
                ints = []
                for value in cfg.values():
                    for v in value if isinstance(value, list) else [value]:
                        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                            ints.append(v)
                size = math.prod(ints) + sum(ints) if ints else 0
                total += size
                if size > largest[0]:
                    args = ", ".join(f"{k}={v}" for k, v in cfg.items())
                    largest = (size, f"{node['class']}({args})"[:120])
            stack.extend(v for k, v in node.items() if k != "config")
    return total, largest[1]


def _is_int(value, low=None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and (low is None or value >= low)


def _check_fields(manifest, where):
    """Every JSON field that load_checkpoint uses, checked for its kind and range: a CheckpointError naming
    the field, never a TypeError, OverflowError or a division by zero later."""
    for i, entry in enumerate(manifest["params"]):
        if not (isinstance(entry, dict) and isinstance(entry.get("label"), str)
                and isinstance(entry.get("shape"), list) and all(_is_int(s, 0) for s in entry["shape"])):
            raise CheckpointError(f"{where}: the manifest's params[{i}] must be {{'label': str, 'shape': [ints "
                                  f">= 0]}}, got {str(entry)[:100]}")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in manifest["arrays"].items()):
        raise CheckpointError(f"{where}: the manifest's 'arrays' must map names to SHA-256 strings")
    epoch = manifest.get("epoch")
    if epoch is not None and not _is_int(epoch, 0):
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
        if not _is_int(meta.get("t"), 0):
            raise CheckpointError(f"{where}: the optimizer's step count 't' must be an int >= 0, got {meta.get('t')!r}")
        if not isinstance(meta.get("config"), dict) or not isinstance(meta.get("params"), list) \
                or not isinstance(meta.get("arrays"), list):
            raise CheckpointError(f"{where}: the optimizer entry needs 'config' (object), 'params' and 'arrays' "
                                  f"(lists)")
    model = manifest["model"]
    shape = model.get("input_shape")
    if shape is not None and not (isinstance(shape, list) and shape and all(_is_int(s, 1) for s in shape)):
        raise CheckpointError(f"{where}: the model's 'input_shape' must be a list of ints >= 1 or null, "
                              f"got {shape!r}")


def _read_manifest(npz, where) -> dict:
    if META_KEY not in npz.files:
        raise CheckpointError(f"{where}: no {META_KEY!r} entry; this .npz was not written by tinyae.io.save "
                              f"(it holds {sorted(npz.files)[:5]}...)")
    try:
        size = npz.zip.getinfo(META_KEY + ".npy").file_size
    except (AttributeError, KeyError):
        size = 0
    if size > MAX_MANIFEST_BYTES:
        raise CheckpointError(f"{where}: member {META_KEY!r} is {size} bytes; a manifest is never that large")
    raw = _read_member(npz, META_KEY, where)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{where}: the {META_KEY!r} entry is not a byte string")
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise CheckpointError(f"{where}: the manifest is not valid JSON ({type(err).__name__}: {err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{where}: the manifest does not describe a tinyae checkpoint")
    version = manifest.get("format_version")
    if not _is_int(version) or version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        hint = " (written by a newer tinyae: upgrade tinyae to read it)" if newer else ""
        raise CheckpointError(f"{where}: unknown checkpoint format version {version!r}; this tinyae reads "
                              f"version {FORMAT_VERSION}{hint}")
    for key, kind in (("model", dict), ("params", list), ("arrays", dict), ("dtype", str)):
        if not isinstance(manifest.get(key), kind):
            raise CheckpointError(f"{where}: the manifest's {key!r} entry is missing or malformed")
    return manifest


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
        value = _read_member(npz, name, where)
        if value.dtype.kind != "f" and value.dtype.kind not in "iu":
            raise CheckpointError(f"{where}: array {name!r} has dtype {value.dtype}; only numbers are accepted")
        if _sha256(value) != digest:
            raise CheckpointError(f"{where}: array {name!r} does not match its SHA-256 checksum "
                                  f"(the file was modified or corrupted after saving)")
        arrays[name] = value
    return arrays


def _rebuild_model(manifest, arrays, where):
    from tinyae import models

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
    classes = _optimizer_classes()
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

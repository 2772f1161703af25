"""Reading a ``.npz`` without trusting it: ``np.load(..., allow_pickle=False)`` (nothing in the file is ever
unpickled), every way a damaged archive can fail turned into one ``CheckpointError``, and the check of
every member's ``.npy`` header against its size and the manifest's shapes before any array is allocated."""

from __future__ import annotations

import math
import zipfile

import numpy as np

from tinyae.io.spec import MAX_MANIFEST_BYTES, META_KEY, PARAM_PREFIX, CheckpointError

MAX_DEFLATE_RATIO = 100  # tinyae writes its arrays uncompressed; real float weights do not compress 100x


class open_npz:
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
                                  f"({describe(err)})") from err
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


def describe(err: BaseException) -> str:
    """An exception as 'Type: message', without NumPy's advice to load with pickle (never safe here)."""
    text = str(err)
    if "pickle" in text:
        text = "it holds Python objects, which a checkpoint never does (tinyae never loads them: that could run code)"
    return f"{type(err).__name__}: {text}"[:300]


def read_member(npz, name, where) -> np.ndarray:
    try:
        return npz[name]
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # damaged bytes reach tokenize, zlib, zipfile, NumPy's header parser, ...
        raise CheckpointError(f"{where}: member {name!r} is damaged (the file is truncated or was modified): "
                              f"{describe(err)}") from err


def check_headers(path, manifest, where):
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
        raise CheckpointError(f"{where}: not a readable .npz archive ({describe(err)})") from err
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
                raise CheckpointError(f"{where}: member {name!r} has a damaged header: {describe(err)}") from err
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

"""The checkpoint format's names and version, its error, and the two encodings every part of it uses."""

from __future__ import annotations

import hashlib
import json

import numpy as np

FORMAT = "tinyae-checkpoint"
FORMAT_VERSION = 1
META_KEY = "__tinyae__"
PARAM_PREFIX = "param/"
OPTIM_PREFIX = "optim/"
MAX_MANIFEST_BYTES = 64 << 20


class CheckpointError(ValueError):
    """A file that is not a valid tinyae checkpoint (truncated, edited, from an unknown version, ...)."""


def array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def json_bytes(obj, what: str) -> bytes:
    try:
        return json.dumps(obj, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as err:
        raise TypeError(f"tinyae.io.save: {what} is not JSON-serialisable ({err})") from err

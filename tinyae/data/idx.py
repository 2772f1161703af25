"""The IDX file format (LeCun et al., used by MNIST): 4 magic bytes ``00 00 <type> <ndim>``, then ``ndim``
big-endian uint32 sizes, then the values, big-endian, row-major. ``load_idx`` reads any such file (gzipped
or not) without trusting its header further than the file's size; ``save_idx`` writes one."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

# type code -> big-endian dtype of the values (IDX stores every multi-byte value most significant byte first)
IDX_TYPES = {
    0x08: np.dtype(">u1"),  # unsigned byte
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short
    0x0C: np.dtype(">i4"),  # int
    0x0D: np.dtype(">f4"),  # float
    0x0E: np.dtype(">f8"),  # double
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 24


def load_idx(path, expect_shape=None) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a NumPy array of native byte order.

    Layout: magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then
    ``prod(sizes)`` big-endian values of the type (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64). Gzip is recognised by its magic bytes, not by the file name.
    Only bytes are parsed (nothing is ever unpickled or executed). A wrong magic, an unknown type code,
    missing data or bytes after the data raise ValueError naming the file. With ``expect_shape``, a header
    that claims another shape is refused before any data is read (a small file cannot make it allocate
    what its header claims).
    """
    path = Path(path)
    with open(path, "rb") as f:
        compressed = f.read(2) == _GZIP_MAGIC
    opener = gzip.open if compressed else open
    kind = "gzipped IDX file" if compressed else "IDX file"
    try:
        with opener(path, "rb") as f:
            magic = _read_up_to(f, 4)
            if len(magic) < 4:
                raise ValueError(f"load_idx({path}): {kind} too short ({len(magic)} bytes) to hold the 4 magic bytes")
            if magic[:2] != b"\x00\x00":
                raise ValueError(
                    f"load_idx({path}): not an IDX file: it starts with bytes {magic.hex(' ')}, "
                    f"expected 00 00 <type> <ndim> (an HTML error page saved under this name looks like this too)"
                )
            type_code, ndim = magic[2], magic[3]
            if type_code not in IDX_TYPES:
                known = ", ".join(f"0x{c:02X} {t.name}" for c, t in IDX_TYPES.items())
                raise ValueError(f"load_idx({path}): unknown IDX type code 0x{type_code:02X}; known: {known}")
            header = _read_up_to(f, 4 * ndim)
            if len(header) < 4 * ndim:
                raise ValueError(
                    f"load_idx({path}): truncated header: {ndim} dimensions need {4 * ndim} bytes, "
                    f"got {len(header)}"
                )
            shape = tuple(int(s) for s in np.frombuffer(header, dtype=">u4"))
            if expect_shape is not None and shape != tuple(expect_shape):
                raise ValueError(f"load_idx({path}): the header says shape {shape}, expected {tuple(expect_shape)}")
            dtype = IDX_TYPES[type_code]
            nbytes = math.prod(shape) * dtype.itemsize
            data = _read_up_to(f, nbytes)
            if len(data) < nbytes:
                raise ValueError(
                    f"load_idx({path}): truncated data: shape {shape} of {dtype.name} needs {nbytes} bytes, "
                    f"the {kind} holds {len(data)}"
                )
            if f.read(1):
                raise ValueError(
                    f"load_idx({path}): trailing bytes after the {nbytes} data bytes of shape {shape}; "
                    f"the header does not describe this file"
                )
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:  # a damaged or cut-off gzip stream
        raise ValueError(f"load_idx({path}): damaged gzip stream: {err}") from err
    values = np.frombuffer(data, dtype=dtype).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # a writable copy in the machine's byte order


def _read_up_to(f, n: int) -> bytes:
    """Read ``n`` bytes or until the end of the stream, in chunks (a lying header must not allocate terabytes)."""
    chunks, got = [], 0
    while got < n:
        chunk = f.read(min(n - got, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def save_idx(path, array) -> None:
    """Write ``array`` as an IDX file (gzipped when ``path`` ends in ``.gz``); the inverse of ``load_idx``."""
    array = np.asarray(array)
    codes = {t.newbyteorder("="): c for c, t in IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise TypeError(f"save_idx({path}): IDX cannot store dtype {array.dtype}; use one of {list(codes)}")
    if array.ndim > 255:
        raise ValueError(f"save_idx({path}): IDX stores at most 255 dimensions, got {array.ndim}")
    payload = (
        bytes([0, 0, codes[native], array.ndim])
        + np.asarray(array.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(array, dtype=IDX_TYPES[codes[native]]).tobytes()
    )
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)

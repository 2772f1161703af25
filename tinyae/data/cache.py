"""The file cache of the MNIST-like datasets: find a file, verify it, download it.

Where MNIST lives. The four IDX files of a dataset are kept in ``<root>/<name>/`` (e.g.
``~/.cache/tinyae/mnist/train-images-idx3-ubyte.gz``). ``<root>`` is the ``data_dir`` argument, else the
environment variable ``TINYAE_DATA_DIR``, else the user's cache directory (``$XDG_CACHE_HOME/tinyae`` or
``~/.cache/tinyae`` on Linux, ``~/Library/Caches/tinyae`` on macOS, ``%LOCALAPPDATA%\\tinyae`` on Windows).
Files already there are used without any network access, gzipped as published or unpacked (the same
name without ``.gz``). A missing file is downloaded with ``urllib`` from the mirrors in
``REMOTE_DATASETS``: into a temporary file in the same directory, checked against its SHA-256, then moved
into place with ``os.replace`` (atomic), so an interrupted download never leaves a half file behind.

Why SHA-256 and which sums. The published ``.gz`` files' SHA-256 sums in ``REMOTE_DATASETS`` are the ones
many independent projects pin (torchvision's mirror, TensorFlow Datasets and others agree on them, and
the same files' MD5 sums match those torchvision verifies). A ``.gz`` file is verified every time it is
loaded (hashing ~26 MB costs well under a second). An unpacked file cannot be checked against the
published sums (they are of the ``.gz`` files), so it is checked by its IDX header instead: it must hold
exactly the array shape the table states.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tinyae.data.registry import DatasetUnavailableError, RemoteFile


def default_data_dir() -> Path:
    """The root of the file cache: ``$TINYAE_DATA_DIR``, else the user's cache directory + ``tinyae``."""
    env = os.environ.get("TINYAE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    return base / "tinyae"


def dataset_dir(name: str, data_dir=None) -> Path:
    """The folder that holds (or will hold) a dataset's files: ``<root>/<name>``."""
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    return root / name


def sha256_of(path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_file(key, remote, role, folder, download) -> Path:
    """The path of one of the dataset's files: a verified .gz, an unpacked copy, or a fresh download."""
    spec = remote.files[role]
    gz = folder / spec.filename
    raw = folder / spec.filename.removesuffix(".gz")
    if gz.is_file():
        got = sha256_of(gz)
        if got != spec.sha256:
            raise DatasetUnavailableError(
                f"tinyae.data.load({key!r}): {gz} is damaged or not the published file: its SHA-256 is "
                f"{got}, expected {spec.sha256}. Delete it and call load again to download it, or place "
                f"the official file there by hand.\n" + _manual_help(key, remote, folder)
            )
        return gz
    if raw.is_file():
        return raw  # unpacked by the user: checked by its IDX shape after parsing
    if not download:
        raise DatasetUnavailableError(
            f"tinyae.data.load({key!r}): {spec.filename} is not in {folder} and download=False.\n"
            + _manual_help(key, remote, folder)
        )
    failures = []
    for mirror in remote.mirrors:
        url = mirror + spec.filename
        try:
            _download_verified(url, gz, spec)
            return gz
        except (OSError, http.client.HTTPException, ValueError) as err:  # URLError, timeouts; a bad checksum
            failures.append(f"  {url}: {err}")
    raise DatasetUnavailableError(
        f"tinyae.data.load({key!r}): could not download {spec.filename} (no internet, or the mirrors failed):\n"
        + "\n".join(failures)
        + "\n"
        + _manual_help(key, remote, folder)
    )


def _manual_help(key, remote, folder) -> str:
    """The part of every error that lists the files, where they go and how to put them there by hand."""
    lines = [f"The {key} dataset needs these files in {folder}:"]
    for spec in remote.files.values():
        gz = folder / spec.filename
        raw = folder / spec.filename.removesuffix(".gz")
        state = "present" if gz.is_file() else "present (unpacked)" if raw.is_file() else "missing"
        lines.append(f"  {spec.filename:<28} {state:<18} sha256 {spec.sha256}")
    lines += [
        "To place them by hand: download the four files on a machine with internet from one of",
        *(f"  {m}" for m in remote.mirrors),
        f"and copy them into {folder} (gzipped as downloaded, or unpacked without the .gz suffix).",
        "To use another folder: load(..., data_dir=ROOT) reads ROOT/" + key + "/, or set TINYAE_DATA_DIR=ROOT.",
    ]
    return "\n".join(lines)


def _fetch_url(url: str, out, max_bytes: int):
    """Stream ``url`` into the open binary file ``out``; refuse more than ``max_bytes`` (a wrong file)."""
    request = urllib.request.Request(url, headers={"User-Agent": "tinyae"})
    with urllib.request.urlopen(request, timeout=60) as response:
        received = 0
        for chunk in iter(lambda: response.read(1 << 20), b""):
            received += len(chunk)
            if received > max_bytes:
                raise ValueError(f"the server sent more than the expected {max_bytes} bytes")
            out.write(chunk)


def _download_verified(url: str, dest: Path, spec: RemoteFile):
    """Download to a temporary file next to ``dest``, check its SHA-256, then move it into place atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    print(f"tinyae: downloading {url} -> {dest}", file=sys.stderr)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch_url(url, out, spec.size)
        got = sha256_of(tmp)
        if got != spec.sha256:
            raise ValueError(f"downloaded file has SHA-256 {got}, expected {spec.sha256}")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache holds public data
        os.replace(tmp, dest)  # atomic: dest is either absent or complete and verified
    except BaseException:  # also Ctrl-C: never leave the partial file behind
        Path(tmp).unlink(missing_ok=True)
        raise

"""``save``: a model (and its optimizer, History and notes) as one ``.npz``, written atomically."""

from __future__ import annotations

import glob
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from tinyae import __version__, backend
from tinyae.io.spec import FORMAT, FORMAT_VERSION, META_KEY, OPTIM_PREFIX, PARAM_PREFIX, array_sha256, json_bytes


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
        checksums[name] = array_sha256(value)
    manifest["arrays"] = checksums
    arrays[META_KEY] = np.frombuffer(json_bytes(manifest, "the model config, history or extra"), dtype=np.uint8)

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

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

Where each job lives: ``writing`` (save), ``reading`` (load, load_checkpoint, the rebuild), ``npz`` (the
low-level reading that never unpickles, and the header checks), ``manifest`` (reading and checking the
JSON description), ``spec`` (the format's names, version and ``CheckpointError``).
"""

from tinyae.io.reading import Checkpoint, load, load_checkpoint
from tinyae.io.spec import FORMAT, FORMAT_VERSION, META_KEY, OPTIM_PREFIX, PARAM_PREFIX, CheckpointError
from tinyae.io.writing import save

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "META_KEY",
    "OPTIM_PREFIX",
    "PARAM_PREFIX",
    "Checkpoint",
    "CheckpointError",
    "load",
    "load_checkpoint",
    "save",
]

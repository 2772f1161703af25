"""Measuring tinyae: a network trained by ``tinyae.train.fit`` epoch by epoch, and one epoch timed layer by layer."""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from tinyae import backend, kernels
from tinyae.cli.bench.networks import build_model, synthetic_data
from tinyae.cli.bench.products import epoch_flops, replay_products
from tinyae.models import VAE, leaf_layers
from tinyae.optim import Adam
from tinyae.train import fit

KERNEL_NAMES = ("im2col", "col2im", "maxpool_forward", "maxpool_backward")


def _sync_function(backend_name: str):
    if backend_name == "gpu":
        import cupy  # optional (the GPU extra): imported only for --backend gpu

        return lambda: cupy.cuda.get_current_stream().synchronize()
    return lambda: None


def _thread_report() -> dict:
    """The thread counts the libraries actually use (to show --threads was respected)."""
    out = {}
    try:
        import numba  # only to report its threads: under TINYAE_KERNELS=reference nothing else loads it

        out["numba"] = numba.get_num_threads()
    except Exception:
        pass
    try:
        from threadpoolctl import threadpool_info  # comes with scikit-learn

        out["blas"] = [f"{p.get('internal_api')}:{p.get('num_threads')}" for p in threadpool_info()]
    except Exception:
        pass
    return out


class TinyaeTrainer:
    """``net`` trained by tinyae.train.fit (the code path a user runs), one epoch per ``epoch()`` call."""

    def __init__(self, net: str, args):
        self.net, self.args = net, args
        self.model = build_model(net, args.seed)
        self.X = synthetic_data(net, args.n, args.seed)
        self.xp = np
        if args.backend == "gpu":
            self.model.to("gpu")
            self.X = backend.to_device(self.X, "gpu")
            self.xp = backend.array_module(self.X)
        self.sync = _sync_function(args.backend)
        self.opt = Adam(self.model.params(), lr=1e-3)
        self.history = None

    def epoch(self) -> float:
        """Train one more epoch (fit resumes where it stopped: epoch e is shuffled as in one long fit)."""
        done = 0 if self.history is None else len(self.history)
        self.history = fit(self.model, self.X, epochs=done + 1, initial_epoch=done, history=self.history,
                           batch_size=self.args.batch_size, optimizer=self.opt, seed=self.args.seed, verbose=0)
        return self.history.epoch_time[-1]

    def result(self, times: list, split: bool) -> dict:
        """The epoch times and FLOPs; with ``split``, also the products-alone time and the time split."""
        args = self.args
        result = {"side": "tinyae", "net": self.net, "epoch_times": times, "median": statistics.median(times),
                  "threads": _thread_report(), "losses": self.history.loss}
        result["flops"] = epoch_flops(self.model, args.n, args.batch_size)
        if split:
            result["products_alone"] = replay_products(self.model, args.n, args.batch_size, self.xp, self.sync)
            result["split"] = time_split(self.model, self.opt, self.X, args, self.sync)
        return result


def measure_tinyae(net: str, args, split: bool = True) -> dict:
    """Train ``net`` with tinyae.train.fit in this process; return epoch times, FLOPs (and the split)."""
    trainer = TinyaeTrainer(net, args)
    times = [trainer.epoch() for _ in range(args.warmup + args.epochs)]
    return trainer.result(times[args.warmup:], split)


def _wrap(obj, method: str, key: str, totals: dict, sync, restore: list):
    """Replace ``obj.method`` (an instance or module attribute) by a timed version; remember how to undo it."""
    original = getattr(obj, method)
    had_own = isinstance(obj, type(sys)) or method in vars(obj)

    def timed(*a, **kw):
        sync()
        t0 = time.perf_counter()
        out = original(*a, **kw)
        sync()
        totals[key] = totals.get(key, 0.0) + time.perf_counter() - t0
        return out

    setattr(obj, method, timed)
    restore.append((obj, method, original if had_own else None))


def time_split(model, opt, X, args, sync) -> dict:
    """One more epoch with every layer's forward/backward, the losses, the optimizer and the kernels timed.

    Returns {"total": s, "rows": [[name, forward s, backward s], ...], "kernels": {name: s}}. The timers
    are attached to this model's own objects (and to the kernel functions of tinyae.kernels) for this
    epoch only, and removed afterwards. A device sync around each timed call makes GPU times true.
    """
    totals, restore, names = {}, [], []
    try:
        for part, layers in (("encoder", leaf_layers(model.encoder)), ("decoder", leaf_layers(model.decoder))):
            for i, layer in enumerate(layers):
                name = f"{part}.{i} {layer!r}"
                names.append(name)
                _wrap(layer, "forward", name + "|f", totals, sync, restore)
                _wrap(layer, "backward", name + "|b", totals, sync, restore)
        losses = [("loss " + repr(model.loss), model.loss)] + [("penalty " + repr(p), p) for p in model.penalties]
        if isinstance(model, VAE):
            losses.append(("loss " + repr(model.kl), model.kl))
        for name, loss in losses:
            names.append(name)
            _wrap(loss, "forward", name + "|f", totals, sync, restore)
            _wrap(loss, "backward", name + "|b", totals, sync, restore)
        names += ["optimizer step", "zero_grad"]
        _wrap(opt, "step", "optimizer step|f", totals, sync, restore)
        _wrap(model, "zero_grad", "zero_grad|f", totals, sync, restore)
        for k in KERNEL_NAMES:
            if hasattr(kernels, k):
                _wrap(kernels, k, "kernel " + k, totals, sync, restore)
        t0 = time.perf_counter()
        fit(model, X, epochs=1, batch_size=args.batch_size, optimizer=opt, seed=args.seed + 1, verbose=0)
        sync()
        total = time.perf_counter() - t0
    finally:
        for obj, method, original in reversed(restore):
            if original is None:
                delattr(obj, method)  # back to the class's method
            else:
                setattr(obj, method, original)
    rows = [[name, totals.get(name + "|f", 0.0), totals.get(name + "|b", 0.0)] for name in names]
    kern = {k[len("kernel "):]: v for k, v in totals.items() if k.startswith("kernel ")}
    return {"total": total, "rows": rows, "kernels": kern}

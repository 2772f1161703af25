"""How fast could the dense AE train here with no library around the arithmetic? (docs/performance.md)

The same step as tinyae's dense reference network (784-256-64-256-784, ReLU, BCE with logits, Adam),
written as one bare function: the same NumPy products and the same Numba kernels (ReLU forward, the
fused loss, the Adam loop), but no layers, no input checks, no Python objects per parameter. It trains
in the same process as tinyae's own ``fit``, the two taking turns epoch by epoch, and prints the median
ratio over adjacent epochs: bare / tinyae, the share of tinyae's epoch that is arithmetic rather than
abstraction and safety. With ``--against torch`` the other side is PyTorch, in its own process, as
``tinyae bench --compare torch`` runs it: bare / torch, the best ratio this machine allows.

    python docs/perf/floor_dense.py                   # against tinyae: 8 epochs each, 4000 images, batch 128
    python docs/perf/floor_dense.py --against torch   # against PyTorch (installed only to compare)
"""

import argparse
import os
import statistics
import time

import numpy as np

from tinyae.cli.bench.networks import build_model, synthetic_data
from tinyae.kernels.fused_cpu import adam_update, bce_with_logits_backward, bce_with_logits_forward, relu_forward
from tinyae.optim import Adam
from tinyae.train import epoch_order, fit


def bare_trainer(X, batch_size, seed=0):
    """One epoch of the dense AE as plain code; returns a function epoch(e) -> seconds."""
    params = [p.value for p in build_model("dense", seed).params()]  # W0 b0 W1 b1 W2 b2 W3 b3, own copies
    grads = [np.zeros_like(w) for w in params]
    ms = [np.zeros_like(w) for w in params]
    vs = [np.zeros_like(w) for w in params]
    step_count = [0]

    def step(x):
        W0, b0, W1, b1, W2, b2, W3, b3 = params
        a0, m0 = relu_forward(x @ W0 + b0)
        a1, m1 = relu_forward(a0 @ W1 + b1)
        a2, m2 = relu_forward(a1 @ W2 + b2)
        z = a2 @ W3 + b3
        total, e = bce_with_logits_forward(z, x)
        d = bce_with_logits_backward(z, x, e, z.size)
        for a, W, k, mask in ((a2, W3, 6, m2), (a1, W2, 4, m1), (a0, W1, 2, m0), (x, W0, 0, None)):
            np.matmul(a.T, d, out=grads[k])  # dW
            grads[k + 1][...] = d.sum(axis=0)  # db
            if mask is not None:
                d = (d @ W.T) * mask  # dx through the ReLU below
        float(total)
        step_count[0] += 1
        adam_update(params, grads, ms, vs, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, t=step_count[0])

    def epoch(e):
        t0 = time.perf_counter()
        Xe = X[epoch_order(len(X), seed, e)]
        for a in range(0, len(X), batch_size):
            step(Xe[a:a + batch_size])
        return time.perf_counter() - t0

    epoch.params = params  # for the test that the two sides compute the same numbers
    return epoch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8, help="timed epochs per side (default 8)")
    parser.add_argument("--n", type=int, default=4000, help="training images (default 4000)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--against", choices=("tinyae", "torch"), default="tinyae",
                        help="the other side: tinyae's fit in this process (default), or PyTorch in its own "
                             "process, as `tinyae bench --compare torch` runs it")
    args = parser.parse_args(argv)
    X = synthetic_data("dense", args.n)
    bare = bare_trainer(X, args.batch_size)
    bare(0)  # warm-up
    other, close = _tinyae_side(X, args) if args.against == "tinyae" else _torch_side(args)
    try:
        ratios, times = [], {"bare": [], args.against: []}
        for i in range(args.epochs):
            sides = (("bare", bare), (args.against, other))
            pair = {name: fn(i + 1) for name, fn in (sides if i % 2 == 0 else sides[::-1])}
            for name, t in pair.items():
                times[name].append(t)
            ratios.append(pair["bare"] / pair[args.against])
    finally:
        close()
    bare_s, other_s = statistics.median(times["bare"]), statistics.median(times[args.against])
    print(f"bare loop {bare_s:.3f} s/epoch, {args.against} {other_s:.3f} s/epoch; "
          f"bare / {args.against} = {statistics.median(ratios):.3f} (median of {len(ratios)} adjacent pairs)")
    return statistics.median(ratios)


def _tinyae_side(X, args):
    """tinyae's own fit, in this process: (epoch(e) -> seconds, close)."""
    model = build_model("dense")
    opt = Adam(model.params(), lr=1e-3)
    history = fit(model, X, epochs=1, batch_size=args.batch_size, optimizer=opt, verbose=0)  # warm-up

    def epoch(e):
        fit(model, X, epochs=e + 1, initial_epoch=e, history=history, batch_size=args.batch_size,
            optimizer=opt, verbose=0)
        return history.epoch_time[-1]

    return epoch, lambda: None


def _torch_side(args):
    """PyTorch in a worker process of tinyae bench; after each of its epochs and each of ours, the pause
    the bench makes, so that neither side's idle threads still spin when the other starts."""
    from tinyae.cli.bench import workers

    # The same thread count as this process's BLAS (set by the usual variables before NumPy started).
    threads = int(os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    worker = workers.Worker("torch", "dense", argparse.Namespace(
        epochs=args.epochs, warmup=1, n=args.n, batch_size=args.batch_size, backend="cpu",
        threads=threads, seed=0), split=False)
    try:
        worker.ask("ready")
        worker.ask("epoch")  # warm-up
    except BaseException:
        worker.close()
        raise

    def epoch(e):
        time.sleep(workers.TURN_PAUSE)
        seconds = worker.ask("epoch")["epoch_time"]
        time.sleep(workers.TURN_PAUSE)
        return seconds

    return epoch, worker.close


if __name__ == "__main__":
    main()

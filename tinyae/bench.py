"""How fast tinyae trains its reference networks, and where the time goes.

    tinyae bench                          # dense AE, conv AE and VAE on the CPU
    tinyae bench dense --epochs 10        # one network, more timed epochs
    tinyae bench all --compare torch      # the same networks in PyTorch too, and the ratio tinyae/torch
    tinyae bench conv --backend gpu       # on the GPU (CuPy)
    python -m tinyae.bench ...            # the same

Each network trains with ``tinyae.train.fit`` (the code path a user runs) on synthetic data of MNIST
shape: 4000 random images, batch 128, Adam (lr 1e-3), float32.

    dense  784-256-64-256-784, ReLU, linear output, BCE with logits
    conv   Conv(1->16, 3x3, pad 1)+ReLU+MaxPool2, Conv(16->8)+ReLU+MaxPool2, Conv(8->8)+ReLU+Up2,
           Conv(8->16)+ReLU+Up2, Conv(16->1), BCE with logits, on 1x28x28 images
    vae    784-256-(16+16)-256-784, ReLU, Bernoulli decoder (BCE with logits) + Gaussian KL

What it prints per network:

    s/epoch          median over --epochs epochs, after --warmup epochs that are not counted (Numba loads
                     or compiles its kernels, BLAS and the allocator warm up)
    GFLOP/s          the matrix-product FLOPs of one epoch / s/epoch. Counted: every product the engine
                     performs, forward and backward (for each Dense, x@W, x.T@dy and dy@W.T: 3 x 2*N*in*out;
                     a convolution is the same three products on im2col's columns)
    products alone   exactly those products, at the same shapes, run back to back with plain NumPy (CuPy):
                     what this machine's float32 matmul reaches on this work (the "peak"), and the floor of
                     an epoch. epoch / products is issue 2's check (the dense step within about 1.3x)
    time split       one more epoch, instrumented: each layer's forward and backward, the loss, the
                     optimizer; for the conv net also the im2col / col2im / pooling kernels
    tinyae / torch   with --compare torch: the same architectures in PyTorch, trained by the same loop

Every measurement runs in a fresh Python process whose thread count is fixed before NumPy, Numba or
torch start (OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS = --threads). With --compare torch the two sides run
ALTERNATELY, one process per side per round: sharing one process, OpenBLAS's and torch's OpenMP threads
would spin against each other. docs/performance.md has the numbers and explains them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

NETWORKS = {
    "dense": "dense AE 784-256-64-256-784, ReLU, BCE with logits",
    "conv": "conv AE 1x28x28: Conv16-Pool-Conv8-Pool-Conv8-Up-Conv16-Up-Conv1, ReLU, BCE with logits",
    "vae": "VAE 784-256-(16+16)-256-784, ReLU, BCE with logits + Gaussian KL",
}
IMAGE_SHAPE = {"dense": (784,), "conv": (1, 28, 28), "vae": (784,)}
TARGETS = {"dense": 0.7, "conv": 1.0, "vae": 0.7}  # issue 6: tinyae's time per epoch / torch's, at most
LATENT = 16
RESULT_TAG = "TINYAE_BENCH_RESULT "
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
KERNEL_NAMES = ("im2col", "col2im", "maxpool_forward", "maxpool_backward")


# ==================================================================================================
# The command line
# ==================================================================================================


def configure(parser):
    parser.add_argument("networks", nargs="*", metavar="NETWORK", default=["all"],
                        help=f"which networks: {', '.join(NETWORKS)} or all (default all)")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per run (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="epochs run first and not counted (default 1)")
    parser.add_argument("--n", type=int, default=4000, help="training images (default 4000)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--backend", choices=("cpu", "gpu"), default="cpu", help="cpu (NumPy + Numba) or gpu (CuPy)")
    parser.add_argument("--compare", choices=("torch",), help="also time PyTorch on the same networks")
    parser.add_argument("--rounds", type=int, default=None,
                        help="runs per side, alternating tinyae and torch (default 3 with --compare, else 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads for BLAS, Numba and torch (default: all cores, %(default)s here)")
    parser.add_argument("--no-split", dest="split", action="store_false", help="skip the per-layer time split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="FILE", help="also write every measurement to FILE as JSON")
    parser.add_argument("--inprocess", action="store_true",
                        help="measure in this process (quick checks; --threads is then not enforced)")
    parser.add_argument("--worker", choices=("tinyae", "torch"), help=argparse.SUPPRESS)


def _networks(names) -> list:
    chosen = []
    for name in names:
        if name == "all":
            chosen += [n for n in NETWORKS if n not in chosen]
        elif name in NETWORKS:
            if name not in chosen:
                chosen.append(name)
        else:
            raise SystemExit(f"tinyae bench: unknown network {name!r}; choose from {', '.join(NETWORKS)} or all")
    return chosen


def _check_args(args):
    for name in ("epochs", "n", "batch_size", "threads"):
        if getattr(args, name) < 1:
            raise SystemExit(f"tinyae bench: --{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        raise SystemExit("tinyae bench: --warmup must be at least 0")
    if args.rounds is None:
        args.rounds = 3 if args.compare else 1
    if args.rounds < 1:
        raise SystemExit("tinyae bench: --rounds must be at least 1")


def run(args) -> int:
    _check_args(args)
    nets = _networks(args.networks)
    if args.worker:  # a child process: measure one network, print one JSON line
        (measure_tinyae if args.worker == "tinyae" else measure_torch)(nets[0], args, split=args.split, emit=True)
        return 0

    sides = ["tinyae"]
    if args.compare == "torch":
        if importlib.util.find_spec("torch") is None:
            print("tinyae bench: --compare torch needs PyTorch, which is not installed here "
                  "(pip install torch; it is never a dependency of tinyae). Timing tinyae alone.\n")
        else:
            sides.append("torch")
    print(machine_header(args))
    results = {}
    for net in nets:
        runs = {side: [] for side in sides}
        for r in range(args.rounds):
            # Alternate which side goes first, so a slow drift of the machine hits both alike.
            for side in (sides if r % 2 == 0 else sides[::-1]):
                split = args.split and side == "tinyae" and r == 0
                runs[side].append(_measure(side, net, args, split=split))
        results[net] = runs
        print(report(net, runs, args))
        print()
    print(f"load average after: {_loadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_info(), "args": _args_dict(args), "results": results}, f, indent=1)
        print(f"wrote {args.json}")
    return 0


def _args_dict(args) -> dict:
    return {k: v for k, v in vars(args).items() if not k.startswith("_") and k != "worker"}


def _measure(side, net, args, split) -> dict:
    """One run of one side on one network: in this process with --inprocess, else in a fresh one."""
    if args.inprocess:
        fn = measure_tinyae if side == "tinyae" else measure_torch
        return fn(net, args, split=split)
    cmd = [sys.executable, "-m", "tinyae.bench", net, "--worker", side, "--epochs", str(args.epochs),
           "--warmup", str(args.warmup), "--n", str(args.n), "--batch-size", str(args.batch_size),
           "--backend", args.backend, "--threads", str(args.threads), "--seed", str(args.seed)]
    if not split:
        cmd.append("--no-split")
    env = dict(os.environ, **{var: str(args.threads) for var in THREAD_VARS})
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"tinyae bench: the {side} run of {net} failed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len(RESULT_TAG):])


# ==================================================================================================
# The machine
# ==================================================================================================


def _loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas() -> str:
    import numpy as np

    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]
        blas = deps.get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # old NumPy without mode="dicts": say so rather than fail
        return "unknown"


def machine_info() -> dict:
    import numba
    import numpy as np

    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "blas": _blas(), "load_average": _loadavg()}


def machine_header(args) -> str:
    m = machine_info()
    lines = [f"tinyae bench: {m['cpu']}, {m['cores']} cores; Python {m['python']}, NumPy {m['numpy']} "
             f"({m['blas']}), Numba {m['numba']}",
             f"{args.n} images, batch {args.batch_size}, Adam, float32, backend {args.backend}, {args.threads} "
             f"thread(s); median of {args.epochs} epoch(s) after {args.warmup} warm-up, {args.rounds} round(s)",
             f"load average before: {m['load_average']} (other work on the machine slows every number below)"]
    return "\n".join(lines)


# ==================================================================================================
# Building the networks (tinyae)
# ==================================================================================================


def build_model(net: str, seed: int = 0):
    """The reference network ``net`` as a tinyae model (float32, on the CPU)."""
    from tinyae.layers import Dense, ReLU
    from tinyae.losses import BCEWithLogits
    from tinyae.models import VAE, Autoencoder, Sequential

    s = iter(range(seed * 100, seed * 100 + 100))  # one weight seed per layer
    if net == "dense":
        encoder = Sequential(Dense(784, 256, init="relu", seed=next(s)), ReLU(),
                             Dense(256, 64, init="relu", seed=next(s)), ReLU())
        decoder = Sequential(Dense(64, 256, init="relu", seed=next(s)), ReLU(), Dense(256, 784, seed=next(s)))
        return Autoencoder(encoder, decoder, loss=BCEWithLogits())
    if net == "vae":
        encoder = Sequential(Dense(784, 256, init="relu", seed=next(s)), ReLU(), Dense(256, 2 * LATENT, seed=next(s)))
        decoder = Sequential(Dense(LATENT, 256, init="relu", seed=next(s)), ReLU(), Dense(256, 784, seed=next(s)))
        return VAE(encoder, decoder, latent_dim=LATENT, recon="bce_logits", seed=next(s))
    if net == "conv":
        from tinyae.layers import Conv2D, MaxPool2D, Upsample2D

        def conv(c_in, c_out, init="relu"):
            return Conv2D(c_in, c_out, 3, padding=1, init=init, seed=next(s))

        encoder = Sequential(conv(1, 16), ReLU(), MaxPool2D(2), conv(16, 8), ReLU(), MaxPool2D(2))
        decoder = Sequential(conv(8, 8), ReLU(), Upsample2D(2, mode="nearest"), conv(8, 16), ReLU(),
                             Upsample2D(2, mode="nearest"), conv(16, 1, init="xavier"))
        return Autoencoder(encoder, decoder, loss=BCEWithLogits(), input_shape=IMAGE_SHAPE["conv"])
    raise ValueError(f"build_model: unknown network {net!r}")


def synthetic_data(net: str, n: int, seed: int = 0):
    """n random float32 'images' in [0, 1) of the network's input shape (NumPy, on the host)."""
    import numpy as np

    return np.random.default_rng(seed).random((n, *IMAGE_SHAPE[net]), dtype=np.float32)


# ==================================================================================================
# Counting and replaying the matrix products
# ==================================================================================================


def matmul_products(model, batch: int) -> list:
    """The matrix products of one training step of ``model`` at batch size ``batch``.

    Each product is (a_shape, b_shape, ta, tb): C-contiguous operands of those shapes, multiplied as
    (a.T if ta else a) @ (b.T if tb else b) -- the same layouts the layers use, so a replay reproduces
    what BLAS sees. FLOPs of a product (M, K) @ (K, N): 2*M*K*N.
    """
    from tinyae.layers import Conv2D, ConvTranspose2D, Dense, TiedDense
    from tinyae.models import VAE, leaf_layers

    products = []
    shape = (batch, *model.input_shape)
    parts = [leaf_layers(model.encoder), leaf_layers(model.decoder)]
    first = True  # the first layer with Params computes no dx (its input is data: Layer.backward_params)
    for k, layers in enumerate(parts):
        if k == 1 and isinstance(model, VAE):
            shape = (batch, model.latent_dim)  # the decoder gets z, not [mu, logvar]
        for layer in layers:
            out = layer.output_shape(shape)
            count = len(products)
            if isinstance(layer, (Dense, TiedDense)):
                n, i, o = batch, layer.in_features, layer.out_features
                w = (i, o) if isinstance(layer, Dense) else (o, i)
                tied = isinstance(layer, TiedDense)
                products += [((n, i), w, False, tied),          # y = x @ W          (N, in) @ (in, out)
                             ((n, i), (n, o), True, False),     # dW = x.T @ dy      (in, N) @ (N, out)
                             ((n, o), w, False, not tied)]      # dx = dy @ W.T      (N, out) @ (out, in)
            elif isinstance(layer, Conv2D) and layer._flipped_route(shape):  # stride 1, F <= C (see Conv2D)
                F, C = layer.out_channels, layer.in_channels
                KH, KW = layer.kernel_size
                fk, q = F * KH * KW, shape[0] * shape[2] * shape[3]
                products += [((C, fk), (C, q), True, False),    # col = Wflip.T @ x_mat  (FK, C) @ (C, N*H*W)
                             ((C, q), (fk, q), False, True),    # dWflip = x_mat @ dcol.T (C, NHW) @ (NHW, FK)
                             ((C, fk), (fk, q), False, False)]  # dx = Wflip @ dcol     (C, FK) @ (FK, N*H*W)
            elif isinstance(layer, Conv2D):
                F, C = layer.out_channels, layer.in_channels
                KH, KW = layer.kernel_size
                ck, p = C * KH * KW, out[0] * out[2] * out[3]
                products += [((F, ck), (ck, p), False, False),  # y = W @ col         (F, CK) @ (CK, N*OH*OW)
                             ((F, p), (ck, p), False, True),    # dW = dy @ col.T    (F, P) @ (P, CK)
                             ((F, ck), (F, p), True, False)]    # dcol = W.T @ dy    (CK, F) @ (F, P)
            elif isinstance(layer, ConvTranspose2D):
                C_in, C_out = layer.in_channels, layer.out_channels
                KH, KW = layer.kernel_size
                ck, p = C_out * KH * KW, shape[0] * shape[2] * shape[3]
                products += [((C_in, ck), (C_in, p), True, False),   # col = W.T @ x
                             ((C_in, p), (ck, p), False, True),      # dW = x @ dcol.T
                             ((C_in, ck), (ck, p), False, False)]    # dx = W @ dcol
            if first and len(products) > count:
                products.pop()  # the first layer's dx (dcol) product: backward_params skips it
                first = False
            shape = out
    return products


def product_flops(products) -> int:
    total = 0
    for a, b, ta, tb in products:
        m, k = (a[1], a[0]) if ta else a
        n = b[0] if tb else b[1]
        total += 2 * m * k * n
    return total


def batch_sizes(n: int, batch: int) -> list:
    return [min(batch, n - s) for s in range(0, n, batch)]


def epoch_flops(model, n: int, batch: int) -> int:
    return sum(product_flops(matmul_products(model, b)) for b in batch_sizes(n, batch))


def replay_products(model, n: int, batch: int, xp, sync, repeats: int = 5) -> float:
    """Seconds for one epoch's matrix products alone (same shapes and layouts), median of ``repeats``."""
    import numpy as np

    rng = np.random.default_rng(0)
    operands = {}
    for b in set(batch_sizes(n, batch)):
        ops = []
        for a_shape, b_shape, ta, tb in matmul_products(model, b):
            a = xp.asarray(rng.random(a_shape, dtype=np.float32))
            c = xp.asarray(rng.random(b_shape, dtype=np.float32))
            ops.append((a.T if ta else a, c.T if tb else c))
        operands[b] = ops
    epoch = [operands[b] for b in batch_sizes(n, batch)]

    def one_epoch():
        for ops in epoch:
            for a, c in ops:
                if a.shape[1] == 1:  # an outer product: broadcast, as Conv2D does (BLAS is slow at K = 1)
                    a * c
                else:
                    a @ c
        sync()

    one_epoch()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        one_epoch()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ==================================================================================================
# Measuring tinyae
# ==================================================================================================


def _sync_function(backend_name: str):
    if backend_name == "gpu":
        import cupy

        return lambda: cupy.cuda.get_current_stream().synchronize()
    return lambda: None


def _thread_report() -> dict:
    """The thread counts the libraries actually use (to show --threads was respected)."""
    out = {}
    try:
        import numba

        out["numba"] = numba.get_num_threads()
    except Exception:
        pass
    try:
        from threadpoolctl import threadpool_info

        out["blas"] = [f"{p.get('internal_api')}:{p.get('num_threads')}" for p in threadpool_info()]
    except Exception:
        pass
    return out


def measure_tinyae(net: str, args, split: bool = True, emit: bool = False) -> dict:
    """Train ``net`` with tinyae.train.fit; return epoch times, FLOPs, the products-alone time and the split."""
    from tinyae.optim import Adam
    from tinyae.train import fit

    model = build_model(net, args.seed)
    X = synthetic_data(net, args.n, args.seed)
    xp = __import__("numpy")
    if args.backend == "gpu":
        from tinyae import backend

        model.to("gpu")
        X = backend.to_device(X, "gpu")
        xp = backend.array_module(X)
    sync = _sync_function(args.backend)
    opt = Adam(model.params(), lr=1e-3)
    history = fit(model, X, epochs=args.warmup + args.epochs, batch_size=args.batch_size, optimizer=opt,
                  seed=args.seed, verbose=0)
    times = history.epoch_time[args.warmup:]
    result = {"side": "tinyae", "net": net, "epoch_times": times, "median": statistics.median(times),
              "threads": _thread_report(), "losses": history.loss}
    result["flops"] = epoch_flops(model, args.n, args.batch_size)
    if split:
        result["products_alone"] = replay_products(model, args.n, args.batch_size, xp, sync)
        result["split"] = time_split(model, opt, X, args, sync)
    if emit:
        print(RESULT_TAG + json.dumps(result), flush=True)
    return result


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
    from tinyae import kernels
    from tinyae.models import VAE, leaf_layers
    from tinyae.train import fit

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


# ==================================================================================================
# Measuring PyTorch (never a dependency: imported here only)
# ==================================================================================================


def build_torch_model(net: str):
    """The same architecture in PyTorch: (module, step function (xb) -> loss tensor)."""
    import torch
    from torch import nn

    if net == "dense":
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(),
                              nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 784))
        bce = nn.BCEWithLogitsLoss()
        return model, lambda xb: bce(model(xb), xb)
    if net == "conv":
        def conv(c_in, c_out):
            return nn.Conv2d(c_in, c_out, 3, padding=1)

        model = nn.Sequential(conv(1, 16), nn.ReLU(), nn.MaxPool2d(2), conv(16, 8), nn.ReLU(), nn.MaxPool2d(2),
                              conv(8, 8), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
                              conv(8, 16), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"), conv(16, 1))
        bce = nn.BCEWithLogitsLoss()
        return model, lambda xb: bce(model(xb), xb)
    if net == "vae":
        encoder = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 2 * LATENT))
        decoder = nn.Sequential(nn.Linear(LATENT, 256), nn.ReLU(), nn.Linear(256, 784))
        model = nn.ModuleList([encoder, decoder])
        bce = nn.BCEWithLogitsLoss(reduction="sum")

        def step(xb):
            mu, logvar = encoder(xb).chunk(2, dim=1)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            n = xb.shape[0]
            kl = -0.5 * torch.sum(1 + logvar - mu * mu - logvar.exp()) / n
            return bce(decoder(z), xb) / n + kl

        return model, step
    raise ValueError(f"build_torch_model: unknown network {net!r}")


def measure_torch(net: str, args, split: bool = False, emit: bool = False) -> dict:
    """Train ``net`` in PyTorch with the loop ``fit`` runs: one shuffle per epoch, slices, one sync per step."""
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = "cpu"
    if args.backend == "gpu":
        if not torch.cuda.is_available():
            raise SystemExit("tinyae bench: --backend gpu --compare torch needs a CUDA build of torch")
        device = "cuda"
    model, step = build_torch_model(net)
    model.to(device)
    X = torch.from_numpy(synthetic_data(net, args.n, args.seed)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times, losses = [], []
    for e in range(args.warmup + args.epochs):
        t0 = time.perf_counter()
        order = torch.from_numpy(np.random.default_rng([args.seed, e]).permutation(args.n)).to(device)
        Xe = X[order]
        total = 0.0
        for s in range(0, args.n, args.batch_size):
            xb = Xe[s:s + args.batch_size]
            opt.zero_grad()
            loss = step(xb)
            loss.backward()
            total += loss.item() * xb.shape[0]  # the one sync per step, as in fit
            opt.step()
        times.append(time.perf_counter() - t0)
        losses.append(total / args.n)
    times = times[args.warmup:]
    result = {"side": "torch", "net": net, "epoch_times": times, "median": statistics.median(times),
              "threads": {"torch": torch.get_num_threads()}, "losses": losses, "torch": torch.__version__}
    if emit:
        print(RESULT_TAG + json.dumps(result), flush=True)
    return result


# ==================================================================================================
# The report
# ==================================================================================================


def _pooled_median(runs) -> float:
    return statistics.median(t for r in runs for t in r["epoch_times"])


def report(net: str, runs: dict, args) -> str:
    tin = runs["tinyae"]
    med = _pooled_median(tin)
    first = tin[0]
    gflops = first["flops"] / med / 1e9
    times = [t for r in tin for t in r["epoch_times"]]
    lines = [f"== {net}: {NETWORKS[net]}",
             f"  tinyae  {med:8.3f} s/epoch  (min {min(times):.3f}, max {max(times):.3f})  "
             f"{gflops:6.1f} GFLOP/s  [{first['flops'] / 1e9:.2f} GFLOP per epoch]"]
    if "torch" in runs:
        tmed = _pooled_median(runs["torch"])
        ttimes = [t for r in runs["torch"] for t in r["epoch_times"]]
        ratio = med / tmed
        verdict = "meets" if ratio <= TARGETS[net] else "misses"
        lines.append(f"  torch   {tmed:8.3f} s/epoch  (min {min(ttimes):.3f}, max {max(ttimes):.3f})  "
                     f"torch {runs['torch'][0].get('torch', '?')}")
        per_round = ", ".join(f"{a:.2f}" for a in _round_ratios(runs))
        lines.append(f"  tinyae / torch = {ratio:.2f}  ({verdict} the target <= {TARGETS[net]})"
                     + (f"; per round: {per_round}" if args.rounds > 1 else ""))
    if "products_alone" in first:
        alone = first["products_alone"]
        lines.append(f"  matrix products alone (plain {'CuPy' if args.backend == 'gpu' else 'NumPy'}, same shapes, "
                     f"back to back): {alone:.3f} s/epoch = {first['flops'] / alone / 1e9:.1f} GFLOP/s peak")
        lines.append(f"  epoch / products alone = {med / alone:.2f}"
                     + ("  (issue 2: a dense step within about 1.3x of its products)" if net == "dense" else ""))
    if "split" in first:
        lines.append(format_split(first["split"], first.get("products_alone")))
    lines.append(f"  threads: {first['threads']}")
    return "\n".join(lines)


def _round_ratios(runs) -> list:
    return [statistics.median(a["epoch_times"]) / statistics.median(b["epoch_times"])
            for a, b in zip(runs["tinyae"], runs["torch"])]


def format_split(split: dict, products_alone=None) -> str:
    total = split["total"]
    width = max(len(r[0]) for r in split["rows"])
    lines = [f"  time split of one instrumented epoch ({total:.3f} s; each timed call synchronised):",
             f"    {'':<{width}}  {'forward':>9}  {'backward':>9}  {'share':>6}"]
    accounted = 0.0
    for name, f, b in split["rows"]:
        accounted += f + b
        lines.append(f"    {name:<{width}}  {f * 1e3:7.1f}ms  {b * 1e3:7.1f}ms  {100 * (f + b) / total:5.1f}%")
    rest = total - accounted
    lines.append(f"    {'the rest (fit: shuffling, batching, loss bookkeeping)':<{width}}  {rest * 1e3:7.1f}ms  "
                 f"{'':>9}  {100 * rest / total:5.1f}%")
    kern = split.get("kernels") or {}
    if kern:
        ktotal = sum(kern.values())
        parts = ", ".join(f"{k} {v * 1e3:.1f}ms" for k, v in kern.items())
        lines.append(f"    kernels (inside the layers above): {ktotal * 1e3:.1f}ms = {100 * ktotal / total:.1f}% "
                     f"({parts})")
        if products_alone is not None:
            other = total - ktotal - products_alone
            lines.append(f"    => im2col/col2im/pooling {100 * ktotal / total:.0f}%, matrix products (replayed) "
                         f"{100 * products_alone / total:.0f}%, everything else {100 * other / total:.0f}%")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinyae.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

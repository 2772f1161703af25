"""How fast tinyae trains its reference networks, and where the time goes.

    tinyae bench                          # dense AE, conv AE and VAE on the CPU
    tinyae bench dense --epochs 10        # one network, more timed epochs
    tinyae bench all --compare torch      # the same networks in PyTorch too, and the ratio tinyae/torch
    tinyae bench conv --backend gpu       # on the GPU (CuPy)
    python -m tinyae.cli.bench ...        # the same

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
                     an epoch. epoch / products: how close a step comes to its arithmetic (dense: about 1.3x)
    time split       one more epoch, instrumented: each layer's forward and backward, the loss, the
                     optimizer; for the conv net also the im2col / col2im / pooling kernels
    tinyae / torch   with --compare torch: the same architectures in PyTorch, trained by the same loop

Every measurement runs in a fresh Python process whose thread count is fixed before NumPy, Numba or
torch start (OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS = --threads). With --compare torch each round starts one
process per side, and the two TAKE TURNS, epoch by epoch (tinyae, torch, torch, tinyae, ...), with a
pause between turns so that the idle side's BLAS/OpenMP threads have stopped spinning: sharing one
process, OpenBLAS's and torch's threads would spin against each other. The ratio tinyae / torch is the
median over pairs of epochs timed one right after the other, so a slow spell of a shared machine hits
both halves of a pair. docs/performance.md has the numbers and explains them.
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
import tempfile
import time
from pathlib import Path

from tinyae import backend, kernels
from tinyae.kernels.conv_routes import flipped_route_fits
from tinyae.layers import Conv2D, ConvTranspose2D, Dense, MaxPool2D, ReLU, TiedDense, Upsample2D
from tinyae.losses import BCEWithLogits
from tinyae.models import VAE, Autoencoder, Sequential, leaf_layers
from tinyae.optim import Adam
from tinyae.train import fit

NETWORKS = {
    "dense": "dense AE 784-256-64-256-784, ReLU, BCE with logits",
    "conv": "conv AE 1x28x28: Conv16-Pool-Conv8-Pool-Conv8-Up-Conv16-Up-Conv1, ReLU, BCE with logits",
    "vae": "VAE 784-256-(16+16)-256-784, ReLU, BCE with logits + Gaussian KL",
}
IMAGE_SHAPE = {"dense": (784,), "conv": (1, 28, 28), "vae": (784,)}
# The project's targets for tinyae's time per epoch / PyTorch's, at most (docs/performance.md): on the CPU
# (0.7 for dense and VAE is a long-term goal) and on a GPU, at batch 128.
TARGETS = {"cpu": {"dense": 0.7, "conv": 1.0, "vae": 0.7}, "gpu": {"dense": 1.5, "conv": 1.5, "vae": 1.5}}
LATENT = 16
RESULT_TAG = "TINYAE_BENCH_RESULT "
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
KERNEL_NAMES = ("im2col", "col2im", "maxpool_forward", "maxpool_backward")
TURN_PAUSE = 0.25  # s between two sides' turns: idle BLAS/OpenMP threads spin about 0.1 s before they sleep


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
    if args.worker:
        return
    if args.backend == "gpu":
        if not backend.gpu_available():
            raise SystemExit("tinyae bench: --backend gpu needs CuPy and a CUDA device, and none was found "
                             "(pip install 'tinyae[cuda12]' or 'tinyae[cuda13]', or leave --backend out)")
    if args.json:
        target = Path(args.json)
        if target.is_dir():
            raise SystemExit(f"tinyae bench: --json {target} is a folder; give a file name, "
                             f"e.g. {target / 'bench.json'}")
        folder = target.parent
        if not folder.is_dir():
            raise SystemExit(f"tinyae bench: --json {target}: the folder {folder} does not exist; create it first "
                             f"or give another path")
        if not os.access(folder, os.W_OK):
            raise SystemExit(f"tinyae bench: --json {target}: the folder {folder} is not writable")


def run(args) -> int:
    _check_args(args)
    nets = _networks(args.networks)
    if args.worker:  # a child process: train one network epoch by epoch, as the parent asks
        serve(args.worker, nets[0], args)
        return 0

    sides = ["tinyae"]
    if args.compare == "torch":
        if importlib.util.find_spec("torch") is None:
            print("tinyae bench: --compare torch needs PyTorch, which is not installed here "
                  "(pip install torch; it is never a dependency of tinyae). Timing tinyae alone.\n")
        else:
            sides.append("torch")
    print(machine_header(args, sides))
    results = {}
    for net in nets:
        runs = {side: [] for side in sides}
        for r in range(args.rounds):
            split = args.split and r == 0
            # Alternate which side starts, so a slow drift of the machine hits both alike.
            order = sides if r % 2 == 0 else sides[::-1]
            for side, result in _measure_round(net, order, args, split).items():
                runs[side].append(result)
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


def _measure_round(net, order, args, split) -> dict:
    """One round: every side in ``order`` trains ``net`` for --warmup + --epochs epochs; {side: result}.

    In worker processes (the default) the sides take turns epoch by epoch, A B B A A B ..., with a pause
    between turns, so each tinyae epoch has a torch epoch right next to it (``_pair_ratios``). With
    --inprocess, one side after the other in this process.
    """
    if args.inprocess:
        fns = {"tinyae": measure_tinyae, "torch": measure_torch}
        return {side: fns[side](net, args, split=split and side == "tinyae") for side in order}
    workers = {}
    try:
        for side in order:
            workers[side] = _Worker(side, net, args, split=split and side == "tinyae")
        for worker in workers.values():
            worker.ask("ready")  # both have imported their libraries and built the model: no start-up overlaps an epoch
        for i in range(args.warmup + args.epochs):
            for side in (order if i % 2 == 0 else order[::-1]):
                workers[side].ask("epoch")
                if len(order) > 1:
                    time.sleep(TURN_PAUSE)
        return {side: workers[side].ask("finish") for side in order}
    finally:
        for worker in workers.values():
            worker.close()  # never raises: every worker gets closed


class _Worker:
    """A fresh Python process that trains one side's network, one epoch per "epoch" line on its stdin.

    Its thread count is fixed before NumPy, Numba or torch start (the environment variables of
    THREAD_VARS). Each answer is the rest of a stdout line after RESULT_TAG (JSON); stderr goes to a file,
    shown if the process fails.
    """

    def __init__(self, side, net, args, split):
        self.side, self.net = side, net
        cmd = [sys.executable, "-m", "tinyae.cli.bench", net, "--worker", side, "--epochs", str(args.epochs),
               "--warmup", str(args.warmup), "--n", str(args.n), "--batch-size", str(args.batch_size),
               "--backend", args.backend, "--threads", str(args.threads), "--seed", str(args.seed)]
        if not split:
            cmd.append("--no-split")
        env = dict(os.environ, **{var: str(args.threads) for var in THREAD_VARS})
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True)

    def ask(self, command: str) -> dict:
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            for line in self.proc.stdout:
                if RESULT_TAG in line:  # anywhere: a library may have printed part of a line before it
                    return json.loads(line[line.index(RESULT_TAG) + len(RESULT_TAG):])
        except BrokenPipeError:
            pass
        self.proc.wait()
        self.stderr.seek(0)
        raise RuntimeError(f"tinyae bench: the {self.side} run of {self.net} failed (exit {self.proc.returncode}):\n"
                           f"{self.stderr.read()[-4000:]}")

    def close(self):
        """End the process (it exits by itself at the end of its input) and release the pipes; never raises."""
        try:
            self.proc.stdin.close()  # may flush a command to a process that is gone
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()


def serve(side: str, net: str, args):
    """The worker's loop: "ready" -> answer once the model is built; "epoch" -> train one epoch, answer its
    time; "finish" -> answer the result (times after the warm-up, FLOPs, the split) and exit."""
    trainer = (TinyaeTrainer if side == "tinyae" else TorchTrainer)(net, args)
    times = []
    for line in sys.stdin:
        command = line.strip()
        if command == "ready":
            _emit({"ready": side})
        elif command == "epoch":
            times.append(trainer.epoch())
            _emit({"epoch_time": times[-1]})
        elif command == "finish":
            _emit(trainer.result(times[args.warmup:], split=args.split))
            return
        else:
            raise SystemExit(f"tinyae bench worker: unknown command {command!r}")


def _emit(answer: dict):
    print(RESULT_TAG + json.dumps(answer), flush=True)


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


def machine_header(args, sides=("tinyae",)) -> str:
    m = machine_info()
    turns = ("; in each round the two sides take turns epoch by epoch, in two processes"
             if len(sides) > 1 and not args.inprocess else "")
    lines = [f"tinyae bench: {m['cpu']}, {m['cores']} cores; Python {m['python']}, NumPy {m['numpy']} "
             f"({m['blas']}), Numba {m['numba']}",
             f"{args.n} images, batch {args.batch_size}, Adam, float32, backend {args.backend}, {args.threads} "
             f"thread(s); median of {args.epochs} epoch(s) after {args.warmup} warm-up, {args.rounds} round(s)"
             + turns,
             f"load average before: {m['load_average']} (other work on the machine slows every number below)"]
    return "\n".join(lines)


# ==================================================================================================
# Building the networks (tinyae)
# ==================================================================================================


def build_model(net: str, seed: int = 0):
    """The reference network ``net`` as a tinyae model (float32, on the CPU)."""

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
            elif isinstance(layer, Conv2D) and flipped_route_fits(layer, shape):  # stride 1, F <= C (conv_routes.py)
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


class TinyaeTrainer:
    """``net`` trained by tinyae.train.fit (the code path a user runs), one epoch per ``epoch()`` call."""

    def __init__(self, net: str, args):
        import numpy as np


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


class TorchTrainer:
    """``net`` in PyTorch, trained by the loop ``fit`` runs (one shuffle per epoch, slices, one sync per
    step), one epoch per ``epoch()`` call."""

    def __init__(self, net: str, args):
        import torch

        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        self.device = "cpu"
        if args.backend == "gpu":
            if not torch.cuda.is_available():
                raise SystemExit("tinyae bench: --backend gpu --compare torch needs a CUDA build of torch")
            self.device = "cuda"
        self.net, self.args, self.torch = net, args, torch
        self.model, self.step = build_torch_model(net)
        self.model.to(self.device)
        self.X = torch.from_numpy(synthetic_data(net, args.n, args.seed)).to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.losses = []

    def epoch(self) -> float:
        import numpy as np

        torch, args = self.torch, self.args
        t0 = time.perf_counter()
        e = len(self.losses)
        order = torch.from_numpy(np.random.default_rng([args.seed, e]).permutation(args.n)).to(self.device)
        Xe = self.X[order]
        total = 0.0
        for s in range(0, args.n, args.batch_size):
            xb = Xe[s:s + args.batch_size]
            self.opt.zero_grad()
            loss = self.step(xb)
            loss.backward()
            total += loss.item() * xb.shape[0]  # the one sync per step, as in fit
            self.opt.step()
        seconds = time.perf_counter() - t0
        self.losses.append(total / args.n)
        return seconds

    def result(self, times: list, split: bool = False) -> dict:
        return {"side": "torch", "net": self.net, "epoch_times": times, "median": statistics.median(times),
                "threads": {"torch": self.torch.get_num_threads()}, "losses": self.losses,
                "torch": self.torch.__version__}


def measure_torch(net: str, args, split: bool = False) -> dict:
    """Train ``net`` in PyTorch in this process; return the epoch times."""
    trainer = TorchTrainer(net, args)
    times = [trainer.epoch() for _ in range(args.warmup + args.epochs)]
    return trainer.result(times[args.warmup:])


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
        lines.append(f"  torch   {tmed:8.3f} s/epoch  (min {min(ttimes):.3f}, max {max(ttimes):.3f})  "
                     f"torch {runs['torch'][0].get('torch', '?')}")
        pairs = _pair_ratios(runs)
        ratio = statistics.median(r for rnd in pairs for r in rnd)
        target = TARGETS[args.backend][net]
        verdict = "meets" if ratio <= target else "misses"
        per_round = ", ".join(f"{statistics.median(rnd):.2f}" for rnd in pairs)
        how = ("epochs of the two sides timed one after the other in this process, not in turns" if args.inprocess
               else "epochs timed in turns")
        rounds = f"; per round: {per_round}" if args.rounds > 1 else ""
        lines.append(f"  tinyae / torch = {ratio:.2f}  ({verdict} the target <= {target}; median of "
                     f"{sum(map(len, pairs))} pairs of {how}){rounds}")
    if "products_alone" in first:
        alone = first["products_alone"]
        lines.append(f"  matrix products alone (plain {'CuPy' if args.backend == 'gpu' else 'NumPy'}, same shapes, "
                     f"back to back): {alone:.3f} s/epoch = {first['flops'] / alone / 1e9:.1f} GFLOP/s peak")
        lines.append(f"  epoch / products alone = {med / alone:.2f}"
                     + ("  (the target: a dense step within about 1.3x of its products)" if net == "dense" else ""))
    if "split" in first:
        lines.append(format_split(first["split"], first.get("products_alone")))
    lines.append(f"  threads: {first['threads']}")
    return "\n".join(lines)


def _pair_ratios(runs) -> list:
    """Per round, tinyae's epoch i / torch's epoch i. The two were timed one right after the other (the
    sides take turns), so a slow spell of the machine slows both halves of a pair: the ratios scatter
    much less than the epoch times themselves."""
    return [[a / b for a, b in zip(tin["epoch_times"], tor["epoch_times"])]
            for tin, tor in zip(runs["tinyae"], runs["torch"])]


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
    parser = argparse.ArgumentParser(prog="python -m tinyae.cli.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    return run(parser.parse_args(argv))



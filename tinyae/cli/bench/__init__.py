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
from pathlib import Path

from tinyae import backend
from tinyae.cli.bench.networks import NETWORKS
from tinyae.cli.bench.report import loadavg, machine_header, machine_info, report
from tinyae.cli.bench.workers import measure_round, serve


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
            for side, result in measure_round(net, order, args, split).items():
                runs[side].append(result)
        results[net] = runs
        print(report(net, runs, args))
        print()
    print(f"load average after: {loadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_info(), "args": _args_dict(args), "results": results}, f, indent=1)
        print(f"wrote {args.json}")
    return 0


def _args_dict(args) -> dict:
    return {k: v for k, v in vars(args).items() if not k.startswith("_") and k != "worker"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinyae.cli.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    return run(parser.parse_args(argv))

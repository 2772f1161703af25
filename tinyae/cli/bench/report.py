"""What the bench prints: the machine, and per network the times, GFLOP/s, the ratio to PyTorch, the split."""

from __future__ import annotations

import os
import platform
import statistics

import numpy as np

from tinyae.cli.bench.networks import NETWORKS

# The project's targets for tinyae's time per epoch / PyTorch's, at most (docs/performance.md): on the CPU
# (0.7 for dense and VAE is a long-term goal) and on a GPU, at batch 128.
TARGETS = {"cpu": {"dense": 0.7, "conv": 1.0, "vae": 0.7}, "gpu": {"dense": 1.5, "conv": 1.5, "vae": 1.5}}


def loadavg() -> str:
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
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]
        blas = deps.get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # old NumPy without mode="dicts": say so rather than fail
        return "unknown"


def machine_info() -> dict:
    import numba  # only for its version: under TINYAE_KERNELS=reference nothing else loads it

    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "blas": _blas(), "load_average": loadavg()}


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
        pairs = pair_ratios(runs)
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


def pair_ratios(runs) -> list:
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

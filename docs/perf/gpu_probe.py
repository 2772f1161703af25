"""Where a GPU training step of the reference networks spends its time: launches or arithmetic.

    python docs/perf/gpu_probe.py            # needs CuPy and a CUDA device

Prints, for each reference network (tinyae bench's dense, conv, vae):

- the time of one empty CuPy kernel launch (``x += 0`` on one float, launched 2000 times, then one sync):
  the fixed cost every elementwise operation, reduction and matrix product pays;
- the time of one training step (forward, loss, backward, Adam; as ``fit`` runs it) at batch sizes
  8 to 4096, with the matrix-product FLOPs of that step and the rate they reach. When the step time
  hardly changes from batch 8 to batch 128, the step is launch-bound: its time is the number of launches
  times the launch cost plus Python, not arithmetic;
- the rate CuPy's float32 matrix product reaches alone on one large square product (the ceiling).

Each time is the median of 20 steps after 5 warm-up steps, bracketed by device synchronisations.
"""

from __future__ import annotations

import statistics
import sys
import time


def _median_time(fn, sync, repeats=20, warmup=5):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    import cupy

    from tinyae.cli.bench.networks import build_model, synthetic_data
    from tinyae.cli.bench.products import matmul_products, product_flops
    from tinyae.optim import Adam

    sync = cupy.cuda.get_current_stream().synchronize
    x = cupy.zeros(1, dtype=cupy.float32)

    def launches():
        for _ in range(2000):
            x.__iadd__(0)

    launch = _median_time(launches, sync, repeats=5, warmup=1) / 2000
    print(f"one empty CuPy elementwise launch (x += 0, 2000 in a row): {launch * 1e6:.1f} us")

    n = 8192
    a = cupy.random.random((n, n), dtype=cupy.float32)
    b = cupy.random.random((n, n), dtype=cupy.float32)
    t = _median_time(lambda: a @ b, sync, repeats=5, warmup=2)
    print(f"float32 matrix product {n}x{n}x{n}: {2 * n**3 / t / 1e12:.1f} TFLOP/s ({t * 1e3:.2f} ms)")

    for net in ("dense", "conv", "vae"):
        model = build_model(net).to("gpu")
        opt = Adam(model.params(), lr=1e-3)
        data = cupy.asarray(synthetic_data(net, 4096))
        print(f"\n{net}: one training step (forward, loss, backward, Adam), median of 20")
        print("  batch    step ms   ms/image   GFLOP/step   GFLOP/s")
        for batch in (8, 32, 128, 512, 1024, 4096):
            xb = data[:batch]

            def step(model=model, opt=opt, xb=xb):
                model.zero_grad()
                loss = model.loss_and_backward(xb, training=True)
                opt.step()
                return loss

            t = _median_time(step, sync)
            flops = product_flops(matmul_products(model, batch))
            print(f"  {batch:5d}   {t * 1e3:8.3f}   {t * 1e3 / batch:8.4f}   {flops / 1e9:10.4f}   "
                  f"{flops / t / 1e9:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# The GPU check of tinyae, prepared to run once on a lent GPU machine (an H200 here) inside a short lease:
#
#     bash docs/perf/gpu_check.sh            # from the repository root; results under $OUT (default ./gpu-out)
#
# It uses what the machine already has (CuPy, NumPy, Numba, PyTorch with CUDA, scikit-learn, pytest) and
# tinyae from this working tree (PYTHONPATH). Each phase has its own time limit, so the whole run ends by
# itself and packs what it made, even when a phase hangs. docs/performance.md ("The GPU") has the numbers.
#
# Phase A (side by side: none of them is timed): pytest -m gpu; the tour trained on the GPU; the tour on
#         the CPU (its figures and numbers are the reference for the GPU tour's).
# Phase B (one at a time, nothing else running): the probe (launch cost, step time against batch size),
#         tinyae bench on the GPU at batch 128 and 1024, with --compare torch on the GPU, and on the CPU.
#
# TOURS=0 skips the two tours (a rerun after a change that cannot move the tour's numbers).
set -u
OUT=${OUT:-gpu-out}
R=$OUT/r
mkdir -p "$R"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg
PY=${PY:-python3}
stamp() { echo "=== $(date +%T) $*"; }

{
  stamp machine
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  nproc; uname -m
  $PY - <<'PYEOF'
import sys, platform
print("python", sys.version.split()[0], platform.machine())
for name in ("numpy", "cupy", "numba", "torch", "sklearn", "scipy", "pytest", "hypothesis"):
    try:
        m = __import__(name)
        print(name, m.__version__)
    except Exception as err:
        print(name, "NOT AVAILABLE:", type(err).__name__, err)
import cupy
print("CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(), "driver", cupy.cuda.runtime.driverGetVersion())
p = cupy.cuda.runtime.getDeviceProperties(0)
print("device", p["name"], "SMs", p["multiProcessorCount"], "cc", p["major"], p["minor"])
PYEOF
} > "$R/env.txt" 2>&1
cat "$R/env.txt"

# A numba that cannot import (too old for this NumPy) must not stop the run: the CPU parts then take the
# reference kernels, and the log says so.
if ! $PY -c "import numba" 2>/dev/null; then
  export TINYAE_KERNELS=reference
  echo "numba does not import here: the CPU runs use TINYAE_KERNELS=reference" | tee -a "$R/env.txt"
fi

stamp "phase A: pytest -m gpu, tour on the GPU, tour on the CPU (side by side)"
timeout 260 $PY -m pytest -m gpu -q -rs -p no:cacheprovider --continue-on-collection-errors \
  -W ignore::DeprecationWarning tests > "$R/pytest_gpu.txt" 2>&1 &
P1=$!
if [ "${TOURS:-1}" != 0 ]; then
timeout 260 $PY -m tinyae tour --backend gpu --out "$R/tour_gpu" > "$R/tour_gpu.txt" 2>&1 &
P2=$!
OMP_NUM_THREADS=4 NUMBA_NUM_THREADS=4 timeout 260 $PY -m tinyae tour --backend cpu --out "$R/tour_cpu" \
  > "$R/tour_cpu.txt" 2>&1 &
P3=$!
fi
wait $P1; echo "pytest -m gpu exit $?"; tail -n 25 "$R/pytest_gpu.txt"
if [ "${TOURS:-1}" != 0 ]; then
wait $P2; echo "tour gpu exit $?"; tail -n 12 "$R/tour_gpu.txt"
wait $P3; echo "tour cpu exit $?"; tail -n 4 "$R/tour_cpu.txt"
$PY - "$R" <<'PYEOF' | tee "$R/tour_compare.txt"
# The numbers of the two tours' reports side by side (they train the same models from the same seeds).
import re, sys
from pathlib import Path
r = Path(sys.argv[1])
def numbers(p):
    t = (p / "report.md").read_text() if (p / "report.md").exists() else ""
    t = re.sub(r"Wall time \d+ s|\| [\d.]+ s \||[\d.]+s +ok", "", t)  # times differ by design
    return re.findall(r"(?<![\w.])-?\d+\.\d+(?:e-?\d+)?", t)
a, b = numbers(r / "tour_cpu"), numbers(r / "tour_gpu")
print(f"tour numbers: {len(a)} on the CPU, {len(b)} on the GPU")
worst = 0.0
for x, y in zip(a, b):
    fx, fy = float(x), float(y)
    rel = abs(fx - fy) / max(abs(fx), abs(fy), 1e-12)
    worst = max(worst, rel)
    print(f"  cpu {x:>12}  gpu {y:>12}  rel {rel:.2e}")
print(f"largest relative difference {worst:.2e}")
PYEOF
fi

stamp "phase B: timings, one at a time"
timeout 90 $PY docs/perf/gpu_probe.py > "$R/probe.txt" 2>&1; echo "probe exit $?"; cat "$R/probe.txt"
timeout 80 $PY -m tinyae bench all --backend gpu --json "$R/bench_gpu_128.json" > "$R/bench_gpu_128.txt" 2>&1
echo "bench gpu 128 exit $?"; cat "$R/bench_gpu_128.txt"
timeout 100 $PY -m tinyae bench all --backend gpu --batch-size 1024 --n 32768 \
  --json "$R/bench_gpu_1024.json" > "$R/bench_gpu_1024.txt" 2>&1
echo "bench gpu 1024 exit $?"; cat "$R/bench_gpu_1024.txt"
timeout 100 $PY -m tinyae bench all --backend gpu --compare torch --rounds 2 --no-split \
  --json "$R/bench_gpu_torch.json" > "$R/bench_gpu_torch.txt" 2>&1
echo "bench gpu vs torch exit $?"; cat "$R/bench_gpu_torch.txt"
timeout 100 $PY -m tinyae bench all --backend cpu --json "$R/bench_cpu.json" > "$R/bench_cpu.txt" 2>&1
echo "bench cpu exit $?"; cat "$R/bench_cpu.txt"

stamp "packing"
tar czf "$OUT/gpu_results.tgz" -C "$OUT" r && rm -rf "$R"
ls -la "$OUT"

"""Old and new tinyae in ONE process, taking turns training step by training step (docs/performance.md, 15.).

    git worktree add --detach /tmp/tinyae-old <old commit>
    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python docs/perf/paired_steps.py /tmp/tinyae-old dense 1500

The old tree's package is copied as ``tinyae_old`` (its imports renamed), so both live in one process
and see the same machine at the same moments: on a shared, loaded machine that is what keeps the
comparison fair. Each side trains its own copy of the bench network
(``tinyae.cli.bench.networks.build_model``; ``tinyae.bench`` in trees before the move) on the same
batches; the sides alternate A B B A ...; a step is zero_grad, loss_and_backward, the Adam step, timed
in process CPU time. Prints the median step of each side and the ratio new / old.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

NEW_ROOT = Path(__file__).resolve().parents[2]


def copy_as_old(old_root: Path) -> Path:
    """The old tree's tinyae package copied as tinyae_old (imports and module names rewritten)."""
    where = Path(tempfile.mkdtemp(prefix="tinyae-old-"))
    shutil.copytree(old_root / "tinyae", where / "tinyae_old", ignore=shutil.ignore_patterns("__pycache__"))
    for path in (where / "tinyae_old").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"\b(from|import) tinyae\b", r"\1 tinyae_old", text)
        text = re.sub(r"([\"' ])tinyae\.", r"\1tinyae_old.", text)
        path.write_text(text, encoding="utf-8")
    return where


def main(old_root: str, net: str, steps: int):
    sys.path[:0] = [str(NEW_ROOT), str(copy_as_old(Path(old_root)))]
    try:
        import tinyae_old.cli.bench.networks as old_bench
    except ImportError:  # a tree from before the bench moved to tinyae/cli/bench/ (b38260b, for one)
        import tinyae_old.bench as old_bench
    import tinyae_old.optim as old_optim

    import tinyae.cli.bench.networks as new_bench
    import tinyae.optim as new_optim

    sides = {}
    for name, bench, optim in (("old", old_bench, old_optim), ("new", new_bench, new_optim)):
        model = bench.build_model(net, 0)
        X = bench.synthetic_data(net, 4096, 0)
        sides[name] = (model, X, optim.Adam(model.params(), lr=1e-3))

    def step(name, i):
        model, X, opt = sides[name]
        xb = X[(i % 32) * 128:(i % 32 + 1) * 128]
        start = time.process_time()
        model.zero_grad()
        model.loss_and_backward(xb, xb, training=True)
        opt.step()
        return time.process_time() - start

    for i in range(40):  # warm up: compile, allocate
        step("old", i), step("new", i)
    times = {"old": [], "new": []}
    for i in range(steps):
        for name in (("old", "new") if i % 2 == 0 else ("new", "old")):
            times[name].append(step(name, i))
    old, new = statistics.median(times["old"]), statistics.median(times["new"])
    pairs = [n / o for n, o in zip(times["new"], times["old"])]
    print(json.dumps({"net": net, "steps": steps, "old_ms": round(old * 1e3, 3), "new_ms": round(new * 1e3, 3),
                      "new/old": round(new / old, 4), "pair_median": round(statistics.median(pairs), 4),
                      "load": os.getloadavg()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1500)

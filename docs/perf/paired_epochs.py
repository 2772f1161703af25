"""Old and new tinyae in ONE process, taking turns EPOCH by epoch of ``tinyae.train.fit`` (docs/performance.md).

    git worktree add --detach /tmp/tinyae-old <old commit>
    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python docs/perf/paired_epochs.py /tmp/tinyae-old dense 8

The companion of paired_steps.py (which times zero_grad + loss_and_backward + the Adam step alone): this
one times what a user runs, a whole epoch of ``fit`` (shuffling, batching, the input checks, the loss's
float(), the progress and Ctrl-C machinery), on the bench network and data of each tree, the sides
alternating A B B A ... Wall time per epoch (fit's own epoch_time); prints the medians and new / old.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired_steps import NEW_ROOT, copy_as_old  # noqa: E402  (the same copy of the old tree as tinyae_old)


def main(old_root: str, net: str, pairs: int):
    sys.path[:0] = [str(NEW_ROOT), str(copy_as_old(Path(old_root)))]
    try:
        import tinyae_old.cli.bench.networks as old_bench
    except ImportError:  # a tree from before the bench moved to tinyae/cli/bench/
        import tinyae_old.bench as old_bench
    import tinyae_old.optim as old_optim
    import tinyae_old.train as old_train

    import tinyae.cli.bench.networks as new_bench
    import tinyae.optim as new_optim
    import tinyae.train as new_train

    sides = {}
    for name, bench, optim, train in (("old", old_bench, old_optim, old_train),
                                      ("new", new_bench, new_optim, new_train)):
        model = bench.build_model(net, 0)
        X = bench.synthetic_data(net, 4000, 0)
        sides[name] = {"model": model, "X": X, "opt": optim.Adam(model.params(), lr=1e-3), "fit": train.fit,
                       "history": None}

    def epoch(name):
        s = sides[name]
        done = 0 if s["history"] is None else len(s["history"])
        s["history"] = s["fit"](s["model"], s["X"], epochs=done + 1, initial_epoch=done, history=s["history"],
                                batch_size=128, optimizer=s["opt"], seed=0, verbose=0)
        return s["history"].epoch_time[-1]

    epoch("old"), epoch("new")  # warm up: compile, allocate
    times = {"old": [], "new": []}
    for i in range(pairs):
        for name in (("old", "new") if i % 2 == 0 else ("new", "old")):
            times[name].append(epoch(name))
    old, new = statistics.median(times["old"]), statistics.median(times["new"])
    ratios = [n / o for n, o in zip(times["new"], times["old"])]
    print(json.dumps({"net": net, "pairs": pairs, "old_s": round(old, 4), "new_s": round(new, 4),
                      "new/old": round(new / old, 4), "pair_median": round(statistics.median(ratios), 4),
                      "load": os.getloadavg()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 8)

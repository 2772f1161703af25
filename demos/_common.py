"""What every demo shares: its command line, its data, and how it reports numbers.

    args = parse_args(__doc__, "dense_ae")      # --quick, --out DIR, --seed, --data, --epochs
    ds = load_data(args)                        # digits by default; --quick keeps a small subset
    report = Report(args)                       # collects numbers, prints them, writes numbers.json
    report.table("test MSE", ["model", "MSE"], rows)
    report.figure(viz.loss_curves(h), "loss_curves.png")

A demo is run as ``python demos/NAME.py [--quick] [--out DIR]`` and writes its figures and a
``numbers.json`` of what it printed into ``--out`` (default ``demo-output/NAME``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing: ``python demos/x.py``
    sys.path.insert(0, str(ROOT))

QUICK_TRAIN = 200  # training images in --quick mode (val and test are cut to QUICK_EVAL)
QUICK_EVAL = 100


def parse_args(doc: str, name: str, argv=None, extra=None) -> argparse.Namespace:
    """The demo's arguments; ``doc`` (the demo's docstring) is its --help text."""
    parser = argparse.ArgumentParser(prog=f"demos/{name}.py", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1-2 epochs on a small subset (for tests; the numbers mean nothing)")
    parser.add_argument("--out", type=Path, default=Path("demo-output") / name, help="folder for figures and numbers")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, shuffling and noise")
    parser.add_argument("--data", default="digits", help="digits (bundled, default), mnist or fashion-mnist "
                                                         "(their files must be in the tinyae data cache)")
    parser.add_argument("--epochs", type=int, default=None, help="override the demo's number of epochs")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    args.name = name
    _check_args(parser, args)
    return args


def _check_args(parser, args):
    """The shared arguments, checked before any work: a one-line usage error, never a traceback later."""
    from tinyae.data import DATASETS

    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.data.lower().replace("_", "-") not in DATASETS:
        parser.error(f"--data: unknown dataset {args.data!r}; choose one of {', '.join(DATASETS)}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file, not a folder")


def epochs(args, full: int, quick: int = 1) -> int:
    """The number of epochs to train: --epochs if given, else ``quick`` in --quick mode, else ``full``."""
    if args.epochs is not None:
        return args.epochs
    return quick if args.quick else full


def load_data(args, flatten: bool = True):
    """The dataset named by --data, offline; in --quick mode only a small subset of each split."""
    from tinyae.data import Dataset, DatasetUnavailableError, load

    try:
        ds = load(args.data, flatten=flatten, download=False, seed=args.seed,
                  limit=QUICK_TRAIN if args.quick else None)
    except DatasetUnavailableError as err:
        raise SystemExit(f"demos/{args.name}.py: {args.data} is not available offline.\n{err}") from err
    if not args.quick:
        return ds
    return Dataset(ds.X_train, ds.y_train, ds.X_val[:QUICK_EVAL], ds.y_val[:QUICK_EVAL], ds.X_test[:QUICK_EVAL],
                   ds.y_test[:QUICK_EVAL], ds.image_shape, ds.name, ds.classes)


def format_table(headers, rows) -> str:
    """A plain-text table with aligned columns (floats with 4 significant digits)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join(f"{h:<{w}}" for h, w in zip(headers, widths))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(f"{c:<{w}}" for c, w in zip(r, widths)) for r in cells]
    return "\n".join([line, rule, *body])


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


class Report:
    """Prints a demo's numbers as they come and keeps them for ``numbers.json``."""

    def __init__(self, args):
        self.args = args
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.numbers = {"demo": args.name, "quick": bool(args.quick), "data": args.data, "seed": args.seed}
        self.figures = []
        self.start = time.perf_counter()
        mode = " (--quick: a smoke run, the numbers mean nothing)" if args.quick else ""
        print(f"== demos/{args.name}.py on {args.data}{mode}")

    def value(self, key: str, value, text: str | None = None):
        """Record one number (and print ``text``, or ``key = value``)."""
        self.numbers[key] = value
        print(text if text is not None else f"{key} = {_cell(value)}")

    def table(self, key: str, headers, rows, title: str | None = None):
        """Record a table (as a list of {header: value}) and print it."""
        self.numbers[key] = [dict(zip(headers, row)) for row in rows]
        print(f"\n{title or key}")
        print(format_table(headers, rows))

    def figure(self, fig, filename: str):
        """Save a figure into the output folder."""
        from tinyae.viz import save

        save(fig, self.out / filename)
        self.figures.append(filename)
        return fig

    def finish(self):
        seconds = time.perf_counter() - self.start
        self.numbers["figures"] = list(self.figures)
        self.numbers["seconds"] = round(seconds, 1)
        with open(self.out / "numbers.json", "w", encoding="utf-8") as f:
            json.dump(self.numbers, f, indent=1, default=float)
            f.write("\n")
        print(f"\nwrote {len(self.figures)} figure(s) and numbers.json to {self.out}/ in {seconds:.1f}s")
        return 0

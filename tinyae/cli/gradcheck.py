"""``tinyae gradcheck``: the proof table of every built-in layer, loss and penalty (tinyae/gradcheck/cases.py),
or a student's own class from a file (tinyae/gradcheck/file.py)."""

from __future__ import annotations

from tinyae.gradcheck.cases import layer_cases, loss_cases, model_cases, run_cases
from tinyae.gradcheck.file import run_file


def configure(parser):
    parser.add_argument("target", nargs="?", metavar="FILE.py[:CLASS]",
                        help="check your own layer or loss class from this file instead of the built-in table")
    parser.add_argument("--args", metavar="TEXT", help='with FILE: constructor arguments, e.g. "4, 3, seed=1"')
    parser.add_argument("--shape", metavar="N,D,...", help="with FILE: the input batch's shape (default: guessed)")
    parser.add_argument("--kind", choices=("layer", "loss"), help="with FILE: check it as this (default: guessed)")
    parser.add_argument("--training", action="store_true", help="with FILE: run forward in training mode")
    parser.add_argument("--json", action="store_true", help="with FILE: print the report as JSON (for graders)")
    parser.add_argument("--only", metavar="TEXT", help="run only the cases whose name contains TEXT")
    parser.add_argument("--model", nargs="*", metavar="NAME",
                        help="also check whole zoo models end to end (no NAME: all of them)")
    parser.add_argument("--verbose", "-v", action="store_true", help="print the full table of every case")
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    if args.target is not None:
        return run_file(args)
    extra = [flag for flag, value in (("--args", args.args), ("--shape", args.shape), ("--kind", args.kind),
                                      ("--training", args.training), ("--json", args.json)) if value]
    if extra:
        print(f"tinyae gradcheck: {', '.join(extra)} go with a FILE.py:Class to check, e.g. "
              f"tinyae gradcheck my_layer.py:MyDense {extra[0]} ...")
        return 2
    cases = layer_cases(args.seed) + loss_cases(args.seed)
    if args.model is not None:
        try:
            cases += model_cases(args.seed, args.model)
        except ValueError as err:
            print(err)
            return 2
    if args.only:
        cases = [c for c in cases if args.only.lower() in c.name.lower()]
        if not cases:
            print(f"tinyae gradcheck: no case matches {args.only!r}")
            return 2
    reports = run_cases(cases, verbose=args.verbose)
    return 0 if all(r.passed for r in reports.values()) else 1

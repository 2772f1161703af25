"""The ``tinyae`` command line. Each subcommand lives in its own module, imported only when used.

A command module provides ``configure(parser)`` (adds its arguments) and ``run(args) -> int``
(the exit status).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# name -> (module, one-line help). Keep in the order a newcomer meets them.
COMMANDS = {
    "tour": ("tinyae.tour", "the main job: gradient checks, five autoencoders trained, figures and a report"),
    "gradcheck": ("tinyae.cli_gradcheck", "check every built-in layer, loss and penalty against finite differences "
                  "(or your own: tinyae gradcheck FILE.py:Class)"),
    "train": ("tinyae.cli_train", "train a zoo autoencoder on a dataset; save checkpoint, history and figures"),
    "eval": ("tinyae.cli_eval", "evaluate a saved model on test data, term by term, against a baseline"),
    "plot": ("tinyae.cli_plot", "draw a saved model's figures: reconstructions, latent map, manifold, samples"),
    "exercise": ("tinyae.exercises.cli", "backprop exercises: list, start, check, hint; hand-outs and grading"),
    "bench": ("tinyae.bench", "time the reference networks per epoch (GFLOP/s, time split, --compare torch)"),
}

DESCRIPTION = """\
tinyae: autoencoders from scratch in NumPy. Every backward pass is written by hand and proved
right by finite differences; `tinyae gradcheck` shows you the proof for every built-in layer."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinyae", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.configure(p)
        p.set_defaults(_module=mod)
    return parser


def _version() -> str:
    from tinyae import __version__

    return f"tinyae {__version__}"


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        if argv is None:  # run as the program: it is exiting, a further Ctrl-C must not make it a traceback
            _ignore_ctrl_c()
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`tinyae gradcheck -v | head`): stop quietly, as Unix tools do
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        except (OSError, ValueError):
            pass
        return 141  # 128 + SIGPIPE


def _ignore_ctrl_c():
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    raise SystemExit(main())

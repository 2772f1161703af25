"""The ``tinyae`` command line. Each subcommand lives in its own module, imported only when used.

A command module provides ``configure(parser)`` (adds its arguments) and ``run(args) -> int``
(the exit status). The applications live in this package (``tinyae/cli/``): the commands, the tour and
the bench; the backprop course's command is ``tinyae/exercises/cli.py``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from tinyae import __version__

# name -> (module, one-line help). Keep in the order a newcomer meets them.
COMMANDS = {
    "tour": ("tinyae.cli.tour", "the main job: gradient checks, five autoencoders trained, figures and a report"),
    "gradcheck": ("tinyae.cli.gradcheck", "check every built-in layer, loss and penalty against finite differences "
                  "(or your own: tinyae gradcheck FILE.py:Class)"),
    "train": ("tinyae.cli.train", "train a zoo autoencoder on a dataset; save checkpoint, history and figures"),
    "eval": ("tinyae.cli.eval", "evaluate a saved model on test data, term by term, against a baseline"),
    "plot": ("tinyae.cli.plot", "draw a saved model's figures: reconstructions, latent map, manifold, samples"),
    "exercise": ("tinyae.exercises.cli", "backprop exercises: list, start, check, hint; hand-outs and grading"),
    "bench": ("tinyae.cli.bench", "time the reference networks per epoch (GFLOP/s, time split, --compare torch)"),
}

DESCRIPTION = """\
tinyae: autoencoders from scratch in NumPy. Every backward pass is written by hand and proved
right by finite differences; `tinyae gradcheck` shows you the proof for every built-in layer."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported and adds its arguments (None: every command's).

    ``tinyae --help`` lists the commands from COMMANDS alone, so it imports none of them.
    """
    parser = argparse.ArgumentParser(prog="tinyae", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if command is not None and name != command:
            sub.add_parser(name, help=help_text)  # listed in the help; never run in this process
            continue
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.configure(p)
        p.set_defaults(_module=mod)
    return parser


def _command_of(argv) -> str:
    """The command named in ``argv``: the first argument that is not an option ("" when none is).

    The top-level options (--help, --version) take no value, so the first other argument is the command.
    """
    return next((a for a in argv if not a.startswith("-")), "")


def _version() -> str:
    return f"tinyae {__version__}"


def main(argv=None) -> int:
    argv_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(argv_list))
    args = parser.parse_args(argv_list)
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
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    raise SystemExit(main())

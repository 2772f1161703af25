"""One round of measurements: each side trains in a fresh process of its own, and the sides take turns.

The parent starts a ``Worker`` per side (``python -m tinyae.cli.bench NET --worker SIDE ...``, whose
thread count is fixed before NumPy, Numba or torch start) and asks it, one line at a time, to get
ready, to train one epoch, and to finish; the worker (``serve``) answers each with one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from tinyae.cli.bench.measure import TinyaeTrainer, measure_tinyae
from tinyae.cli.bench.torch_side import TorchTrainer, measure_torch

RESULT_TAG = "TINYAE_BENCH_RESULT "
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
TURN_PAUSE = 0.25  # s between two sides' turns: idle BLAS/OpenMP threads spin about 0.1 s before they sleep


def measure_round(net, order, args, split) -> dict:
    """One round: every side in ``order`` trains ``net`` for --warmup + --epochs epochs; {side: result}.

    In worker processes (the default) the sides take turns epoch by epoch, A B B A A B ..., with a pause
    between turns, so each tinyae epoch has a torch epoch right next to it (``pair_ratios``). With
    --inprocess, one side after the other in this process.
    """
    if args.inprocess:
        fns = {"tinyae": measure_tinyae, "torch": measure_torch}
        return {side: fns[side](net, args, split=split and side == "tinyae") for side in order}
    workers = {}
    try:
        for side in order:
            workers[side] = Worker(side, net, args, split=split and side == "tinyae")
        for worker in workers.values():
            worker.ask("ready")  # both have imported their libraries and built the model: no start-up overlaps an epoch
        for i in range(args.warmup + args.epochs):
            for side in (order if i % 2 == 0 else order[::-1]):
                workers[side].ask("epoch")
                if len(order) > 1:
                    time.sleep(TURN_PAUSE)
        return {side: workers[side].ask("finish") for side in order}
    finally:
        for worker in workers.values():
            worker.close()  # never raises: every worker gets closed


class Worker:
    """A fresh Python process that trains one side's network, one epoch per "epoch" line on its stdin.

    Its thread count is fixed before NumPy, Numba or torch start (the environment variables of
    THREAD_VARS). Each answer is the rest of a stdout line after RESULT_TAG (JSON); stderr goes to a file,
    shown if the process fails.
    """

    def __init__(self, side, net, args, split):
        self.side, self.net = side, net
        cmd = [sys.executable, "-m", "tinyae.cli.bench", net, "--worker", side, "--epochs", str(args.epochs),
               "--warmup", str(args.warmup), "--n", str(args.n), "--batch-size", str(args.batch_size),
               "--backend", args.backend, "--threads", str(args.threads), "--seed", str(args.seed)]
        if not split:
            cmd.append("--no-split")
        env = dict(os.environ, **{var: str(args.threads) for var in THREAD_VARS})
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True)

    def ask(self, command: str) -> dict:
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            for line in self.proc.stdout:
                if RESULT_TAG in line:  # anywhere: a library may have printed part of a line before it
                    return json.loads(line[line.index(RESULT_TAG) + len(RESULT_TAG):])
        except BrokenPipeError:
            pass
        self.proc.wait()
        self.stderr.seek(0)
        raise RuntimeError(f"tinyae bench: the {self.side} run of {self.net} failed (exit {self.proc.returncode}):\n"
                           f"{self.stderr.read()[-4000:]}")

    def close(self):
        """End the process (it exits by itself at the end of its input) and release the pipes; never raises."""
        try:
            self.proc.stdin.close()  # may flush a command to a process that is gone
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()


def serve(side: str, net: str, args):
    """The worker's loop: "ready" -> answer once the model is built; "epoch" -> train one epoch, answer its
    time; "finish" -> answer the result (times after the warm-up, FLOPs, the split) and exit."""
    trainer = (TinyaeTrainer if side == "tinyae" else TorchTrainer)(net, args)
    times = []
    for line in sys.stdin:
        command = line.strip()
        if command == "ready":
            _emit({"ready": side})
        elif command == "epoch":
            times.append(trainer.epoch())
            _emit({"epoch_time": times[-1]})
        elif command == "finish":
            _emit(trainer.result(times[args.warmup:], split=args.split))
            return
        else:
            raise SystemExit(f"tinyae bench worker: unknown command {command!r}")


def _emit(answer: dict):
    print(RESULT_TAG + json.dumps(answer), flush=True)

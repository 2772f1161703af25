"""Run one check in a process of its own: ``python -m tinyae.exercises.runner NAME FILE --result OUT.json``.

The grader starts this for each student and exercise. It first limits its own address space
(``resource.setrlimit(RLIMIT_AS)``, so a huge allocation fails with MemoryError instead of taking the
machine) and its CPU time, then loads the student's file and checks it, and writes the result as JSON
to ``--result``. The student's code never runs in the grader's process. This is isolation against
ACCIDENTS (an infinite loop, a crash, a runaway allocation), not a security sandbox: the code runs
with the teacher's user rights and can read and write their files.
"""

from __future__ import annotations

import argparse
import json
import sys

from tinyae.exercises import check, files, get


def limit_resources(memory_mb: int | None, cpu_seconds: int | None):
    """Cap this process's address space and CPU time (POSIX; a no-op where ``resource`` is missing)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    if memory_mb:
        limit = int(memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if cpu_seconds:
        resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_seconds), int(cpu_seconds) + 1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinyae.exercises.runner")
    parser.add_argument("name")
    parser.add_argument("file")
    parser.add_argument("--result", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-mb", type=int, default=None)
    parser.add_argument("--cpu-seconds", type=int, default=None)
    args = parser.parse_args(argv)
    limit_resources(args.memory_mb, args.cpu_seconds)


    ex = get(args.name)
    try:
        targets = files.load_targets(ex, args.file)
    except files.LoadError as err:
        out = {"exercise": ex.name, "status": "does not load", "parts_passed": 0, "parts_total": 0,
               "text": f"{ex.name}: {err}"}
    except MemoryError:
        out = {"exercise": ex.name, "status": "memory", "parts_passed": 0, "parts_total": 0,
               "text": f"{ex.name}: loading the file ran out of memory (the limit is {args.memory_mb} MB)"}
    else:
        result = check(ex.name, *targets, seed=args.seed, verbose=False)
        out = result.to_dict()
        out["status"] = "passed" if result.passed else "not done" if result.not_done else "failed"
    with open(args.result, "w", encoding="utf-8") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Grade a class: ``tinyae exercise grade SUBMISSIONS --out grades.csv``.

SUBMISSIONS holds one folder per student, each with the exercise files they hand in (``dense.py``,
``conv2d.ipynb``, ... as ``tinyae exercise start`` or ``build`` named them)::

    submissions/ada/dense.py   submissions/ada/relu.py   submissions/bob/dense.ipynb   ...

Every (student, exercise) pair runs in its own subprocess (``tinyae.exercises.runner``) with a time
limit (the process group is killed when it runs out), a CPU-time limit and an address-space limit
(``RLIMIT_AS``, set inside the child): an infinite loop, a crash or a huge allocation costs that
student that exercise, never the run. Every student gets the same seed, so the same inputs.

Out come one CSV row per student and exercise (status, parts passed, score = parts passed / parts,
seconds) and a feedback file per student with the full check text, diagnosis included.

This is isolation against ACCIDENTS, not a security sandbox: a submission runs as the teacher's user
and can read, write and delete what that user can. Grade code you would run yourself, or run the
grader inside a container or a throwaway account.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tinyae.exercises import course, files

COLUMNS = ["student", "exercise", "status", "parts_passed", "parts_total", "score", "seconds"]


def configure(parser):
    parser.add_argument("submissions", help="a folder with one folder per student")
    parser.add_argument("--out", default="grades.csv", help="the CSV to write (default grades.csv)")
    parser.add_argument("--feedback", default=None,
                        help="folder for one feedback file per student (default: FEEDBACK next to the CSV, "
                             "named after it: grades-feedback/)")
    parser.add_argument("--only", default=None, help="comma-separated exercises to grade (default: every exercise "
                                                     "that any student handed in)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per submission (default 60)")
    parser.add_argument("--memory", type=int, default=2048, help="address-space limit in MB per submission "
                                                                 "(default 2048)")
    parser.add_argument("--seed", type=int, default=None, help="the inputs' seed, the same for every student "
                                                               "(default: a fresh one, written to the feedback)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at the same time (default 1)")


def run(args) -> int:
    root = Path(args.submissions)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder (expected one folder per student)")
    if not args.timeout > 0:
        raise ValueError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    if args.memory < 64 or args.jobs < 1:
        raise ValueError(f"--memory must be at least 64 (MB) and --jobs at least 1, got {args.memory} and {args.jobs}")
    students = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise ValueError(f"{root} holds no student folders")
    exercises = _exercises(args.only, students)
    seed = secrets.randbelow(10**6) if args.seed is None else args.seed
    out = Path(args.out)
    feedback = Path(args.feedback) if args.feedback else out.with_name(f"{out.stem}-feedback")
    print(f"grading {len(students)} students x {len(exercises)} exercises (seed {seed}, {args.timeout:g} s and "
          f"{args.memory} MB per submission)")
    rows = grade(students, exercises, seed=seed, timeout=args.timeout, memory_mb=args.memory, jobs=args.jobs)
    write_csv(out, rows)
    write_feedback(feedback, rows, seed)
    for student in students:
        mine = [r for r in rows if r["student"] == student.name]
        done = sum(r["status"] == "passed" for r in mine)
        print(f"  {student.name:<20} {done}/{len(mine)} exercises pass")
    print(f"wrote {out} ({len(rows)} rows) and the feedback in {feedback}/")
    return 0


def _exercises(only, students):
    if only:
        return [course.get(name) for name in only.split(",") if name.strip()]
    handed_in = {p.stem for s in students for p in s.iterdir() if p.suffix in (".py", ".ipynb")}
    chosen = [e for e in course.EXERCISES if e.name in handed_in]
    if not chosen:
        raise ValueError("no student folder holds an exercise file (dense.py, conv2d.ipynb, ...)")
    return chosen


def grade(students, exercises, *, seed=0, timeout=60.0, memory_mb=2048, jobs=1) -> list:
    """One row (a dict with COLUMNS and "text") per student and exercise, in that order."""
    tasks = [(s, e) for s in students for e in exercises]

    def one(task):
        student, ex = task
        path = files.student_path(ex, student)
        if path is None:
            return _row(student.name, ex, "missing", text=f"{ex.name}: no {ex.name}.py or {ex.name}.ipynb handed in")
        return grade_one(student.name, ex, path, seed=seed, timeout=timeout, memory_mb=memory_mb)

    if jobs <= 1:
        return [one(t) for t in tasks]
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # each task waits on its own subprocess
        return list(pool.map(one, tasks))


def _row(student, ex, status, passed=0, total=0, seconds=0.0, text=""):
    score = round(passed / total, 3) if total and status in ("passed", "failed", "not done") else 0.0
    return {"student": student, "exercise": ex.name, "status": status, "parts_passed": passed, "parts_total": total,
            "score": score, "seconds": round(seconds, 2), "text": text}


def _child_env():
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # the folder holding tinyae/
    env["PYTHONPATH"] = package_root + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else package_root
    env["TINYAE_KERNELS"] = "reference"  # no Numba compiling inside a time limit; the same numbers
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"  # one thread each: BLAS thread pools would eat the address-space limit
    return env


def grade_one(student: str, ex, path: Path, *, seed=0, timeout=60.0, memory_mb=2048) -> dict:
    """Run one submission in its own process and turn what came back (or did not) into a row."""
    with tempfile.TemporaryDirectory(prefix="tinyae-grade-") as tmp:
        result_file = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "tinyae.exercises.runner", ex.name, str(path.resolve()), "--result",
               str(result_file), "--seed", str(seed), "--memory-mb", str(memory_mb),
               "--cpu-seconds", str(int(timeout) + 1)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=path.parent, env=_child_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return _row(student, ex, "timeout", seconds=time.perf_counter() - start,
                        text=f"{ex.name}: stopped after {timeout:g} s (an infinite loop? a very slow loop?)")
        seconds = time.perf_counter() - start
        if result_file.is_file():
            data = json.loads(result_file.read_text(encoding="utf-8"))
            return _row(student, ex, data["status"], data.get("parts_passed", 0), data.get("parts_total", 0),
                        seconds, data.get("text", ""))
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and seconds < timeout:
            return _row(student, ex, "timeout", seconds=seconds, text=f"{ex.name}: ran out of CPU time ({tail[0]})")
        status = "memory" if "MemoryError" in tail[0] else "crashed"
        return _row(student, ex, status, seconds=seconds,
                    text=f"{ex.name}: the check process ended with exit status {proc.returncode}: {tail[0]}")


def _kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child and anything it started
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.communicate()


def write_csv(path: Path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def write_feedback(folder: Path, rows, seed):
    folder.mkdir(parents=True, exist_ok=True)
    by_student = {}
    for r in rows:
        by_student.setdefault(r["student"], []).append(r)
    for student, mine in by_student.items():
        done = sum(r["status"] == "passed" for r in mine)
        lines = [f"Feedback for {student}: {done} of {len(mine)} exercises pass (inputs drawn with seed {seed}).", ""]
        for r in mine:
            lines.append(f"== {r['exercise']}: {r['status']}, {r['parts_passed']}/{r['parts_total']} parts ==")
            lines.append(r["text"] or "(no output)")
            lines.append("")
        (folder / f"{student}.txt").write_text("\n".join(lines), encoding="utf-8")

"""Backprop exercises: a staged course (dense layers, losses, a sparse autoencoder, convolution,
the VAE, Adam), each checked against finite differences and tinyae's own implementation.

  tinyae exercise list                        the course, and what is done in --dir
  tinyae exercise start dense [--notebook]    write the exercise file into --dir (never overwrites)
  tinyae exercise check dense                 check it: "3/4 parts pass" and what to do next
  tinyae exercise hint dense                  one more hint each time (never the solution)
  tinyae exercise build --out DIR             the hand-outs (.py and .ipynb); --solutions: the solved ones
  tinyae exercise grade SUBMISSIONS --out grades.csv    grade a folder of student folders

The default --dir is ./tinyae-exercises. Docs: docs/exercises.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tinyae.exercises import check, course, files, hint, source


def configure(parser):
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    def folder_arg(p):
        p.add_argument("--dir", default=files.DEFAULT_DIR, help="the student's folder (default ./tinyae-exercises)")

    p = sub.add_parser("list", help="the course: stages, exercises, time estimates, what is done")
    folder_arg(p)
    p = sub.add_parser("start", help="write an exercise's file into the student's folder")
    p.add_argument("name")
    p.add_argument("--notebook", action="store_true", help="write a Jupyter notebook instead of a .py file")
    folder_arg(p)
    p = sub.add_parser("check", help="check an exercise: parts passed, diagnosis, what to do next")
    p.add_argument("name")
    p.add_argument("--seed", type=int, default=None, help="fix the random inputs (default: fresh each time)")
    p.add_argument("--file", default=None, help="check this file instead of DIR/NAME.py")
    folder_arg(p)
    p = sub.add_parser("hint", help="one more hint for an exercise (never the solution)")
    p.add_argument("name")
    folder_arg(p)
    p = sub.add_parser("build", help="write every exercise (.py and .ipynb) into a folder, for handing out")
    p.add_argument("--out", required=True, help="the folder to write into")
    p.add_argument("--solutions", action="store_true", help="write the solved versions (for the teacher)")
    p = sub.add_parser("grade", help="grade a folder of student folders; one CSV row per student and exercise")
    from tinyae.exercises import grade

    grade.configure(p)


def run(args) -> int:
    try:
        return ACTIONS[args.action](args)
    except BrokenPipeError:  # the output was piped into head, say
        raise
    except (KeyError, files.LoadError, RuntimeError, ValueError, OSError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"tinyae exercise {args.action}: {message}", file=sys.stderr)
        return 2


def _list(args) -> int:
    done = files.progress(args.dir)
    total = 0
    for stage, (title, what) in course.STAGES.items():
        exercises = [e for e in course.EXERCISES if e.stage == stage]
        minutes = sum(e.minutes for e in exercises)
        total += minutes
        print(f"\nStage {stage}: {title} ({minutes} min): {what}")
        for e in exercises:
            state = ""
            if e.name in done:
                d = done[e.name]
                state = "done" if d.get("passed") == d.get("total") else f"{d.get('passed')}/{d.get('total')} parts"
            elif files.student_path(e, args.dir) is not None:
                state = "started"
            print(f"  {e.name:<16} {e.minutes:>3} min  {state:<10} {e.title}")
    print(f"\n{len(course.EXERCISES)} exercises, about {total / 60:.0f} hours. "
          f"Start with: tinyae exercise start {course.EXERCISES[0].name}   (folder: {args.dir})")
    return 0


def _start(args) -> int:
    ex = course.get(args.name)
    path, written = files.start(ex, args.dir, notebook=args.notebook)
    if not written:
        print(f"{path} is already started; it was left as it is (delete it to start over).")
        return 0
    print(f"wrote {path}\n  the task: {ex.title} (about {ex.minutes} min)\n  the derivation: docs/{ex.docs}\n"
          f"  fill in every YOUR CODE HERE block, then: tinyae exercise check {ex.name}"
          + (f" --dir {args.dir}" if args.dir != files.DEFAULT_DIR else ""))
    return 0


def _check(args) -> int:
    ex = course.get(args.name)
    path = Path(args.file) if args.file else files.student_path(ex, args.dir)
    if path is None or not path.is_file():
        print(f"no file for {ex.name} in {args.dir}: start it with tinyae exercise start {ex.name}", file=sys.stderr)
        return 2
    try:
        targets = files.load_targets(ex, path)
    except files.LoadError as err:
        print(f"{ex.name}: {err}\n0 parts checked: fix the file so that it loads, then check again.")
        return 1
    result = check(ex.name, *targets, seed=args.seed)
    if not args.file:
        files.record_progress(args.dir, ex.name, result.n_passed, len(result.parts))
    return 0 if result.passed else 1


def _hint(args) -> int:
    hint(args.name, args.dir)
    return 0


def _build(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        import nbformat  # noqa: F401
        notebooks = True
    except ImportError:
        notebooks = False
    for e in course.EXERCISES:
        (out / f"{e.name}.py").write_text(source.student_text(e.name, args.solutions), encoding="utf-8")
        if notebooks:
            source.write_notebook(e.name, out / f"{e.name}.ipynb", args.solutions)
    kind = "solved" if args.solutions else "student"
    nb = "and .ipynb " if notebooks else ""
    print(f"wrote {len(course.EXERCISES)} {kind} exercises (.py {nb}files) to {out}")
    if not notebooks:
        print("notebooks were skipped: they need nbformat (pip install nbformat)")
    return 0


def _grade(args) -> int:
    from tinyae.exercises import grade

    return grade.run(args)


ACTIONS = {"list": _list, "start": _start, "check": _check, "hint": _hint, "build": _build, "grade": _grade}

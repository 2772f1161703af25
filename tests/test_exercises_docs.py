"""docs/exercises.md tells the truth: its worked example is the exact output of `tinyae exercise check`
on the buggy file and then on the fixed one, and its course map lists every exercise with its time."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__":  # run as a script: this tree's tinyae, not an installed one
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tinyae.cli import main  # noqa: E402
from tinyae.exercises import EXERCISES, STAGES, source  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "exercises.md"
BUG = ("self.W.grad += self.x.T @ dy", "self.W.grad += 2 * self.x.T @ dy")


def printed(argv, status):
    """What ``tinyae ARGV`` prints (asserting its exit status)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == status
    return out.getvalue()


def example_outputs(folder):
    """(output for the buggy dense.py, output for the fixed one), as the page shows them."""
    folder = Path(folder)
    printed(["exercise", "start", "dense", "--dir", str(folder)], 0)
    solved = source.student_text("dense", solutions=True)
    (folder / "dense.py").write_text(solved.replace(*BUG))
    bug = printed(["exercise", "check", "dense", "--dir", str(folder), "--seed", "1"], 1)
    (folder / "dense.py").write_text(solved)
    return bug, printed(["exercise", "check", "dense", "--dir", str(folder), "--seed", "1"], 0)


def rounding_free(text: str) -> str:
    """The text with relative errors below 1e-8 (finite-difference rounding, which may differ between
    BLAS builds) shown as '<1e-8', and where such an error peaks as '(...)'; every number that says
    something is compared exactly."""
    text = re.sub(r"\b\d\.\d+e-(?:09|1\d)\b", "<1e-8", text)
    return re.sub(r"<1e-8\s+\([\d, ]*\)\s+", "<1e-8 (...) ", text)


def block_after(text: str, marker: str) -> str:
    m = re.search(rf"<!-- {marker} -->\n```text\n(.*?)```", text, re.S)
    assert m, f"docs/exercises.md has no ```text block after <!-- {marker} -->"
    return m.group(1)


def test_the_worked_example_is_the_real_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bug, fixed = example_outputs(tmp_path / "tinyae-exercises")
    text = PAGE.read_text(encoding="utf-8")
    assert BUG[1] in text
    again = "the check's output changed: rewrite the example with `python tests/test_exercises_docs.py`"
    assert rounding_free(block_after(text, "output: the buggy check")) == rounding_free(bug), again
    assert rounding_free(block_after(text, "output: the fixed check")) == rounding_free(fixed), again


def test_the_course_map_lists_every_exercise_with_its_time():
    text = PAGE.read_text(encoding="utf-8")
    for e in EXERCISES:
        assert f"`{e.name}`" in text, f"docs/exercises.md does not list {e.name}"
    for stage in STAGES:
        minutes = sum(e.minutes for e in EXERCISES if e.stage == stage)
        assert re.search(rf"^\| {stage} \|.*\| {minutes} min \|$", text, re.M), f"stage {stage}: {minutes} min"
    assert "not a security sandbox" in text


def rewrite_example():
    """Put the current outputs into docs/exercises.md (after a change to what a check prints)."""
    with tempfile.TemporaryDirectory() as tmp:
        bug, fixed = example_outputs(Path(tmp) / "tinyae-exercises")
    text = PAGE.read_text(encoding="utf-8")
    for marker, out in (("output: the buggy check", bug), ("output: the fixed check", fixed)):
        text = re.sub(rf"(<!-- {marker} -->\n```text\n).*?```", lambda m, out=out: m.group(1) + out + "```", text,
                      flags=re.S)
    PAGE.write_text(text, encoding="utf-8")
    print(f"rewrote the worked example in {PAGE}")


if __name__ == "__main__":
    rewrite_example()

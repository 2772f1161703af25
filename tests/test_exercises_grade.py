"""Grading a class: each submission in its own process with a time and a memory limit, one CSV row per
student and exercise, a feedback file per student. Four made-up students (correct, a classic bug, an
infinite loop, an import that raises) and one that allocates far past the memory limit."""

from __future__ import annotations

import csv
import time

from tinyae.cli import main
from tinyae.exercises import source

TIMEOUT = 6  # seconds per submission: the loop costs this much, the others about 1 s each


def make_class(root):
    text = source.student_text("dense", solutions=True)
    students = {
        "ada": text,  # correct
        "bob": text.replace("self.W.grad += self.x.T @ dy", "self.W.grad += 2 * self.x.T @ dy"),  # the factor 2
        "cy": text.replace("self.x = x  # (N, in): dW needs it", "while True:\n            pass"),  # never returns
        "dee": "import numpy as np\nfrom tinyae_course_helpers import grad  # not installed\n" + text,
        "eve": text.replace("self.x = x  # (N, in): dW needs it", "self.x = np.ones((12000, 12000)) + x[0, 0]"),
    }
    for name, code in students.items():
        assert code != text or name == "ada"
        (root / name).mkdir(parents=True)
        (root / name / "dense.py").write_text(code, encoding="utf-8")


def test_grade_four_students_and_a_memory_hog(tmp_path, capsys):
    make_class(tmp_path / "subs")
    out = tmp_path / "grades.csv"
    start = time.perf_counter()
    rc = main(["exercise", "grade", str(tmp_path / "subs"), "--out", str(out), "--timeout", str(TIMEOUT),
               "--memory", "512", "--seed", "5", "--jobs", "2"])
    seconds = time.perf_counter() - start
    assert rc == 0
    rows = {r["student"]: r for r in csv.DictReader(out.open())}
    assert list(rows) == ["ada", "bob", "cy", "dee", "eve"]
    assert all(r["exercise"] == "dense" for r in rows.values())
    assert (rows["ada"]["status"], rows["ada"]["parts_passed"], rows["ada"]["parts_total"], rows["ada"]["score"]) == (
        "passed", "4", "4", "1.0")
    assert rows["bob"]["status"] == "failed" and rows["bob"]["parts_passed"] == "2" and rows["bob"]["score"] == "0.5"
    assert rows["cy"]["status"] == "timeout" and float(rows["cy"]["seconds"]) < TIMEOUT + 3
    assert rows["dee"]["status"] == "does not load" and rows["dee"]["score"] == "0.0"
    # 12000 x 12000 float64 is 1.1 GB: refused under the 512 MB limit, inside the child, as the student's error
    assert rows["eve"]["status"] == "failed" and rows["eve"]["parts_passed"] == "0"
    assert seconds < 2 * TIMEOUT + 30  # the loop did not hold up the run

    feedback = tmp_path / "grades-feedback"
    assert sorted(p.name for p in feedback.iterdir()) == ["ada.txt", "bob.txt", "cy.txt", "dee.txt", "eve.txt"]
    bob = (feedback / "bob.txt").read_text()
    assert "W.grad differs from tinyae's" in bob and "Gradient check: Dense()" in bob
    assert "stopped after 6 s" in (feedback / "cy.txt").read_text()
    assert "tinyae_course_helpers" in (feedback / "dee.txt").read_text()
    assert "MemoryError" in (feedback / "eve.txt").read_text()
    printed = capsys.readouterr().out
    assert "ada                  1/1 exercises pass" in printed


def test_grade_refuses_bad_arguments_in_one_line(tmp_path, capsys):
    assert main(["exercise", "grade", str(tmp_path / "none"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "subs" / "ada").mkdir(parents=True)
    assert main(["exercise", "grade", str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "no student folder holds an exercise file" in capsys.readouterr().err
    assert main(["exercise", "grade", str(tmp_path / "subs"), "--timeout", "0"]) == 2
    assert "--timeout must be a positive number" in capsys.readouterr().err

"""The course (tinyae/exercises): every solution passes its check, every untouched skeleton is "not
done" (a message, never a traceback), and the classic bugs are caught with the failing tensor named and,
where tinyae.gradcheck diagnoses the pattern (a constant factor, the batch size), with its diagnosis."""

from __future__ import annotations

import importlib

import pytest

from tinyae.cli import main
from tinyae.exercises import EXERCISES, STAGES, check, files, get, source

NAMES = [e.name for e in EXERCISES]


def solution_targets(name):
    ex = get(name)
    module = importlib.import_module(f"tinyae.exercises.solutions.{name}")
    return tuple(getattr(module, t) for t in ex.targets)


def student_targets(tmp_path, name, text):
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return files.load_targets(get(name), path)


def test_the_course_has_six_stages_and_at_least_18_exercises():
    assert sorted(STAGES) == [1, 2, 3, 4, 5, 6]
    assert len(EXERCISES) >= 18
    assert {e.stage for e in EXERCISES} == set(STAGES)
    for e in EXERCISES:
        assert len(e.hints) >= 2 and e.minutes > 0 and e.targets, e.name
        text = source.solution_text(e.name)
        assert source.blank_count(text) >= 1, e.name
        assert f"docs/{e.docs}".split("#")[0] in text, f"{e.name}: the file should link its derivation page"


@pytest.mark.parametrize("name", NAMES)
def test_the_solution_passes_and_the_untouched_skeleton_is_not_done(name, tmp_path):
    result = check(name, *solution_targets(name), seed=0, verbose=False)
    assert result.passed, str(result)
    assert f"{len(result.parts)}/{len(result.parts)} parts pass" in str(result)

    blank = check(name, *student_targets(tmp_path, name, source.student_text(name)), seed=0, verbose=False)
    text = str(blank)
    assert not blank.passed and blank.not_done, text
    assert "Traceback" not in text and "not written yet: YOUR CODE HERE" in text
    assert f"{blank.n_passed}/{len(blank.parts)} parts pass" in text and "fill in the YOUR CODE HERE" in text


# (exercise, a line of the solution, the classic bug replacing it, what the report must name)
CLASSIC_BUGS = [
    ("dense", "self.W.grad += self.x.T @ dy", "self.W.grad += 2 * self.x.T @ dy",
     ["W.grad differs", "W ", "your gradient is 2.00 x the true one"]),
    ("dense", "self.W.grad += self.x.T @ dy", "self.W.grad = self.x.T @ dy", ["grads overwritten instead of added"]),
    ("dense", "self.b.grad += dy.sum(axis=0)", "self.b.grad += dy.mean(axis=0)",
     ["b.grad differs", "1/5 x the true one", "the batch size N"]),
    ("sigmoid", "return dy * self.y * (1 - self.y)",
     "return dy * stable_sigmoid(self.y) * (1 - stable_sigmoid(self.y))",
     ["dx differs", "input x"]),
    ("relu", "return dy * self.mask", "dy[~self.mask] = 0\n        return dy", ["dy was modified in place"]),
    ("softplus", "return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))", "return np.log(1 + np.exp(x))",
     ["stability", "non-finite"]),
    ("tanh", "return dy * (1 - self.y * self.y)", "return dy * (1 + self.y * self.y)", ["dx differs"]),
    ("mse", "return 2 * self.diff / self.diff.size", "return 2 * self.diff / self.diff.shape[0]",
     ["dpred differs", "4.00 x the true one"]),
    ("bce", "return (p - t) / (p * (1 - p) * p.size)", "return (p - t) / p.size", ["dp differs"]),
    ("bce_logits", "return np.sum(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))) / z.size",
     "p = stable_sigmoid(z)\n        return -np.sum(t * np.log(p) + (1 - t) * np.log(1 - p)) / z.size",
     ["stability"]),
    ("l1_activity", "return self.lam * np.sign(self.h) / self.h.shape[0]",
     "return self.lam * np.sign(self.h) / self.h.size",
     ["dh differs", "1/3 x the true one"]),
    ("l2_weight_decay", "W.grad += self.lam * W.value", "W.grad = self.lam * W.value", ["W1.grad differs", "ADDED"]),
    ("kl_sparsity", "return np.broadcast_to(d_rho_hat / n, self.shape).copy()",
     "return np.broadcast_to(d_rho_hat, self.shape).copy()",
     ["dh differs", "Gradient check: KLSparsity\n", "h: max relative error", "the batch size N"]),
    ("sparse_ae", "beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) / N",
     "beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))",
     ["W1.grad differs", "b1.grad"]),
    ("sparse_ae", "self.b2.grad += d2.sum(axis=0)", "self.b2.grad = d2.sum(axis=0)", ["twice the gradient"]),
    ("im2col", "dxpad[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw] += col6",
     "dxpad[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw] = col6",
     ["col2im(col) differs", "sum(im2col(x) * c)"]),
    ("conv2d", "dy_mat = dy.transpose(1, 0, 2, 3).reshape(F, -1)", "dy_mat = dy.reshape(F, -1)", ["W.grad differs"]),
    ("maxpool", "dx[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw] += dy * won",
     "dx[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw] = dy * won", ["dx differs", "input x"]),
    ("upsample", "dx += dy[:, :, i::sh, j::sw]", "dx += dy[:, :, i::sh, j::sw] / (sh * sw)",
     ["dx differs", "input x", "1/6 x the true one"]),
    ("conv_transpose", "self.b.grad += dy.sum(axis=(0, 2, 3))", "self.b.grad += dy.sum(axis=(0, 2, 3)) / dy.shape[0]",
     ["b.grad differs", "1/2 x the true one"]),
    ("reparam", "return mu + np.exp(0.5 * logvar) * eps",
     "return mu + np.exp(logvar) * eps", ["spread", "STANDARD DEVIATION"]),
    ("gaussian_kl", "return self.mu / n, 0.5 * (np.exp(self.logvar) - 1) / n",
     "return self.mu / n, 0.5 * np.exp(self.logvar) / n",
     ["dlogvar differs", "the prior"]),
    ("vae_step", "dlogvar = dz * eps * 0.5 * sigma + beta * dlogvar_kl", "dlogvar = dz * eps * 0.5 * sigma",
     ["encoder.", "grad differs"]),
    ("adam", "m_hat = m / (1 - b1**self.t)", "m_hat = m / (1 - b1)", ["sequence", "after step 2 (lr"]),
]


def bug_ids():
    return [f"{name}-{i}" for i, (name, *_rest) in enumerate(CLASSIC_BUGS)]


@pytest.mark.parametrize(("name", "line", "bug", "expected"), CLASSIC_BUGS, ids=bug_ids())
def test_a_classic_bug_fails_with_the_tensor_named(name, line, bug, expected, tmp_path):
    text = source.solution_text(name)
    assert text.count(line) == 1, f"{name}: the line to break is not (uniquely) in the solution"
    result = check(name, *student_targets(tmp_path, name, text.replace(line, bug)), seed=1, verbose=False)
    out = str(result)
    assert not result.passed and not result.not_done, out
    for want in expected:
        assert want in out, f"{name}: {want!r} not in\n{out}"
    assert "Traceback" not in out


def test_check_refuses_the_wrong_number_of_objects_in_one_line():
    result = check("im2col", object(), verbose=False)
    assert not result.passed and "takes 2 object(s): im2col, col2im" in str(result)


def test_cli_start_check_hint_list(tmp_path, capsys):
    folder = tmp_path / "work"
    assert main(["exercise", "start", "dense", "--dir", str(folder)]) == 0
    path = folder / "dense.py"
    assert path.is_file() and "YOUR CODE HERE" in path.read_text()
    path.write_text(path.read_text() + "\n# my notes\n")
    assert main(["exercise", "start", "dense", "--dir", str(folder)]) == 0  # never overwrites
    assert path.read_text().endswith("# my notes\n")
    capsys.readouterr()

    assert main(["exercise", "check", "dense", "--dir", str(folder), "--seed", "3"]) == 1
    out = capsys.readouterr().out
    assert "0/4 parts pass" in out and "Traceback" not in out

    path.write_text(source.student_text("dense", solutions=True))
    assert main(["exercise", "check", "dense", "--dir", str(folder)]) == 0
    assert "4/4 parts pass: done." in capsys.readouterr().out

    assert main(["exercise", "list", "--dir", str(folder)]) == 0
    listing = capsys.readouterr().out
    assert "Stage 6" in listing and [ln for ln in listing.splitlines() if ln.strip().startswith("dense ")][0].count(
        "done") == 1

    shown = []
    for _ in range(len(get("dense").hints) + 1):
        assert main(["exercise", "hint", "dense", "--dir", str(folder)]) == 0
        shown.append(capsys.readouterr().out)
    assert "hints 1 of" in shown[0] and "hints 2 of" in shown[1] and "That is every hint" in shown[-1]
    assert "self.W.grad +=" not in "".join(shown)  # a hint is never the solution line


def test_cli_check_reports_a_file_that_does_not_load_in_one_line(tmp_path, capsys):
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "dense.py").write_text("import numpy as np\nraise RuntimeError('oops')\n")
    assert main(["exercise", "check", "dense", "--dir", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "dense.py raised RuntimeError: oops while loading at line 2" in out and "Traceback" not in out
    (folder / "dense.py").write_text("def f(:\n")
    assert main(["exercise", "check", "dense", "--dir", str(folder)]) == 1
    assert "does not compile" in capsys.readouterr().out
    assert main(["exercise", "check", "nope", "--dir", str(folder)]) == 2
    assert "no exercise called 'nope'" in capsys.readouterr().err


def test_no_hint_gives_a_line_of_the_solution_away():
    for e in EXERCISES:
        blanks = [block[3] for block in source._blocks(source.solution_text(e.name), e.name) if block[0] == "blank"]
        code = {line.split("#")[0].strip() for lines in blanks for line in lines}
        for h in e.hints:
            leaked = [c for c in code if len(c) >= 12 and c in h]
            assert not leaked, f"{e.name}: a hint holds the solution line {leaked[0]!r}"


def test_build_writes_the_handouts_and_the_solutions(tmp_path, capsys):
    import subprocess
    import sys

    assert main(["exercise", "build", "--out", str(tmp_path / "handout")]) == 0
    assert main(["exercise", "build", "--out", str(tmp_path / "solved"), "--solutions"]) == 0
    assert "wrote 21 student exercises" in capsys.readouterr().out
    for e in EXERCISES:
        blank = (tmp_path / "handout" / f"{e.name}.py").read_text()
        compile(blank, e.name, "exec")
        assert "YOUR CODE HERE" in blank and "BEGIN YOUR CODE" not in blank
        assert (tmp_path / "solved" / f"{e.name}.py").read_text() == source.solution_text(e.name)
    # a solved file is its own check: run as a script, it exits 0
    done = subprocess.run([sys.executable, str(tmp_path / "solved" / "relu.py")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "4/4 parts pass: done." in done.stdout, done.stdout + done.stderr
